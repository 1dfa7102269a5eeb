"""Margin losses over flat classes: perceptron, hinge, cost-augmented hinge,
softmax-margin and risk (the sparsemax losses are in :mod:`jaxlosses._fenchel_young`).

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

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._checks import Check, class_labels, in_set, nonnegative, register_checks, unit_interval
from ._core import (
    ClassScores,
    binary_inputs,
    broadcast_or_raise,
    canonical_axis,
    class_scores,
    closed_form_of,
    fill_docstrings,
    finite_number,
    floating,
    gather_last,
    integer,
    is_array,
    mask_for,
    numeric,
    real,
    upcast,
)
from ._primitives import log_softmax_parts

__all__ = [
    "cost_augmented_hinge_loss",
    "hinge_loss",
    "multi_margin_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "perceptron_loss",
    "risk_loss",
    "soft_margin_loss",
    "softmax_margin_loss",
    "squared_hinge_loss",
]


# --- binary (element-wise) margin losses ----------------------------------------------


def _binary(
    predictor_outputs: ArrayLike, targets: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(scores as given, x upcast, y)`` for the binary losses and their closed forms."""
    return binary_inputs(predictor_outputs, targets, ("predictor_outputs", "targets"), fn)


# Docstring part shared by the binary losses, filled in at the end of the module.
_BINARY_ARGS = """Args:
      predictor_outputs: scores ``x`` of the decision function, any shape.
      targets: ``y`` in ``{-1, 1}``, same shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``predictor_outputs``."""


def _positive_part(z: jax.Array) -> jax.Array:
    """``max(0, z)`` with derivative ``[z > 0]`` (0 at the kink, not jnp.maximum's 1/2).

    A NaN stays NaN (``z <= 0`` is false for it): a diverged score is not a zero loss.
    """
    return jnp.where(z <= 0, 0.0, z)


