"""Margin losses over flat classes: perceptron, hinge, cost-augmented hinge,
softmax-margin, risk, and the sparsemax (Fenchel-Young) losses.

One family over the classes ``k`` with scores ``s_k``, the true class ``y`` and a
cost ``c_k = cost(y, k)``:

* perceptron: ``-s_y + max_k s_k``;
* cost-augmented (structured) hinge: ``-s_y + max_k [s_k + c_k]``;
* softmax-margin: ``-s_y + logsumexp_k [s_k + c_k]``;
* risk (expected cost): ``sum_k c_k softmax(s)_k``.

Each loss is followed by its closed-form gradient (``_<name>_grad``): the
analytic derivative of the *summed* loss with respect to the first argument,
derived by hand and re-exported as :mod:`jaxlosses.closed_form`. For the
piecewise losses (perceptron, hinge) it is the subgradient that autodiff gives
at points off the kinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import class_labels, in_set, nonnegative, register_checks
from ._classification import _gather_last
from ._core import canonical_axis, check_same_shape, floating, integer, mask_for, upcast
from ._primitives import log_softmax_parts

__all__ = [
    "cost_augmented_hinge_loss",
    "hinge_loss",
    "make_fenchel_young_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "perceptron_loss",
    "risk_loss",
    "softmax_margin_loss",
    "sparsemax_loss",
    "squared_hinge_loss",
]


# --- binary (element-wise) margin losses ----------------------------------------------


def _binary_inputs(
    first: ArrayLike, second: ArrayLike, names: tuple[str, str], fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Validates an element-wise (prediction, target) pair; returns (orig, x, y) upcast."""
    arr = floating(first, names[0], fn)
    tgt = jnp.asarray(second)
    if not (jnp.issubdtype(tgt.dtype, jnp.number) or tgt.dtype == jnp.bool_):
        raise TypeError(f"{fn}: `{names[1]}` must be numeric, got dtype {tgt.dtype}.")
    check_same_shape(arr, tgt, names, fn)
    x = upcast(arr)
    return arr, x, jnp.broadcast_to(tgt.astype(x.dtype), x.shape)


def _positive_part(z: jax.Array) -> jax.Array:
    """``max(0, z)`` with derivative ``[z > 0]`` (0 at the kink, not jnp.maximum's 1/2)."""
    return jnp.where(z > 0, z, 0.0)


