"""Focal losses and PolyLoss: cross-entropy reweighted towards hard examples.

Each loss is followed by its closed-form gradient (``_<name>_grad``): the
analytic derivative of the *summed* loss with respect to the logits, derived by
hand and re-exported as :mod:`jaxlosses.closed_form`.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import labels_in_range, register_checks, simplex, unit_interval
from ._classification import class_weights
from ._core import (
    Axis,
    check_same_shape,
    closed_form_of,
    finite_number,
    floating,
    hyperparameter,
    integer_inputs,
    real,
    restore_classes,
    soft_inputs,
)
from ._core import upcast as _upcast
from ._primitives import log_softmax_parts

__all__ = [
    "asymmetric_loss",
    "poly_loss_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]


# --- sigmoid focal loss ---------------------------------------------------------------


def _focal_gamma(gamma: ArrayLike, fn: str) -> None:
    hyperparameter(gamma, "gamma", fn, low=0.0,
                   why="the focusing exponent of (1 - p_t) must be >= 0 (0 is cross-entropy)")  # fmt: skip


def _sigmoid_focal_parts(
    logits: ArrayLike, labels: ArrayLike, alpha: ArrayLike | None, gamma: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns (orig, y, alpha_t, log σ(x), log σ(-x), log(1 - p_t), bce, γ), all upcast."""
    _focal_gamma(gamma, fn)
    hyperparameter(alpha, "alpha", fn, low=0.0, high=1.0,
                   why="it weighs the positives by alpha and the negatives by 1 - alpha")  # fmt: skip
    arr = floating(logits, "logits", fn)
    lab = real(labels, "labels", fn)
    check_same_shape(arr, lab, ("logits", "labels"), fn)
    x = _upcast(arr)
    y = jnp.broadcast_to(lab.astype(x.dtype), x.shape)
    log_p = -jnp.logaddexp(-x, 0.0)
    log_q = -jnp.logaddexp(x, 0.0)
    # 1 - p_t = (1 - y) σ(x) + y σ(-x), in log space; a zero weight gives a -inf term.
    one = jnp.ones((), x.dtype)
    log_w0 = jnp.where(y < 1, jnp.log(jnp.where(y < 1, one - y, one)), -jnp.inf)
    log_w1 = jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, one)), -jnp.inf)
    log_1m_pt = jnp.logaddexp(log_w0 + log_p, log_w1 + log_q)
    bce = -(y * log_p + (1.0 - y) * log_q)
    if alpha is None:
        a_t = jnp.ones((), x.dtype)
    else:
        a = jnp.asarray(alpha, x.dtype)
        a_t = a * y + (1.0 - a) * (1.0 - y)
    return arr, y, a_t, log_p, log_q, log_1m_pt, bce, jnp.asarray(gamma, bce.dtype)


def sigmoid_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike | None = None,
    gamma: ArrayLike = 2.0,
) -> jax.Array:
    r"""Sigmoid focal loss: binary cross-entropy scaled by ``(1 - p_t)^γ``.

    .. math:: \ell(x, y) = \alpha_t\, (1 - p_t)^\gamma\, \mathrm{BCE}(x, y),
       \quad 1 - p_t = (1 - y)\,\sigma(x) + y\,\sigma(-x),
       \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    Same name, arguments and values as :func:`optax.losses.sigmoid_focal_loss` (soft
    labels in ``[0, 1]`` included). ``(1 - p_t)^γ`` is computed as
    ``exp(γ log(1 - p_t))`` with ``log(1 - p_t)`` a log-sum-exp of log-sigmoids, so it is
    exact for logits of any magnitude; ``γ = 0`` (and ``alpha=None``) is exactly
    :func:`sigmoid_binary_cross_entropy`.

    Args:
      logits: any shape.
      labels: targets in ``[0, 1]``, same shape as ``logits`` (or a scalar).
      alpha: optional weight of the positive class in ``(0, 1)``; ``None`` weighs
        both classes 1.
      gamma: the focusing exponent ``γ ≥ 0``.

    Returns:
      Element-wise loss, shape and dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.sigmoid_focal_loss(jnp.array([0.0, 2.0]), jnp.array([1.0, 1.0])).round(4).tolist()
      [0.1733, 0.0018]

    References:
      Lin et al., `Focal Loss for Dense Object Detection <https://arxiv.org/abs/1708.02002>`_,
      2017.
    """
    arr, _, a_t, _, _, log_1m_pt, bce, g = _sigmoid_focal_parts(
        logits, labels, alpha, gamma, "sigmoid_focal_loss"
    )
    return (a_t * jnp.exp(g * log_1m_pt) * bce).astype(arr.dtype)


