"""Proxy and pair-weighting metric-learning losses: Proxy-Anchor, ProxyNCA, Circle,
Sub-center ArcFace and AnglE.

The proxy losses learn one vector per class (a *proxy*, or ``sub_centers`` of them) next
to the embedding network, so their closed forms return a pair: the gradient of the
summed loss with respect to the embeddings and with respect to the proxies. Circle and
AnglE weigh the pairs of a batch. Cosines are taken between normalised vectors, and a
zero vector normalises to zero (cosine 0, a finite gradient).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import labels_in_range, register_checks
from ._core import (
    closed_form_of,
    finite_number,
    floating,
    hyperparameter,
    integer,
    one_label_per_embedding,
    unit,
    unit_backward,
    upcast,
)
from ._coupling import register_batch_coupled

__all__ = ["proxy_anchor_loss", "proxy_nca_loss"]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. two learned inputs


def _masked_lse(
    x: jax.Array, mask: jax.Array, axis: int, *, add_one: bool
) -> tuple[jax.Array, jax.Array]:
    """``log(Σ_{mask} e^x)`` (``log(1 + Σ ...)`` with ``add_one``) along ``axis``, and its
    gradient w.r.t. ``x`` (0 off the mask).

    The shift is the masked maximum (with ``add_one``, at least 0); a NaN on the mask
    reaches it and stays NaN. An empty set gives ``-inf`` (``0`` with ``add_one``) and a
    zero gradient.
    """
    xm = jnp.where(mask, x, -jnp.inf)
    top = jnp.max(xm, axis=axis, keepdims=True)
    if add_one:
        top = jnp.maximum(top, 0.0)
    else:
        top = jnp.where(jnp.any(mask, axis=axis, keepdims=True), top, 0.0)
    top = jax.lax.stop_gradient(top)
    ex = jnp.where(mask, jnp.exp(xm - top), 0.0)
    total = jnp.sum(ex, axis=axis, keepdims=True) + (jnp.exp(-top) if add_one else 0.0)
    nz = total != 0
    value = jnp.where(nz, jnp.log(jnp.where(nz, total, 1.0)), -jnp.inf) + top
    weights = jnp.where(nz, ex / jnp.where(nz, total, 1.0), 0.0)
    return jnp.squeeze(value, axis), weights


def _proxy_inputs(
    embeddings: ArrayLike, proxies: ArrayLike, labels: ArrayLike, fn: str, *, batch: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Validates ``(embeddings, proxies, labels)``: embeddings ``[batch, dim]`` (``batch``)
    or ``[..., dim]``, proxies ``[num_classes, dim]``, one integer label per embedding."""
    e0 = floating(embeddings, "embeddings", fn)
    p0 = floating(proxies, "proxies", fn)
    lab = integer(labels, "labels", fn)
    shape = "[batch, dim]" if batch else "[..., dim]"
    if p0.ndim != 2 or e0.ndim < 1 or (batch and e0.ndim != 2) or e0.shape[-1] != p0.shape[1]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape} and `proxies` {p0.shape}; expected "
            f"embeddings {shape} and proxies [num_classes, dim] (a PyTorch-style "
            "[dim, num_classes] weight needs `.T`)."
        )
    one_label_per_embedding(lab, e0, fn)
    return e0, p0, lab


# --- Proxy-Anchor ----------------------------------------------------------------------------


