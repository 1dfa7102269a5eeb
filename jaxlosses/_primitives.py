"""Numerically stable log-space primitives and output layers.

Every loss in the package is composed from these. They accept any floating
dtype, compute in at least float32 and return the input's dtype. ``axis`` and
``where`` behave as in :mod:`jax.nn`: masked-out entries do not take part in the
normalisation, ``log_softmax`` is ``-inf`` and ``softmax`` is ``0`` there, and a
fully masked slice gives a finite gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._core import Axis, canonical_axes, floating, mask_for, positive_temperature, upcast

__all__ = [
    "linear",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]


# --- internal building blocks (inputs already upcast and validated) ---------------


def shift(
    x: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """``x - max(x)`` over ``axes`` with masked entries at ``-inf``.

    The max is a constant for differentiation (it cancels exactly) and is
    replaced by 0 when a slice holds no finite entry, so that an all ``-inf`` or
    fully masked slice never produces ``-inf - (-inf)``.
    """
    if mask is not None:
        x = jnp.where(mask, x, -jnp.inf)
    m = jnp.max(x, axis=axes, keepdims=True)
    m = lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
    return x - m, m


def lse_of_shifted(shifted: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``log(sum(exp(shifted)))`` over ``axes`` (keepdims); ``-inf`` for empty slices.

    Only an empty slice (every entry ``-inf`` or masked) is ``-inf``: a NaN stays NaN and
    a ``+inf`` entry gives ``+inf`` (a non-finite sum is not read as an empty one).
    """
    s = jnp.sum(jnp.exp(shifted), axis=axes, keepdims=True)
    empty = s == 0
    return jnp.where(empty, -jnp.inf, jnp.log(jnp.where(empty, 1.0, s)))