@closed_form_of(sigmoid_focal_loss, _sigmoid_focal_parts)
def _sigmoid_focal_loss_grad(
    arr: jax.Array,
    y: jax.Array,
    a_t: jax.Array,
    log_p: jax.Array,
    log_q: jax.Array,
    log_u: jax.Array,
    bce: jax.Array,
    g: jax.Array,
) -> jax.Array:
    r"""``α_t [(σ(x) - y) u^γ + γ (1 - 2y) BCE σ(x) σ(-x) u^{γ-1}]`` with ``u = 1 - p_t``.

    From ``du/dx = (1 - 2y) σ(x) σ(-x)`` and ``dBCE/dx = σ(x) - y``; the second term is
    evaluated as ``exp(log σ(x) + log σ(-x) + (γ - 1) log u)`` so that it stays finite
    where ``u`` underflows (for binary labels the exponent is ``≤ γ log u``).
    """
    s = jnp.exp(log_p)
    first = (s - y) * jnp.exp(g * log_u)
    second = g * (1.0 - 2.0 * y) * bce * jnp.exp(log_p + log_q + (g - 1.0) * log_u)
    return (a_t * (first + second)).astype(arr.dtype)


# --- PolyLoss ------------------------------------------------------------------------


def _poly_inputs(
    logits: ArrayLike,
    labels: ArrayLike,
    epsilon: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None, jax.Array]:
    """Returns ``(orig, x, y, axes, mask, ε)``."""
    arr, x, y, axes, mask = soft_inputs(logits, labels, axis, where, fn)
    return arr, x, y, axes, mask, jnp.asarray(epsilon, x.dtype)


def poly_loss_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: ArrayLike = 2.0,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 loss: softmax cross-entropy plus ``ε`` times the first polynomial term.

    .. math:: \ell(x, y) = -\sum_k y_k \log p_k + \epsilon \sum_k y_k (1 - p_k),
       \quad p = \operatorname{softmax}(x)

    Same name, arguments and values as :func:`optax.losses.poly_loss_cross_entropy`;
    ``ε = 0`` is exactly :func:`softmax_cross_entropy`.

    Args:
      logits: unnormalised log-probabilities ``[..., K]``.
      labels: target distributions, same shape as ``logits``.
      epsilon: coefficient of ``(1 - p_t)``; the paper recommends 2 for ImageNet
        classification and -1 for detection.
      axis: the class axis or axes.
      where: optional class mask of the logits' shape (or the batch shape); masked
        classes leave both the softmax and the sums.

    Returns:
      Per-example loss, shape ``logits.shape`` without ``axis``, dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits, labels = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])
      >>> float(jl.poly_loss_cross_entropy(logits, labels, epsilon=1.0))  # log 2 + 0.5
      1.1931471824645996

    References:
      Leng et al., `PolyLoss: A Polynomial Expansion Perspective of Classification Loss
      Functions <https://arxiv.org/abs/2204.12511>`_, 2022.
    """
    arr, x, y, axes, mask, eps = _poly_inputs(
        logits, labels, epsilon, axis, where, "poly_loss_cross_entropy"
    )
    log_probs, probs, _ = log_softmax_parts(x, axes, mask)
    ce = -jnp.sum(y * log_probs, axis=axes, where=mask)
    one_minus_pt = jnp.sum(y * (1.0 - probs), axis=axes, where=mask)
    return (ce + eps * one_minus_pt).astype(arr.dtype)


@closed_form_of(poly_loss_cross_entropy, _poly_inputs)
def _poly_loss_cross_entropy_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    axes: tuple[int, ...],
    mask: jax.Array | None,
    eps: jax.Array,
) -> jax.Array:
    r"""``(Σ y) p - y + ε p (⟨y, p⟩ - y)``, from ``∂p_k/∂x_j = p_k (δ_kj - p_j)``."""
    if mask is not None:
        y = jnp.where(mask, y, 0.0)
    _, probs, _ = log_softmax_parts(x, axes, mask)
    total = jnp.sum(y, axis=axes, keepdims=True)
    yp = jnp.sum(y * probs, axis=axes, keepdims=True)
    return (total * probs - y + eps * probs * (yp - y)).astype(arr.dtype)


# --- softmax focal loss --------------------------------------------------------------


def _softmax_focal_parts(
    logits: ArrayLike,
    labels: ArrayLike,
    gamma: ArrayLike,
    alpha: ArrayLike | None,
    weights: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns (orig, probs, one-hot, α_y w_y, log p_t, log(1 - p_t), γ, in_range); classes last."""
    _focal_gamma(gamma, fn)
    hyperparameter(alpha, "alpha", fn, low=0.0, why="class weights must be non-negative")
    arr, x, y, _, in_range = integer_inputs(logits, labels, -1, None, fn)
    k = x.shape[-1]
    log_probs, probs, lse = log_softmax_parts(x, (x.ndim - 1,), None)
    onehot = jax.nn.one_hot(y, k, dtype=x.dtype)
    log_pt = jnp.sum(jnp.where(onehot > 0, log_probs, 0.0), axis=-1)
    # log(1 - p_t) as the log-sum-exp of the other classes minus the normaliser: exact
    # even when p_t rounds to 1. Shifted by the largest *other* logit, so the sum is >= 1
    # and cannot underflow to 0 when the target's logit dominates the rest by > ~88.
    others = jnp.where(onehot > 0, -jnp.inf, x)
    m = jax.lax.stop_gradient(jnp.max(others, axis=-1, keepdims=True))
    pos = jnp.isfinite(m[..., 0])  # false only when no other class is finite
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    s = jnp.sum(jnp.exp(others - m), axis=-1)
    log_1m_pt = jnp.where(pos, jnp.log(jnp.where(pos, s, 1.0)) + m[..., 0] - lse[..., 0], -jnp.inf)
    if alpha is None:
        a_y = jnp.ones(y.shape, x.dtype)
    else:
        a = floating(alpha, "alpha", fn)
        if a.shape not in ((), (k,)):
            raise ValueError(
                f"{fn}: `alpha` has shape {a.shape}; pass a scalar or one weight per class ({k},)."
            )
        a = a.astype(x.dtype)
        a_y = jnp.broadcast_to(a, y.shape) if a.ndim == 0 else a[y]
    w = class_weights(weights, (k,), x.dtype, fn)
    if w is not None:
        a_y = a_y * w[y]
    return arr, probs, onehot, a_y, log_pt, log_1m_pt, jnp.asarray(gamma, log_pt.dtype), in_range


