"""Regression losses: squared, absolute, Huber, smooth-L1, log-cosh, cosine.

All element-wise losses take ``(predictions, targets=None)`` as optax does
(``targets=None`` means zero targets) and require equal shapes: predictions
``[N]`` against targets ``[N, 1]`` is an error, not a silent ``[N, N]`` outer
difference.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import (
    Axis,
    canonical_axes,
    check_same_shape,
    closed_form_of,
    floating,
    hyperparameter,
    mask_for,
    targets_or_zeros,
    upcast,
)

__all__ = [
    "absolute_error",
    "cosine_distance",
    "cosine_similarity",
    "huber_loss",
    "l2_loss",
    "log_cosh",
    "smooth_l1_loss",
    "squared_error",
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
