"""Metric-learning losses: triplet, contrastive, ArcFace, CosFace, GE2E.

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed*
loss, derived by hand: a tuple in argument order over the learned inputs (the
embeddings, the class centres, GE2E's ``w`` and ``b``). Distances use
double-``where`` square roots (or optax's ``eps`` inside the root), and
normalisations map a zero vector to zero, so coinciding pairs (``d = 0``) and
zero-norm embeddings give finite values and gradients.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import in_set, labels_in_range, register_checks
from ._core import (
    binary_inputs,
    canonical_axis,
    check_equal_shapes,
    closed_form_of,
    finite_number,
    floating,
    integer,
    real,
    unit,
    unit_backward,
    upcast,
)
from ._coupling import register_batch_coupled

__all__ = [
    "arcface_loss",
    "contrastive_loss",
    "cosface_loss",
    "cosine_embedding_loss",
    "ge2e_loss",
    "hinge_embedding_loss",
    "triplet_margin_loss",
]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. two learned inputs
_Triple = tuple[jax.Array, jax.Array, jax.Array]


# --- triplet margin loss ---------------------------------------------------------------


def _pnorm(diff: jax.Array, p: jax.Array, eps: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
    """``(Σ|diff|^p + eps)^(1/p)`` and its gradient w.r.t. ``diff``."""
    s = jnp.sum(jnp.abs(diff) ** p, axis=axis, keepdims=True) + eps
    pos = s > 0
    d = jnp.where(pos, jnp.where(pos, s, 1.0) ** (1.0 / p), 0.0)
    g = jnp.where(
        pos,
        jnp.where(pos, d, 1.0) ** (1.0 - p) * jnp.abs(diff) ** (p - 1.0) * jnp.sign(diff),
        0.0,
    )
    return jnp.squeeze(d, axis), g


def _triplet_parts(
    anchors: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    axis: int,
    norm_degree: ArrayLike,
    margin: ArrayLike,
    eps: ArrayLike,
    swap: bool,
    fn: str,
) -> tuple[jax.Array, _Triple]:
    """Returns (loss, (∂/∂a, ∂/∂p, ∂/∂n) of the summed loss), in the anchors' dtype."""
    a0 = floating(anchors, "anchors", fn)
    p0 = floating(positives, "positives", fn)
    n0 = floating(negatives, "negatives", fn)
    check_equal_shapes({"anchors": a0, "positives": p0, "negatives": n0}, fn)
    if a0.ndim < 1:
        raise ValueError(f"{fn}: `anchors` must be [..., dim]; got a scalar.")
    axis = canonical_axis(axis, a0.ndim, "anchors", fn)
    a = upcast(a0)
    p, n = p0.astype(a.dtype), n0.astype(a.dtype)
    deg = jnp.asarray(norm_degree, a.dtype)
    e = jnp.asarray(eps, a.dtype)
    d_pos, g_pos = _pnorm(a - p, deg, e, axis)
    d_neg, g_neg = _pnorm(a - n, deg, e, axis)
    use_swap = jnp.zeros(d_neg.shape, bool)
    g_swap = jnp.zeros_like(g_neg)
    if swap:
        d_swap, g_swap = _pnorm(p - n, deg, e, axis)
        use_swap = d_swap < d_neg
        d_neg = jnp.where(use_swap, d_swap, d_neg)
    raw = d_pos - d_neg + jnp.asarray(margin, a.dtype)
    loss = jnp.maximum(raw, 0.0)
    act = jnp.expand_dims((raw > 0).astype(a.dtype), axis)
    sw = jnp.expand_dims(use_swap, axis)
    g_n_part = jnp.where(sw, 0.0, g_neg)
    g_s_part = jnp.where(sw, g_swap, 0.0)
    ga = act * (g_pos - g_n_part)
    gp = act * (-g_pos - g_s_part)
    gn = act * (g_n_part + g_s_part)
    return loss.astype(a0.dtype), (ga.astype(a0.dtype), gp.astype(a0.dtype), gn.astype(a0.dtype))