def perceptron_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Binary perceptron loss.

    .. math:: \ell(x, y) = \max(0, -y x), \quad y \in \{-1, 1\}

    Same name, arguments and values as :func:`optax.losses.perceptron_loss`.

    Args:
      predictor_outputs: scores ``x`` of the decision function, any shape.
      targets: ``y`` in ``{-1, 1}``, same shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``predictor_outputs``.

    Example:
      >>> import jaxlosses as jl
      >>> jl.perceptron_loss(jnp.array([2.0, -0.5, 0.3]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.5, 0.30000001192092896]

    References:
      Rosenblatt, `The perceptron <https://doi.org/10.1037/h0042519>`_, 1958.
    """
    fn = "perceptron_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return _positive_part(-y * x).astype(arr.dtype)


def _perceptron_loss_grad(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """``-y`` where ``y x < 0``, else 0."""
    fn = "perceptron_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return jnp.where(-y * x > 0, -y, 0.0).astype(arr.dtype)


def hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Binary hinge loss (the SVM loss).

    .. math:: \ell(x, y) = \max(0, 1 - y x), \quad y \in \{-1, 1\}

    Same name, arguments and values as :func:`optax.losses.hinge_loss`.

    Args:
      predictor_outputs: scores ``x`` of the decision function, any shape.
      targets: ``y`` in ``{-1, 1}``, same shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``predictor_outputs``.

    Example:
      >>> import jaxlosses as jl
      >>> jl.hinge_loss(jnp.array([2.0, 0.25, 0.5]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.75, 1.5]

    References:
      Cortes and Vapnik, `Support-vector networks <https://doi.org/10.1007/BF00994018>`_, 1995.
    """
    fn = "hinge_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return _positive_part(1.0 - y * x).astype(arr.dtype)


def _hinge_loss_grad(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """``-y`` where ``y x < 1``, else 0."""
    fn = "hinge_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return jnp.where(1.0 - y * x > 0, -y, 0.0).astype(arr.dtype)


def squared_hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Squared hinge loss.

    .. math:: \ell(x, y) = \max(0, 1 - y x)^2, \quad y \in \{-1, 1\}

    Keras' ``squared_hinge`` math, element-wise: Keras additionally averages over the
    last axis (``keras.losses.squared_hinge(y, x) == squared_hinge_loss(x, y).mean(-1)``,
    note the swapped argument order) and maps 0/1 targets to -1/1; here the targets must
    already be -1/1.

    Args:
      predictor_outputs: scores ``x`` of the decision function, any shape.
      targets: ``y`` in ``{-1, 1}``, same shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``predictor_outputs``.

    Example:
      >>> import jaxlosses as jl
      >>> jl.squared_hinge_loss(jnp.array([2.0, 0.25, 0.5]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.5625, 2.25]

    References:
      Keras, `squared_hinge <https://keras.io/api/losses/hinge_losses/>`_.
    """
    fn = "squared_hinge_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return jnp.square(_positive_part(1.0 - y * x)).astype(arr.dtype)


def _squared_hinge_loss_grad(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """``-2 y max(0, 1 - y x)``."""
    fn = "squared_hinge_loss"
    arr, x, y = _binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)
    return (-2.0 * y * _positive_part(1.0 - y * x)).astype(arr.dtype)


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
      >>> import jaxlosses as jl
      >>> jl.sparsemax_loss(jnp.array([2.0, 0.0, -3.0]), jnp.array([1, 1, 1])).tolist()
      [0.0, 0.25, 3.0]

    References:
      Blondel, Martins and Niculae, `Learning with Fenchel-Young losses
      <https://arxiv.org/abs/1901.02324>`_, JMLR 2020, section 4.4.
    """
    fn = "sparsemax_loss"
    arr, x, y = _binary_inputs(logits, labels, ("logits", "labels"), fn)
    return _sparse_plus(jnp.where(y != 0, -x, x)).astype(arr.dtype)


def _sparsemax_loss_grad(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """``sign * clip((z + 1) / 2, 0, 1)`` with ``z = sign * x`` and ``sign = -1`` for ``y = 1``."""
    fn = "sparsemax_loss"
    arr, x, y = _binary_inputs(logits, labels, ("logits", "labels"), fn)
    sign = jnp.where(y != 0, -1.0, 1.0)
    return (sign * jnp.clip(0.5 * (sign * x + 1.0), 0.0, 1.0)).astype(arr.dtype)


# --- multiclass inputs -------------------------------------------------------------------


def _class_inputs(
    scores: ArrayLike, labels: ArrayLike, axis: int, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, int]:
    """Validates (scores, integer labels) with the class axis moved last.

    Returns ``(orig, x, y, valid, in_range, ax)``: ``x`` upcast, ``y`` the labels clamped
    into range, ``valid`` the class mask (all true without ``where``).
    """
    arr = floating(scores, "scores", fn)
    lab = integer(labels, "labels", fn)
    ax = canonical_axis(axis, arr.ndim, "scores", fn)
    batch_shape = arr.shape[:ax] + arr.shape[ax + 1 :]
    if lab.shape != batch_shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `scores` {arr.shape} with class axis "
            f"{axis} needs labels of shape {batch_shape} (one integer class per example). "
            "For one-hot labels pass `labels.argmax(-1)`; to drop a trailing singleton, "
            "`labels[..., 0]`."
        )
    mask = mask_for(where, arr.shape, (ax,), fn)
    x = jnp.moveaxis(upcast(arr), ax, -1)
    valid = jnp.ones(x.shape, bool) if mask is None else jnp.moveaxis(mask, ax, -1)
    k = x.shape[-1]
    in_range = (lab >= 0) & (lab < k)
    return arr, x, jnp.where(in_range, lab, 0), valid, in_range, ax


def _costs(
    cost: ArrayLike | None, y: jax.Array, arr: jax.Array, ax: int, dtype: Any, fn: str
) -> jax.Array:
    """Per-example costs ``c[..., k] = cost(y, k)`` with the classes last."""
    k = arr.shape[ax]
    if cost is None:
        return 1.0 - jax.nn.one_hot(y, k, dtype=dtype)
    c = jnp.asarray(cost)
    if not (jnp.issubdtype(c.dtype, jnp.number) or c.dtype == jnp.bool_):
        raise TypeError(f"{fn}: `cost` must be numeric, got dtype {c.dtype}.")
    c = c.astype(dtype)
    if c.shape == (k, k):
        return c[y]
    try:
        full = jnp.broadcast_to(c, arr.shape)
    except ValueError:
        raise ValueError(
            f"{fn}: `cost` has shape {c.shape}; pass a ({k}, {k}) matrix "
            f"cost[true, predicted], or per-example costs of the scores' shape {arr.shape} "
            f"(classes on axis {ax})."
        ) from None
    return jnp.moveaxis(full, ax, -1)


def _onehot(idx: jax.Array, k: int, dtype: Any) -> jax.Array:
    return jax.nn.one_hot(idx, k, dtype=dtype)


def _masked_argmax(z: jax.Array, valid: jax.Array) -> jax.Array:
    return jnp.argmax(jnp.where(valid, z, -jnp.inf), axis=-1)


def _max_margin(
    x: jax.Array, c: jax.Array, y: jax.Array, valid: jax.Array, in_range: jax.Array
) -> jax.Array:
    """``max_k [x_k + c_k] - x_y`` over the valid classes; 0 for empty rows, NaN off range."""
    z = jnp.where(valid, x + c, -jnp.inf)
    nonempty = jnp.any(valid, axis=-1)
    m = jnp.max(z, axis=-1)
    loss = jnp.where(nonempty, jnp.where(nonempty, m, 0.0) - _gather_last(x, y), 0.0)
    return jnp.where(in_range, loss, jnp.nan)


def _max_margin_grad(
    x: jax.Array, c: jax.Array, y: jax.Array, valid: jax.Array, in_range: jax.Array
) -> jax.Array:
    """``e_{argmax_k (x_k + c_k)} - e_y`` on non-empty rows with an in-range label."""
    k = x.shape[-1]
    g = _onehot(_masked_argmax(x + c, valid), k, x.dtype) - _onehot(y, k, x.dtype)
    keep = in_range & jnp.any(valid, axis=-1)
    return jnp.where(keep[..., None], g, 0.0)


def multiclass_perceptron_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multiclass perceptron loss.

    .. math:: \ell(s, y) = \max_k s_k - s_y

    Same name, arguments and values as :func:`optax.losses.multiclass_perceptron_loss`,
    plus ``axis`` and ``where``.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(multiclass_perceptron_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer classes, shape ``scores.shape`` without ``axis``.
      axis: the class axis.
      where: optional class mask of the scores' shape (or an example mask of the labels'
        shape); masked classes are left out of the max. A fully masked row gives 0.

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``. Unchecked behaviour: a
      label outside ``[0, C)`` gives NaN for that example (and a zero gradient).

    Example:
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 3.0, 0.5], [2.0, -1.0, 0.0]])
      >>> jl.multiclass_perceptron_loss(s, jnp.array([0, 0])).tolist()
      [2.0, 0.0]

    References:
      Collins, `Discriminative training methods for hidden Markov models
      <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
    """
    fn = "multiclass_perceptron_loss"
    arr, x, y, valid, in_range, _ = _class_inputs(scores, labels, axis, where, fn)
    return _max_margin(x, jnp.zeros_like(x), y, valid, in_range).astype(arr.dtype)


def _multiclass_perceptron_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``e_{argmax s} - e_y``."""
    fn = "multiclass_perceptron_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    g = _max_margin_grad(x, jnp.zeros_like(x), y, valid, in_range)
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


def multiclass_hinge_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multiclass (Crammer-Singer) hinge loss.

    .. math:: \ell(s, y) = \max_k \left[s_k + 1 - [k = y]\right] - s_y

    Same name, arguments and values as :func:`optax.losses.multiclass_hinge_loss`, plus
    ``axis`` and ``where``. It is :func:`cost_augmented_hinge_loss` with the 0/1 cost.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(multiclass_hinge_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer classes, shape ``scores.shape`` without ``axis``.
      axis: the class axis.
      where: optional class mask (or example mask); masked classes are left out of the
        max. A fully masked row gives 0.

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label
      outside ``[0, C)``.

    Example:
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 3.0, 0.5], [2.0, -1.0, 0.0]])
      >>> jl.multiclass_hinge_loss(s, jnp.array([0, 0])).tolist()
      [3.0, 0.0]

    References:
      Crammer and Singer, `On the algorithmic implementation of multiclass kernel-based
      vector machines <https://jmlr.org/papers/v2/crammer01a.html>`_, JMLR 2001.
    """
    fn = "multiclass_hinge_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(None, y, arr, ax, x.dtype, fn)
    return _max_margin(x, c, y, valid, in_range).astype(arr.dtype)


def _multiclass_hinge_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``e_{argmax_k (s_k + 1 - [k = y])} - e_y``."""
    fn = "multiclass_hinge_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(None, y, arr, ax, x.dtype, fn)
    g = _max_margin_grad(x, c, y, valid, in_range)
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


