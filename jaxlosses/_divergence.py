"""Divergences between distributions: KL (probability or log targets), generalized KL, JS.

All take the convention ``0 log 0 = 0`` with finite gradients, so zero targets
(one-hot distributions, sparse histograms) are safe. A class outside both supports
(target 0 and log-prediction ``-inf``) contributes 0 to the value and to the gradient
of either argument, as :func:`scipy.special.rel_entr` gives 0 there; at a zero
probability the derivative of ``x log x`` (one-sided ``-inf``) is taken as 0.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.typing import ArrayLike

from ._checks import nonnegative, register_checks, simplex
from ._core import (
    Axis,
    canonical_axes,
    check_same_shape,
    closed_form_of,
    errors_named,
    floating,
    mask_for,
    safe_log,
)
from ._core import upcast as _upcast

__all__ = [
    "convex_kl_divergence",
    "generalized_kl_divergence",
    "js_divergence",
    "kl_divergence",
    "kl_divergence_with_log_targets",
]


def _pair(
    first: ArrayLike,
    second: ArrayLike,
    names: tuple[str, str],
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    arr = floating(first, names[0], fn)
    other = floating(second, names[1], fn)
    check_same_shape(arr, other, names, fn)
    axes = canonical_axes(axis, arr.ndim, names[0], fn)
    x = _upcast(arr)
    return (
        arr,
        x,
        jnp.broadcast_to(other.astype(x.dtype), x.shape),
        axes,
        mask_for(where, arr.shape, axes, fn),
    )


def _kl_inputs(
    log_predictions: ArrayLike, targets: ArrayLike, axis: Axis, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    return _pair(log_predictions, targets, ("log_predictions", "targets"), axis, where, fn)


def _log_targets_inputs(
    log_predictions: ArrayLike, log_targets: ArrayLike, axis: Axis, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    return _pair(log_predictions, log_targets, ("log_predictions", "log_targets"), axis, where, fn)


def _js_inputs(
    predictions: ArrayLike, targets: ArrayLike, axis: Axis, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    return _pair(predictions, targets, ("predictions", "targets"), axis, where, fn)


def _masked(g: jax.Array, mask: jax.Array | None) -> jax.Array:
    return g if mask is None else jnp.where(mask, g, 0.0)


@jax.custom_jvp
def _kl_terms(t: jax.Array, lp: jax.Array) -> jax.Array:
    """``t log t - t log p`` element-wise, 0 where ``t = 0`` (``0 log 0 = 0``, and ``0 log 0``
    of a class outside both supports, ``log p = -inf``, too); a NaN in either stays NaN.

    One expression (one select around one product), so that XLA computes it in a single
    pass feeding the sum: written as ``xlogx(t) - t log p`` it materialises two
    ``[N, V]`` intermediates, 1.7x optax's time at an LM head's 4096 x 32000.
    """
    absent = (t == 0) & (lp == -jnp.inf)
    return jnp.where(absent, 0.0, t * (safe_log(t) - jnp.where(absent, 0.0, lp)))


@functools.partial(_kl_terms.defjvp, symbolic_zeros=True)
def _kl_terms_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[Any, Any]
) -> tuple[jax.Array, jax.Array]:
    """``∂/∂log p = -t`` (0 where ``t = 0``, so no mask: the backward pass reads ``t``
    alone); ``∂/∂t = log t + 1 - log p`` for ``t > 0``, ``-log p`` for ``t <= 0``, with
    ``log p`` taken as 0 out of both supports: the derivatives of ``xlogx(t) - t log p``
    with its double wheres."""
    t, lp = primals
    t_dot, lp_dot = tangents
    out = _kl_terms(t, lp)
    tangent = jnp.zeros_like(out)
    if not isinstance(lp_dot, SymbolicZero):
        tangent = tangent - t * lp_dot
    if not isinstance(t_dot, SymbolicZero):
        absent = (t == 0) & (lp == -jnp.inf)
        d_t = safe_log(t) + jnp.where(t > 0, 1.0, 0.0) - jnp.where(absent, 0.0, lp)
        tangent = tangent + t_dot * d_t
    return out, tangent


def kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""KL divergence of the predicted distribution from the targets, ``KL(t ‖ p)``.

    .. math:: \mathrm{KL}(t \,\|\, p) = \sum_k t_k (\log t_k - \log p_k)

    As :func:`optax.losses.kl_divergence`: predictions as log-probabilities, targets as
    probabilities. Minimising it over ``p`` equals minimising the cross-entropy; it
    differs by the target entropy, so it is 0 at a perfect fit.

    Args:
      log_predictions: ``[..., K]`` log-probabilities.
      targets: ``[..., K]`` probabilities (zeros allowed), same shape.
      axis: the class axis or axes.
      where: optional class mask.

    Returns:
      Per-example divergence, shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> t = jnp.array([0.5, 0.5, 0.0])
      >>> float(jl.kl_divergence(jnp.log(jnp.array([0.25, 0.5, 0.25])), t))  # doctest: +ELLIPSIS
      0.3465...
    """
    arr, lp, t, axes, mask = _kl_inputs(log_predictions, targets, axis, where, "kl_divergence")
    return jnp.sum(_kl_terms(t, lp), axis=axes, where=mask).astype(arr.dtype)