def triplet_margin_loss(
    anchors: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    axis: int = -1,
    norm_degree: ArrayLike = 2,
    margin: ArrayLike = 1.0,
    eps: ArrayLike = 1e-6,
    *,
    swap: bool = False,
) -> jax.Array:
    r"""Triplet margin loss: the positive must be closer than the negative by ``margin``.

    .. math:: \ell(a, p, n) = \max(0,\ d(a, p) - d(a, n) + m),
       \quad d(u, v) = \Big(\sum_i |u_i - v_i|^q + \epsilon\Big)^{1/q}

    Same name, arguments and values as :func:`optax.losses.triplet_margin_loss` (with
    ``|·|`` in the norm, which optax omits; identical for the even default ``q = 2``),
    plus PyTorch's ``swap`` (``torch.nn.functional.triplet_margin_loss``): the distance
    swap of Balntas et al. uses ``min(d(a, n), d(p, n))``. ``ε`` inside the root keeps
    the gradient finite when a pair coincides.

    Args:
      anchors: ``[..., dim]``.
      positives: ``[..., dim]``, same shape.
      negatives: ``[..., dim]``, same shape.
      axis: the feature axis.
      norm_degree: ``q`` of the distance.
      margin: ``m``.
      eps: ``ε`` added inside the root.
      swap: use the positive-negative distance when it is smaller.

    Returns:
      Per-triplet loss ``[...]``, dtype of ``anchors``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a, p = jnp.array([[0.0, 0.0], [1.0, 1.0]]), jnp.array([[0.1, 0.1], [1.1, 1.1]])
      >>> n = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> jl.triplet_margin_loss(a, p, n).round(4).tolist()
      [0.1414, 0.1414]

    References:
      Balntas et al., `Learning local feature descriptors with triplets and shallow
      convolutional neural networks <https://bmva-archive.org.uk/bmvc/2016/papers/paper119/>`_,
      2016.
    """
    loss, _ = _triplet_parts(
        anchors, positives, negatives, axis, norm_degree, margin, eps, swap, "triplet_margin_loss"
    )
    return loss


@closed_form_of(triplet_margin_loss, _triplet_parts)
def _triplet_margin_loss_grad(_: jax.Array, grads: _Triple) -> _Triple:
    r"""``[ℓ > 0] (∇d(a,p) - ∇d(a,n), -∇d(a,p), ∇d(a,n))`` w.r.t. ``(a, p, n)``.

    ``∂d/∂u = d^{1-q} |u - v|^{q-1} sign(u - v)`` (``(u - v)/d`` for ``q = 2``); with
    ``swap`` and ``d(p, n) < d(a, n)`` the negative term moves to ``(p, n)``.
    """
    return grads


# --- contrastive loss --------------------------------------------------------------------


def _contrastive_parts(
    embeddings_a: ArrayLike, embeddings_b: ArrayLike, labels: ArrayLike, margin: ArrayLike, fn: str
) -> tuple[jax.Array, _Pair]:
    """Returns (loss, (∂/∂a, ∂/∂b) of the summed loss), in the dtype of ``embeddings_a``."""
    a0 = floating(embeddings_a, "embeddings_a", fn)
    b0 = floating(embeddings_b, "embeddings_b", fn)
    check_equal_shapes({"embeddings_a": a0, "embeddings_b": b0}, fn)
    if a0.ndim < 1:
        raise ValueError(f"{fn}: `embeddings_a` must be [..., dim]; got a scalar.")
    lab = real(labels, "labels", fn)
    if lab.shape != a0.shape[:-1]:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but the embeddings {a0.shape} need one "
            f"label per pair, shape {a0.shape[:-1]} (1 = similar, 0 = dissimilar)."
        )
    a = upcast(a0)
    diff = a - b0.astype(a.dtype)
    y = lab.astype(a.dtype)
    sq = jnp.sum(diff * diff, axis=-1)
    pos = sq > 0
    d = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)
    hinge = jnp.maximum(jnp.asarray(margin, a.dtype) - d, 0.0)
    loss = 0.5 * (y * sq + (1.0 - y) * hinge**2)
    # ∂/∂a: y diff - (1 - y) [m - d]_+ diff / d, the second term 0 at d = 0.
    coef = y - (1.0 - y) * hinge / jnp.where(pos, d, 1.0) * pos
    g = coef[..., None] * diff
    return loss.astype(a0.dtype), (g.astype(a0.dtype), (-g).astype(a0.dtype))