def _proxy_anchor_parts(
    embeddings: ArrayLike,
    proxies: ArrayLike,
    labels: ArrayLike,
    margin: ArrayLike,
    alpha: ArrayLike,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    """Returns (the scalar loss, (∂/∂embeddings, ∂/∂proxies))."""
    finite_number(margin, "margin", fn)
    hyperparameter(alpha, "alpha", fn, low=0.0, open_low=True, why="it scales the cosines.")
    e0, p0, lab = _proxy_inputs(embeddings, proxies, labels, fn, batch=True)
    e = upcast(e0)
    p = p0.astype(e.dtype)
    k = p.shape[0]
    a, m = jnp.asarray(alpha, e.dtype), jnp.asarray(margin, e.dtype)
    eh, ne = unit(e)
    ph, npx = unit(p)
    cos = eh @ ph.T  # [B, K]
    pos = lab[:, None] == jnp.arange(k)[None, :]
    l_pos, w_pos = _masked_lse(-a * (cos - m), pos, 0, add_one=True)  # [K]
    l_neg, w_neg = _masked_lse(a * (cos + m), ~pos, 0, add_one=True)
    n_with_pos = jnp.sum(jnp.any(pos, axis=0)).astype(e.dtype)
    den = jnp.maximum(n_with_pos, 1.0)  # no proxy with a positive: every term is 0
    loss = jnp.sum(l_pos) / den + jnp.sum(l_neg) / k
    valid = jnp.all((lab >= 0) & (lab < k))
    loss = jnp.where(valid, loss, jnp.nan)
    g_cos = a * (w_neg / k - w_pos / den)
    g_e = unit_backward(g_cos @ ph, eh, ne)
    g_p = unit_backward(g_cos.T @ eh, ph, npx)
    return loss.astype(e0.dtype), (g_e.astype(e0.dtype), g_p.astype(p0.dtype))


def proxy_anchor_loss(
    embeddings: ArrayLike,
    proxies: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 0.1,
    alpha: ArrayLike = 32.0,
) -> jax.Array:
    r"""Proxy-Anchor loss: each class proxy is an anchor for the batch's embeddings.

    .. math:: \mathcal L = \frac{1}{|P^+|} \sum_{p \in P^+} \log\Big(1 + \sum_{i \in X_p^+}
       e^{-\alpha (s_{ip} - \delta)}\Big) + \frac{1}{K} \sum_{p=1}^{K}
       \log\Big(1 + \sum_{i \in X_p^-} e^{\alpha (s_{ip} + \delta)}\Big)

    ``s_ip = cos(e_i, p_p)``; ``X_p^+`` are the embeddings labelled ``p``, ``X_p^-`` the
    others; ``P^+`` the proxies with at least one positive in the batch. Kim et al.
    (2020); the same value as pytorch-metric-learning's ``ProxyAnchorLoss`` (its
    ``DivisorReducer``: the positive terms divided by ``|P^+|``, the negative ones by
    ``K``), with its ``proxies`` parameter passed here as ``proxies``.

    The loss couples the batch: a proxy's terms pool every embedding of the batch, and
    ``|P^+|`` counts the classes present. So it returns one scalar (a documented exception
    to the per-example rule, like :func:`batch_all_triplet_loss`), and
    ``jaxlosses.parallel`` refuses it: compute it on the whole batch. Smooth (each
    log-sum-exp is shifted by its masked maximum); a zero-norm embedding or proxy
    normalises to 0.

    Unchecked, a label outside ``[0, K)`` makes the value NaN;
    ``jaxlosses.checked(proxy_anchor_loss)`` raises instead.

    Args:
      embeddings: ``[batch, dim]``.
      proxies: ``[num_classes, dim]``, one learned proxy per class.
      labels: integer class indices ``[batch]``.
      margin: ``δ``.
      alpha: ``α > 0``, the scale.

    Returns:
      A scalar in the dtype of ``embeddings``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e, p = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # each proxy: its positive at cos 1, its negative at cos 0 (alpha 1, margin 0)
      >>> # 2 (log(1 + e^-1) + log(1 + e^0)) / 2
      >>> round(float(jl.proxy_anchor_loss(e, p, jnp.array([0, 1]), margin=0.0, alpha=1.0)), 4)
      1.0064

    References:
      Kim et al., `Proxy Anchor Loss for Deep Metric Learning
      <https://arxiv.org/abs/2003.13911>`_, 2020.
    """
    loss, _ = _proxy_anchor_parts(embeddings, proxies, labels, margin, alpha, "proxy_anchor_loss")
    return loss


@closed_form_of(proxy_anchor_loss, _proxy_anchor_parts)
def _proxy_anchor_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``G = ∂L/∂s``: ``-α W⁺/|P⁺|`` on positives, ``α W⁻/K`` on negatives.

    ``W^±_ip`` are the softmax weights of proxy ``p``'s two log-sum-exps (with the 1);
    ``∂/∂ê = G p̂``, ``∂/∂p̂ = Gᵀ ê``, then ``∂/∂v = (g - v̂⟨v̂, g⟩)/‖v‖``.
    """
    return grads


# --- ProxyNCA --------------------------------------------------------------------------------


def _proxy_nca_parts(
    embeddings: ArrayLike, proxies: ArrayLike, labels: ArrayLike, scale: ArrayLike, fn: str
) -> tuple[jax.Array, _Pair]:
    """Returns (per-embedding loss, (∂/∂embeddings, ∂/∂proxies) of the summed loss)."""
    hyperparameter(scale, "scale", fn, low=0.0, open_low=True, why="it scales the distances.")
    e0, p0, lab = _proxy_inputs(embeddings, proxies, labels, fn, batch=False)
    e = upcast(e0)
    p = p0.astype(e.dtype)
    k, dim = p.shape
    s = jnp.asarray(scale, e.dtype)
    eh, ne = unit(e)
    ph, npx = unit(p)
    ee = jnp.sum(eh * eh, axis=-1, keepdims=True)  # 1, or 0 for a zero vector
    pp = jnp.sum(ph * ph, axis=-1).reshape((1,) * (eh.ndim - 1) + (k,))
    d = ee + pp - 2.0 * (eh @ ph.T)  # ‖ê - p̂_k‖², [..., K]
    z = -s * d
    top = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    lse = jnp.log(jnp.sum(jnp.exp(z - top), axis=-1, keepdims=True)) + top
    onehot = jax.nn.one_hot(lab, k, dtype=e.dtype)
    loss = lse[..., 0] - jnp.sum(z * onehot, axis=-1)
    loss = jnp.where((lab >= 0) & (lab < k), loss, jnp.nan)
    # ∂ℓ/∂d = -s (softmax(z) - e_y); ∂d/∂ê = 2 (ê - p̂_k), ∂d/∂p̂_k = 2 (p̂_k - ê)
    g_d = -s * (jnp.exp(z - lse) - onehot)
    flat_g = g_d.reshape(-1, k)
    flat_e = eh.reshape(-1, dim)
    g_eh = 2.0 * (eh * jnp.sum(g_d, axis=-1, keepdims=True) - g_d @ ph)
    g_ph = 2.0 * (ph * jnp.sum(flat_g, axis=0)[:, None] - flat_g.T @ flat_e)
    g_e = unit_backward(g_eh, eh, ne)
    g_p = unit_backward(g_ph, ph, npx)
    return loss.astype(e0.dtype), (g_e.astype(e0.dtype), g_p.astype(p0.dtype))


def proxy_nca_loss(
    embeddings: ArrayLike,
    proxies: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 1.0,
) -> jax.Array:
    r"""ProxyNCA loss: a softmax over the squared distances to one learned proxy per class.

    .. math:: \ell(e, y) = -\log \frac{e^{-s \lVert \hat e - \hat p_y \rVert^2}}
       {\sum_{k=1}^{K} e^{-s \lVert \hat e - \hat p_k \rVert^2}},
       \quad \hat v = v / \lVert v \rVert

    Movshovitz-Attias et al. (2017), with pytorch-metric-learning's conventions
    (``ProxyNCALoss``): embeddings and proxies are L2-normalised (its default
    ``LpDistance(power=2)``), the denominator runs over every proxy including the
    label's own, and ``scale`` is its ``softmax_scale`` (default 1). Its mean over the
    batch (``MeanReducer``) is ``jnp.mean`` of this loss; it drops examples whose
    probability underflows to 0, which this loss, in log space, never needs. Per
    embedding (the proxies are parameters, not other examples), batch-polymorphic. A
    zero-norm embedding or proxy normalises to 0.

    Unchecked, a label outside ``[0, K)`` gives NaN for its example;
    ``jaxlosses.checked(proxy_nca_loss)`` raises instead.

    Args:
      embeddings: ``[..., dim]``.
      proxies: ``[num_classes, dim]``, one learned proxy per class.
      labels: integer class indices ``[...]``.
      scale: ``s > 0``, the softmax scale (pml's ``softmax_scale``).

    Returns:
      Per-embedding loss ``[...]``, dtype of ``embeddings``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e, p = jnp.array([[1.0, 0.0]]), jnp.array([[2.0, 0.0], [0.0, 3.0]])
      >>> # squared distances 0 and 2 after normalising: log(1 + e^-2)
      >>> jl.proxy_nca_loss(e, p, jnp.array([0])).round(4).tolist()
      [0.1269]

    References:
      Movshovitz-Attias et al., `No Fuss Distance Metric Learning using Proxies
      <https://arxiv.org/abs/1703.07464>`_, 2017.
    """
    loss, _ = _proxy_nca_parts(embeddings, proxies, labels, scale, "proxy_nca_loss")
    return loss


@closed_form_of(proxy_nca_loss, _proxy_nca_parts)
def _proxy_nca_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``G = ∂ℓ/∂d = -s (softmax(-s d) - e_y)`` through ``d_k = ‖ê - p̂_k‖²``.

    ``∂/∂ê = 2 (ê Σ_k G_k - G p̂)``, ``∂/∂p̂_k = 2 (p̂_k Σ_i G_ik - Σ_i G_ik ê_i)``, then
    back through the normalisations.
    """
    return grads


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(proxy_anchor_loss, labels_in_range("labels", "proxies", axis=0))
register_checks(proxy_nca_loss, labels_in_range("labels", "proxies", axis=0))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    proxy_anchor_loss, "each proxy pools the whole batch; one scalar over the classes present"
)
