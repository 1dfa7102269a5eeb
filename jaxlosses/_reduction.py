"""The one reduction helper: a weighted mean over valid entries."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import Axis, canonical_axes, floating, safe_div, upcast

__all__ = ["masked_mean"]


def masked_mean(
    losses: ArrayLike,
    where: ArrayLike | None = None,
    *,
    weights: ArrayLike | None = None,
    axis: Axis | None = None,
) -> jax.Array:
    r"""Mean of per-example losses over the valid entries, optionally weighted.

    .. math:: \bar\ell = \frac{\sum_i w_i m_i \ell_i}{\sum_i w_i m_i}

    Every loss in the package returns unreduced per-example values; this is how to
    reduce them. PyTorch's ``ignore_index`` is ``where=labels != ignore_index``. Masked
    entries never leak into the result, even when they hold NaN or inf (e.g. an
    out-of-range label), and a fully masked input gives 0 with a zero gradient, not NaN.

    Args:
      losses: per-example losses, any shape.
      where: optional boolean mask broadcastable to ``losses``.
      weights: optional non-negative weights broadcastable to ``losses``.
      axis: axes to average over; ``None`` (default) averages everything.

    Returns:
      The mean, with ``axis`` removed (a scalar by default), dtype of ``losses``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> losses = jnp.array([1.0, 2.0, jnp.nan])
      >>> float(jl.masked_mean(losses, where=jnp.array([True, True, False])))
      1.5
      >>> float(jl.masked_mean(losses, where=jnp.zeros(3, bool)))
      0.0
    """
    fn = "masked_mean"
    arr = floating(losses, "losses", fn)
    x = upcast(arr)
    axes = None if axis is None else canonical_axes(axis, x.ndim, "losses", fn)
    w = jnp.ones_like(x) if weights is None else jnp.asarray(weights).astype(x.dtype)
    if where is not None:
        m = jnp.asarray(where)
        try:
            w = jnp.where(m, w, 0.0)
        except (ValueError, TypeError):
            raise ValueError(
                f"{fn}: `where` with shape {m.shape} does not broadcast to `losses` {x.shape}."
            ) from None
    try:
        w = jnp.broadcast_to(w, x.shape)
    except ValueError:
        raise ValueError(
            f"{fn}: `weights`/`where` of shape {w.shape} do not broadcast to `losses` {x.shape}."
        ) from None
    use = w != 0
    num = jnp.sum(jnp.where(use, w * jnp.where(use, x, 0.0), 0.0), axis=axes)
    den = jnp.sum(w, axis=axes)
    return safe_div(num, den).astype(arr.dtype)