def contrastive_loss(
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
) -> jax.Array:
    r"""Contrastive (siamese) loss: pull similar pairs together, push others past ``margin``.

    .. math:: \ell(a, b, y) = \tfrac12 \big[\, y\, d^2 + (1 - y) \max(0, m - d)^2 \,\big],
       \quad d = \lVert a - b \rVert_2

    Hadsell, Chopra and LeCun (2006) with ``y = 1`` for similar pairs. ``d²`` is used
    directly and ``d`` is a double-``where`` root, so the value is exact and the gradient
    is finite (zero) when a pair coincides.

    Args:
      embeddings_a: ``[..., dim]``.
      embeddings_b: ``[..., dim]``, same shape.
      labels: ``[...]``: 1 for similar pairs, 0 for dissimilar ones (bool, int or float).
      margin: ``m``.

    Returns:
      Per-pair loss ``[...]``, dtype of ``embeddings_a``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a, b = jnp.array([[0.0, 0.0], [0.0, 0.0]]), jnp.array([[0.6, 0.8], [0.3, 0.4]])
      >>> jl.contrastive_loss(a, b, jnp.array([1, 0])).round(4).tolist()  # d = 1 and 0.5
      [0.5, 0.125]

    References:
      Hadsell, Chopra and LeCun, `Dimensionality Reduction by Learning an Invariant Mapping
      <https://doi.org/10.1109/CVPR.2006.100>`_, 2006.
    """
    loss, _ = _contrastive_parts(embeddings_a, embeddings_b, labels, margin, "contrastive_loss")
    return loss


@closed_form_of(contrastive_loss, _contrastive_parts)
def _contrastive_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    """``(c (a - b), -c (a - b))`` with ``c = y - (1 - y) [m - d]_+ / d`` (0 for ``d = 0``)."""
    return grads


# --- ArcFace and CosFace ------------------------------------------------------------------


def _margin_softmax(
    embeddings: ArrayLike,
    class_centers: ArrayLike,
    labels: ArrayLike,
    scale: ArrayLike,
    margin: float,
    arc: bool,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    """Returns (loss, (∂/∂embeddings, ∂/∂class_centers)), each in its input's dtype."""
    e0 = floating(embeddings, "embeddings", fn)
    w0 = floating(class_centers, "class_centers", fn)
    lab = integer(labels, "labels", fn)
    if w0.ndim != 2 or e0.ndim < 1 or e0.shape[-1] != w0.shape[1]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape} and `class_centers` {w0.shape}; "
            "expected embeddings [..., dim] and class_centers [num_classes, dim] (a "
            "PyTorch-style [dim, num_classes] weight needs `.T`)."
        )
    if lab.shape != e0.shape[:-1]:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape}; expected one integer class index per "
            f"embedding, shape {e0.shape[:-1]}."
        )
    e = upcast(e0)
    w = w0.astype(e.dtype)
    k = w.shape[0]
    s = jnp.asarray(scale, e.dtype)
    eh, ne = unit(e)
    wh, nw = unit(w)
    cos = eh @ wh.T  # [..., K]
    onehot = jax.nn.one_hot(lab, k, dtype=e.dtype)
    c_y = jnp.sum(cos * onehot, axis=-1)
    if arc:
        cm, sm = math.cos(margin), math.sin(margin)
        t = 1.0 - c_y * c_y
        pos = t > 0
        sin = jnp.where(pos, jnp.sqrt(jnp.where(pos, t, 1.0)), 0.0)
        fallback = c_y <= math.cos(math.pi - margin)
        phi = jnp.where(fallback, c_y - margin * sm, c_y * cm - sin * sm)
        dphi = jnp.where(
            fallback, 1.0, cm + jnp.where(pos, c_y / jnp.where(pos, sin, 1.0), 0.0) * sm
        )
    else:
        phi = c_y - margin
        dphi = jnp.ones_like(c_y)
    z = s * (cos + onehot * (phi - c_y)[..., None])
    m = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    lse = jnp.log(jnp.sum(jnp.exp(z - m), axis=-1, keepdims=True)) + m
    loss = lse[..., 0] - s * phi
    # ∂L/∂z = softmax(z) - e_y; z_j = s cos_j (j ≠ y), z_y = s φ(cos_y).
    delta = jnp.exp(z - lse) - onehot
    dcos = s * delta * (1.0 + onehot * (dphi[..., None] - 1.0))
    flat_dcos = dcos.reshape(-1, k)
    flat_eh = eh.reshape(-1, eh.shape[-1])
    g_eh = dcos @ wh
    g_wh = flat_dcos.T @ flat_eh
    valid = (lab >= 0) & (lab < k)
    loss = jnp.where(valid, loss, jnp.nan)
    g_e, g_w = unit_backward(g_eh, eh, ne), unit_backward(g_wh, wh, nw)
    return loss.astype(e0.dtype), (g_e.astype(e0.dtype), g_w.astype(w0.dtype))