def log_softmax_parts(
    x: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(log_probs, probs, lse)`` for an upcast ``x``.

    ``log_probs`` is ``x - logsumexp(x)`` on unmasked entries (``-inf`` where the
    logit is ``-inf``) and exactly 0 on masked entries and in fully masked slices,
    so that sums over a mask never meet ``0 * inf``. ``probs`` is 0 on masked
    entries. ``lse`` is the keepdims log-normaliser (``-inf`` for empty slices).
    Gradients are finite everywhere a finite answer exists.
    """
    shifted, m = shift(x, axes, mask)
    lse_shifted = lse_of_shifted(shifted, axes)
    # Empty (fully masked / all -inf) slices only: a NaN or +inf normaliser propagates.
    nonempty = ~jnp.isneginf(lse_shifted)
    ok = jnp.broadcast_to(nonempty, x.shape) if mask is None else mask & nonempty
    norm = jnp.where(nonempty, lse_shifted, 0.0)
    log_probs = jnp.where(ok, jnp.where(ok, shifted, 0.0) - norm, 0.0)
    probs = jnp.where(ok, jnp.exp(log_probs), 0.0)
    return log_probs, probs, lse_shifted + m


def _resolve(
    x: ArrayLike, axis: Axis | None, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    arr = floating(x, "x", fn)
    xc = upcast(arr)
    axes = tuple(range(arr.ndim)) if axis is None else canonical_axes(axis, arr.ndim, "x", fn)
    return arr, xc, axes, mask_for(where, arr.shape, axes, fn)


def _tempered(
    x: ArrayLike, axis: Axis | None, where: ArrayLike | None, temperature: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None]:
    """Returns ``(x as given, log_softmax(x / T), softmax(x / T), mask)`` (upcast)."""
    positive_temperature(temperature, fn)
    arr, xc, axes, mask = _resolve(x, axis, where, fn)
    log_probs, probs, _ = log_softmax_parts(
        xc / jnp.asarray(temperature, dtype=xc.dtype), axes, mask
    )
    return arr, log_probs, probs, mask


# --- public primitives ------------------------------------------------------------


def logsumexp(
    x: ArrayLike,
    axis: Axis | None = None,
    where: ArrayLike | None = None,
    *,
    keepdims: bool = False,
) -> jax.Array:
    r"""Log of the sum of exponentials, computed stably by shifting by the max.

    .. math:: \operatorname{lse}(x) = m + \log \sum_i e^{x_i - m}, \quad m = \max_i x_i

    Args:
      x: input, any shape.
      axis: axis or axes to reduce; ``None`` (the default, as in :func:`jax.nn.logsumexp`)
        reduces all axes.
      where: optional boolean mask broadcastable to ``x`` (or of the shape of ``x`` without
        ``axis``); masked entries are left out. An empty or fully masked slice gives ``-inf``
        with a zero (finite) gradient.
      keepdims: keep the reduced axes with size 1.

    Returns:
      The reduced array, in the dtype of ``x``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.logsumexp(jnp.array([1000.0, 1000.0])))  # doctest: +ELLIPSIS
      1000.69...
    """
    arr, xc, axes, mask = _resolve(x, axis, where, "logsumexp")
    shifted, m = shift(xc, axes, mask)
    out = lse_of_shifted(shifted, axes) + m
    if not keepdims:
        out = jnp.squeeze(out, axis=axes)
    return out.astype(arr.dtype)


def log_softmax(
    x: ArrayLike,
    axis: Axis | None = -1,
    where: ArrayLike | None = None,
    *,
    temperature: ArrayLike = 1.0,
) -> jax.Array:
    r"""Log-softmax with an optional temperature.

    .. math:: \log \operatorname{softmax}(x / T)_i = x_i / T - \operatorname{lse}(x / T)

    Args:
      x: logits, any shape.
      axis: the class axis or axes (default ``-1``).
      where: optional mask; masked entries are ``-inf`` in the output and are left out of
        the normaliser.
      temperature: ``T > 0``; ``T < 1`` sharpens, ``T > 1`` flattens the distribution.

    Returns:
      Log-probabilities with the shape and dtype of ``x``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.log_softmax(jnp.array([0.0, 0.0])).tolist()  # doctest: +ELLIPSIS
      [-0.693..., -0.693...]
    """
    arr, log_probs, _, mask = _tempered(x, axis, where, temperature, "log_softmax")
    if mask is not None:
        log_probs = jnp.where(mask, log_probs, -jnp.inf)
    return log_probs.astype(arr.dtype)


def softmax(
    x: ArrayLike,
    axis: Axis | None = -1,
    where: ArrayLike | None = None,
    *,
    temperature: ArrayLike = 1.0,
) -> jax.Array:
    r"""Softmax with an optional temperature.

    .. math:: \operatorname{softmax}(x / T)_i = \frac{e^{x_i / T}}{\sum_j e^{x_j / T}}

    Args:
      x: logits, any shape.
      axis: the class axis or axes (default ``-1``).
      where: optional mask; masked entries get probability 0.
      temperature: ``T > 0``.

    Returns:
      Probabilities with the shape and dtype of ``x``; each unmasked slice sums to 1, a
      fully masked slice is all zeros.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.softmax(jnp.array([0.0, 0.0, 0.0]), temperature=0.5).tolist()  # doctest: +ELLIPSIS
      [0.333..., 0.333..., 0.333...]
    """
    arr, _, probs, _ = _tempered(x, axis, where, temperature, "softmax")
    return probs.astype(arr.dtype)


def softplus(x: ArrayLike) -> jax.Array:
    r"""``log(1 + exp(x))``, stable for any magnitude.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.softplus(jnp.array(1e4)))
      10000.0
    """
    arr = floating(x, "x", "softplus")
    return jnp.logaddexp(upcast(arr), 0.0).astype(arr.dtype)


def log_sigmoid(x: ArrayLike) -> jax.Array:
    r"""``log σ(x) = -softplus(-x)``; ``log_sigmoid(-x)`` is the stable ``log(1 - σ(x))``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.log_sigmoid(jnp.array(-1e4)))
      -10000.0
    """
    arr = floating(x, "x", "log_sigmoid")
    return (-jnp.logaddexp(-upcast(arr), 0.0)).astype(arr.dtype)


def sigmoid(x: ArrayLike) -> jax.Array:
    r"""The logistic function ``σ(x) = 1 / (1 + exp(-x))``, the binary output layer.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.sigmoid(jnp.array(0.0)))
      0.5
    """
    arr = floating(x, "x", "sigmoid")
    return lax.logistic(upcast(arr)).astype(arr.dtype)


def tanh(x: ArrayLike) -> jax.Array:
    r"""Hyperbolic tangent, the output layer for targets in ``(-1, 1)``; ``tanh(x) = 2σ(2x) - 1``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.tanh(jnp.array(0.0)))
      0.0
    """
    arr = floating(x, "x", "tanh")
    return jnp.tanh(upcast(arr)).astype(arr.dtype)


def linear(inputs: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None) -> jax.Array:
    r"""The linear output layer ``y = x W + b`` (regression, or logits for a softmax).

    Args:
      inputs: ``[..., D_in]``.
      weight: ``[D_in, D_out]`` (the Flax ``kernel`` layout; PyTorch stores the transpose).
      bias: optional ``[D_out]``.

    Returns:
      ``[..., D_out]`` in the dtype of ``inputs``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.linear(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.arange(4.0)).tolist()
      [[3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0]]
    """
    x = floating(inputs, "inputs", "linear")
    w = floating(weight, "weight", "linear")
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"linear: `inputs` has shape {x.shape} and `weight` has shape {w.shape}; "
            "expected inputs [..., D_in] and weight [D_in, D_out]. A PyTorch-layout "
            "weight [D_out, D_in] needs `weight.T`."
        )
    xc = upcast(x)
    y = jnp.matmul(xc, w.astype(xc.dtype))
    if bias is not None:
        b = floating(bias, "bias", "linear")
        if b.shape not in ((w.shape[1],), ()):
            raise ValueError(
                f"linear: `bias` has shape {b.shape}; expected ({w.shape[1]},) to match "
                f"`weight` {w.shape}."
            )
        y = y + jnp.broadcast_to(b.astype(y.dtype), y.shape)
    return y.astype(x.dtype)