@closed_form_of(kl_divergence, _kl_inputs)
def _kl_divergence_grad(
    arr: jax.Array, lp: jax.Array, t: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> jax.Array:
    """``-t``."""
    return _masked(-t, mask).astype(arr.dtype)


def kl_divergence_with_log_targets(
    log_predictions: ArrayLike,
    log_targets: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""``KL(t ‖ p)`` with both distributions given as log-probabilities.

    .. math:: \mathrm{KL} = \sum_k e^{\log t_k} (\log t_k - \log p_k)

    As :func:`optax.losses.kl_divergence_with_log_targets`.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> lt = jnp.log(jnp.array([0.5, 0.5]))
      >>> float(jl.kl_divergence_with_log_targets(lt, lt))
      0.0
    """
    arr, lp, lt, axes, mask = _log_targets_inputs(
        log_predictions, log_targets, axis, where, "kl_divergence_with_log_targets"
    )
    finite = lt != -jnp.inf  # t = 0 contributes 0 (0 log 0 = 0); a NaN log-target stays NaN
    lt_safe = jnp.where(finite, lt, 0.0)
    terms = jnp.where(finite, jnp.exp(lt_safe) * (lt_safe - lp), 0.0)
    return jnp.sum(terms, axis=axes, where=mask).astype(arr.dtype)


@closed_form_of(kl_divergence_with_log_targets, _log_targets_inputs)
def _kl_divergence_with_log_targets_grad(
    arr: jax.Array, lp: jax.Array, lt: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> jax.Array:
    """``-exp(log t)``."""
    return _masked(-jnp.exp(lt), mask).astype(arr.dtype)


def generalized_kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized KL divergence between non-negative measures (not necessarily normalised).

    .. math:: D(t \,\|\, p) = \sum_k t_k (\log t_k - \log p_k) - t_k + p_k

    As :func:`optax.losses.generalized_kl_divergence`; convex in ``p`` and 0 iff ``p = t``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.generalized_kl_divergence(jnp.log(jnp.array([2.0])), jnp.array([2.0])))
      0.0
    """
    arr, lp, t, axes, mask = _kl_inputs(
        log_predictions, targets, axis, where, "generalized_kl_divergence"
    )
    terms = _kl_terms(t, lp) - t + jnp.exp(lp)
    return jnp.sum(terms, axis=axes, where=mask).astype(arr.dtype)


@closed_form_of(generalized_kl_divergence, _kl_inputs)
def _generalized_kl_divergence_grad(
    arr: jax.Array, lp: jax.Array, t: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> jax.Array:
    """``exp(log p) - t``."""
    return _masked(jnp.exp(lp) - t, mask).astype(arr.dtype)


def convex_kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Convex KL divergence: optax's (deprecated) name for :func:`generalized_kl_divergence`.

    .. math:: \sum_k t_k (\log t_k - \log p_k) - t_k + p_k

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.convex_kl_divergence(jnp.log(jnp.array([1.0])), jnp.array([1.0])))
      0.0
    """
    with errors_named("generalized_kl_divergence", "convex_kl_divergence"):
        return generalized_kl_divergence(log_predictions, targets, axis, where)


_convex_kl_divergence_grad = _generalized_kl_divergence_grad


def js_divergence(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Jensen-Shannon divergence between two probability distributions (natural log).

    .. math:: \mathrm{JS}(p, t) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(t \,\|\, m),
       \quad m = \tfrac12 (p + t)

    Symmetric, bounded by ``log 2``, finite for disjoint supports.

    Args:
      predictions: ``[..., K]`` probabilities.
      targets: ``[..., K]`` probabilities, same shape; zeros allowed in either.
      axis: the class axis or axes.
      where: optional class mask.

    Returns:
      Per-example divergence in ``[0, log 2]`` (``scipy.spatial.distance.jensenshannon``
      squared). At a zero prediction with a positive target the derivative of ``p log p``
      is taken as 0 (its one-sided value is ``-inf``); where both are 0 the partial
      derivatives are the true one-sided ones, ``½ log 2`` (the term is ``½ p log 2``
      along ``t = 0``).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.js_divergence(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])))  # doctest: +ELLIPSIS
      0.6931...
    """
    arr, p, t, axes, mask = _js_inputs(predictions, targets, axis, where, "js_divergence")
    s = p + t
    terms = 0.5 * (_x_log_ratio(p, t, s) + _x_log_ratio(t, p, s))
    return jnp.sum(terms, axis=axes, where=mask).astype(arr.dtype)


def _x_log_ratio(x: jax.Array, y: jax.Array, s: jax.Array) -> jax.Array:
    """``x log(2x / (x + y))`` (``s = x + y``), 0 at ``x = 0``, by double where.

    At ``x = 0`` its derivative in ``x`` is the stand-in ``c`` for the log below:
    ``log(2 / y)`` for ``y > 0`` (with the ``-1`` from the other term, ``d(x log x) = 0``),
    and ``log 2`` for ``y = 0`` (the true value: the term is then ``x log 2``).
    """
    pos = x > 0
    ratio = 2.0 * jnp.where(pos, x, 1.0) / jnp.where(pos, s, 1.0)
    other = y > 0
    stand_in = jnp.where(other, jnp.log(2.0 / jnp.where(other, y, 1.0)), jnp.log(2.0))
    return x * jnp.where(pos, jnp.log(ratio), lax.stop_gradient(stand_in))


@closed_form_of(js_divergence, _js_inputs)
def _js_divergence_grad(
    arr: jax.Array, p: jax.Array, t: jax.Array, axes: tuple[int, ...], mask: jax.Array | None
) -> jax.Array:
    """``½ (log p - log m)``, with ``d(x log x)/dx = log x + 1`` replaced by 0 at ``x = 0``.

    Where ``p = t = 0`` it is ``½ log 2``: the term is ``½ p log 2`` along ``t = 0``.
    """
    m = 0.5 * (p + t)

    def dxlogx(v: jax.Array) -> jax.Array:
        return jnp.where(v > 0, safe_log(v) + 1.0, 0.0)

    g = jnp.where((p == 0) & (t == 0), 0.5 * jnp.log(2.0), 0.5 * (dxlogx(p) - dxlogx(m)))
    return _masked(g, mask).astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(kl_divergence, simplex("targets"))
register_checks(generalized_kl_divergence, nonnegative("targets"))
register_checks(convex_kl_divergence, nonnegative("targets"))
register_checks(js_divergence, simplex("predictions"), simplex("targets"))