def arcface_loss(
    embeddings: ArrayLike,
    class_centers: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 64.0,
    margin: float = 0.5,
) -> jax.Array:
    r"""ArcFace (additive angular margin) loss: softmax over ``s cos θ`` with ``θ_y + m``.

    .. math:: \ell = -\log \frac{e^{s\,\psi(\theta_y)}}{e^{s\,\psi(\theta_y)}
       + \sum_{j \neq y} e^{s \cos\theta_j}},
       \quad \psi(\theta) = \begin{cases} \cos(\theta + m) & \theta + m \le \pi \\
       \cos\theta - m \sin m & \text{otherwise} \end{cases}

    ``cos θ_j`` is the cosine between the normalised embedding and the normalised class
    centre ``j``; the fallback (InsightFace's, applied when ``θ ≥ π - m``) keeps the
    target logit monotonic in ``θ``. ``sin θ`` is a double-``where`` root and a zero-norm
    embedding or centre normalises to 0, so the loss stays finite there. Gradients flow
    to both the embeddings and the class centres.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(arcface_loss)`` raises instead.

    Args:
      embeddings: ``[..., dim]``.
      class_centers: ``[num_classes, dim]`` (learned).
      labels: integer class indices ``[...]``.
      scale: ``s``, the logit scale.
      margin: ``m`` in radians (a Python float).

    Returns:
      Per-embedding loss ``[...]``, dtype of ``embeddings``; NaN for a label outside
      ``[0, num_classes)`` (unchecked).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e, w = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # cos θ = (1, 0); ψ(0) = cos 0.5: log(1 + exp(-s cos 0.5)) with s = 1
      >>> jl.arcface_loss(e, w, jnp.array([0]), scale=1.0).round(4).tolist()
      [0.3477]

    References:
      Deng et al., `ArcFace: Additive Angular Margin Loss for Deep Face Recognition
      <https://arxiv.org/abs/1801.07698>`_, 2019.
    """
    loss, _ = _margin_softmax(
        embeddings, class_centers, labels, scale, margin, True, "arcface_loss"
    )
    return loss


@closed_form_of(arcface_loss, functools.partial(_margin_softmax, arc=True))
def _arcface_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""Through ``cos = ê Ŵᵀ``: ``∂L/∂cos_j = s (softmax(z) - e_y)_j``, times ``ψ'`` at ``y``.

    ``ψ'(cos) = cos m + cos θ sin m / sin θ`` (``1`` on the fallback branch); then
    ``∂/∂ê = (∂L/∂cos) Ŵ``, ``∂/∂Ŵ = (∂L/∂cos)ᵀ ê`` and ``∂/∂v = (g - v̂⟨v̂, g⟩)/‖v‖``.
    """
    return grads


def cosface_loss(
    embeddings: ArrayLike,
    class_centers: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 64.0,
    margin: float = 0.35,
) -> jax.Array:
    r"""CosFace (large margin cosine) loss: softmax over ``s cos θ`` with ``cos θ_y - m``.

    .. math:: \ell = -\log \frac{e^{s(\cos\theta_y - m)}}{e^{s(\cos\theta_y - m)}
       + \sum_{j \neq y} e^{s \cos\theta_j}}

    Cosines between the normalised embedding and the normalised class centres; zero-norm
    vectors normalise to 0. Gradients flow to both inputs.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(cosface_loss)`` raises instead.

    Args:
      embeddings: ``[..., dim]``.
      class_centers: ``[num_classes, dim]`` (learned).
      labels: integer class indices ``[...]``.
      scale: ``s``.
      margin: ``m``, subtracted from the target cosine.

    Returns:
      Per-embedding loss ``[...]``, dtype of ``embeddings``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e, w = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> jl.cosface_loss(e, w, jnp.array([0]), scale=1.0, margin=1.0).round(4).tolist()  # log 2
      [0.6931]

    References:
      Wang et al., `CosFace: Large Margin Cosine Loss for Deep Face Recognition
      <https://arxiv.org/abs/1801.09414>`_, 2018.
    """
    loss, _ = _margin_softmax(
        embeddings, class_centers, labels, scale, margin, False, "cosface_loss"
    )
    return loss


@closed_form_of(cosface_loss, functools.partial(_margin_softmax, arc=False))
def _cosface_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    """As ArcFace with ``ψ' = 1``: ``∂L/∂cos = s (softmax(z) - e_y)``, through the norms."""
    return grads


