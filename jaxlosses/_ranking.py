"""Ranking losses: pairwise margin ranking, listwise softmax, and learning to rank.

``ranking_softmax_loss`` keeps optax's name, arguments and values, including
``reduce_fn`` (default :func:`jax.numpy.mean`, a scalar; pass ``reduce_fn=None``
for the per-list loss). The learning-to-rank losses (pairwise hinge, logistic and
soft zero-one, ListMLE, ApproxNDCG) keep Rax's names and definitions and return one
loss per list (Rax's ``reduce_fn=None`` output summed over the list). Each loss is
followed by its closed-form gradient of the *summed* output with respect to the scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._checks import in_set, nonnegative, register_checks
from ._core import (
    broadcast_or_raise,
    check_equal_shapes,
    closed_form_of,
    fill_docstrings,
    floating,
    mask_for,
    numeric,
    real,
    upcast,
)
from ._coupling import register_batch_coupled
from ._primitives import log_softmax_parts

__all__ = [
    "approx_ndcg_loss",
    "listmle_loss",
    "margin_ranking_loss",
    "pairwise_hinge_loss",
    "pairwise_logistic_loss",
    "pairwise_soft_zero_one_loss",
    "ranking_softmax_loss",
]


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


# --- learning to rank: lists of scored items with graded relevance labels ----------------


class _Lists(NamedTuple):
    """Validated ``[..., list_size]`` lists (see :func:`_list_inputs`)."""

    arr: jax.Array  # the scores as given (their dtype is the output dtype)
    s: jax.Array  # upcast, 0 at masked items (a masked -inf or NaN meets no arithmetic)
    y: jax.Array  # the labels in the compute dtype
    valid: jax.Array  # the item mask, all True without `where`
    w: jax.Array | None  # the per-item weights, broadcast, or None
    bad_labels: jax.Array  # [...]: a valid item of the list has a NaN label


def _list_inputs(
    scores: ArrayLike,
    labels: ArrayLike,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    fn: str,
) -> _Lists:
    arr = floating(scores, "scores", fn)
    if arr.ndim < 1:
        raise ValueError(
            f"{fn}: `scores` must be [..., list_size]; got a scalar. Pass one score per "
            "item, e.g. `scores[None]` for a single list."
        )
    lab = numeric(labels, "labels", fn)
    if lab.shape != arr.shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `scores` has shape {arr.shape}; they "
            "must be equal, one relevance label per item [..., list_size] (no broadcasting). "
            "Reshape or tile the labels."
        )
    x = upcast(arr)
    mask = mask_for(where, arr.shape, (arr.ndim - 1,), fn)
    valid = jnp.ones(arr.shape, bool) if mask is None else mask
    w = None
    if weights is not None:
        wt = real(weights, "weights", fn)
        w = broadcast_or_raise(
            wt.astype(x.dtype),
            arr.shape,
            f"{fn}: `weights` with shape {wt.shape} does not broadcast to `scores` "
            f"{arr.shape}; pass one weight per item, [..., list_size] or [list_size].",
        )
    y = lab.astype(x.dtype)
    bad = jnp.any(valid & jnp.isnan(y), axis=-1)
    return _Lists(arr, jnp.where(valid, x, 0.0), y, valid, w, bad)


def _lead(a: jax.Array, ndim: int) -> jax.Array:
    """``a`` with leading axes of size 1 up to ``ndim`` (the suite forbids rank promotion)."""
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _ranks(v: jax.Array, valid: jax.Array) -> jax.Array:
    """1-based rank of each item by ``v`` descending among the valid items; ties go to the
    earlier position (Rax's stable sort). ``[..., n]`` -> ``[..., n]``, no gradient."""
    n = v.shape[-1]
    idx = jnp.arange(n)
    earlier = _lead(idx[None, :] < idx[:, None], v.ndim + 1)  # [i, j]: j comes before i
    vi, vj = v[..., :, None], v[..., None, :]
    ahead = ((vj > vi) | ((vj == vi) & earlier)) & valid[..., None, :]
    return 1 + jnp.sum(ahead, axis=-1)


def _discount(r: jax.Array) -> jax.Array:
    """Rax's default rank discount ``1 / log2(1 + r)``."""
    return 1.0 / jnp.log2(1.0 + r)


def _gains(lists: _Lists) -> jax.Array:
    """Rax's default gains ``2^y - 1``, times the item weights."""
    g = jnp.exp2(lists.y) - 1.0
    return g if lists.w is None else g * lists.w


def _ideal_dcg(g: jax.Array, valid: jax.Array) -> jax.Array:
    """``Σ_i g_i / log2(1 + rank_i)`` with the valid items ranked by ``g``; 1 where 0."""
    ideal = jnp.sum(jnp.where(valid, g * _discount(_ranks(g, valid)), 0.0), axis=-1)
    return jnp.where(ideal == 0.0, 1.0, ideal)


_LAMBDAWEIGHTS = (None, "labeldiff", "dcg", "ndcg")


def _lambdaweights(lists: _Lists, lambdaweight: str | None, fn: str) -> jax.Array | None:
    """Rax's lambdaweights ``λ_ij`` ``[..., n, n]`` (no gradient through the ranks).

    ``labeldiff``: ``|y_i - y_j|``. ``dcg``: ``|G_i - G_j| · |D(r_i) - D(r_j)| · n`` with
    gains ``G = 2^y - 1`` (times the weights), discounts ``D(r) = 1/log2(1 + r)`` of the
    ranks ``r`` by score and ``n`` the number of valid items of the list. ``ndcg``: the
    same with the gains divided by the ideal DCG of the list.
    """
    if lambdaweight not in _LAMBDAWEIGHTS:
        raise ValueError(
            f"{fn}: `lambdaweight` must be one of {_LAMBDAWEIGHTS}, got {lambdaweight!r}."
        )
    if lambdaweight is None:
        return None
    if lambdaweight == "labeldiff":
        return jnp.abs(lists.y[..., :, None] - lists.y[..., None, :])
    g = _gains(lists)
    if lambdaweight == "ndcg":
        g = g / _ideal_dcg(g, lists.valid)[..., None]
    d = _discount(_ranks(lists.s, lists.valid))
    n = jnp.sum(lists.valid, axis=-1).astype(g.dtype)[..., None, None]
    return (
        jnp.abs(g[..., :, None] - g[..., None, :]) * jnp.abs(d[..., :, None] - d[..., None, :]) * n
    )


class _Pairs(NamedTuple):
    """The pairs of a list: coefficients, score differences, and the list's bookkeeping."""

    arr: jax.Array
    c: jax.Array  # [..., n, n]: [i valid, j valid, y_i > y_j] · w_i · λ_ij
    d: jax.Array  # [..., n, n]: s_i - s_j
    bad_labels: jax.Array
    margin: jax.Array


def _pairwise_parts(
    scores: ArrayLike,
    labels: ArrayLike,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    lambdaweight: str | None,
    fn: str,
    margin: ArrayLike = 1.0,
) -> _Pairs:
    lists = _list_inputs(scores, labels, where, weights, fn)
    y, m = lists.y, lists.valid
    c = ((y[..., :, None] > y[..., None, :]) & m[..., :, None] & m[..., None, :]).astype(y.dtype)
    if lists.w is not None:
        c = c * lists.w[..., :, None]
    lam = _lambdaweights(lists, lambdaweight, fn)
    if lam is not None:
        c = c * lam
    d = lists.s[..., :, None] - lists.s[..., None, :]
    return _Pairs(lists.arr, c, d, lists.bad_labels, jnp.asarray(margin, y.dtype))


def _hinge_parts(
    scores: ArrayLike,
    labels: ArrayLike,
    margin: ArrayLike,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    lambdaweight: str | None,
    fn: str,
) -> _Pairs:
    return _pairwise_parts(scores, labels, where, weights, lambdaweight, fn, margin)


def _pair_sum(p: _Pairs, per_pair: jax.Array) -> jax.Array:
    """``Σ_ij c_ij ℓ(s_i - s_j)`` per list (``c_ij = 0`` pairs left out, so a NaN or inf
    score meets only the pairs it is in), NaN for a list with a NaN label."""
    total = jnp.sum(jnp.where(p.c != 0, p.c * per_pair, 0.0), axis=(-2, -1))
    return jnp.where(p.bad_labels, jnp.nan, total).astype(p.arr.dtype)


def _pair_grad(p: _Pairs, slope: jax.Array) -> jax.Array:
    """``∂/∂s_k Σ_ij c_ij ℓ(s_i - s_j) = Σ_j c_kj ℓ'(d_kj) - Σ_i c_ik ℓ'(d_ik)``."""
    g = jnp.where(p.c != 0, p.c * slope, 0.0)
    return (jnp.sum(g, axis=-1) - jnp.sum(g, axis=-2)).astype(p.arr.dtype)


_PAIRWISE_DOC = dict(
    pairs=r"""The sum runs over the pairs of valid items of a list with ``y_i > y_j`` (pairs of
    equal labels are left out), each weighted by the weight ``w_i`` of the more relevant
    item and by the lambdaweight ``λ_ij`` (1 without ``lambdaweight``).

    Rax's ``{name}(..., reduce_fn=None)`` returns the ``list_size²`` pair terms; this
    returns their sum per list, so ``{name}(s, y).sum()`` equals Rax's
    ``reduce_fn=jnp.sum`` and Rax's default ``reduce_fn=jnp.mean`` is that sum divided
    by the number of pairs with ``y_i > y_j`` in the whole batch (not a mean of lists).""",
    args=r"""scores: item scores ``[..., list_size]``.
      labels: relevance labels, same shape (graded, any real values; only their order
        within a list matters, except to the ``dcg``/``ndcg`` lambdaweights).
      where: optional ``[..., list_size]`` mask of valid (non-padded) items; masked items
        take part in no pair and get a zero gradient, so their scores may be ``-inf`` or
        NaN; a list with fewer than two valid items gives 0.
      weights: optional per-item weights ``[..., list_size]`` (or ``[list_size]``).
      lambdaweight: ``None``, ``"labeldiff"`` (``|y_i - y_j|``), ``"dcg"`` or ``"ndcg"``:
        Rax's ``labeldiff_lambdaweight``, ``dcg_lambdaweight`` and
        ``dcg_lambdaweight(normalize=True)``, ``λ_ij = |G_i - G_j| |D(r_i) - D(r_j)| n``
        with gains ``G = (2^y - 1) w`` (divided by the ideal DCG for ``"ndcg"``),
        discounts ``D(r) = 1/log2(1 + r)`` of the ranks by score (ties to the earlier
        item) and ``n`` the number of valid items. Rax multiplies by the padded
        ``list_size`` instead of ``n``: the two agree on unpadded lists, and here padding
        changes nothing. The ranks are piecewise constant in the scores and carry no
        gradient (as in Rax); the loss jumps where two scores swap.""",
    returns=r"""The loss per list ``[...]``, in the dtype of ``scores``; NaN for a list in which a
      NaN score takes part in a pair, or with a NaN label of a valid item.""",
)


def pairwise_hinge_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    lambdaweight: str | None = None,
) -> jax.Array:
    r"""Pairwise hinge loss: each more relevant item should outscore a less relevant one by a margin.

    .. math:: \ell(s, y) = \sum_{i,j:\ y_i > y_j} w_i \lambda_{ij} \max(0,\ m - (s_i - s_j))

    Rax's :func:`rax.pairwise_hinge_loss` (where ``m = 1``).
    {pairs}

    Args:
      {args}
      margin: ``m`` (Rax: 1).

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[2.0, 1.5, 0.0]]), jnp.array([[2.0, 0.0, 1.0]])
      >>> jl.pairwise_hinge_loss(s, y).tolist()  # pairs (0,1): 0.5, (0,2): 0, (2,1): 2.5
      [3.0]

    References:
      Herbrich et al., `Large Margin Rank Boundaries for Ordinal Regression
      <https://www.researchgate.net/publication/2436238>`_, 2000.
    """
    p = _hinge_parts(scores, labels, margin, where, weights, lambdaweight, "pairwise_hinge_loss")
    return _pair_sum(p, jnp.maximum(p.margin - p.d, 0.0))


