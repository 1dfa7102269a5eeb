r"""Fenchel-Young losses: the binary and multiclass sparsemax losses and a builder.

The Fenchel-Young loss of a regularised max function :math:`\max_\Omega` is

.. math:: \ell(s, t) = \max_\Omega(s) - \langle t, s \rangle,

whose gradient is :math:`\nabla \max_\Omega(s) - t`, the regularised prediction minus the
target. With the Gini entropy the prediction is sparsemax, the Euclidean projection onto the
simplex, which (unlike softmax) puts exactly zero probability on unlikely classes.

Each loss is followed by its closed-form gradient (``_<name>_grad``): the analytic derivative
of the *summed* loss with respect to the first argument, derived by hand and re-exported as
:mod:`jaxlosses.closed_form`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import class_labels, in_set, nonnegative, register_checks
from ._core import (
    ClassScores,
    binary_inputs,
    class_scores,
    closed_form_of,
    floating,
    gather_last,
    upcast,
)
from ._primitives import shift

__all__ = ["make_fenchel_young_loss", "multiclass_sparsemax_loss", "sparsemax_loss"]


# --- binary sparsemax ------------------------------------------------------------------------


def _binary(
    logits: ArrayLike, labels: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(logits as given, x upcast, y)`` for :func:`sparsemax_loss` and its closed form."""
    return binary_inputs(logits, labels, ("logits", "labels"), fn)


def _sparse_plus(z: jax.Array) -> jax.Array:
    """0 for ``z <= -1``, ``(z + 1)^2 / 4`` on ``(-1, 1)``, ``z`` for ``z >= 1``."""
    return jnp.where(z <= -1.0, 0.0, jnp.where(z >= 1.0, z, 0.25 * jnp.square(z + 1.0)))