# --- GE2E --------------------------------------------------------------------------------


def _ge2e_parts(
    embeddings: ArrayLike, w: ArrayLike, b: ArrayLike, method: str, fn: str
) -> tuple[jax.Array, _Triple]:
    """Returns (loss, (∂/∂embeddings, ∂/∂w, ∂/∂b)), in the dtype of ``embeddings``."""
    e0 = floating(embeddings, "embeddings", fn)
    if e0.ndim != 3 or e0.shape[1] < 2:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape}; expected [speakers, utterances, "
            "dim] with at least 2 utterances per speaker (each centroid leaves one out)."
        )
    if method not in ("softmax", "contrast"):
        raise ValueError(f"{fn}: `method`={method!r}; expected 'softmax' or 'contrast'.")
    n_spk, m_utt, _ = e0.shape
    if method == "contrast" and n_spk < 2:
        raise ValueError(f"{fn}: method='contrast' needs at least 2 speakers, got {n_spk}.")
    e = upcast(e0)
    ww = real(w, "w", fn).astype(e.dtype)
    bb = real(b, "b", fn).astype(e.dtype)
    if ww.ndim or bb.ndim:
        raise ValueError(f"{fn}: `w` and `b` must be scalars, got shapes {ww.shape}, {bb.shape}.")
    total = jnp.sum(e, axis=1)  # [N, D]
    full = total / m_utt  # centroid of each speaker
    excl = (total[:, None, :] - e) / (m_utt - 1)  # [N, M, D]: own centroid without e_ji
    own = jnp.eye(n_spk, dtype=bool)[:, None, :, None]  # [N(j), 1, N(k), 1]
    v = jnp.where(own, excl[:, :, None, :], full[None, None, :, :])  # [N, M, N, D]
    eh, ne = unit(e)
    vh, nv = unit(v)
    cos = jnp.sum(eh[:, :, None, :] * vh, axis=-1)  # [N, M, N]
    # The softmax loss is invariant to b, so it is left out there (exact zero gradient).
    sim = ww * cos + (bb if method == "contrast" else 0.0)
    own3 = jnp.eye(n_spk, dtype=bool)[:, None, :]  # [N, 1, N]
    if method == "softmax":
        m = jax.lax.stop_gradient(jnp.max(sim, axis=-1, keepdims=True))
        lse = jnp.log(jnp.sum(jnp.exp(sim - m), axis=-1, keepdims=True)) + m
        target = jnp.sum(jnp.where(own3, sim, 0.0), axis=-1)
        loss = lse[..., 0] - target
        dsim = jnp.exp(sim - lse) - own3
    else:
        sig = jax.nn.sigmoid(sim)
        target = jnp.sum(jnp.where(own3, sig, 0.0), axis=-1)
        others = jnp.where(own3, -jnp.inf, sim)
        best = jnp.argmax(others, axis=-1)
        hard = jax.nn.one_hot(best, n_spk, dtype=e.dtype)
        loss = 1.0 - target + jnp.sum(hard * sig, axis=-1)
        dsig = sig * (1.0 - sig)
        dsim = dsig * (hard - own3)
    g_w = jnp.sum(dsim * cos)
    g_b = jnp.sum(dsim) if method == "contrast" else jnp.zeros((), e.dtype)
    gcos = ww * dsim
    g_eh = jnp.sum(gcos[..., None] * vh, axis=2)
    g_v = unit_backward(gcos[..., None] * eh[:, :, None, :], vh, nv)
    g_e = unit_backward(g_eh, eh, ne)
    # full centroids (k ≠ j): c_k = mean_m e_km
    g_full = jnp.sum(jnp.where(own, 0.0, g_v), axis=(0, 1))  # [N(k), D]
    g_e = g_e + g_full[:, None, :] / m_utt
    # own centroid without e_ji: (Σ_m e_jm - e_ji) / (M - 1)
    g_x = jnp.sum(jnp.where(own, g_v, 0.0), axis=2)  # [N, M, D]
    g_e = g_e + (jnp.sum(g_x, axis=1, keepdims=True) - g_x) / (m_utt - 1)
    return loss.astype(e0.dtype), (g_e.astype(e0.dtype), g_w.astype(e0.dtype), g_b.astype(e0.dtype))