@closed_form_of(pairwise_hinge_loss, _hinge_parts)
def _pairwise_hinge_loss_grad(*parts: Any) -> jax.Array:
    """``ℓ'(d) = -[d < m]``, away from the kinks ``d = s_i - s_j = m``.

    Also away from score ties with the ``dcg``/``ndcg`` lambdaweights (their ranks swap).
    """
    p = _Pairs(*parts)
    return _pair_grad(p, jnp.where(p.margin - p.d > 0, -1.0, 0.0))


def pairwise_logistic_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    lambdaweight: str | None = None,
) -> jax.Array:
    r"""Pairwise logistic (RankNet) loss.

    .. math:: \ell(s, y) = \sum_{i,j:\ y_i > y_j} w_i \lambda_{ij} \log(1 + e^{-(s_i - s_j)})

    Rax's :func:`rax.pairwise_logistic_loss`, computed as ``softplus(-(s_i - s_j))``.
    {pairs}

    Args:
      {args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[0.0, 0.0, 5.0]]), jnp.array([[1.0, 0.0, 0.0]])
      >>> jl.pairwise_logistic_loss(s, y).round(4).tolist()  # log 2 + softplus(5)
      [5.6998]

    References:
      Burges et al., `Learning to Rank using Gradient Descent
      <https://dl.acm.org/doi/10.1145/1102351.1102363>`_, 2005.
    """
    p = _pairwise_parts(scores, labels, where, weights, lambdaweight, "pairwise_logistic_loss")
    return _pair_sum(p, jax.nn.softplus(-p.d))


