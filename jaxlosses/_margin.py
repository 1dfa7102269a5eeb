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
from jax.typing import ArrayLike

from ._checks import class_labels, in_set, nonnegative, register_checks
from ._core import (
    ClassScores,
    binary_inputs,
    broadcast_or_raise,
    class_scores,
    closed_form_of,
    fill_docstrings,
    gather_last,
)
from ._primitives import log_softmax_parts

__all__ = [
    "cost_augmented_hinge_loss",
    "hinge_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "perceptron_loss",
    "risk_loss",
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
    c = jnp.asarray(cost)
    if not (jnp.issubdtype(c.dtype, jnp.number) or c.dtype == jnp.bool_):
        raise TypeError(f"{fn}: `cost` must be numeric, got dtype {c.dtype}.")
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


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(perceptron_loss, in_set("targets", (-1.0, 1.0)))
register_checks(hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(squared_hinge_loss, in_set("targets", (-1.0, 1.0)))
register_checks(multiclass_perceptron_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(multiclass_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(cost_augmented_hinge_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(softmax_margin_loss, class_labels("labels", "scores"), nonnegative("cost"))
register_checks(risk_loss, class_labels("labels", "scores"), nonnegative("cost"))
