"""Ranking losses: pairwise margin ranking and listwise softmax.

``ranking_softmax_loss`` keeps optax's name, arguments and values, including
``reduce_fn`` (default :func:`jax.numpy.mean`, a scalar; pass ``reduce_fn=None``
for the per-list loss). Each loss is followed by its closed-form gradient of the
*summed* output with respect to the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import in_set, nonnegative, register_checks
from ._core import check_equal_shapes, closed_form_of, floating, real, upcast
from ._coupling import register_batch_coupled
from ._primitives import log_softmax_parts

__all__ = ["margin_ranking_loss", "ranking_softmax_loss"]


# --- margin ranking loss -----------------------------------------------------------------


def _margin_ranking_parts(
    scores_a: ArrayLike, scores_b: ArrayLike, targets: ArrayLike, margin: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns ``(original scores_a, y, -y (x_1 - x_2) + m, loss)``."""
    a0 = floating(scores_a, "scores_a", fn)
    b0 = floating(scores_b, "scores_b", fn)
    t = real(targets, "targets", fn)
    check_equal_shapes({"scores_a": a0, "scores_b": b0, "targets": t}, fn)
    a = upcast(a0)
    y = t.astype(a.dtype)
    raw = -y * (a - b0.astype(a.dtype)) + jnp.asarray(margin, a.dtype)
    return a0, y, raw, jnp.maximum(raw, 0.0)


def margin_ranking_loss(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    targets: ArrayLike,
    *,
    margin: ArrayLike = 0.0,
) -> jax.Array:
    r"""Pairwise margin ranking loss: ``targets`` says which score should be larger.

    .. math:: \ell(x_1, x_2, y) = \max(0,\ -y (x_1 - x_2) + m)

    ``torch.nn.functional.margin_ranking_loss(x1, x2, y, margin, reduction='none')``.

    Args:
      scores_a: ``x_1``, any shape.
      scores_b: ``x_2``, same shape.
      targets: ``y`` in ``{1, -1}``, same shape (1: ``x_1`` should rank higher).
      margin: ``m``.

    Returns:
      Element-wise loss, shape and dtype of ``scores_a``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.margin_ranking_loss(jnp.array([1.0, 1.0]), jnp.array([0.0, 0.0]), jnp.array([1, -1]),
      ...                        margin=0.5).tolist()
      [0.0, 1.5]
    """
    a0, _, _, loss = _margin_ranking_parts(
        scores_a, scores_b, targets, margin, "margin_ranking_loss"
    )
    return loss.astype(a0.dtype)