@closed_form_of(pairwise_logistic_loss, _pairwise_parts)
def _pairwise_logistic_loss_grad(*parts: Any) -> jax.Array:
    """``ℓ'(d) = -σ(-d)``."""
    p = _Pairs(*parts)
    return _pair_grad(p, -jax.nn.sigmoid(-p.d))


def pairwise_soft_zero_one_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    lambdaweight: str | None = None,
) -> jax.Array:
    r"""Pairwise soft zero-one loss: a sigmoid count of the misordered pairs.

    .. math:: \ell(s, y) = \sum_{i,j:\ y_i > y_j} w_i \lambda_{ij}\, \sigma(-(s_i - s_j))

    Rax's :func:`rax.pairwise_soft_zero_one_loss`. Bounded (each pair costs at most
    ``w_i λ_ij``) and not convex.
    {pairs}

    Args:
      {args}

    Returns:
      {returns}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[0.0, 0.0, 1e4]]), jnp.array([[1.0, 0.0, 0.0]])
      >>> jl.pairwise_soft_zero_one_loss(s, y).tolist()  # 1/2 for the tie, 1 misordered
      [1.5]
    """
    p = _pairwise_parts(scores, labels, where, weights, lambdaweight, "pairwise_soft_zero_one_loss")
    return _pair_sum(p, jax.nn.sigmoid(-p.d))


