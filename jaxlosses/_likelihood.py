"""The maximum-likelihood recipe: pick a distribution, predict its parameters,
minimise its negative log-likelihood.

Least squares is the Gaussian NLL with a fixed variance, binary cross-entropy the
Bernoulli NLL and softmax cross-entropy the categorical NLL (see
``_classification``); here are the Gaussian NLL with a learned (heteroscedastic)
variance, the Poisson NLL for counts, and the Gaussian KL term of a VAE.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._checks import nonnegative, register_checks
from ._core import (
    Axis,
    canonical_axes,
    check_same_shape,
    closed_form_of,
    floating,
    real,
    unbroadcast,
    upcast,
)

__all__ = ["gaussian_kl_divergence", "gaussian_nll", "poisson_nll"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _gaussian_inputs(
    means: ArrayLike, targets: ArrayLike, variances: ArrayLike, full: bool, eps: float, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jnp.dtype, bool]:
    """Returns (original means, residual, clamped variance, its shape and dtype, ``full``)."""
    arr = floating(means, "means", fn)
    tgt = real(targets, "targets", fn)  # element-wise targets may be integers (the dtype policy)
    var = floating(variances, "variances", fn)
    check_same_shape(arr, tgt, ("means", "targets"), fn)
    var_shape = var.shape
    if var.ndim == arr.ndim - 1 and var.shape == arr.shape[:-1]:
        var = var[..., None]  # one variance per example, shared by every output dimension
    elif var.ndim != arr.ndim or any(v not in (1, m) for v, m in zip(var.shape, arr.shape)):
        raise ValueError(
            f"{fn}: `variances` has shape {var_shape} but `means` has shape {arr.shape}. "
            "Pass variances of the means' shape (one per output dimension), of that shape "
            "with some dimensions 1 (shared), or of the means' shape without the last "
            f"dimension {arr.shape[:-1]} (one per example)."
        )
    mu = upcast(arr)
    v = var.astype(mu.dtype)
    # PyTorch clamps the variance in place under no_grad: the forward uses max(v, eps)
    # and the gradient flows to v as if unclamped (a straight-through clamp). The shift is
    # 0 unless v < eps, so v = +inf stays +inf (max(v, eps) - v would be inf - inf = NaN).
    v = v + lax.stop_gradient(jnp.where(v < eps, eps - v, jnp.zeros_like(v)))
    return arr, mu - tgt.astype(mu.dtype), v, var_shape, var.dtype, full


def gaussian_nll(
    means: ArrayLike,
    targets: ArrayLike,
    variances: ArrayLike,
    *,
    full: bool = False,
    eps: float = 1e-6,
) -> jax.Array:
    r"""Gaussian negative log-likelihood with a predicted variance (heteroscedastic regression).

    .. math:: \ell(\mu, y, \sigma^2) = \tfrac12 \left(\log \max(\sigma^2, \epsilon)
       + \frac{(\mu - y)^2}{\max(\sigma^2, \epsilon)}\right) \;[+\; \tfrac12 \log 2\pi]

    ``torch.nn.functional.gaussian_nll_loss(means, targets, variances, full, eps,
    reduction='none')``: element-wise, the variance clamped at ``eps`` in the forward pass
    with the gradient passed straight through to ``variances``. With a fixed variance this
    is least squares up to constants. For multivariate regression predict one variance per
    output dimension (the same shape as ``means``) or share one per example.

    Args:
      means: predicted means ``[..., D]``.
      targets: observations, same shape as ``means``.
      variances: predicted variances > 0: the means' shape, that shape with some sizes 1,
        or the means' shape without the last dimension.
      full: add the constant ``½ log 2π``.
      eps: the variance floor.

    Returns:
      Element-wise loss with the means' shape and dtype. Unchecked behaviour: a negative
      variance is clamped to ``eps`` like any small one (PyTorch raises instead).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.gaussian_nll(jnp.array(0.0), jnp.array(2.0), jnp.array(4.0)))  # doctest: +ELLIPSIS
      1.193...

    References:
      Nix and Weigend, `Estimating the mean and variance of the target probability
      distribution <https://doi.org/10.1109/ICNN.1994.374138>`_, 1994.
    """
    arr, r, v, _, _, _ = _gaussian_inputs(means, targets, variances, full, eps, "gaussian_nll")
    loss = 0.5 * (jnp.log(v) + r * r / v)
    if full:
        loss = loss + _HALF_LOG_2PI
    return jnp.broadcast_to(loss, arr.shape).astype(arr.dtype)


@closed_form_of(gaussian_nll, _gaussian_inputs)
def _gaussian_nll_grad(
    arr: jax.Array,
    r: jax.Array,
    v: jax.Array,
    var_shape: tuple[int, ...],
    var_dtype: jnp.dtype,
    full: bool,
) -> tuple[jax.Array, jax.Array]:
    """``((mu - y) / v, ½ (1 / v - (mu - y)² / v²))``, the latter summed to the variances' shape."""
    del full  # a constant
    g_mu = jnp.broadcast_to(r / v, arr.shape)
    g_v = jnp.broadcast_to(0.5 * (1.0 / v - r * r / (v * v)), arr.shape)
    g_v = unbroadcast(g_v, var_shape if len(var_shape) == arr.ndim else (*var_shape, 1))
    g_v = g_v.reshape(var_shape)
    return g_mu.astype(arr.dtype), g_v.astype(var_dtype)