_COST_ARGS = """cost: ``None`` (the 0/1 cost: 0 for the true class, 1 otherwise), a ``[C, C]``
        matrix with ``cost[true, predicted]``, or per-example costs of the scores' shape
        (classes on ``axis``) holding ``cost(y, k)``. A ``[C, C]`` array is always read as
        the matrix; for a batch of exactly ``C`` per-example cost rows add a unit axis
        (``scores[:, None]``, ``labels[:, None]``, ``cost[:, None]``).
      axis: the class axis.
      where: optional class mask (or example mask); masked classes are left out. A fully
        masked row gives 0."""


def cost_augmented_hinge_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cost-augmented (structured, margin-rescaled) hinge loss.

    .. math:: \ell(s, y) = \max_k \left[s_k + \operatorname{cost}(y, k)\right] - s_y

    The loss-augmented max of the structured SVM over flat classes. With the 0/1 cost it
    is :func:`multiclass_hinge_loss`; with zero cost, :func:`multiclass_perceptron_loss`.
    It is 0 exactly when the true class beats every other class ``k`` by ``cost(y, k)``
    (given ``cost(y, y) = 0``).

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(cost_augmented_hinge_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer true classes, shape ``scores.shape`` without ``axis``.
      {cost_args}

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``.

    Example:
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 0.8, -2.0]])
      >>> cost = jnp.array([[0.0, 0.5, 4.0], [0.5, 0.0, 4.0], [4.0, 4.0, 0.0]])
      >>> jl.cost_augmented_hinge_loss(s, jnp.array([0]), cost=cost).tolist()
      [1.0]

    References:
      Tsochantaridis et al., `Large margin methods for structured and interdependent output
      variables <https://jmlr.org/papers/v6/tsochantaridis05a.html>`_, JMLR 2005.
    """
    fn = "cost_augmented_hinge_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(cost, y, arr, ax, x.dtype, fn)
    return _max_margin(x, c, y, valid, in_range).astype(arr.dtype)


def _cost_augmented_hinge_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``e_{argmax_k (s_k + cost(y, k))} - e_y``."""
    fn = "cost_augmented_hinge_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(cost, y, arr, ax, x.dtype, fn)
    g = _max_margin_grad(x, c, y, valid, in_range)
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