@closed_form_of(pairwise_soft_zero_one_loss, _pairwise_parts)
def _pairwise_soft_zero_one_loss_grad(*parts: Any) -> jax.Array:
    """``ℓ'(d) = -σ(d) σ(-d)``."""
    p = _Pairs(*parts)
    return _pair_grad(p, -jax.nn.sigmoid(p.d) * jax.nn.sigmoid(-p.d))


fill_docstrings(
    pairwise_hinge_loss, pairwise_logistic_loss, pairwise_soft_zero_one_loss, **_PAIRWISE_DOC
)


# --- ListMLE ------------------------------------------------------------------------------


class _Ordered(NamedTuple):
    """ListMLE's lists in the order of the labels (see :func:`_listmle_parts`)."""

    arr: jax.Array
    order: jax.Array  # [..., n]: item index at each rank (valid items first)
    log_probs: jax.Array  # [..., n]: log P(rank k picks its item | the items left), by rank
    top: jax.Array  # [..., n]: the largest score of the valid items at ranks >= k
    rest: jax.Array  # [..., n]: log sum exp(score - top) over them (their logsumexp - top)
    ranked: jax.Array  # [..., n]: the rank holds a valid item
    bad_labels: jax.Array


def _listmle_parts(
    scores: ArrayLike,
    labels: ArrayLike,
    key: ArrayLike | None,
    where: ArrayLike | None,
    fn: str,
) -> _Ordered:
    """The valid items ranked by the labels (descending; ties by ``jax.random.uniform(key)``
    ascending, then position; masked items last) and each rank's log-probability of being
    picked from the items it leaves, by one sort and one reverse associative scan."""
    lists = _list_inputs(scores, labels, where, None, fn)
    n = lists.arr.shape[-1]
    idx = jnp.broadcast_to(jnp.arange(n), lists.y.shape)
    keys = [idx]
    if key is not None:
        keys.append(jax.random.uniform(jnp.asarray(key), lists.arr.shape))
    keys += [-lists.y, (~lists.valid).astype(jnp.int32)]
    order = jnp.lexsort(tuple(keys), axis=-1)
    s = jnp.take_along_axis(lists.s, order, axis=-1)
    ranked = jnp.take_along_axis(lists.valid, order, axis=-1)
    low = jnp.finfo(s.dtype).min
    top, total = lax.associative_scan(
        _logsumexp_pair,
        (jnp.where(ranked, s, low), ranked.astype(s.dtype)),
        reverse=True,
        axis=s.ndim - 1,
    )
    # log softmax of rank k over the ranks >= k, shifted by their max: exact for scores
    # of 1e4 in float32 (an absolute logsumexp would lose 1e-3 to rounding there).
    rest = jnp.log(jnp.where(ranked, total, 1.0))
    log_probs = jnp.where(ranked, s - top - rest, 0.0)
    return _Ordered(lists.arr, order, log_probs, top, rest, ranked, lists.bad_labels)


