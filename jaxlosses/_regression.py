"""Regression losses: squared, absolute, Huber, smooth-L1, log-cosh, cosine.

All element-wise losses take ``(predictions, targets=None)`` as optax does
(``targets=None`` means zero targets) and require equal shapes: predictions
``[N]`` against targets ``[N, 1]`` is an error, not a silent ``[N, N]`` outer
difference.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

from ._checks import register_checks, unit_interval
from ._core import (
    Axis,
    canonical_axes,
    check_same_shape,
    closed_form_of,
    floating,
    hyperparameter,
    mask_for,
    real,
    targets_or_zeros,
    upcast,
)

__all__ = [
    "absolute_error",
    "cosine_distance",
    "cosine_similarity",
    "gamma_deviance",
    "huber_loss",
    "l2_loss",
    "log_cosh",
    "mean_squared_log_error",
    "pinball_loss",
    "smooth_l1_loss",
    "squared_error",
    "tweedie_deviance",
]


def _residual(
    predictions: ArrayLike, targets: ArrayLike | None, fn: str, **hyperparameters: ArrayLike
) -> tuple[Any, ...]:
    """Returns ``(original predictions, upcast residual p - t, *hyperparameters)``.

    The keyword-only hyperparameters of the loss (``delta``, ``beta``) pass through as
    given, in order, so the loss and its closed form share this one parser.
    """
    arr = floating(predictions, "predictions", fn)
    p, t = targets_or_zeros(arr, targets, fn)
    for name, value in hyperparameters.items():  # delta > 0 (torch's HuberLoss), beta >= 0
        hyperparameter(value, name, fn, low=0.0, open_low=name == "delta",
                       why=_HYPER_WHY.get(name, ""))  # fmt: skip
    return (arr, p - t, *hyperparameters.values())


_HYPER_WHY = {
    "delta": "the quadratic-to-linear threshold must be positive (delta=0 makes the loss 0)",
    "beta": "the quadratic region's half-width must be >= 0 (beta=0 is the absolute error)",
}


def squared_error(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    r"""Squared error ``(p - t)²``, the Gaussian NLL with unit variance up to ½ and a constant.

    Args:
      predictions: any shape.
      targets: same shape, or ``None`` for zeros.

    Returns:
      Element-wise loss, shape and dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])).tolist()
      [1.0, 4.0]
    """
    arr, r = _residual(predictions, targets, "squared_error")
    return (r * r).astype(arr.dtype)


@closed_form_of(squared_error, _residual)
def _squared_error_grad(arr: jax.Array, r: jax.Array) -> jax.Array:
    """``2 (p - t)``."""
    return (2.0 * r).astype(arr.dtype)


def l2_loss(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    r"""Half squared error ``½ (p - t)²`` (optax's ``l2_loss``).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.l2_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])).tolist()
      [0.5, 2.0]
    """
    arr, r = _residual(predictions, targets, "l2_loss")
    return (0.5 * r * r).astype(arr.dtype)


@closed_form_of(l2_loss, _residual)
def _l2_loss_grad(arr: jax.Array, r: jax.Array) -> jax.Array:
    """``p - t``."""
    return r.astype(arr.dtype)


def absolute_error(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    r"""Absolute error ``|p - t|`` (MAE per element; the Laplace NLL up to scale).

    Its derivative is ``sign(p - t)``, taken as 0 at ``p = t``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.absolute_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])).tolist()
      [1.0, 2.0]
    """
    arr, r = _residual(predictions, targets, "absolute_error")
    return jnp.abs(r).astype(arr.dtype)


@closed_form_of(absolute_error, _residual)
def _absolute_error_grad(arr: jax.Array, r: jax.Array) -> jax.Array:
    """``sign(p - t)``."""
    return jnp.sign(r).astype(arr.dtype)


def huber_loss(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, delta: ArrayLike = 1.0
) -> jax.Array:
    r"""Huber loss: quadratic within ``delta`` of the target, linear beyond.

    .. math:: \ell(r) = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\
       \delta (|r| - \tfrac12 \delta) & |r| > \delta \end{cases}

    As :func:`optax.losses.huber_loss` (and ``torch.nn.functional.huber_loss``).

    Args:
      predictions: any shape.
      targets: same shape, or ``None`` for zeros.
      delta: the switch point ``δ > 0``.

    Returns:
      Element-wise loss, shape and dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.huber_loss(jnp.array([0.5, 3.0]), delta=1.0).tolist()
      [0.125, 2.5]

    References:
      Huber, `Robust Estimation of a Location Parameter
      <https://doi.org/10.1214/aoms/1177703732>`_, 1964.
    """
    arr, r, delta = _residual(predictions, targets, "huber_loss", delta=delta)
    a = jnp.abs(r)
    quad = jnp.minimum(a, delta)
    return (0.5 * quad * quad + delta * (a - quad)).astype(arr.dtype)


@closed_form_of(huber_loss, _residual)
def _huber_loss_grad(arr: jax.Array, r: jax.Array, delta: ArrayLike) -> jax.Array:
    """``clip(p - t, -δ, δ)``."""
    d = jnp.asarray(delta, r.dtype)
    return jnp.clip(r, -d, d).astype(arr.dtype)


def smooth_l1_loss(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, beta: ArrayLike = 1.0
) -> jax.Array:
    r"""Smooth L1 loss (PyTorch's ``smooth_l1_loss``): Huber divided by ``beta``.

    .. math:: \ell(r) = \begin{cases} \tfrac12 r^2 / \beta & |r| < \beta \\
       |r| - \tfrac12 \beta & \text{otherwise} \end{cases}

    ``beta = 0`` gives the absolute error.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.smooth_l1_loss(jnp.array([0.5, 3.0]), beta=1.0).tolist()
      [0.125, 2.5]
    """
    arr, r, beta = _residual(predictions, targets, "smooth_l1_loss", beta=beta)
    a = jnp.abs(r)
    b = jnp.asarray(beta, r.dtype)
    inside = a < b
    quad = 0.5 * r * r / jnp.where(inside, b, 1.0)
    return jnp.where(inside, quad, a - 0.5 * b).astype(arr.dtype)


@closed_form_of(smooth_l1_loss, _residual)
def _smooth_l1_loss_grad(arr: jax.Array, r: jax.Array, beta: ArrayLike) -> jax.Array:
    """``r / β`` inside ``β``, ``sign(r)`` outside: ``clip(r / β, -1, 1)``."""
    b = jnp.asarray(beta, r.dtype)
    inside = jnp.abs(r) < b
    return jnp.where(inside, r / jnp.where(inside, b, 1.0), jnp.sign(r)).astype(arr.dtype)


def log_cosh(predictions: ArrayLike, targets: ArrayLike | None = None) -> jax.Array:
    r"""``log cosh(p - t)``, computed as ``logaddexp(r, -r) - log 2`` (no overflow).

    Behaves like ``½ r²`` for small residuals and ``|r| - log 2`` for large ones.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.log_cosh(jnp.array([0.0, 1e4])).tolist()
      [0.0, 9999.306640625]
    """
    arr, r = _residual(predictions, targets, "log_cosh")
    return (jnp.logaddexp(r, -r) - jnp.log(2.0).astype(r.dtype)).astype(arr.dtype)


@closed_form_of(log_cosh, _residual)
def _log_cosh_grad(arr: jax.Array, r: jax.Array) -> jax.Array:
    """``tanh(p - t)``."""
    return jnp.tanh(r).astype(arr.dtype)


def _cosine_inputs(
    predictions: ArrayLike,
    targets: ArrayLike,
    epsilon: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> tuple[Any, ...]:
    """Returns (orig, a, unit a, unit b, norm a (safe), cos (keepdims), axes, mask, epsilon)."""
    arr = floating(predictions, "predictions", fn)
    tgt = floating(targets, "targets", fn)
    check_same_shape(arr, tgt, ("predictions", "targets"), fn)
    axes = canonical_axes(axis, arr.ndim, "predictions", fn)
    mask = mask_for(where, arr.shape, axes, fn)
    a = upcast(arr)
    b = jnp.broadcast_to(tgt.astype(a.dtype), a.shape)
    if mask is not None:
        a = jnp.where(mask, a, 0.0)
        b = jnp.where(mask, b, 0.0)

    def unit(v: jax.Array) -> tuple[jax.Array, jax.Array]:
        n2 = jnp.maximum(jnp.sum(v * v, axis=axes, keepdims=True), epsilon)
        nz = n2 != 0  # only an exact zero vector: a NaN norm stays NaN (NaN > 0 is False)
        n = jnp.sqrt(jnp.where(nz, n2, 1.0))
        return jnp.where(nz, v / n, 0.0), n

    ua, na = unit(a)
    ub, _ = unit(b)
    cos = jnp.sum(ua * ub, axis=axes, keepdims=True)
    return arr, a, ua, ub, na, cos, axes, mask, epsilon


def cosine_similarity(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine similarity ``⟨a, b⟩ / (‖a‖ ‖b‖)`` along ``axis``.

    As :func:`optax.losses.cosine_similarity` (norms are ``sqrt(max(‖v‖², epsilon))``);
    a zero vector (norm 0 with ``epsilon = 0``) has similarity 0 and a zero gradient
    instead of NaN.

    Args:
      predictions: ``[..., D]``.
      targets: ``[..., D]``, same shape.
      epsilon: floor on the squared norms.
      axis: the feature axis or axes.
      where: optional feature mask; masked features are left out.

    Returns:
      Per-example similarity in ``[-1, 1]``, shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.cosine_similarity(jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])))  # doctest: +ELLIPSIS
      0.7071...
    """
    arr, _, _, _, _, cos, axes, _, _ = _cosine_inputs(
        predictions, targets, epsilon, axis, where, "cosine_similarity"
    )
    return jnp.squeeze(cos, axes).astype(arr.dtype)


def _cosine_derivative(
    arr: jax.Array,
    a: jax.Array,
    ua: jax.Array,
    ub: jax.Array,
    na: jax.Array,
    cos: jax.Array,
    axes: tuple[int, ...],
    mask: jax.Array | None,
    epsilon: ArrayLike,
) -> jax.Array:
    """``(b̂ - cos · â) / ‖a‖`` where the norm is not floored; ``b̂ / ‖a‖`` where it is."""
    n2 = jnp.sum(a * a, axis=axes, keepdims=True)
    floored = n2 <= epsilon
    g = (ub - jnp.where(floored, 0.0, cos) * ua) / na
    g = jnp.where(jnp.maximum(n2, epsilon) != 0, g, 0.0)  # a zero vector: zero gradient
    if mask is not None:
        g = jnp.where(mask, g, 0.0)
    return g.astype(arr.dtype)


_cosine_similarity_grad = closed_form_of(cosine_similarity, _cosine_inputs)(_cosine_derivative)


def cosine_distance(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine distance ``1 - cosine_similarity`` (optax's ``cosine_distance``).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.cosine_distance(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])))
      1.0
    """
    arr, _, _, _, _, cos, axes, _, _ = _cosine_inputs(
        predictions, targets, epsilon, axis, where, "cosine_distance"
    )
    return (1.0 - jnp.squeeze(cos, axes)).astype(arr.dtype)


@closed_form_of(cosine_distance, _cosine_inputs)
def _cosine_distance_grad(*parsed: Any) -> jax.Array:
    """The negated cosine-similarity gradient."""
    return -_cosine_derivative(*parsed)


# --- quantile and deviance losses ---------------------------------------------------------


def _quantile_values(quantiles: Any, fn: str) -> None:
    """Concrete quantiles (Python numbers, sequences, NumPy arrays) must lie in (0, 1)."""
    if isinstance(quantiles, jax.Array) and not isinstance(quantiles, jax.core.Tracer):
        values = np.asarray(quantiles)
    elif isinstance(quantiles, (numbers.Real, list, tuple, np.ndarray, np.generic)):
        values = np.asarray(quantiles, dtype=float)
    else:
        return  # traced: jaxlosses.checked(pinball_loss) checks it at run time
    if not np.all((values > 0) & (values < 1)):
        raise ValueError(
            f"{fn}: `quantiles` must lie in (0, 1), got {values.tolist()}; pass e.g. "
            "quantiles=(0.1, 0.5, 0.9)."
        )


def _pinball(
    predictions: ArrayLike, targets: ArrayLike, quantiles: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(predictions as given, residual t - p, quantiles)`` broadcast to the predictions."""
    arr = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    _quantile_values(quantiles, fn)
    q0 = real(quantiles, "quantiles", fn)
    p = upcast(arr)
    if q0.ndim == 0:
        check_same_shape(arr, tgt, ("predictions", "targets"), fn)
        t = jnp.broadcast_to(tgt.astype(p.dtype), p.shape)
        q = jnp.broadcast_to(q0.astype(p.dtype), p.shape)
        return arr, t - p, q
    n_q = q0.shape[0]
    if q0.ndim != 1 or arr.ndim == 0 or arr.shape[-1] != n_q:
        raise ValueError(
            f"{fn}: `quantiles` has shape {q0.shape} and `predictions` shape {arr.shape}; pass "
            "a scalar quantile, or Q quantiles and predictions [..., Q] (one per quantile)."
        )
    if tgt.shape == arr.shape[:-1]:
        tgt = tgt[..., None]
    elif tgt.shape != arr.shape:
        raise ValueError(
            f"{fn}: `targets` has shape {tgt.shape} but `predictions` {arr.shape} with "
            f"{n_q} quantiles needs targets of shape {arr.shape[:-1]} (one per example) or "
            f"{arr.shape} (one per quantile)."
        )
    t = jnp.broadcast_to(tgt.astype(p.dtype), p.shape)
    return arr, t - p, jnp.broadcast_to(q0.astype(p.dtype), p.shape)


def pinball_loss(predictions: ArrayLike, targets: ArrayLike, *, quantiles: ArrayLike) -> jax.Array:
    r"""Pinball (quantile) loss of quantile predictions, element-wise.

    .. math:: \rho_\tau(r) = \max(\tau r,\ (\tau - 1) r), \quad r = t - p, \quad \tau \in (0, 1)

    Minimised in expectation by the ``τ``-quantile of the target; ``τ = ½`` is half the
    absolute error. Several quantiles at once: predictions ``[..., Q]`` (one column per
    quantile) against targets ``[...]`` (broadcast along the quantile axis) or ``[..., Q]``,
    with ``quantiles`` of shape ``[Q]``; a scalar quantile takes predictions and targets of
    one shape. Sum over the last axis for the per-example loss of a ``[..., Q]`` prediction.
    Quantiles given as Python numbers, sequences or NumPy arrays are checked to lie in
    ``(0, 1)`` at trace time. The derivative at ``r = 0`` is taken as ``-τ``.

    Args:
      predictions: ``[..., Q]`` (or any shape with a scalar quantile).
      targets: ``[...]`` or ``[..., Q]`` (or the predictions' shape with a scalar quantile).
      quantiles: ``τ``, a scalar or ``[Q]``.

    Returns:
      Element-wise loss, shape and dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p = jnp.array([[1.0, 2.0, 3.0]])
      >>> jl.pinball_loss(p, jnp.array([2.5]), quantiles=(0.1, 0.5, 0.9)).tolist()
      [[0.15, 0.25, 0.05]]

    References:
      Koenker and Bassett, `Regression quantiles <https://doi.org/10.2307/1913643>`_,
      Econometrica 1978.
    """
    arr, r, q = _pinball(predictions, targets, quantiles, "pinball_loss")
    # A NaN residual is neither < 0 nor >= 0: the last branch keeps it NaN in the value
    # and in the gradient (a plain two-branch where would give it the slope -τ).
    return jnp.where(r < 0, (q - 1.0) * r, jnp.where(r >= 0, q * r, r * r)).astype(arr.dtype)


@closed_form_of(pinball_loss, _pinball)
def _pinball_loss_grad(arr: jax.Array, r: jax.Array, q: jax.Array) -> jax.Array:
    """``1 - τ`` where ``p > t``, ``-τ`` where ``p <= t`` (NaN for a NaN residual)."""
    return jnp.where(r < 0, 1.0 - q, jnp.where(r >= 0, -q, r)).astype(arr.dtype)


def _deviance_inputs(
    predictions: ArrayLike, targets: ArrayLike, power: float, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, float]:
    """``(predictions as given, μ, y, power)`` upcast; the power checked at trace time."""
    if isinstance(power, bool) or not isinstance(power, numbers.Real):
        raise TypeError(
            f"{fn}: `power` must be a Python number (the formula branches on it), got "
            f"{type(power).__name__}; pass e.g. power=1.5."
        )
    power = float(power)
    if not math.isfinite(power) or 0 < power < 1:
        raise ValueError(
            f"{fn}: `power` must be <= 0 or >= 1 (no Tweedie distribution has 0 < p < 1), "
            f"got {power}."
        )
    arr = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    check_same_shape(arr, tgt, ("predictions", "targets"), fn)
    mu = upcast(arr)
    return arr, mu, jnp.broadcast_to(tgt.astype(mu.dtype), mu.shape), power


def _unit_deviance(mu: jax.Array, y: jax.Array, power: float) -> jax.Array:
    """The Tweedie unit deviance ``d(y, μ)`` (``log μ`` is -inf at 0, NaN below)."""
    if power == 0:
        return jnp.square(y - mu)
    log_mu = jnp.log(mu)
    if power == 1:
        return 2.0 * (xlogy(y, y) - xlogy(y, mu) - y + mu)
    if power == 2:
        return 2.0 * (log_mu - jnp.log(y) + y * jnp.exp(-log_mu) - 1.0)
    a, b = 1.0 - power, 2.0 - power
    y_part = jnp.maximum(y, 0.0) if power < 0 else y  # y < 0 is NaN for p >= 1
    return 2.0 * (
        jnp.power(y_part, b) / (a * b) - y * jnp.exp(a * log_mu) / a + jnp.exp(b * log_mu) / b
    )


def _unit_deviance_grad(mu: jax.Array, y: jax.Array, power: float) -> jax.Array:
    """``∂d/∂μ = 2 μ^{-p} (μ - y)`` for every power."""
    if power == 0:
        return 2.0 * (mu - y)
    return 2.0 * (mu - y) * jnp.exp(-power * jnp.log(mu))


def tweedie_deviance(
    predictions: ArrayLike, targets: ArrayLike, *, power: float = 0.0
) -> jax.Array:
    r"""Tweedie unit deviance of a predicted mean ``μ`` at the target ``y``, element-wise.

    .. math:: d_p(y, \mu) = 2\left(\frac{\max(y, 0)^{2-p}}{(1-p)(2-p)}
       - \frac{y\, \mu^{1-p}}{1-p} + \frac{\mu^{2-p}}{2-p}\right)

    with the limits ``p = 0``: ``(y - μ)²``; ``p = 1`` (Poisson):
    ``2 (y log(y/μ) - y + μ)``; ``p = 2`` (gamma): ``2 (log(μ/y) + y/μ - 1)``.
    ``tweedie_deviance(μ, y, power=p).mean()`` is
    ``sklearn.metrics.mean_tweedie_deviance(y, μ, power=p)`` (note sklearn's argument
    order: targets first). ``power`` is a Python number checked at trace time (``0 < p < 1``
    is refused, as in sklearn). Domains, as sklearn's: ``μ > 0`` except for ``p = 0``;
    ``y >= 0`` for ``1 <= p < 2``, ``y > 0`` for ``p >= 2``. Unchecked, out of the
    domain the math gives NaN (``log`` of a negative number) or ``+inf`` (``μ = 0`` with
    ``y > 0``), never a clamped number. The derivative is ``2 μ^{-p} (μ - y)``.

    Args:
      predictions: the predicted means ``μ``, any shape.
      targets: ``y``, same shape (or a scalar).
      power: the Tweedie power ``p``.

    Returns:
      Element-wise deviance, shape and dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.tweedie_deviance(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]), power=1.5).tolist()
      [0.0, 5.656854152679443]

    References:
      Jørgensen, `Exponential dispersion models
      <https://doi.org/10.1111/j.2517-6161.1987.tb01685.x>`_, JRSS B 1987; scikit-learn,
      `mean_tweedie_deviance <https://scikit-learn.org/stable/modules/model_evaluation.html#mean-poisson-gamma-and-tweedie-deviances>`_.
    """
    arr, mu, y, power = _deviance_inputs(predictions, targets, power, "tweedie_deviance")
    return _unit_deviance(mu, y, power).astype(arr.dtype)


@closed_form_of(tweedie_deviance, _deviance_inputs)
def _tweedie_deviance_grad(arr: jax.Array, mu: jax.Array, y: jax.Array, power: float) -> jax.Array:
    """``2 μ^{-p} (μ - y)``."""
    return _unit_deviance_grad(mu, y, power).astype(arr.dtype)


def _gamma_inputs(
    predictions: ArrayLike, targets: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, float]:
    return _deviance_inputs(predictions, targets, 2.0, fn)


def gamma_deviance(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Gamma unit deviance ``2 (log(μ/y) + y/μ - 1)``: :func:`tweedie_deviance` with ``power=2``.

    ``gamma_deviance(μ, y).mean()`` is ``sklearn.metrics.mean_gamma_deviance(y, μ)``. Scale
    invariant (``d(cy, cμ) = d(y, μ)``): for positive targets whose noise grows with the
    mean. Both ``μ`` and ``y`` must be positive; unchecked, a non-positive one gives NaN
    or ``inf``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.gamma_deviance(jnp.array([2.0, 20.0]), jnp.array([1.0, 10.0])).round(4).tolist()
      [0.3863, 0.3863]
    """
    arr, mu, y, power = _gamma_inputs(predictions, targets, "gamma_deviance")
    return _unit_deviance(mu, y, power).astype(arr.dtype)


@closed_form_of(gamma_deviance, _gamma_inputs)
def _gamma_deviance_grad(arr: jax.Array, mu: jax.Array, y: jax.Array, power: float) -> jax.Array:
    """``2 (μ - y) / μ²``."""
    return _unit_deviance_grad(mu, y, power).astype(arr.dtype)


def _log1p_inputs(
    predictions: ArrayLike, targets: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(predictions as given, p, log1p(p) - log1p(t))``."""
    arr = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    check_same_shape(arr, tgt, ("predictions", "targets"), fn)
    p = upcast(arr)
    t = jnp.broadcast_to(tgt.astype(p.dtype), p.shape)
    return arr, p, jnp.log1p(p) - jnp.log1p(t)


def mean_squared_log_error(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    r"""Squared log error ``(log(1 + p) - log(1 + t))²``, element-wise (reduce for the mean).

    The "mean" of the name is the reduction: ``mean_squared_log_error(p, t).mean()`` is
    ``torchmetrics.functional.mean_squared_log_error(p, t)`` (and sklearn's
    ``mean_squared_log_error(t, p)``), and ``.mean(-1)`` is
    ``keras.losses.mean_squared_logarithmic_error(t, p)`` for inputs ``>= 1e-7`` (Keras
    clips smaller values to its epsilon first; nothing is clipped here). For ``p, t > -1``;
    unchecked, ``p <= -1`` gives ``inf`` or NaN, not a clipped number.

    Args:
      predictions: any shape, ``> -1``.
      targets: same shape (or a scalar), ``> -1``.

    Returns:
      Element-wise loss, shape and dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.mean_squared_log_error(jnp.array([0.0, 3.0]), jnp.array([0.0, 1.0])).round(4).tolist()
      [0.0, 0.4805]

    References:
      TorchMetrics, `MeanSquaredLogError
      <https://lightning.ai/docs/torchmetrics/stable/regression/mean_squared_log_error.html>`_.
    """
    arr, _, d = _log1p_inputs(predictions, targets, "mean_squared_log_error")
    return jnp.square(d).astype(arr.dtype)


@closed_form_of(mean_squared_log_error, _log1p_inputs)
def _mean_squared_log_error_grad(arr: jax.Array, p: jax.Array, d: jax.Array) -> jax.Array:
    """``2 (log(1 + p) - log(1 + t)) / (1 + p)``."""
    return (2.0 * d / (1.0 + p)).astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(pinball_loss, unit_interval("quantiles"))