def sparsemax_loss(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Binary sparsemax loss (the Fenchel-Young loss of the sparse sigmoid).

    .. math:: \ell(x, y) = \operatorname{sparseplus}(-x) \text{ if } y = 1, \quad
       \operatorname{sparseplus}(x) \text{ if } y = 0

    with ``sparseplus(z)`` = 0 for ``z <= -1``, ``(z + 1)^2 / 4`` on ``(-1, 1)`` and
    ``z`` for ``z >= 1``. Zero if and only if ``sparse_sigmoid(x) == y``. Same name,
    arguments and values as :func:`optax.losses.sparsemax_loss`.

    Args:
      logits: scores ``x``, any shape.
      labels: ``y`` in ``{0, 1}`` (integer, boolean or float; nonzero means 1), same
        shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.sparsemax_loss(jnp.array([2.0, 0.0, -3.0]), jnp.array([1, 1, 1])).tolist()
      [0.0, 0.25, 3.0]

    References:
      Blondel, Martins and Niculae, `Learning with Fenchel-Young losses
      <https://arxiv.org/abs/1901.02324>`_, JMLR 2020, section 4.4.
    """
    arr, x, y = _binary(logits, labels, "sparsemax_loss")
    return _sparse_plus(jnp.where(y != 0, -x, x)).astype(arr.dtype)


@closed_form_of(sparsemax_loss, _binary)
def _sparsemax_loss_grad(arr: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``sign * clip((z + 1) / 2, 0, 1)`` with ``z = sign * x`` and ``sign = -1`` for ``y = 1``."""
    sign = jnp.where(y != 0, -1.0, 1.0)
    return (sign * jnp.clip(0.5 * (sign * x + 1.0), 0.0, 1.0)).astype(arr.dtype)


# --- multiclass sparsemax and the Fenchel-Young builder -------------------------------------


def _sparsemax(z: jax.Array, valid: jax.Array) -> jax.Array:
    """Euclidean projection of ``z`` onto the simplex over the valid entries (last axis).

    ``p = max(z - tau, 0)`` with the threshold ``tau`` from the sorted scores: the support
    is the top ``r`` entries with ``1 + r z_(r) > sum_{j <= r} z_(j)``.
    """
    k = z.shape[-1]
    zv = jnp.where(valid, z, -jnp.inf)
    z_sorted = -jnp.sort(-zv, axis=-1)
    ok_sorted = jnp.isfinite(z_sorted)
    cums = jnp.cumsum(jnp.where(ok_sorted, z_sorted, 0.0), axis=-1)
    ranks = jnp.arange(1, k + 1, dtype=z.dtype).reshape((1,) * (z.ndim - 1) + (k,))
    support = ok_sorted & (1.0 + ranks * jnp.where(ok_sorted, z_sorted, 0.0) > cums)
    size = jnp.maximum(jnp.sum(support, axis=-1), 1)
    tau = (gather_last(cums, size - 1) - 1.0) / size.astype(z.dtype)
    above = valid & (zv > tau[..., None])
    return jnp.where(above, jnp.where(above, zv, 0.0) - tau[..., None], 0.0)


def _multiclass(
    scores: ArrayLike, labels: ArrayLike, axis: int, where: ArrayLike | None, fn: str
) -> tuple[ClassScores, jax.Array, jax.Array]:
    """``(inputs, z, sparsemax(z))`` for :func:`multiclass_sparsemax_loss` and its closed form.

    ``z`` is the scores (classes last) minus their max over the valid classes, a constant for
    differentiation (0 if none is valid); sparsemax is invariant to the shift.
    """
    inp = class_scores(scores, labels, axis, where, fn)
    _, m = shift(inp.x, (inp.x.ndim - 1,), inp.valid)
    z = inp.x - m
    return inp, z, _sparsemax(z, inp.valid)


def multiclass_sparsemax_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multiclass sparsemax loss: the Fenchel-Young loss of the Gini entropy.

    .. math:: \ell(s, y) = \langle p, s \rangle - s_y + \tfrac12 (1 - \|p\|^2),
       \quad p = \operatorname{sparsemax}(s)

    Zero exactly when ``sparsemax(s)`` puts all its mass on ``y``. Same name, arguments
    and values as :func:`optax.losses.multiclass_sparsemax_loss` (which requires a
    ``[B, C]`` input), plus any batch shape, ``axis`` and ``where``.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(multiclass_sparsemax_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer classes, shape ``scores.shape`` without ``axis``.
      axis: the class axis.
      where: optional class mask (or example mask); masked classes get no mass. A fully
        masked row gives 0.

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.0, 0.25]])
      >>> jl.multiclass_sparsemax_loss(s, jnp.array([0, 1])).tolist()  # doctest: +ELLIPSIS
      [0.0, 0.64583...]

    References:
      Martins and Astudillo, `From softmax to sparsemax
      <https://arxiv.org/abs/1602.02068>`_, ICML 2016.
    """
    inp, z, p = _multiclass(scores, labels, axis, where, "multiclass_sparsemax_loss")
    nonempty = jnp.any(inp.valid, axis=-1)
    # A -inf score has no mass: 0 * -inf must not give NaN (a NaN score still does).
    zv = jnp.where(inp.valid, z, 0.0)  # masked classes (NaN included) never enter
    zp = jnp.sum(jnp.where((p == 0) & jnp.isneginf(zv), 0.0, p * zv), axis=-1)
    loss = zp - gather_last(z, inp.y) + 0.5 * (1.0 - jnp.sum(p * p, axis=-1))
    loss = jnp.where(nonempty, loss, 0.0)
    return jnp.where(inp.in_range, loss, jnp.nan).astype(inp.arr.dtype)


@closed_form_of(multiclass_sparsemax_loss, _multiclass)
def _multiclass_sparsemax_loss_grad(inp: ClassScores, z: jax.Array, p: jax.Array) -> jax.Array:
    """``sparsemax(s) - e_y``."""
    g = p - jax.nn.one_hot(inp.y, p.shape[-1], dtype=p.dtype)
    keep = inp.in_range & jnp.any(inp.valid, axis=-1)
    return inp.classes_back(jnp.where(keep[..., None], g, 0.0))


def make_fenchel_young_loss(
    max_fun: Callable[..., ArrayLike],
) -> Callable[..., jax.Array]:
    r"""Builds the Fenchel-Young loss of a regularised max function.

    .. math:: \ell(s, t) = \max_\Omega(s) - \langle t, s \rangle

    For ``max_fun = logsumexp`` this is softmax cross-entropy; for the sparsemax max
    function, the multiclass sparsemax loss. The gradient with respect to ``s`` is
    ``grad max_fun(s) - t``. Same name, arguments and semantics as
    :func:`optax.losses.make_fenchel_young_loss`: the returned loss takes
    ``(scores, targets, *args, **kwargs)``, applies ``max_fun(scores_row, *args,
    **kwargs)`` to each row of the last axis and returns one value per row.

    This builds a loss; it is not itself one.

    Args:
      max_fun: a function of a 1-D score vector returning a scalar (e.g.
        :func:`jax.scipy.special.logsumexp`).

    Returns:
      ``loss(scores, targets, *args, **kwargs)`` with ``scores`` and ``targets`` of shape
      ``[..., C]``, returning ``[...]`` in the dtype of ``scores``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> from jax.scipy.special import logsumexp
      >>> fy = jl.make_fenchel_young_loss(logsumexp)
      >>> fy(jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]])).round(4).tolist()  # log 2
      [0.6931]

    References:
      Blondel, Martins and Niculae, `Learning with Fenchel-Young losses
      <https://arxiv.org/abs/1901.02324>`_, JMLR 2020.
    """
    if not callable(max_fun):
        raise TypeError(
            f"make_fenchel_young_loss: `max_fun` must be callable, got {type(max_fun).__name__}."
        )

    def fenchel_young_loss(
        scores: ArrayLike, targets: ArrayLike, *args: Any, **kwargs: Any
    ) -> jax.Array:
        fn = "fenchel_young_loss"
        arr = floating(scores, "scores", fn)
        t = jnp.asarray(targets)
        if t.shape != arr.shape:
            raise ValueError(
                f"{fn}: `scores` has shape {arr.shape} but `targets` has shape {t.shape}; "
                "they must be equal (for integer labels, `jax.nn.one_hot(labels, C)`)."
            )
        if arr.ndim == 0:
            raise ValueError(f"{fn}: `scores` must have a class axis (at least 1-D).")
        x = upcast(arr)
        row_max = jnp.vectorize(
            lambda row: jnp.asarray(max_fun(row, *args, **kwargs)), signature="(n)->()"
        )
        return (row_max(x) - jnp.sum(t.astype(x.dtype) * x, axis=-1)).astype(arr.dtype)

    fenchel_young_loss.__doc__ = (
        f"Fenchel-Young loss built on ``{getattr(max_fun, '__name__', repr(max_fun))}``: "
        "``max_fun(scores) - <targets, scores>`` over the last axis."
    )
    return fenchel_young_loss


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(sparsemax_loss, in_set("labels", (0.0, 1.0)))
register_checks(multiclass_sparsemax_loss, class_labels("labels", "scores"), nonnegative("cost"))