def _modulating_factor(g: jax.Array, log_1m_pt: jax.Array) -> jax.Array:
    """``(1 - p_t)^γ`` from ``log(1 - p_t)``, with ``0^0 = 1`` (``γ = 0`` is cross-entropy)."""
    return jnp.exp(jnp.where(g == 0, 0.0, g * jnp.where(g == 0, 0.0, log_1m_pt)))


def softmax_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    gamma: ArrayLike = 2.0,
    alpha: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class focal loss on softmax probabilities with integer labels.

    .. math:: \ell(x, y) = -w_y \alpha_y\, (1 - p_y)^\gamma \log p_y,
       \quad p = \operatorname{softmax}(x)

    ``log p_y`` is the log-softmax of the label's class and ``1 - p_y`` is computed as
    the softmax mass of the other classes (never ``1 - p``), so the loss is exact for
    logits of any magnitude. ``γ = 0`` with ``alpha=None`` is exactly
    :func:`softmax_cross_entropy_with_integer_labels`.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(softmax_focal_loss)`` raises instead.

    Args:
      logits: ``[..., K]``.
      labels: integer class indices ``[...]`` in ``[0, K)``.
      gamma: the focusing exponent ``γ ≥ 0``.
      alpha: optional class weights: a scalar or one per class ``[K]``.
      weights: optional class weights ``w`` ``[K]``, with the semantics of
        :func:`softmax_cross_entropy_with_integer_labels`'s (torch's ``weight``; multiplies
        ``alpha``): ``γ = 0`` gives the weighted cross-entropy, and torch's weighted mean
        is ``loss.sum() / w[labels].sum()``.

    Returns:
      Per-example loss with the labels' shape, dtype of ``logits``. Unchecked behaviour:
      a label outside ``[0, K)`` gives NaN for that example.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.array([[0.0, 0.0]])  # p_y = 1/2: 0.25 log 2
      >>> jl.softmax_focal_loss(logits, jnp.array([0])).round(4).tolist()
      [0.1733]

    References:
      Lin et al., `Focal Loss for Dense Object Detection <https://arxiv.org/abs/1708.02002>`_,
      2017.
    """
    arr, _, _, a_y, log_pt, log_1m_pt, g, in_range = _softmax_focal_parts(
        logits, labels, gamma, alpha, weights, "softmax_focal_loss"
    )
    loss = -a_y * _modulating_factor(g, log_1m_pt) * log_pt
    return jnp.where(in_range, loss, jnp.nan).astype(arr.dtype)


@closed_form_of(softmax_focal_loss, _softmax_focal_parts)
def _softmax_focal_loss_grad(
    arr: jax.Array,
    probs: jax.Array,
    onehot: jax.Array,
    a_y: jax.Array,
    log_pt: jax.Array,
    log_1m_pt: jax.Array,
    g: jax.Array,
    in_range: jax.Array,
) -> jax.Array:
    r"""``α_y c (p - e_y)`` with ``c = (1 - p_y)^γ - γ p_y (1 - p_y)^{γ-1} log p_y``.

    From ``∂ log p_y/∂x = e_y - p`` and ``∂p_y/∂x = p_y (e_y - p)``. The second term of
    ``c`` is evaluated as ``exp(log p_y + (γ - 1) log(1 - p_y) + log(-log p_y))``, finite
    where ``1 - p_y`` underflows (``-log p_y ≈ 1 - p_y`` there).
    """
    nlp = -log_pt
    pos = nlp > 0
    second = jnp.where(
        pos,
        jnp.exp(log_pt + (g - 1.0) * log_1m_pt + jnp.log(jnp.where(pos, nlp, 1.0))),
        0.0,
    )
    c = _modulating_factor(g, log_1m_pt) + g * second
    grad = (a_y * c)[..., None] * (probs - onehot)
    return restore_classes(grad, arr.shape, -1).astype(arr.dtype)


# --- asymmetric loss (ASL) ---------------------------------------------------------------


def _nonnegative_number(value: ArrayLike, name: str, fn: str, *, below_one: bool = False) -> None:
    """A Python-number hyperparameter: finite, ``>= 0`` (and ``< 1`` with ``below_one``)."""
    finite_number(value, name, fn)
    if isinstance(value, numbers.Real) and (value < 0 or (below_one and value >= 1)):
        bound = "in [0, 1)" if below_one else ">= 0"
        raise ValueError(f"{fn}: `{name}` must be {bound}, got {value!r}.")


def _asymmetric_parts(
    logits: ArrayLike,
    labels: ArrayLike,
    gamma_pos: ArrayLike,
    gamma_neg: ArrayLike,
    clip: ArrayLike,
    fn: str,
) -> tuple[jax.Array, ...]:
    """``(orig, y, log p, log(1 - p), γ+, γ-, m, [p > m], log p_m, log(1 - p_m))``, upcast.

    ``p_m = max(p - m, 0)`` is the shifted probability of the negatives; ``log(1 - p_m)``
    is ``logaddexp(log(1 - p), log m)`` where ``p > m`` (0 elsewhere), exact at any logit.
    A NaN logit counts as "above the shift" so that it stays NaN.
    """
    _nonnegative_number(gamma_pos, "gamma_pos", fn)
    _nonnegative_number(gamma_neg, "gamma_neg", fn)
    _nonnegative_number(clip, "clip", fn, below_one=True)
    arr = floating(logits, "logits", fn)
    lab = real(labels, "labels", fn)
    check_same_shape(arr, lab, ("logits", "labels"), fn)
    x = _upcast(arr)
    y = jnp.broadcast_to(lab.astype(x.dtype), x.shape)
    gp, gn, m = (jnp.asarray(v, x.dtype) for v in (gamma_pos, gamma_neg, clip))
    log_p = -jnp.logaddexp(-x, 0.0)
    log_q = -jnp.logaddexp(x, 0.0)
    p = jnp.exp(log_p)
    active = ~(p <= m)
    shifted = jnp.where(active, p - m, 1.0)  # double where: log of a positive number only
    log_pm = jnp.where(active, jnp.where(m > 0, jnp.log(shifted), log_p), 0.0)
    log_m = jnp.where(m > 0, jnp.log(jnp.where(m > 0, m, 1.0)), -jnp.inf)
    log_1m_pm = jnp.where(active, jnp.logaddexp(log_q, log_m), 0.0)
    return arr, y, log_p, log_q, gp, gn, m, active, log_pm, log_1m_pm


def _power_of(g: jax.Array, log_base: jax.Array) -> jax.Array:
    """``base^g`` from ``log base``, with ``base^0 = 1`` even where ``log base = ±inf``."""
    return jnp.where(g == 0, 1.0, jnp.exp(g * log_base))


def asymmetric_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    gamma_pos: ArrayLike = 0.0,
    gamma_neg: ArrayLike = 4.0,
    clip: ArrayLike = 0.05,
) -> jax.Array:
    r"""Asymmetric loss (ASL) for multi-label classification, element-wise.

    .. math:: \ell(x, y) = -y\,(1 - p)^{\gamma_+} \log p
       - (1 - y)\, p_m^{\gamma_-} \log(1 - p_m),
       \quad p = \sigma(x),\ p_m = \max(p - m, 0)

    Focusing is asymmetric: easy negatives (the many absent labels) are down-weighted
    by ``p_m^{γ-}`` with a larger ``γ-``, and the probability shift ``m`` (``clip``)
    discards negatives with ``p <= m`` entirely (and so also mislabelled negatives with a
    large ``p`` count less). ``γ+ = γ- = m = 0`` is :func:`sigmoid_binary_cross_entropy`;
    ``m = 0`` is :func:`sigmoid_focal_loss` with separate exponents. Sum over the classes
    (the reference implementation returns ``-loss.sum()`` over the batch). In log space:
    ``log(1 - p_m) = log(σ(-x) + m)`` is a log-sum-exp of log-sigmoids, so it is exact for
    logits of any magnitude; the reference code clamps both logs at ``1e-8`` instead
    (values agree wherever ``p`` and ``1 - p_m`` exceed ``1e-8``). Labels in ``[0, 1]``
    (soft labels mix the two terms linearly).

    Args:
      logits: any shape.
      labels: multi-hot labels in ``{0, 1}`` (or soft, in ``[0, 1]``), same shape (or a
        scalar).
      gamma_pos: the focusing exponent ``γ+ >= 0`` of the positives.
      gamma_neg: the focusing exponent ``γ- >= 0`` of the negatives.
      clip: the probability shift ``m`` in ``[0, 1)`` of the negatives.

    Returns:
      Element-wise loss, shape and dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x, y = jnp.array([2.0, -3.0, 2.0]), jnp.array([1.0, 0.0, 0.0])
      >>> jl.asymmetric_loss(x, y).round(4).tolist()  # the easy negative (p = 0.047) is 0
      [0.1269, 0.0, 0.8464]

    References:
      Ridnik et al., `Asymmetric Loss For Multi-Label Classification
      <https://arxiv.org/abs/2009.14119>`_, ICCV 2021.
    """
    arr, y, log_p, log_q, gp, gn, _, active, log_pm, log_1m_pm = _asymmetric_parts(
        logits, labels, gamma_pos, gamma_neg, clip, "asymmetric_loss"
    )
    pos = -_power_of(gp, log_q) * log_p
    neg = jnp.where(active, -_power_of(gn, log_pm) * log_1m_pm, 0.0)
    # A 0 weight drops its term (0 * inf at an infinite logit is not NaN), keeping the
    # derivative in y; a NaN label or logit stays NaN.
    pos = jnp.where((y == 0) & (pos == jnp.inf), 0.0, pos)
    neg = jnp.where((y == 1) & (neg == jnp.inf), 0.0, neg)
    loss = y * pos + (1.0 - y) * neg
    return loss.astype(arr.dtype)


@closed_form_of(asymmetric_loss, _asymmetric_parts)
def _asymmetric_loss_grad(
    arr: jax.Array,
    y: jax.Array,
    log_p: jax.Array,
    log_q: jax.Array,
    gp: jax.Array,
    gn: jax.Array,
    m: jax.Array,
    active: jax.Array,
    log_pm: jax.Array,
    log_1m_pm: jax.Array,
) -> jax.Array:
    r"""``y (1-p)^{γ+} [γ+ p log p - (1-p)] + (1-y) p(1-p) [p_m^{γ-} / (1-p_m) - γ- p_m^{γ-1} log(1-p_m)]``.

    From ``dp/dx = p (1 - p)``; the negative term is 0 (with its derivative) where
    ``p <= m``. Each product is taken in log space: ``p (1 - p) / (1 - p_m)`` as
    ``exp(log p + log(1-p) - log(1-p_m))``, ``p (1 - p) p_m^{γ-1}`` as one exponential.
    """
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    d_pos = _power_of(gp, log_q) * (gp * jnp.where(p == 0, 0.0, p * log_p) - q)
    first = jnp.exp(gn * log_pm + log_p + log_q - log_1m_pm)
    second = jnp.where(gn == 0, 0.0, gn * jnp.exp((gn - 1.0) * log_pm + log_p + log_q) * log_1m_pm)
    d_neg = jnp.where(active, first - second, 0.0)
    g = jnp.where(y == 0, 0.0, y * d_pos) + jnp.where(y == 1, 0.0, (1.0 - y) * d_neg)
    return g.astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(sigmoid_focal_loss, unit_interval("labels"))
register_checks(softmax_focal_loss, labels_in_range("labels", "logits", axis=-1))
register_checks(poly_loss_cross_entropy, simplex("labels"))
register_checks(asymmetric_loss, unit_interval("labels"))