def ge2e_loss(
    embeddings: ArrayLike,
    w: ArrayLike = 10.0,
    b: ArrayLike = -5.0,
    *,
    method: str = "softmax",
) -> jax.Array:
    r"""Generalized end-to-end (GE2E) speaker-verification loss, per utterance.

    .. math:: S_{ji,k} = w \cos(e_{ji}, c_k^{(-i)}) + b, \qquad
       \ell_{ji}^{\text{softmax}} = -S_{ji,j} + \log \sum_k e^{S_{ji,k}}, \qquad
       \ell_{ji}^{\text{contrast}} = 1 - \sigma(S_{ji,j}) + \max_{k \neq j} \sigma(S_{ji,k})

    ``c_k`` is the mean embedding of speaker ``k``; for the utterance's own speaker the
    centroid leaves the utterance out (``c_j^{(-i)}``), as in the paper. ``w`` and ``b``
    are learned (the paper keeps ``w > 0``, e.g. by clipping, and initialises them to
    10 and -5); they are positional-or-keyword so that they can be differentiated like
    the embeddings. Zero-norm embeddings and centroids normalise to 0.

    Args:
      embeddings: ``[speakers, utterances, dim]`` with at least 2 utterances.
      w: the similarity scale (scalar).
      b: the similarity bias (scalar; it cancels in the softmax method).
      method: ``"softmax"`` or ``"contrast"`` (at least 2 speakers).

    Returns:
      Per-utterance loss ``[speakers, utterances]``, dtype of ``embeddings``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
      >>> # S = (w + b, b) for every utterance: log(1 + e^{-w}) with w = 1
      >>> jl.ge2e_loss(e, w=1.0).round(4).tolist()
      [[0.3133, 0.3133], [0.3133, 0.3133]]

    References:
      Wan et al., `Generalized End-to-End Loss for Speaker Verification
      <https://arxiv.org/abs/1710.10467>`_, 2018.
    """
    loss, _ = _ge2e_parts(embeddings, w, b, method, "ge2e_loss")
    return loss


@closed_form_of(ge2e_loss, _ge2e_parts)
def _ge2e_loss_grad(_: jax.Array, grads: _Triple) -> _Triple:
    r"""``(∂/∂embeddings, ∂/∂w, ∂/∂b)`` from ``D = ∂L/∂S``.

    ``D = softmax_k(S) - e_j`` (softmax) or ``σ'(S)`` on the hardest other speaker minus
    ``σ'(S)`` on the own one (contrast); ``∂/∂w = Σ D cos``, ``∂/∂b = Σ D``; ``w D`` goes
    through the cosine to ``e_ji`` and to the centroids, each centroid handing ``1/M``
    (others) or ``1/(M - 1)`` (own, leave-one-out) to its utterances.
    """
    return grads


# --- PyTorch's embedding-pair losses ------------------------------------------------------