def softmax_margin_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax-margin loss: cross-entropy with the cost added inside the normaliser.

    .. math:: \ell(s, y) = \log \sum_k \exp\left[s_k + \operatorname{cost}(y, k)\right] - s_y

    A smooth upper bound of :func:`cost_augmented_hinge_loss`. With zero cost it is
    :func:`softmax_cross_entropy_with_integer_labels`.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(softmax_margin_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer true classes, shape ``scores.shape`` without ``axis``.
      {cost_args}

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``.

    Example:
      >>> import jaxlosses as jl
      >>> s = jnp.array([[0.0, 0.0]])
      >>> jl.softmax_margin_loss(s, jnp.array([0])).round(4).tolist()  # log(1 + e)
      [1.3133]

    References:
      Gimpel and Smith, `Softmax-margin CRFs: training log-linear models with cost
      functions <https://aclanthology.org/N10-1112/>`_, NAACL 2010.
    """
    fn = "softmax_margin_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(cost, y, arr, ax, x.dtype, fn)
    last = (x.ndim - 1,)
    _, _, lse = log_softmax_parts(jnp.where(valid, x + c, -jnp.inf), last, valid)
    lse = lse[..., 0]
    nonempty = jnp.isfinite(lse)
    loss = jnp.where(nonempty, jnp.where(nonempty, lse, 0.0) - _gather_last(x, y), 0.0)
    return jnp.where(in_range, loss, jnp.nan).astype(arr.dtype)


def _softmax_margin_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``softmax(s + cost(y, .)) - e_y``."""
    fn = "softmax_margin_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(cost, y, arr, ax, x.dtype, fn)
    _, probs, lse = log_softmax_parts(jnp.where(valid, x + c, -jnp.inf), (x.ndim - 1,), valid)
    g = probs - _onehot(y, x.shape[-1], x.dtype)
    keep = in_range[..., None] & jnp.isfinite(lse)
    return jnp.moveaxis(jnp.where(keep, g, 0.0), -1, ax).astype(arr.dtype)


def risk_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Risk: the expected cost under the softmax distribution of the scores.

    .. math:: \ell(s, y) = \sum_k \operatorname{cost}(y, k)\, \operatorname{softmax}(s)_k

    The minimum-risk (minimum Bayes risk) training objective. With the 0/1 cost it is
    ``1 - softmax(s)_y``. Not convex; bounded by the largest cost.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(risk_loss)`` raises instead.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer true classes, shape ``scores.shape`` without ``axis``.
      {cost_args}

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``.

    Example:
      >>> import jaxlosses as jl
      >>> s = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
      >>> cost = jnp.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
      >>> jl.risk_loss(s, jnp.array([0]), cost=cost).round(4).tolist()  # 0.3 + 2 * 0.2
      [0.7]

    References:
      Smith and Eisner, `Minimum risk annealing for training log-linear models
      <https://aclanthology.org/P06-2101/>`_, COLING/ACL 2006.
    """
    fn = "risk_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = _costs(cost, y, arr, ax, x.dtype, fn)
    _, probs, _ = log_softmax_parts(x, (x.ndim - 1,), valid)
    risk = jnp.sum(probs * jnp.where(valid, c, 0.0), axis=-1)
    return jnp.where(in_range, risk, jnp.nan).astype(arr.dtype)


def _risk_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    cost: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``p_k (c_k - sum_j p_j c_j)`` with ``p = softmax(s)`` and ``c_k = cost(y, k)``."""
    fn = "risk_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    c = jnp.where(valid, _costs(cost, y, arr, ax, x.dtype, fn), 0.0)
    _, probs, _ = log_softmax_parts(x, (x.ndim - 1,), valid)
    g = probs * (c - jnp.sum(probs * c, axis=-1, keepdims=True))
    return jnp.moveaxis(jnp.where(in_range[..., None], g, 0.0), -1, ax).astype(arr.dtype)


for _f in (cost_augmented_hinge_loss, softmax_margin_loss, risk_loss):
    _f.__doc__ = (_f.__doc__ or "").replace("{cost_args}", _COST_ARGS)


# --- sparsemax (Fenchel-Young) losses ---------------------------------------------------


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
    tau = (_gather_last(cums, size - 1) - 1.0) / size.astype(z.dtype)
    above = valid & (zv > tau[..., None])
    return jnp.where(above, jnp.where(above, zv, 0.0) - tau[..., None], 0.0)


def _shift_by_max(x: jax.Array, valid: jax.Array) -> jax.Array:
    """``x - max`` over the valid entries (a constant for differentiation; 0 if none)."""
    m = jnp.max(jnp.where(valid, x, -jnp.inf), axis=-1, keepdims=True)
    return x - jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))


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
      >>> import jaxlosses as jl
      >>> s = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.0, 0.25]])
      >>> jl.multiclass_sparsemax_loss(s, jnp.array([0, 1])).tolist()  # doctest: +ELLIPSIS
      [0.0, 0.64583...]

    References:
      Martins and Astudillo, `From softmax to sparsemax
      <https://arxiv.org/abs/1602.02068>`_, ICML 2016.
    """
    fn = "multiclass_sparsemax_loss"
    arr, x, y, valid, in_range, _ = _class_inputs(scores, labels, axis, where, fn)
    nonempty = jnp.any(valid, axis=-1)
    z = _shift_by_max(x, valid)
    p = _sparsemax(z, valid)
    zp = jnp.sum(p * jnp.where(valid, z, 0.0), axis=-1)
    loss = zp - _gather_last(z, y) + 0.5 * (1.0 - jnp.sum(p * p, axis=-1))
    loss = jnp.where(nonempty, loss, 0.0)
    return jnp.where(in_range, loss, jnp.nan).astype(arr.dtype)


def _multiclass_sparsemax_loss_grad(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    """``sparsemax(s) - e_y``."""
    fn = "multiclass_sparsemax_loss"
    arr, x, y, valid, in_range, ax = _class_inputs(scores, labels, axis, where, fn)
    g = _sparsemax(_shift_by_max(x, valid), valid) - _onehot(y, x.shape[-1], x.dtype)
    keep = in_range & jnp.any(valid, axis=-1)
    return jnp.moveaxis(jnp.where(keep[..., None], g, 0.0), -1, ax).astype(arr.dtype)


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

register_checks(perceptron_loss, in_set("targets", (-1.0, 1.0)))
register_checks(hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(squared_hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(multiclass_perceptron_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(multiclass_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(cost_augmented_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(softmax_margin_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(risk_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(sparsemax_loss, in_set("labels", (0.0, 1.0)))
register_checks(multiclass_sparsemax_loss, class_labels("labels", "scores"), nonnegative("cost"))