@closed_form_of(margin_ranking_loss, _margin_ranking_parts)
def _margin_ranking_loss_grad(
    a0: jax.Array, y: jax.Array, raw: jax.Array, loss: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``([ℓ > 0] (-y), [ℓ > 0] y)`` w.r.t. ``(x_1, x_2)``."""
    g = jnp.where(raw > 0, -y, 0.0)
    return g.astype(a0.dtype), (-g).astype(a0.dtype)


# --- listwise softmax loss ---------------------------------------------------------------


def _ranking_inputs(
    logits: ArrayLike,
    labels: ArrayLike,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    reduce_fn: Callable[..., Any] | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None, Callable[..., Any] | None]:
    """Returns (orig, x, effective labels y·w (0 where masked), mask, reduce_fn)."""
    arr = floating(logits, "logits", fn)
    if arr.ndim < 1:
        raise ValueError(f"{fn}: `logits` must be [..., list_size]; got a scalar.")
    x = upcast(arr)

    def same(v: ArrayLike, name: str) -> jax.Array:
        a = real(v, name, fn)
        try:
            return jnp.broadcast_to(a, arr.shape)
        except ValueError:
            raise ValueError(
                f"{fn}: `{name}` with shape {a.shape} does not broadcast to `logits` "
                f"{arr.shape}; pass one value per item, [..., list_size]."
            ) from None

    y = same(labels, "labels").astype(x.dtype)
    mask = None if where is None else same(where, "where").astype(bool)
    if mask is not None:
        y = jnp.where(mask, y, 0.0)
    if weights is not None:
        y = y * same(weights, "weights").astype(x.dtype)
    return arr, x, y, mask, reduce_fn


def _reduction_factor(reduce_fn: Callable[..., Any] | None, valid: jax.Array, fn: str) -> jax.Array:
    """``∂ reduce(loss) / ∂ loss`` per list, for the reductions with a closed form."""
    v = valid.astype(jnp.result_type(float))
    if reduce_fn is None or reduce_fn is jnp.sum:
        return v
    if reduce_fn is jnp.mean:
        count = jnp.sum(v)
        return jnp.where(count > 0, v / jnp.where(count > 0, count, 1.0), 0.0)
    raise ValueError(
        f"{fn}: the closed form knows reduce_fn in (jnp.mean, jnp.sum, None), got "
        f"{reduce_fn!r}; use reduce_fn=None and reduce the per-list losses yourself."
    )


def ranking_softmax_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    reduce_fn: Callable[..., Any] | None = jnp.mean,
) -> jax.Array:
    r"""Listwise softmax loss: cross-entropy of the item scores against relevance labels.

    .. math:: \ell(s, y) = -\sum_i w_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    Same name, arguments and values as :func:`optax.losses.ranking_softmax_loss`. The
    labels are relevance grades, not normalised (a list with two relevant items counts
    twice), and masked items leave the normaliser.

    Args:
      logits: item scores ``[..., list_size]``.
      labels: relevance labels ``[..., list_size]``.
      where: optional ``[..., list_size]`` mask of valid items; a list with no valid item
        gives 0 and is left out of the mean.
      weights: optional ``[..., list_size]`` per-item weights.
      reduce_fn: :func:`jax.numpy.mean` (default, over the valid lists),
        :func:`jax.numpy.sum`, or ``None`` for the per-list loss ``[...]``.

    Returns:
      A scalar, or ``[...]`` with ``reduce_fn=None``, in the dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[0.0, 0.0], [0.0, 0.0]]), jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> jl.ranking_softmax_loss(s, y, reduce_fn=None).round(4).tolist()  # log 2, 2 log 2
      [0.6931, 1.3863]

    References:
      Cao et al., `Learning to Rank: From Pairwise Approach to Listwise Approach
      <https://dl.acm.org/doi/10.1145/1273496.1273513>`_, 2007.
    """
    arr, x, y, mask, _ = _ranking_inputs(
        logits, labels, where, weights, reduce_fn, "ranking_softmax_loss"
    )
    log_probs, _, _ = log_softmax_parts(x, (x.ndim - 1,), mask)
    loss = -jnp.sum(y * log_probs, axis=-1)
    valid = jnp.ones(loss.shape, bool) if mask is None else jnp.any(mask, axis=-1)
    loss = jnp.where(valid, loss, 0.0)
    if reduce_fn is None:
        out = loss
    elif reduce_fn is jnp.mean:
        count = jnp.sum(valid)
        out = jnp.where(count > 0, jnp.sum(loss) / jnp.where(count > 0, count, 1), 0.0)
    else:
        out = jnp.asarray(reduce_fn(loss, where=valid))
    return out.astype(arr.dtype)


@closed_form_of(ranking_softmax_loss, _ranking_inputs)
def _ranking_softmax_loss_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array | None,
    reduce_fn: Callable[..., Any] | None,
) -> jax.Array:
    """``r (Σ_i w_i y_i · softmax(s) - w y)`` per list; ``r = 1/#valid lists`` for the mean."""
    _, probs, _ = log_softmax_parts(x, (x.ndim - 1,), mask)
    g = jnp.sum(y, axis=-1, keepdims=True) * probs - y
    valid = jnp.ones(g.shape[:-1], bool) if mask is None else jnp.any(mask, axis=-1)
    r = _reduction_factor(reduce_fn, valid, "ranking_softmax_loss").astype(x.dtype)
    return (r[..., None] * g).astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(margin_ranking_loss, in_set("targets", (-1.0, 1.0)))
register_checks(ranking_softmax_loss, nonnegative("labels"))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    ranking_softmax_loss,
    "by default one mean over the lists of the batch",
    instead="Pass functools.partial(ranking_softmax_loss, reduce_fn=None): one loss per "
    "list, which sharded_mean averages exactly.",
)