def _cosine_embedding(
    x1: ArrayLike,
    x2: ArrayLike,
    targets: ArrayLike,
    margin: ArrayLike,
    eps: ArrayLike,
    axis: int,
    fn: str,
) -> tuple[Any, ...]:
    """``(x1 as given, a, b, cos, ‖a‖² + ε, ‖b‖² + ε, t, m, ∂ℓ/∂cos, axis)``, keepdims on ``axis``."""
    finite_number(margin, "margin", fn)
    finite_number(eps, "eps", fn)
    a0 = floating(x1, "x1", fn)
    b0 = floating(x2, "x2", fn)
    check_equal_shapes({"x1": a0, "x2": b0}, fn)
    if a0.ndim < 1:
        raise ValueError(f"{fn}: `x1` must be [..., dim]; got a scalar. Pass vectors.")
    ax = canonical_axis(axis, a0.ndim, "x1", fn)
    t0 = real(targets, "targets", fn)
    batch = a0.shape[:ax] + a0.shape[ax + 1 :]
    if t0.shape != batch:
        raise ValueError(
            f"{fn}: `targets` has shape {t0.shape} but `x1` {a0.shape} with feature axis "
            f"{axis} needs one target (1 or -1) per pair, shape {batch}."
        )
    a = upcast(a0)
    b = b0.astype(a.dtype)
    e = jnp.asarray(eps, a.dtype)
    m1 = jnp.sum(a * a, axis=ax, keepdims=True) + e
    m2 = jnp.sum(b * b, axis=ax, keepdims=True) + e
    prod = m1 * m2
    pos = prod != 0  # only with eps = 0 and a zero vector: cosine 0, zero gradient
    cos = jnp.where(
        pos, jnp.sum(a * b, axis=ax, keepdims=True) / jnp.sqrt(jnp.where(pos, prod, 1.0)), 0.0
    )
    t = jnp.expand_dims(t0.astype(a.dtype), ax)
    m = jnp.asarray(margin, a.dtype)
    dcos = jnp.where(t == 1, -1.0, jnp.where(t == -1, (cos - m >= 0).astype(a.dtype), jnp.nan))
    return a0, a, b, cos, m1, m2, t, m, jnp.where(pos, dcos, 0.0), ax


def cosine_embedding_loss(
    x1: ArrayLike,
    x2: ArrayLike,
    targets: ArrayLike,
    *,
    margin: ArrayLike = 0.0,
    eps: ArrayLike = 1e-12,
    axis: int = -1,
) -> jax.Array:
    r"""PyTorch's cosine embedding loss: similar pairs aligned, dissimilar pairs apart.

    .. math:: \ell(x_1, x_2, y) = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
       \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases},
       \quad \cos = \frac{\langle x_1, x_2\rangle}
       {\sqrt{(\lVert x_1\rVert^2 + \epsilon)(\lVert x_2\rVert^2 + \epsilon)}}

    ``cosine_embedding_loss(x1, x2, y, margin=m)`` equals
    ``torch.nn.functional.cosine_embedding_loss(x1, x2, y, margin=m, reduction="none")``,
    including torch's ``ε = 1e-12`` added to each squared norm (so a zero vector has cosine
    0 and a finite gradient). Both inputs are learned: ``closed_form.cosine_embedding_loss``
    returns ``(∂/∂x1, ∂/∂x2)``. Unchecked, a target other than 1 or -1 gives NaN for its
    pair (torch gives 0 there); ``jaxlosses.checked(cosine_embedding_loss)`` raises. A NaN
    in either vector gives NaN for its pair.

    Args:
      x1: ``[..., D]`` first embeddings.
      x2: ``[..., D]`` second embeddings, same shape.
      targets: 1 (similar) or -1 (dissimilar) per pair, shape without ``axis``; integer
        targets are accepted.
      margin: the margin ``m`` for dissimilar pairs, a finite real (torch suggests
        ``[0, 0.5]``).
      eps: added to each squared norm (torch's constant).
      axis: the feature axis.

    Returns:
      Per-pair loss, shape ``x1.shape`` without ``axis``, dtype of ``x1``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x1, x2 = jnp.array([[1.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]])
      >>> jl.cosine_embedding_loss(x1, x2, jnp.array([1, -1]), margin=0.5).round(4).tolist()
      [1.0, 0.2071]

    References:
      PyTorch, `CosineEmbeddingLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.CosineEmbeddingLoss.html>`_.
    """
    a0, _, _, cos, _, _, t, m, _, ax = _cosine_embedding(
        x1, x2, targets, margin, eps, axis, "cosine_embedding_loss"
    )
    # A NaN cosine stays NaN in both branches; a target outside {-1, 1} gives NaN.
    loss = jnp.where(t == 1, 1.0 - cos, jnp.where(t == -1, _relu(cos - m), jnp.nan))
    return jnp.squeeze(loss, ax).astype(a0.dtype)


def _relu(z: jax.Array) -> jax.Array:
    """``max(0, z)`` that keeps NaN (``z < 0`` is false for it), with torch's ``clamp_min``
    derivative at the kink: 1 at ``z = 0`` (a zero vector with ``margin=0`` sits there)."""
    return jnp.where(z < 0, 0.0, z)