def _logsumexp_pair(a: Any, b: Any) -> Any:
    """``(max, sum of exp(x - max))`` of two runs of scores, merged."""
    (ma, sa), (mb, sb) = a, b
    m = jnp.maximum(ma, mb)
    return m, sa * jnp.exp(ma - m) + sb * jnp.exp(mb - m)


def listmle_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    key: ArrayLike | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""ListMLE: the Plackett-Luce negative log-likelihood of the order given by the labels.

    .. math:: \ell(s, y) = -\sum_{k=1}^{n} \log \frac{e^{s_{\pi(k)}}}{\sum_{l \ge k} e^{s_{\pi(l)}}}

    with ``π`` the valid items sorted by label, most relevant first. Rax's
    :func:`rax.listmle_loss` with ``reduce_fn=None``, including its order: equal labels
    keep their positions (the earlier item first), or, with ``key``, are ordered by
    ``jax.random.uniform(key, scores.shape)`` as in Rax (the same key gives the same
    order). The loss depends on how ties are broken; pass a fresh ``key`` per step to
    average over the orders. One sort and one scan per list: ``O(n log n)`` time and
    ``O(n)`` memory.

    Args:
      scores: item scores ``[..., list_size]``.
      labels: relevance labels, same shape; only their order matters (no gradient).
      key: optional :func:`jax.random.key` for random tie-breaking.
      where: optional ``[..., list_size]`` mask of valid items; masked items leave every
        normaliser and get a zero gradient; a list with no valid item gives 0.

    Returns:
      The loss per list ``[...]``, in the dtype of ``scores``; NaN for a list with a NaN
      score or label on a valid item.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]])
      >>> jl.listmle_loss(s, y).round(4).tolist()  # -log(1/2) - log(1)
      [0.6931]

    References:
      Xia et al., `Listwise Approach to Learning to Rank: Theory and Algorithm
      <https://dl.acm.org/doi/10.1145/1390156.1390306>`_, 2008.
    """
    p = _listmle_parts(scores, labels, key, where, "listmle_loss")
    loss = -jnp.sum(p.log_probs, axis=-1)
    return jnp.where(p.bad_labels, jnp.nan, loss).astype(p.arr.dtype)


@closed_form_of(listmle_loss, _listmle_parts)
def _listmle_loss_grad(*parts: Any) -> jax.Array:
    """For the item at rank ``j``: ``Σ_{k <= j} softmax_k(j) - 1``, ``softmax_k`` over ranks >= k.

    With ``lse_k`` the logsumexp of the ranks ``>= k`` that is ``P_j c_j - 1``, ``P_j`` the
    rank's own log-probability exponentiated and ``c_j = Σ_{k <= j} exp(lse_j - lse_k) =
    1 + exp(lse_j - lse_{j-1}) c_{j-1}``, an affine recurrence (associative scan). Exact for
    every score: the order depends on the labels only; ``lse_j - lse_{j-1}`` is taken as the
    difference of the shifts plus that of the shifted sums, never of two large numbers.
    """
    p = _Ordered(*parts)

    def previous(v: jax.Array) -> jax.Array:
        return jnp.concatenate([v[..., :1], v[..., :-1]], axis=-1)

    diff = (p.top - previous(p.top)) + (p.rest - previous(p.rest))
    step = jnp.where(p.ranked, jnp.exp(jnp.where(p.ranked, diff, 0.0)), 0.0)
    step = step.at[..., 0].set(0.0)
    ax = step.ndim - 1
    _, c = lax.associative_scan(_affine, (step, jnp.ones_like(step)), axis=ax)
    g_ranked = jnp.where(p.ranked, jnp.exp(p.log_probs) * c - 1.0, 0.0)
    inverse = jnp.argsort(p.order, axis=-1)
    return jnp.take_along_axis(g_ranked, inverse, axis=-1).astype(p.arr.dtype)


def _affine(a: Any, b: Any) -> Any:
    """Two affine maps ``c -> m c + b`` composed, ``a`` first: ``c -> m2 (m1 c + b1) + b2``."""
    (m1, b1), (m2, b2) = a, b
    return m1 * m2, m2 * b1 + b2


# --- ApproxNDCG ---------------------------------------------------------------------------


class _ApproxRanks(NamedTuple):
    arr: jax.Array
    gains: jax.Array  # [..., n]: m_i (2^y_i - 1) w_i / IDCG
    ranks: jax.Array  # [..., n]: 1 + Σ_{j≠i} m_j σ((s_j - s_i)/T)
    slopes: jax.Array  # [..., n, n]: m_i m_j [i≠j] σ'((s_j - s_i)/T) / T
    bad_labels: jax.Array


def _approx_ndcg_parts(
    scores: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    fn: str,
) -> _ApproxRanks:
    lists = _list_inputs(scores, labels, where, weights, fn)
    m, n = lists.valid, lists.arr.shape[-1]
    t = jnp.asarray(temperature, lists.s.dtype)
    others = m[..., :, None] & m[..., None, :] & _lead(~jnp.eye(n, dtype=bool), m.ndim + 1)
    z = (lists.s[..., None, :] - lists.s[..., :, None]) / t  # [i, j]: (s_j - s_i) / T
    step = jnp.where(others, jax.nn.sigmoid(z), 0.0)
    slopes = jnp.where(others, jax.nn.sigmoid(z) * jax.nn.sigmoid(-z), 0.0) / t
    g = _gains(lists)
    gains = jnp.where(m, g, 0.0) / _ideal_dcg(g, m)[..., None]
    return _ApproxRanks(lists.arr, gains, 1.0 + jnp.sum(step, axis=-1), slopes, lists.bad_labels)


def approx_ndcg_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> jax.Array:
    r"""ApproxNDCG: minus the NDCG of the list with each rank replaced by a sigmoid count.

    .. math::
        \ell(s, y) = -\frac{1}{\mathrm{IDCG}} \sum_i \frac{G_i}{\log_2(1 + \hat r_i)},
        \qquad \hat r_i = 1 + \sum_{j \ne i} \sigma\big((s_j - s_i)/T\big)

    with gains ``G_i = (2^{y_i} - 1) w_i`` and ``IDCG`` the DCG of the valid items
    ordered by gain (taken as 1 when it is 0, so a list without relevant items gives 0).
    ``rax.approx_t12n(rax.ndcg_metric, temperature=T)`` with ``reduce_fn=None``: the
    loss is negative, in ``[-1, 0]`` for non-negative labels, and the rank cutoff
    (``topn``) is not offered.

    Args:
      scores: item scores ``[..., list_size]``.
      labels: relevance labels, same shape (non-negative grades).
      temperature: ``T`` of the sigmoid (smaller: closer to the true ranks).
      where: optional ``[..., list_size]`` mask of valid items; masked items leave the
        ranks and the ideal DCG and get a zero gradient; an empty list gives 0.
      weights: optional per-item weights ``[..., list_size]`` (or ``[list_size]``)
        multiplying the gains, as in Rax.

    Returns:
      The loss per list ``[...]``, in the dtype of ``scores``; NaN for a list with a NaN
      score or label on a valid item.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s, y = jnp.array([[10.0, -10.0]]), jnp.array([[1.0, 0.0]])
      >>> jl.approx_ndcg_loss(s, y).round(4).tolist()  # the relevant item is ranked ~1
      [-1.0]

    References:
      Qin et al., `A General Approximation Framework for Direct Optimization of
      Information Retrieval Measures <https://doi.org/10.1007/s10791-009-9124-x>`_, 2010.
    """
    p = _approx_ndcg_parts(scores, labels, temperature, where, weights, "approx_ndcg_loss")
    loss = -jnp.sum(p.gains * _discount(p.ranks), axis=-1)
    return jnp.where(p.bad_labels, jnp.nan, loss).astype(p.arr.dtype)


@closed_form_of(approx_ndcg_loss, _approx_ndcg_parts)
def _approx_ndcg_loss_grad(*parts: Any) -> jax.Array:
    """``Σ_i a_i P_ik - a_k Σ_j P_kj``, ``a_i = -G_i D'(r̂_i)``, ``P_ij = ∂r̂_i/∂s_j`` (``j ≠ i``).

    With ``D(r) = 1/log2(1 + r)``, ``-D'(r) = D(r)² / (ln 2 (1 + r))``, and
    ``P_ij = σ'((s_j - s_i)/T) / T`` over pairs of valid items.
    """
    p = _ApproxRanks(*parts)
    d = _discount(p.ranks)
    a = p.gains * d * d / (math.log(2.0) * (1.0 + p.ranks))
    g = jnp.sum(a[..., :, None] * p.slopes, axis=-2) - a * jnp.sum(p.slopes, axis=-1)
    return g.astype(p.arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(margin_ranking_loss, in_set("targets", (-1.0, 1.0)))
register_checks(ranking_softmax_loss, nonnegative("labels"))
register_checks(approx_ndcg_loss, nonnegative("labels"))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    ranking_softmax_loss,
    "by default one mean over the lists of the batch",
    instead="Pass functools.partial(ranking_softmax_loss, reduce_fn=None): one loss per "
    "list, which sharded_mean averages exactly.",
)