def perceptron_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Binary perceptron loss.

    .. math:: \ell(x, y) = \max(0, -y x), \quad y \in \{-1, 1\}

    Same name, arguments and values as :func:`optax.losses.perceptron_loss`.

    {binary_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.perceptron_loss(jnp.array([2.0, -0.5, 0.3]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.5, 0.30000001192092896]

    References:
      Rosenblatt, `The perceptron <https://doi.org/10.1037/h0042519>`_, 1958.
    """
    arr, x, y = _binary(predictor_outputs, targets, "perceptron_loss")
    return _positive_part(-y * x).astype(arr.dtype)


@closed_form_of(perceptron_loss, _binary)
def _perceptron_loss_grad(arr: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``-y`` where ``y x < 0``, else 0."""
    return jnp.where(-y * x > 0, -y, 0.0).astype(arr.dtype)


def hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Binary hinge loss (the SVM loss).

    .. math:: \ell(x, y) = \max(0, 1 - y x), \quad y \in \{-1, 1\}

    Same name, arguments and values as :func:`optax.losses.hinge_loss`.

    {binary_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.hinge_loss(jnp.array([2.0, 0.25, 0.5]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.75, 1.5]

    References:
      Cortes and Vapnik, `Support-vector networks <https://doi.org/10.1007/BF00994018>`_, 1995.
    """
    arr, x, y = _binary(predictor_outputs, targets, "hinge_loss")
    return _positive_part(1.0 - y * x).astype(arr.dtype)


@closed_form_of(hinge_loss, _binary)
def _hinge_loss_grad(arr: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``-y`` where ``y x < 1``, else 0."""
    return jnp.where(1.0 - y * x > 0, -y, 0.0).astype(arr.dtype)


def squared_hinge_loss(predictor_outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Squared hinge loss.

    .. math:: \ell(x, y) = \max(0, 1 - y x)^2, \quad y \in \{-1, 1\}

    Keras' ``squared_hinge`` math, element-wise: Keras additionally averages over the
    last axis (``keras.losses.squared_hinge(y, x) == squared_hinge_loss(x, y).mean(-1)``,
    note the swapped argument order) and maps 0/1 targets to -1/1; here the targets must
    already be -1/1.

    {binary_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.squared_hinge_loss(jnp.array([2.0, 0.25, 0.5]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.0, 0.5625, 2.25]

    References:
      Keras, `squared_hinge <https://keras.io/api/losses/hinge_losses/>`_.
    """
    arr, x, y = _binary(predictor_outputs, targets, "squared_hinge_loss")
    return jnp.square(_positive_part(1.0 - y * x)).astype(arr.dtype)


@closed_form_of(squared_hinge_loss, _binary)
def _squared_hinge_loss_grad(arr: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``-2 y max(0, 1 - y x)``."""
    return (-2.0 * y * _positive_part(1.0 - y * x)).astype(arr.dtype)


# --- multiclass inputs -------------------------------------------------------------------

# Docstring parts shared by the multiclass losses, filled in at the end of the module.
_UNCHECKED = """Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked({name})`` raises instead."""


def _costs(
    cost: ArrayLike | None, y: jax.Array, arr: jax.Array, ax: int, dtype: Any, fn: str
) -> jax.Array:
    """Per-example costs ``c[..., k] = cost(y, k)`` with the classes last."""
    k = arr.shape[ax]
    if cost is None:
        return 1.0 - jax.nn.one_hot(y, k, dtype=dtype)
    c = numeric(cost, "cost", fn)
    c = c.astype(dtype)
    if c.shape == (k, k):
        return c[y]
    full = broadcast_or_raise(
        c,
        arr.shape,
        f"{fn}: `cost` has shape {c.shape}; pass a ({k}, {k}) matrix "
        f"cost[true, predicted], or per-example costs of the scores' shape {arr.shape} "
        f"(classes on axis {ax}).",
    )
    return jnp.moveaxis(full, ax, -1)


def _with_cost(
    scores: ArrayLike,
    labels: ArrayLike,
    cost: ArrayLike | None,
    axis: int,
    where: ArrayLike | None,
    fn: str,
) -> tuple[ClassScores, jax.Array]:
    """The validated inputs and the costs ``c[..., k] = cost(y, k)``, classes last."""
    inp = class_scores(scores, labels, axis, where, fn)
    return inp, _costs(cost, inp.y, inp.arr, inp.ax, inp.x.dtype, fn)


def _zero_one_cost(
    scores: ArrayLike, labels: ArrayLike, axis: int, where: ArrayLike | None, fn: str
) -> tuple[ClassScores, jax.Array]:
    """:func:`_with_cost` with the 0/1 cost, for the losses without a ``cost`` argument."""
    return _with_cost(scores, labels, None, axis, where, fn)


def _zero_cost(
    scores: ArrayLike, labels: ArrayLike, axis: int, where: ArrayLike | None, fn: str
) -> tuple[ClassScores, jax.Array]:
    """The validated inputs and a zero cost (the perceptron's max over the plain scores)."""
    inp = class_scores(scores, labels, axis, where, fn)
    return inp, jnp.zeros_like(inp.x)


def _max_margin(inp: ClassScores, c: jax.Array) -> jax.Array:
    """``max_k [x_k + c_k] - x_y`` over the valid classes; 0 for empty rows, NaN off range."""
    x, valid = inp.x, inp.valid
    z = jnp.where(valid, x + c, -jnp.inf)
    nonempty = jnp.any(valid, axis=-1)
    m = jnp.max(z, axis=-1)
    loss = jnp.where(nonempty, jnp.where(nonempty, m, 0.0) - gather_last(x, inp.y), 0.0)
    return jnp.where(inp.in_range, loss, jnp.nan).astype(inp.arr.dtype)


def _max_margin_grad(inp: ClassScores, c: jax.Array) -> jax.Array:
    """``e_{argmax_k (x_k + c_k)} - e_y`` on non-empty rows with an in-range label."""
    x, valid = inp.x, inp.valid
    k = x.shape[-1]
    best = jnp.argmax(jnp.where(valid, x + c, -jnp.inf), axis=-1)
    g = jax.nn.one_hot(best, k, dtype=x.dtype) - jax.nn.one_hot(inp.y, k, dtype=x.dtype)
    keep = inp.in_range & jnp.any(valid, axis=-1)
    return inp.classes_back(jnp.where(keep[..., None], g, 0.0))


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

    {unchecked}

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
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 3.0, 0.5], [2.0, -1.0, 0.0]])
      >>> jl.multiclass_perceptron_loss(s, jnp.array([0, 0])).tolist()
      [2.0, 0.0]

    References:
      Collins, `Discriminative training methods for hidden Markov models
      <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
    """
    return _max_margin(*_zero_cost(scores, labels, axis, where, "multiclass_perceptron_loss"))


@closed_form_of(multiclass_perceptron_loss, _zero_cost)
def _multiclass_perceptron_loss_grad(inp: ClassScores, c: jax.Array) -> jax.Array:
    """``e_{argmax s} - e_y``."""
    return _max_margin_grad(inp, c)


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

    {unchecked}

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
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 3.0, 0.5], [2.0, -1.0, 0.0]])
      >>> jl.multiclass_hinge_loss(s, jnp.array([0, 0])).tolist()
      [3.0, 0.0]

    References:
      Crammer and Singer, `On the algorithmic implementation of multiclass kernel-based
      vector machines <https://jmlr.org/papers/v2/crammer01a.html>`_, JMLR 2001.
    """
    return _max_margin(*_zero_one_cost(scores, labels, axis, where, "multiclass_hinge_loss"))


@closed_form_of(multiclass_hinge_loss, _zero_one_cost)
def _multiclass_hinge_loss_grad(inp: ClassScores, c: jax.Array) -> jax.Array:
    """``e_{argmax_k (s_k + 1 - [k = y])} - e_y``."""
    return _max_margin_grad(inp, c)


_COST_ARGS = """Args:
      scores: ``[..., C]`` class scores.
      labels: integer true classes, shape ``scores.shape`` without ``axis``.
      cost: ``None`` (the 0/1 cost: 0 for the true class, 1 otherwise), a ``[C, C]``
        matrix with ``cost[true, predicted]``, or per-example costs of the scores' shape
        (classes on ``axis``) holding ``cost(y, k)``. A ``[C, C]`` array is always read as
        the matrix; for a batch of exactly ``C`` per-example cost rows add a unit axis
        (``scores[:, None]``, ``labels[:, None]``, ``cost[:, None]``).
      axis: the class axis.
      where: optional class mask (or example mask); masked classes are left out. A fully
        masked row gives 0.

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``."""


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

    {unchecked}

    {cost_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[1.0, 0.8, -2.0]])
      >>> cost = jnp.array([[0.0, 0.5, 4.0], [0.5, 0.0, 4.0], [4.0, 4.0, 0.0]])
      >>> jl.cost_augmented_hinge_loss(s, jnp.array([0]), cost=cost).tolist()
      [1.0]

    References:
      Tsochantaridis et al., `Large margin methods for structured and interdependent output
      variables <https://jmlr.org/papers/v6/tsochantaridis05a.html>`_, JMLR 2005.
    """
    return _max_margin(*_with_cost(scores, labels, cost, axis, where, "cost_augmented_hinge_loss"))


@closed_form_of(cost_augmented_hinge_loss, _with_cost)
def _cost_augmented_hinge_loss_grad(inp: ClassScores, c: jax.Array) -> jax.Array:
    """``e_{argmax_k (s_k + cost(y, k))} - e_y``."""
    return _max_margin_grad(inp, c)


def _softmax_margin(
    scores: ArrayLike,
    labels: ArrayLike,
    cost: ArrayLike | None,
    axis: int,
    where: ArrayLike | None,
    fn: str,
) -> tuple[ClassScores, jax.Array, jax.Array]:
    """``(inputs, softmax(s + c), logsumexp(s + c))`` over the valid classes (keepdims)."""
    inp, c = _with_cost(scores, labels, cost, axis, where, fn)
    z = jnp.where(inp.valid, inp.x + c, -jnp.inf)
    _, probs, lse = log_softmax_parts(z, (z.ndim - 1,), inp.valid)
    return inp, probs, lse


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

    {unchecked}

    {cost_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[0.0, 0.0]])
      >>> jl.softmax_margin_loss(s, jnp.array([0])).round(4).tolist()  # log(1 + e)
      [1.3133]

    References:
      Gimpel and Smith, `Softmax-margin CRFs: training log-linear models with cost
      functions <https://aclanthology.org/N10-1112/>`_, NAACL 2010.
    """
    inp, _, lse = _softmax_margin(scores, labels, cost, axis, where, "softmax_margin_loss")
    lse = lse[..., 0]
    nonempty = ~jnp.isneginf(lse)  # a NaN or +inf normaliser is not an empty row
    loss = jnp.where(nonempty, jnp.where(nonempty, lse, 0.0) - gather_last(inp.x, inp.y), 0.0)
    return jnp.where(inp.in_range, loss, jnp.nan).astype(inp.arr.dtype)


@closed_form_of(softmax_margin_loss, _softmax_margin)
def _softmax_margin_loss_grad(inp: ClassScores, probs: jax.Array, lse: jax.Array) -> jax.Array:
    """``softmax(s + cost(y, .)) - e_y``."""
    g = probs - jax.nn.one_hot(inp.y, probs.shape[-1], dtype=probs.dtype)
    keep = inp.in_range[..., None] & ~jnp.isneginf(lse)
    return inp.classes_back(jnp.where(keep, g, 0.0))


def _risk(
    scores: ArrayLike,
    labels: ArrayLike,
    cost: ArrayLike | None,
    axis: int,
    where: ArrayLike | None,
    fn: str,
) -> tuple[ClassScores, jax.Array, jax.Array]:
    """``(inputs, softmax(s), costs)`` with the costs 0 on masked classes."""
    inp, c = _with_cost(scores, labels, cost, axis, where, fn)
    _, probs, _ = log_softmax_parts(inp.x, (inp.x.ndim - 1,), inp.valid)
    return inp, probs, jnp.where(inp.valid, c, 0.0)


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

    {unchecked}

    {cost_args}

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
      >>> cost = jnp.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
      >>> jl.risk_loss(s, jnp.array([0]), cost=cost).round(4).tolist()  # 0.3 + 2 * 0.2
      [0.7]

    References:
      Smith and Eisner, `Minimum risk annealing for training log-linear models
      <https://aclanthology.org/P06-2101/>`_, COLING/ACL 2006.
    """
    inp, probs, c = _risk(scores, labels, cost, axis, where, "risk_loss")
    risk = jnp.sum(probs * c, axis=-1)
    return jnp.where(inp.in_range, risk, jnp.nan).astype(inp.arr.dtype)


@closed_form_of(risk_loss, _risk)
def _risk_loss_grad(inp: ClassScores, probs: jax.Array, c: jax.Array) -> jax.Array:
    """``p_k (c_k - sum_j p_j c_j)`` with ``p = softmax(s)`` and ``c_k = cost(y, k)``."""
    g = probs * (c - jnp.sum(probs * c, axis=-1, keepdims=True))
    return inp.classes_back(jnp.where(inp.in_range[..., None], g, 0.0))


# --- PyTorch's margin losses -----------------------------------------------------------


def _multi_margin(
    scores: ArrayLike,
    labels: ArrayLike,
    p: int,
    margin: ArrayLike,
    weights: ArrayLike | None,
    axis: int,
    where: ArrayLike | None,
    fn: str,
) -> tuple[ClassScores, jax.Array, jax.Array, jax.Array, int]:
    """``(inputs, h = max(0, m - s_y + s_j) on the other valid classes, w_y / n, keep, p)``."""
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"{fn}: `p` must be 1 or 2 (as in torch), got {p!r}.")
    finite_number(margin, "margin", fn)
    inp = class_scores(scores, labels, axis, where, fn)
    x = inp.x
    k = x.shape[-1]
    if weights is None:
        w_y = jnp.ones(inp.y.shape, x.dtype)
    else:
        w = real(weights, "weights", fn)
        if w.shape != (k,):
            raise ValueError(
                f"{fn}: `weights` has shape {w.shape}; pass one weight per class, shape ({k},) "
                f"(the size of the scores' class axis)."
            )
        w_y = w.astype(x.dtype)[inp.y]
    other = inp.valid & (jax.nn.one_hot(inp.y, k, dtype=x.dtype) == 0)
    h = jnp.asarray(margin, x.dtype) - gather_last(x, inp.y)[..., None] + x
    h = _positive_part(jnp.where(other, h, 0.0))  # double where: masked -inf never leaks
    n = jnp.sum(inp.valid, axis=-1).astype(x.dtype)
    keep = inp.in_range & (n > 0)
    scale = jnp.where(keep, w_y / jnp.where(n > 0, n, 1.0), 0.0)
    return inp, h, scale, keep, p


def multi_margin_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    p: int = 1,
    margin: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""PyTorch's multi-class margin loss (Weston-Watkins): every wrong class must lose by ``margin``.

    .. math:: \ell(s, y) = \frac{w_y}{C} \sum_{j \ne y} \max(0,\ m - s_y + s_j)^p,
       \quad p \in \{1, 2\}

    ``multi_margin_loss(s, y, p=p, margin=m, weights=w)`` equals
    ``torch.nn.functional.multi_margin_loss(s, y, p=p, margin=m, weight=w,
    reduction="none")`` for ``[N, C]`` scores (``reduction="mean"`` is the mean of this).
    Unlike :func:`multiclass_hinge_loss` (Crammer-Singer: the *largest* violation), it sums
    the violations over all wrong classes, divided by the number of classes ``C``; with
    ``where``, ``C`` counts the unmasked classes only, so masking classes equals slicing
    them away.

    {unchecked}

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer classes, shape ``scores.shape`` without ``axis``.
      p: the exponent, 1 or 2 (checked at trace time, as torch supports only these).
      margin: the margin ``m`` (a finite real).
      weights: optional ``[C]`` class weights; example ``i`` is scaled by ``w[y_i]``
        (torch's ``weight``).
      axis: the class axis.
      where: optional class mask (or example mask); masked classes are left out of the
        sum and of ``C``. A fully masked row gives 0.

    Returns:
      Per-example loss with the labels' shape, dtype of ``scores``; NaN for a label outside
      ``[0, C)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> jl.multi_margin_loss(s, jnp.array([3])).round(4).tolist()  # (0.3 + 0.4 + 0.6) / 4
      [0.325]

    References:
      Weston and Watkins, `Support vector machines for multi-class pattern recognition
      <https://www.esann.org/sites/default/files/proceedings/legacy/es1999-461.pdf>`_, 1999;
      PyTorch, `MultiMarginLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.MultiMarginLoss.html>`_.
    """
    inp, h, scale, keep, p = _multi_margin(
        scores, labels, p, margin, weights, axis, where, "multi_margin_loss"
    )
    total = jnp.sum(h if p == 1 else h * h, axis=-1)
    loss = jnp.where(keep, scale * total, 0.0)
    return jnp.where(inp.in_range, loss, jnp.nan).astype(inp.arr.dtype)


@closed_form_of(multi_margin_loss, _multi_margin)
def _multi_margin_loss_grad(
    inp: ClassScores, h: jax.Array, scale: jax.Array, keep: jax.Array, p: int
) -> jax.Array:
    """``c_j = (w_y / C) p h_j^{p-1} [h_j > 0]`` on each wrong class ``j``, ``-Σ_j c_j`` on ``y``."""
    c = (h > 0).astype(h.dtype) if p == 1 else 2.0 * h
    c = scale[..., None] * c
    g = c - jax.nn.one_hot(inp.y, c.shape[-1], dtype=c.dtype) * jnp.sum(c, -1, keepdims=True)
    return inp.classes_back(jnp.where(keep[..., None], g, 0.0))


def _multilabel_margin(
    scores: ArrayLike, labels: ArrayLike, axis: int, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, int]:
    """``(scores as given, counts_j, [not target]_i, h_ji, bad, axis)``, classes last.

    ``counts_j``: how often class ``j`` is listed as a target (torch sums over the list, so
    a repeated index counts twice); ``h_ji = max(0, 1 - s_j + s_i)`` for target ``j`` and
    non-target ``i``, 0 elsewhere; ``bad``: a listed index ``>= C``.
    """
    arr = floating(scores, "scores", fn)
    lab = real(labels, "labels", fn)
    multi_hot = lab.dtype == jnp.bool_
    if not (multi_hot or jnp.issubdtype(lab.dtype, jnp.integer)):
        raise TypeError(
            f"{fn}: `labels` must hold integer target indices padded with -1 (torch's format) "
            f"or be a boolean multi-hot mask, got dtype {lab.dtype} with shape {lab.shape}; "
            "for a 0/1 mask pass `labels.astype(bool)`."
        )
    if not multi_hot:
        lab = integer(lab, "labels", fn)  # widened: compared with the class count
    if lab.shape != arr.shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `scores` has shape {arr.shape}; they "
            "must be equal: torch's format (target indices padded with -1) or a boolean "
            "multi-hot mask, one entry per class."
        )
    ax = canonical_axis(axis, arr.ndim, "scores", fn)
    x = jnp.moveaxis(upcast(arr), ax, -1)
    lab = jnp.moveaxis(lab, ax, -1)
    k = x.shape[-1]
    if multi_hot:
        counts = lab.astype(x.dtype)
        bad = jnp.zeros(lab.shape[:-1], bool)
    else:
        listed = jnp.cumprod(lab >= 0, axis=-1).astype(bool)  # before the first negative
        idx = jnp.where(listed & (lab < k), lab, -1)
        counts = jnp.sum(jax.nn.one_hot(idx, k, dtype=x.dtype), axis=-2)
        bad = jnp.any(listed & (lab >= k), axis=-1)
    target = counts > 0
    use = target[..., :, None] & ~target[..., None, :]
    h = 1.0 - x[..., :, None] + x[..., None, :]
    h = _positive_part(jnp.where(use, h, 0.0))
    return arr, counts, use, h, bad, ax


def multilabel_margin_loss(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""PyTorch's multi-label margin loss: every target class must beat every other by 1.

    .. math:: \ell(s, Y) = \frac{1}{C} \sum_{j \in Y} \sum_{i \notin Y} \max(0,\ 1 - s_j + s_i)

    ``multilabel_margin_loss(s, y)`` equals
    ``torch.nn.functional.multilabel_margin_loss(s, y, reduction="none")``. ``labels``
    takes torch's format, integer target indices padded with ``-1``: the targets of an
    example are its entries before the first negative one (the rest is ignored), and an
    index listed twice counts twice, as in torch. Alternatively pass a **boolean multi-hot
    mask** of the scores' shape (``True`` on the target classes): the two forms agree
    (``jnp.zeros(C, bool).at[idx].set(True)`` for distinct indices ``idx``).

    Unchecked, a listed index ``>= C`` gives NaN for its example (torch raises);
    ``jaxlosses.checked(multilabel_margin_loss)`` raises instead. An example without
    targets (or with every class a target) gives 0.

    Args:
      scores: ``[..., C]`` class scores.
      labels: integer target indices padded with -1, or a boolean mask, same shape as
        ``scores``.
      axis: the class axis (of both ``scores`` and ``labels``).

    Returns:
      Per-example loss, shape ``scores.shape`` without ``axis``, dtype of ``scores``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[0.1, 0.2, 0.4, 0.8]])
      >>> jl.multilabel_margin_loss(s, jnp.array([[3, 0, -1, 1]])).round(4).tolist()
      [0.85]

    References:
      PyTorch, `MultiLabelMarginLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelMarginLoss.html>`_.
    """
    arr, counts, _, h, bad, _ = _multilabel_margin(scores, labels, axis, "multilabel_margin_loss")
    k = counts.shape[-1]
    total = jnp.sum(counts * jnp.sum(h, axis=-1), axis=-1) / k
    return jnp.where(bad, jnp.nan, total).astype(arr.dtype)


@closed_form_of(multilabel_margin_loss, _multilabel_margin)
def _multilabel_margin_loss_grad(
    arr: jax.Array,
    counts: jax.Array,
    use: jax.Array,
    h: jax.Array,
    bad: jax.Array,
    ax: int,
) -> jax.Array:
    """``a_ji = counts_j [h_ji > 0] / C``: ``+Σ_j a_ji`` on non-target ``i``, ``-Σ_i a_ji`` on target ``j``."""
    k = counts.shape[-1]
    a = counts[..., :, None] * (h > 0).astype(h.dtype) / k
    g = jnp.sum(a, axis=-2) - jnp.sum(a, axis=-1)
    g = jnp.where(bad[..., None], 0.0, g)
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


def _soft_margin(
    inputs: ArrayLike, targets: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(inputs as given, x upcast, y)``."""
    return binary_inputs(inputs, targets, ("inputs", "targets"), fn)


def soft_margin_loss(inputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Soft-margin (logistic) loss ``log(1 + exp(-y x))``, element-wise.

    .. math:: \ell(x, y) = \log\left(1 + e^{-y x}\right) = \operatorname{softplus}(-y x),
       \quad y \in \{-1, 1\}

    Element-wise, as ``torch.nn.functional.soft_margin_loss(x, y, reduction="none")``;
    torch's default ``reduction="mean"`` (the mean over *all* elements) is
    ``soft_margin_loss(x, y).mean()``, and a per-example loss over ``[N, D]`` inputs is
    ``.mean(-1)``. Computed as a softplus, exact for scores of any magnitude. It is
    :func:`sigmoid_binary_cross_entropy` with the labels ``(1 + y) / 2``.

    Args:
      inputs: scores ``x``, any shape.
      targets: ``y`` in ``{-1, 1}``, same shape (or a scalar).

    Returns:
      Element-wise loss, shape and dtype of ``inputs``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.soft_margin_loss(jnp.array([0.0, 1e4, 1e4]), jnp.array([1.0, 1.0, -1.0])).tolist()
      [0.6931471824645996, 0.0, 10000.0]

    References:
      PyTorch, `SoftMarginLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.SoftMarginLoss.html>`_.
    """
    arr, x, y = _soft_margin(inputs, targets, "soft_margin_loss")
    return jnp.logaddexp(0.0, -y * x).astype(arr.dtype)


@closed_form_of(soft_margin_loss, _soft_margin)
def _soft_margin_loss_grad(arr: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``-y σ(-y x)``."""
    return (-y * jax.nn.sigmoid(-y * x)).astype(arr.dtype)


def _multilabel_soft_margin(
    logits: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None,
    axis: int,
    where: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, int]:
    """``(logits as given, x, y, w / n, valid, n > 0, axis)``, classes last."""
    arr = floating(logits, "logits", fn)
    lab = numeric(labels, "labels", fn)
    if lab.shape != arr.shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `logits` has shape {arr.shape}; they "
            "must be equal (one label in [0, 1] per class)."
        )
    ax = canonical_axis(axis, arr.ndim, "logits", fn)
    mask = mask_for(where, arr.shape, (ax,), fn)
    x = jnp.moveaxis(upcast(arr), ax, -1)
    y = jnp.moveaxis(lab, ax, -1).astype(x.dtype)
    k = x.shape[-1]
    valid = jnp.ones(x.shape, bool) if mask is None else jnp.moveaxis(mask, ax, -1)
    if weights is None:
        w = jnp.ones((), x.dtype)
    else:
        w0 = real(weights, "weights", fn)
        if w0.shape == (k,):
            w = w0.astype(x.dtype)
        elif w0.shape == arr.shape:
            w = jnp.moveaxis(w0, ax, -1).astype(x.dtype)
        else:
            raise ValueError(
                f"{fn}: `weights` has shape {w0.shape}; pass one weight per class, shape "
                f"({k},), or one per entry, the logits' shape {arr.shape}."
            )
    n = jnp.sum(valid, axis=-1, keepdims=True).astype(x.dtype)
    nonempty = n > 0
    scale = jnp.broadcast_to(w, x.shape) / jnp.where(nonempty, n, 1.0)
    return arr, x, y, scale, valid, nonempty, ax


def multilabel_soft_margin_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""PyTorch's multi-label soft-margin loss: the class-averaged sigmoid cross-entropy.

    .. math:: \ell(x, y) = -\frac{1}{C} \sum_c w_c \left[y_c \log \sigma(x_c)
       + (1 - y_c) \log \sigma(-x_c)\right]

    ``multilabel_soft_margin_loss(x, y, weights=w)`` equals
    ``torch.nn.functional.multilabel_soft_margin_loss(x, y, weight=w, reduction="none")``
    for ``[N, C]`` logits. It is the mean over the classes of
    :func:`sigmoid_binary_cross_entropy` (times ``w``); with ``where``, ``C`` counts the
    unmasked classes, so masking classes equals slicing them away. In log space (log-
    sigmoids): finite for logits of any magnitude.

    Args:
      logits: ``[..., C]`` per-class logits.
      labels: multi-hot (or soft) labels in ``[0, 1]``, same shape (bool and integer
        labels are accepted).
      weights: optional class weights, shape ``[C]`` (torch's ``weight``) or the logits'
        shape.
      axis: the class axis.
      where: optional class mask (or example mask); masked classes are left out of the
        mean. A fully masked row gives 0.

    Returns:
      Per-example loss, shape ``logits.shape`` without ``axis``, dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x = jnp.array([[0.0, 2.0]])
      >>> jl.multilabel_soft_margin_loss(x, jnp.array([[1.0, 0.0]])).round(4).tolist()
      [1.41]

    References:
      PyTorch, `MultiLabelSoftMarginLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelSoftMarginLoss.html>`_.
    """
    arr, x, y, scale, valid, nonempty, _ = _multilabel_soft_margin(
        logits, labels, weights, axis, where, "multilabel_soft_margin_loss"
    )
    xs = jnp.where(valid, x, 0.0)  # double where: a masked -inf or NaN never leaks
    term = y * jnp.logaddexp(0.0, -xs) + (1.0 - y) * jnp.logaddexp(0.0, xs)
    total = jnp.sum(jnp.where(valid, scale * term, 0.0), axis=-1, keepdims=True)
    return jnp.where(nonempty, total, 0.0)[..., 0].astype(arr.dtype)


@closed_form_of(multilabel_soft_margin_loss, _multilabel_soft_margin)
def _multilabel_soft_margin_loss_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    scale: jax.Array,
    valid: jax.Array,
    nonempty: jax.Array,
    ax: int,
) -> jax.Array:
    """``w_c (σ(x_c) - y_c) / C`` on the unmasked classes."""
    xs = jnp.where(valid, x, 0.0)
    g = jnp.where(valid & nonempty, scale * (jax.nn.sigmoid(xs) - y), 0.0)
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


def _target_index_lists(labels: str = "labels", source: str = "scores") -> Check:
    """torch's multi-label target lists: the indices before the first negative are ``< C``."""

    def k_of(b: Any) -> int:
        axis = b.get("axis", -1)
        return int(np.shape(b[source])[axis if isinstance(axis, int) else -1])

    def integer_labels(b: Any) -> bool:
        return (
            b.get(labels) is not None
            and is_array(b[labels])
            and (jnp.issubdtype(jnp.asarray(b[labels]).dtype, jnp.integer))
        )

    def predicates(b: Any) -> list[Any]:
        if not integer_labels(b):
            return []
        axis = b.get("axis", -1)
        y = jnp.asarray(b[labels])
        k = k_of(b)
        listed = jnp.cumprod(y >= 0, axis=axis).astype(bool)
        return [
            (
                ~listed | (y < k),
                f"`{labels}` must list target indices below {k} (the size of `{source}`'s "
                "class axis) before the first -1; found a maximum of {hi}.",
                {"hi": jnp.max(y)},
            )
        ]

    def corrupt(b: Any) -> dict[str, Any] | None:
        if not integer_labels(b):
            return None
        y = np.array(b[labels], copy=True)
        y.reshape(-1)[0] = k_of(b)
        return {**b, labels: y}

    return Check(labels, "target index lists (-1 padded) below C", predicates, corrupt)


fill_docstrings(perceptron_loss, hinge_loss, squared_hinge_loss, binary_args=_BINARY_ARGS)
fill_docstrings(
    multiclass_perceptron_loss,
    multiclass_hinge_loss,
    cost_augmented_hinge_loss,
    softmax_margin_loss,
    risk_loss,
    cost_args=_COST_ARGS,
    unchecked=_UNCHECKED,
)
fill_docstrings(multi_margin_loss, unchecked=_UNCHECKED)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(perceptron_loss, in_set("targets", (-1.0, 1.0)))
register_checks(hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(squared_hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(multiclass_perceptron_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(multiclass_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(cost_augmented_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(softmax_margin_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(risk_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(multi_margin_loss, class_labels("labels", "scores"), nonnegative("weights"))
register_checks(multilabel_margin_loss, _target_index_lists())
register_checks(soft_margin_loss, in_set("targets", (-1.0, 1.0)))
register_checks(multilabel_soft_margin_loss, unit_interval("labels"), nonnegative("weights"))