@closed_form_of(cosine_embedding_loss, _cosine_embedding)
def _cosine_embedding_loss_grad(
    a0: jax.Array,
    a: jax.Array,
    b: jax.Array,
    cos: jax.Array,
    m1: jax.Array,
    m2: jax.Array,
    t: jax.Array,
    m: jax.Array,
    dcos: jax.Array,
    ax: int,
) -> _Pair:
    r"""``ℓ'(cos) ∂cos``: ``∂cos/∂x1 = x2 / √(m1 m2) - cos x1 / m1`` (and symmetrically),
    ``ℓ' = -1`` for similar pairs, ``[cos >= m]`` for dissimilar ones (torch's side of the kink), ``mᵢ = ‖xᵢ‖² + ε``."""
    pos = m1 * m2 != 0
    d = jnp.sqrt(jnp.where(pos, m1 * m2, 1.0))
    ga = dcos * (b / d - cos * a / jnp.where(pos, m1, 1.0))
    gb = dcos * (a / d - cos * b / jnp.where(pos, m2, 1.0))
    return ga.astype(a0.dtype), gb.astype(a0.dtype)


def _hinge_embedding(
    inputs: ArrayLike, targets: ArrayLike, margin: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(inputs as given, x, y, margin)`` upcast."""
    finite_number(margin, "margin", fn)
    arr, x, y = binary_inputs(inputs, targets, ("inputs", "targets"), fn)
    return arr, x, y, jnp.asarray(margin, x.dtype)


def hinge_embedding_loss(
    inputs: ArrayLike, targets: ArrayLike, *, margin: ArrayLike = 1.0
) -> jax.Array:
    r"""PyTorch's hinge embedding loss, element-wise: ``x`` for similar pairs, a hinge on dissimilar ones.

    .. math:: \ell(x, y) = \begin{cases} x & y = 1 \\ \max(0,\ m - x) & y = -1 \end{cases}

    ``x`` is usually a distance (e.g. an L1 distance between two embeddings): similar pairs
    are pulled together, dissimilar ones pushed beyond ``m``.
    ``hinge_embedding_loss(x, y, margin=m)`` equals
    ``torch.nn.functional.hinge_embedding_loss(x, y, margin=m, reduction="none")`` for
    targets in ``{-1, 1}``; unchecked, another target gives NaN (torch adds both branches
    there), and ``jaxlosses.checked(hinge_embedding_loss)`` raises.

    Args:
      inputs: ``x``, any shape.
      targets: 1 or -1, same shape (or a scalar); integer targets are accepted.
      margin: the margin ``m``, a finite real.

    Returns:
      Element-wise loss, shape and dtype of ``inputs``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x, y = jnp.array([0.5, 0.25, 2.0]), jnp.array([1.0, -1.0, -1.0])
      >>> jl.hinge_embedding_loss(x, y).tolist()
      [0.5, 0.75, 0.0]

    References:
      PyTorch, `HingeEmbeddingLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.HingeEmbeddingLoss.html>`_.
    """
    arr, x, y, m = _hinge_embedding(inputs, targets, margin, "hinge_embedding_loss")
    out = jnp.where(y == 1, x, jnp.where(y == -1, _relu(m - x), jnp.nan))
    return out.astype(arr.dtype)


@closed_form_of(hinge_embedding_loss, _hinge_embedding)
def _hinge_embedding_loss_grad(
    arr: jax.Array, x: jax.Array, y: jax.Array, m: jax.Array
) -> jax.Array:
    """``1`` for ``y = 1``; ``-[x <= m]`` for ``y = -1`` (torch's side of the kink)."""
    g = jnp.where(y == 1, 1.0, jnp.where(y == -1, -(m - x >= 0).astype(x.dtype), 0.0))
    return g.astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(contrastive_loss, in_set("labels", (0.0, 1.0)))
register_checks(cosine_embedding_loss, in_set("targets", (-1.0, 1.0)))
register_checks(hinge_embedding_loss, in_set("targets", (-1.0, 1.0)))
register_checks(arcface_loss, labels_in_range("labels", "class_centers", axis=0))
register_checks(cosface_loss, labels_in_range("labels", "class_centers", axis=0))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(ge2e_loss, "speaker centroids and negatives over the whole batch")