def _poisson_inputs(
    inputs: ArrayLike, targets: ArrayLike, log_input: bool, full: bool, eps: float, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, bool, bool, float]:
    """Returns ``(orig, x, y, log_input, full, eps)``."""
    arr = floating(inputs, "inputs", fn)
    tgt = real(targets, "targets", fn)
    check_same_shape(arr, tgt, ("inputs", "targets"), fn)
    x = upcast(arr)
    return arr, x, jnp.broadcast_to(tgt.astype(x.dtype), x.shape), log_input, full, eps


def poisson_nll(
    inputs: ArrayLike,
    targets: ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
) -> jax.Array:
    r"""Poisson negative log-likelihood for count targets.

    .. math:: \ell(x, y) = e^{x} - y x \quad (\texttt{log\_input}), \qquad
       \ell(\lambda, y) = \lambda - y \log(\lambda + \epsilon) \quad (\text{otherwise})

    ``torch.nn.functional.poisson_nll_loss(inputs, targets, log_input, full, eps=eps,
    reduction='none')``. ``full`` adds the Stirling term
    ``y log y - y + ½ log(2π y)`` for ``y > 1`` (0 otherwise), which makes the value
    the exact NLL up to Stirling's error; ``log(y!)`` is otherwise dropped.

    Args:
      inputs: the log-rate (``log_input=True``, stable for any value) or the rate ``λ ≥ 0``.
      targets: non-negative counts, same shape.
      log_input: whether ``inputs`` is the log-rate.
      full: add the Stirling approximation of ``log(y!)``.
      eps: added to ``λ`` inside the log when ``log_input=False``.

    Returns:
      Element-wise loss with the shape and dtype of ``inputs``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.poisson_nll(jnp.array(0.0), jnp.array(3.0)))
      1.0
    """
    arr, x, y, _, _, _ = _poisson_inputs(inputs, targets, log_input, full, eps, "poisson_nll")
    loss = jnp.exp(x) - y * x if log_input else x - y * jnp.log(x + eps)
    if full:
        big = y > 1
        ys = jnp.where(big, y, 1.0)
        stirling = ys * jnp.log(ys) - ys + 0.5 * jnp.log(2.0 * math.pi * ys)
        loss = loss + jnp.where(big, stirling, 0.0)
    return loss.astype(arr.dtype)


@closed_form_of(poisson_nll, _poisson_inputs)
def _poisson_nll_grad(
    arr: jax.Array, x: jax.Array, y: jax.Array, log_input: bool, full: bool, eps: float
) -> jax.Array:
    """``exp(x) - y`` (log-rate input) or ``1 - y / (λ + eps)`` (rate input)."""
    del full  # independent of the inputs
    g = jnp.exp(x) - y if log_input else 1.0 - y / (x + eps)
    return g.astype(arr.dtype)


def _kl_inputs(
    means: ArrayLike, log_variances: ArrayLike, axis: Axis, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jnp.dtype]:
    """Returns ``(original means, mu, s, axes, the log-variances' dtype)``."""
    arr = floating(means, "means", fn)
    lv = floating(log_variances, "log_variances", fn)
    if lv.shape != arr.shape:
        raise ValueError(
            f"{fn}: `log_variances` has shape {lv.shape} but `means` has shape {arr.shape}; "
            "pass one log-variance per latent dimension."
        )
    axes = canonical_axes(axis, arr.ndim, "means", fn)
    mu = upcast(arr)
    return arr, mu, lv.astype(mu.dtype), axes, lv.dtype


def gaussian_kl_divergence(
    means: ArrayLike, log_variances: ArrayLike, *, axis: Axis = -1
) -> jax.Array:
    r"""KL divergence from a diagonal Gaussian to the standard normal (the VAE term).

    .. math:: \mathrm{KL}\big(\mathcal N(\mu, e^{s}) \,\|\, \mathcal N(0, I)\big)
       = \tfrac12 \sum_d \left(\mu_d^2 + e^{s_d} - 1 - s_d\right)

    Args:
      means: ``[..., D]`` posterior means.
      log_variances: ``[..., D]`` posterior log-variances ``s``.
      axis: the latent axis or axes summed over.

    Returns:
      Per-example KL, shape without ``axis``, dtype of ``means``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.gaussian_kl_divergence(jnp.array([1.0, 0.0]), jnp.array([0.0, 0.0])))
      0.5

    References:
      Kingma and Welling, `Auto-Encoding Variational Bayes <https://arxiv.org/abs/1312.6114>`_,
      appendix B, 2014.
    """
    arr, mu, lv, axes, _ = _kl_inputs(means, log_variances, axis, "gaussian_kl_divergence")
    kl = 0.5 * jnp.sum(mu * mu + jnp.exp(lv) - 1.0 - lv, axis=axes)
    return kl.astype(arr.dtype)


@closed_form_of(gaussian_kl_divergence, _kl_inputs)
def _gaussian_kl_divergence_grad(
    arr: jax.Array, mu: jax.Array, lv: jax.Array, axes: tuple[int, ...], lv_dtype: jnp.dtype
) -> tuple[jax.Array, jax.Array]:
    """``(mu, ½ (exp(s) - 1))``."""
    return mu.astype(arr.dtype), (0.5 * (jnp.exp(lv) - 1.0)).astype(lv_dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(gaussian_nll, nonnegative("variances"))
register_checks(poisson_nll, nonnegative("targets"))
