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
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import in_set, labels_in_range, register_checks
from ._core import (
    AxisName,
    binary_inputs,
    canonical_axis,
    check_equal_shapes,
    closed_form_of,
    finite_number,
    floating,
    gather_last,
    hyperparameter,
    integer,
    labelled_embeddings,
    one_label_per_embedding,
    real,
    same_label_pairs,
    unit,
    unit_backward,
    upcast,
)
from ._coupling import register_batch_coupled

__all__ = [
    "angle_loss",
    "arcface_loss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "batch_semi_hard_triplet_loss",
    "circle_loss",
    "contrastive_loss",
    "cosent_loss",
    "cosface_loss",
    "cosine_embedding_loss",
    "ge2e_loss",
    "hinge_embedding_loss",
    "multi_similarity_loss",
    "sub_center_arcface_loss",
    "triplet_margin_loss",
]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. two learned inputs
_Triple = tuple[jax.Array, jax.Array, jax.Array]


# --- triplet margin loss ---------------------------------------------------------------


def _pnorm(diff: jax.Array, p: jax.Array, eps: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
    """``(Σ|diff|^p + eps)^(1/p)`` and its gradient w.r.t. ``diff``."""
    s = jnp.sum(jnp.abs(diff) ** p, axis=axis, keepdims=True) + eps
    pos = s != 0  # only an exact zero distance: a NaN coordinate keeps the distance NaN
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
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    margin: ArrayLike,
    pos_margin: ArrayLike,
    distance: str,
    squared: bool,
    fn: str,
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
    if distance not in ("euclidean", "cosine"):
        raise ValueError(f"{fn}: `distance`={distance!r}; expected 'euclidean' or 'cosine'.")
    a = upcast(a0)
    b = b0.astype(a.dtype)
    y = lab.astype(a.dtype)
    if distance == "euclidean":
        diff = a - b
        sq = jnp.sum(diff * diff, axis=-1)
        nz = sq != 0  # NaN stays NaN (a `sq > 0` test would read it as d = 0)
        d = jnp.where(nz, jnp.sqrt(jnp.where(nz, sq, 1.0)), 0.0)
    else:
        ah, na = unit(a)
        bh, nb = unit(b)
        d = 1.0 - jnp.sum(ah * bh, axis=-1)
    near = d - jnp.asarray(pos_margin, a.dtype)  # > 0: a similar pair too far apart
    far = jnp.asarray(margin, a.dtype) - d  # > 0: a dissimilar pair too close
    if squared:
        loss = 0.5 * (y * jnp.maximum(near, 0.0) ** 2 + (1.0 - y) * jnp.maximum(far, 0.0) ** 2)
        dl_dd = y * jnp.maximum(near, 0.0) - (1.0 - y) * jnp.maximum(far, 0.0)
    else:
        loss = y * jnp.maximum(near, 0.0) + (1.0 - y) * jnp.maximum(far, 0.0)
        dl_dd = y * (near > 0) - (1.0 - y) * (far > 0)
    if distance == "euclidean":
        # ∂d/∂a = (a - b)/d, 0 at d = 0 (where a - b = 0 too)
        g = (jnp.where(nz, dl_dd / jnp.where(nz, d, 1.0), 0.0))[..., None] * diff
        ga, gb = g, -g
    else:  # ∂d/∂â = -b̂, ∂d/∂b̂ = -â, then through the normalisations
        ga = unit_backward(-dl_dd[..., None] * bh, ah, na)
        gb = unit_backward(-dl_dd[..., None] * ah, bh, nb)
    return loss.astype(a0.dtype), (ga.astype(a0.dtype), gb.astype(a0.dtype))


def contrastive_loss(
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    pos_margin: ArrayLike = 0.0,
    distance: str = "euclidean",
    squared: bool = True,
) -> jax.Array:
    r"""Contrastive (siamese) loss: pull similar pairs together, push others past ``margin``.

    .. math:: \ell(a, b, y) = \tfrac12 \big[\, y\, \max(0, d - m_+)^2
       + (1 - y) \max(0, m - d)^2 \,\big], \quad d = \lVert a - b \rVert_2

    Hadsell, Chopra and LeCun (2006) with ``y = 1`` for similar pairs (``m_+ = 0``, the
    default, gives their ``½ y d²``). ``d`` is a double-``where`` root, so the gradient
    is finite (zero) when a pair coincides. Keyword options:

    - ``distance="cosine"``: ``d = 1 - cos(a, b)`` (a zero vector normalises to 0, so
      ``d = 1``); with ``margin=0.5`` this is sentence-transformers' ``ContrastiveLoss``
      (its default metric), per pair.
    - ``pos_margin``: ``m_+``, the distance below which a similar pair costs nothing.
    - ``squared=False``: the hinges themselves, ``y max(0, d - m_+) + (1 - y) max(0, m - d)``
      (no ``½``): pytorch-metric-learning's ``ContrastiveLoss`` per pair, with its
      ``pos_margin``/``neg_margin`` as ``pos_margin``/``margin`` for a distance; for its
      ``CosineSimilarity`` (margins on ``s = cos``) pass ``distance="cosine"``,
      ``pos_margin = 1 - pos_margin_s`` and ``margin = 1 - neg_margin_s``. Its default
      reducer averages the non-zero losses of the similar and of the dissimilar pairs
      separately and adds the two means.

    For in-batch pairs from class labels (pytorch-metric-learning's default), index the
    embeddings: ``contrastive_loss(e[i], e[j], labels[i] == labels[j])`` over ``i ≠ j``.

    Args:
      embeddings_a: ``[..., dim]``.
      embeddings_b: ``[..., dim]``, same shape.
      labels: ``[...]``: 1 for similar pairs, 0 for dissimilar ones (bool, int or float).
      margin: ``m``, the distance dissimilar pairs are pushed past.
      pos_margin: ``m_+``, the distance similar pairs are pulled within.
      distance: ``"euclidean"`` or ``"cosine"`` (``1 - cos``).
      squared: square the hinges and halve (Hadsell et al.), or not (the plain hinges).

    Returns:
      Per-pair loss ``[...]``, dtype of ``embeddings_a``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a, b = jnp.array([[0.0, 0.0], [0.0, 0.0]]), jnp.array([[0.6, 0.8], [0.3, 0.4]])
      >>> jl.contrastive_loss(a, b, jnp.array([1, 0])).round(4).tolist()  # d = 1 and 0.5
      [0.5, 0.125]
      >>> a, b = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 1.0]])
      >>> # cosine distances 1 and 1 - 1/√2; hinges max(0, 1 - 0.2), max(0, 0.5 - 0.2929)
      >>> jl.contrastive_loss(
      ...     a, b, jnp.array([1, 0]), distance="cosine", pos_margin=0.2, margin=0.5, squared=False
      ... ).round(4).tolist()
      [0.8, 0.2071]

    References:
      Hadsell, Chopra and LeCun, `Dimensionality Reduction by Learning an Invariant Mapping
      <https://doi.org/10.1109/CVPR.2006.100>`_, 2006.
    """
    loss, _ = _contrastive_parts(
        embeddings_a,
        embeddings_b,
        labels,
        margin,
        pos_margin,
        distance,
        squared,
        "contrastive_loss",
    )
    return loss


@closed_form_of(contrastive_loss, _contrastive_parts)
def _contrastive_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``∂ℓ/∂d`` times ``∂d/∂(a, b)``.

    ``∂ℓ/∂d = y [d - m_+]_+ - (1 - y) [m - d]_+`` (squared) or ``y [d > m_+] - (1 - y)
    [d < m]`` (plain hinges); euclidean ``∂d/∂a = -∂d/∂b = (a - b)/d`` (0 at ``d = 0``);
    cosine ``∂d/∂â = -b̂``, ``∂d/∂b̂ = -â``, then ``∂/∂v = (g - v̂⟨v̂, g⟩)/‖v‖``.
    """
    return grads


# --- ArcFace and CosFace ------------------------------------------------------------------


def _margin_head(
    cos: jax.Array, lab: jax.Array, s: jax.Array, margin: float, arc: bool
) -> tuple[jax.Array, jax.Array]:
    """The margin softmax over class cosines ``[..., K]``: (loss, ∂loss/∂cos).

    NaN loss for a label outside ``[0, K)``.
    """
    k = cos.shape[-1]
    onehot = jax.nn.one_hot(lab, k, dtype=cos.dtype)
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
    valid = (lab >= 0) & (lab < k)
    return jnp.where(valid, loss, jnp.nan), dcos


def _class_head_inputs(
    embeddings: ArrayLike, class_centers: ArrayLike, labels: ArrayLike, fn: str, layout: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Checked (embeddings, class_centers, labels) of a margin-softmax head whose centres
    have the shape ``layout`` describes (its bracket's length is their rank), last axis
    ``dim``."""
    e0 = floating(embeddings, "embeddings", fn)
    w0 = floating(class_centers, "class_centers", fn)
    lab = integer(labels, "labels", fn)
    rank = layout[: layout.index("]")].count(",") + 1
    if w0.ndim != rank or e0.ndim < 1 or e0.shape[-1] != w0.shape[-1]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape} and `class_centers` {w0.shape}; "
            f"expected embeddings [..., dim] and class_centers {layout}."
        )
    one_label_per_embedding(lab, e0, fn)
    return e0, w0, lab


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
    e0, w0, lab = _class_head_inputs(
        embeddings,
        class_centers,
        labels,
        fn,
        "[num_classes, dim] (a PyTorch-style [dim, num_classes] weight needs `.T`)",
    )
    e = upcast(e0)
    w = w0.astype(e.dtype)
    k = w.shape[0]
    s = jnp.asarray(scale, e.dtype)
    eh, ne = unit(e)
    wh, nw = unit(w)
    cos = eh @ wh.T  # [..., K]
    loss, dcos = _margin_head(cos, lab, s, margin, arc)
    flat_dcos = dcos.reshape(-1, k)
    flat_eh = eh.reshape(-1, eh.shape[-1])
    g_eh = dcos @ wh
    g_wh = flat_dcos.T @ flat_eh
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


def _sub_center_parts(
    embeddings: ArrayLike,
    class_centers: ArrayLike,
    labels: ArrayLike,
    scale: ArrayLike,
    margin: float,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    """Returns (loss, (∂/∂embeddings, ∂/∂class_centers)), each in its input's dtype."""
    e0, w0, lab = _class_head_inputs(
        embeddings,
        class_centers,
        labels,
        fn,
        "[num_classes, sub_centers, dim] "
        "(pytorch-metric-learning's W [dim, num_classes * sub_centers] is "
        "`W.T.reshape(num_classes, sub_centers, dim)`)",
    )
    e = upcast(e0)
    w = w0.astype(e.dtype)
    n_cls, n_sub, dim = w.shape
    eh, ne = unit(e)
    wh, nw = unit(w)
    flat_wh = wh.reshape(n_cls * n_sub, dim)
    cos_all = (eh @ flat_wh.T).reshape(*e.shape[:-1], n_cls, n_sub)
    # the nearest sub-centre of each class, chosen once (the first of equal cosines; a NaN
    # cosine is chosen, so it stays NaN) so that jax.grad and the closed form agree at ties
    best = jax.lax.stop_gradient(jnp.argmax(cos_all, axis=-1))
    cos = jnp.take_along_axis(cos_all, best[..., None], axis=-1)[..., 0]
    loss, dcos = _margin_head(cos, lab, jnp.asarray(scale, e.dtype), margin, True)
    dcos_all = dcos[..., None] * jax.nn.one_hot(best, n_sub, dtype=e.dtype)  # [..., C, K]
    flat_dcos = dcos_all.reshape(-1, n_cls * n_sub)
    g_eh = flat_dcos @ flat_wh
    g_wh = (flat_dcos.T @ eh.reshape(-1, dim)).reshape(w.shape)
    g_e = unit_backward(g_eh.reshape(e.shape), eh, ne)
    g_w = unit_backward(g_wh, wh, nw)
    return loss.astype(e0.dtype), (g_e.astype(e0.dtype), g_w.astype(w0.dtype))


def sub_center_arcface_loss(
    embeddings: ArrayLike,
    class_centers: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 64.0,
    margin: float = 0.5,
) -> jax.Array:
    r"""Sub-center ArcFace: ArcFace on the nearest of ``K`` sub-centres of each class.

    .. math:: \cos\theta_j = \max_{k} \cos(e, w_{jk}), \qquad
       \ell = -\log \frac{e^{s\,\psi(\theta_y)}}{e^{s\,\psi(\theta_y)}
       + \sum_{j \neq y} e^{s \cos\theta_j}}

    with :func:`arcface_loss`'s additive angular margin ``ψ(θ) = cos(θ + m)`` (and its
    fallback ``cos θ - m sin m`` for ``θ ≥ π - m``). Each class has ``K`` learned
    centres; a noisy example can settle on a sub-centre of its own, so the dominant one
    stays clean (Deng et al. 2020). ``K = 1`` is :func:`arcface_loss`. The same value
    as pytorch-metric-learning's ``SubCenterArcFaceLoss`` per example (its ``margin`` in
    degrees, ``28.6 ≈ 0.5`` rad; its ``W`` of shape ``[dim, num_classes * K]`` is our
    ``W.T.reshape(num_classes, K, dim)``; its scalar is the mean).

    The max over sub-centres is piecewise: the gradient goes to the chosen (nearest)
    sub-centre only, and the closed form is exact away from ties (two sub-centres of a
    class at the same cosine); at a tie both pick the first. Zero-norm vectors normalise
    to 0. Unchecked, a label outside ``[0, num_classes)`` gives a NaN loss for its
    example; ``jaxlosses.checked(sub_center_arcface_loss)`` raises instead.

    Args:
      embeddings: ``[..., dim]``.
      class_centers: ``[num_classes, sub_centers, dim]`` (learned).
      labels: integer class indices ``[...]``.
      scale: ``s``, the logit scale.
      margin: ``m`` in radians (a Python float).

    Returns:
      Per-embedding loss ``[...]``, dtype of ``embeddings``; NaN for a label outside
      ``[0, num_classes)`` (unchecked).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[1.0, 0.0]])
      >>> w = jnp.array([[[0.0, 1.0], [1.0, 0.0]], [[0.0, -1.0], [-1.0, 0.0]]])  # 2 x 2 x 2
      >>> # class 0's nearest sub-centre has cos 1, class 1's cos 0: as arcface_loss's example
      >>> jl.sub_center_arcface_loss(e, w, jnp.array([0]), scale=1.0).round(4).tolist()
      [0.3477]

    References:
      Deng et al., `Sub-center ArcFace: Boosting Face Recognition by Large-Scale Noisy Web
      Faces <https://www.ecva.net/papers/eccv_2020/papers_ECCV/papers/123560715.pdf>`_, 2020.
    """
    loss, _ = _sub_center_parts(
        embeddings, class_centers, labels, scale, margin, "sub_center_arcface_loss"
    )
    return loss


@closed_form_of(sub_center_arcface_loss, _sub_center_parts)
def _sub_center_arcface_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""As :func:`_arcface_loss_grad`, with ``∂L/∂cos_j`` sent to class ``j``'s chosen sub-centre.

    ``∂L/∂cos_{jk} = ∂L/∂cos_j [k = argmax_k cos_{jk}]``; then ``∂/∂ê = Σ_{jk} ∂L/∂cos_{jk}
    ŵ_{jk}``, ``∂/∂ŵ_{jk} = Σ_n ∂L_n/∂cos_{jk} ê_n``, through the normalisations.
    """
    return grads


# --- GE2E --------------------------------------------------------------------------------


def _ge2e_parts(
    embeddings: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    method: str,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, _Triple]:
    """Returns (loss, (∂/∂embeddings, ∂/∂w, ∂/∂b)), in the dtype of ``embeddings``.

    With ``axis_name`` this device holds some speakers; every device's centroids are
    gathered, and the centroid gradients summed back to the speakers' devices."""
    e0 = floating(embeddings, "embeddings", fn)
    if e0.ndim != 3 or e0.shape[1] < 2:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape}; expected [speakers, utterances, "
            "dim] with at least 2 utterances per speaker (each centroid leaves one out)."
        )
    if method not in ("softmax", "contrast"):
        raise ValueError(f"{fn}: `method`={method!r}; expected 'softmax' or 'contrast'.")
    n_loc, m_utt, _ = e0.shape
    n_dev = 1 if axis_name is None else jax.lax.axis_size(axis_name)
    n_spk = n_loc * n_dev  # speakers over every device
    if method == "contrast" and n_spk < 2:
        raise ValueError(f"{fn}: method='contrast' needs at least 2 speakers, got {n_spk}.")
    e = upcast(e0)
    ww = real(w, "w", fn).astype(e.dtype)
    bb = real(b, "b", fn).astype(e.dtype)
    if ww.ndim or bb.ndim:
        raise ValueError(f"{fn}: `w` and `b` must be scalars, got shapes {ww.shape}, {bb.shape}.")
    total = jnp.sum(e, axis=1)  # [n, D]: this device's speakers
    full = total / m_utt  # centroid of each speaker
    offset: int | jax.Array = 0
    if axis_name is not None:  # every device's centroids: [N, D]
        full = jax.lax.all_gather(full, axis_name, axis=0, tiled=True)
        offset = jax.lax.axis_index(axis_name) * n_loc
    excl = (total[:, None, :] - e) / (m_utt - 1)  # [n, M, D]: own centroid without e_ji
    own2 = jnp.arange(n_spk)[None, :] == offset + jnp.arange(n_loc)[:, None]  # [n(j), N(k)]
    own = own2[:, None, :, None]  # [n, 1, N, 1]
    v = jnp.where(own, excl[:, :, None, :], full[None, None, :, :])  # [n, M, N, D]
    eh, ne = unit(e)
    vh, nv = unit(v)
    cos = jnp.sum(eh[:, :, None, :] * vh, axis=-1)  # [N, M, N]
    # The softmax loss is invariant to b, so it is left out there (exact zero gradient).
    sim = ww * cos + (bb if method == "contrast" else 0.0)
    own3 = own2[:, None, :]  # [n, 1, N]
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
    if axis_name is not None:  # replicated scalars: the global gradient on every device
        g_w, g_b = jax.lax.psum(g_w, axis_name), jax.lax.psum(g_b, axis_name)
    gcos = ww * dsim
    g_eh = jnp.sum(gcos[..., None] * vh, axis=2)
    g_v = unit_backward(gcos[..., None] * eh[:, :, None, :], vh, nv)
    g_e = unit_backward(g_eh, eh, ne)
    # full centroids (k ≠ j): c_k = mean_m e_km
    g_full = jnp.sum(jnp.where(own, 0.0, g_v), axis=(0, 1))  # [N(k), D]
    if axis_name is not None:  # every device's utterances reach these centroids: sum, keep ours
        g_full = jax.lax.psum_scatter(g_full, axis_name, scatter_dimension=0, tiled=True)
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
    axis_name: AxisName | None = None,
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
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        speakers are split over: every device's speaker centroids are gathered, so each
        utterance is compared with every speaker, and the loss and its gradients equal
        those of the global batch on one device; the closed form's ``∂/∂w``, ``∂/∂b``
        are then the global ones on every device.

    Returns:
      Per-utterance loss ``[speakers, utterances]`` (this device's speakers with
      ``axis_name``), dtype of ``embeddings``.

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
    loss, _ = _ge2e_parts(embeddings, w, b, method, axis_name, "ge2e_loss")
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


# --- triplet losses mined from the labels of a batch ---------------------------------------

_DISTANCES = ("euclidean", "squared_euclidean", "cosine")


def _pairwise(
    embeddings: jax.Array, distance: str, fn: str
) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """All pairwise distances ``D [B, B]`` (diagonal 0) and the pull-back ``∂L/∂D -> ∂L/∂e``.

    Euclidean distances come from the Gram matrix, ``‖e_i‖² + ‖e_j‖² - 2⟨e_i, e_j⟩``
    clamped at 0 with an exact zero diagonal, and a double-``where`` root: ``d = 0`` has
    a zero gradient, not an infinite one. Only an exact zero is floored, so a NaN stays
    NaN. Cosine distances are ``1 - cos`` of normalised rows (a zero row normalises to 0).
    """
    if distance not in _DISTANCES:
        raise ValueError(f"{fn}: `distance`={distance!r}; expected one of {_DISTANCES}.")
    e = embeddings
    eye = jnp.eye(e.shape[0], dtype=bool)
    if distance == "cosine":
        eh, ne = unit(e)
        d = jnp.where(eye, 0.0, 1.0 - eh @ eh.T)

        def back_cos(w: jax.Array) -> jax.Array:
            return unit_backward(-((w + w.T) @ eh), eh, ne)

        return d, back_cos
    sq_norm = jnp.sum(e * e, axis=1)
    sq = jnp.maximum(sq_norm[:, None] + sq_norm[None, :] - 2.0 * (e @ e.T), 0.0)
    sq = jnp.where(eye, 0.0, sq)
    if distance == "squared_euclidean":
        d, h_of = sq, lambda w: w
    else:
        nz = sq != 0  # NaN stays NaN (a `sq > 0` test would floor it to 0)
        d = jnp.where(nz, jnp.sqrt(jnp.where(nz, sq, 1.0)), 0.0)
        h_of = lambda w: jnp.where(nz, w / (2.0 * jnp.where(nz, d, 1.0)), 0.0)  # noqa: E731

    def back_sq(w: jax.Array) -> jax.Array:
        # ∂sq_ij/∂e_i = 2 (e_i - e_j): with H = ∂L/∂sq, ∂L/∂e = 2 (diag((H + Hᵀ) 1) - (H + Hᵀ)) e
        h = h_of(w)
        hs = h + h.T
        return 2.0 * (jnp.sum(hs, axis=1, keepdims=True) * e - hs @ e)

    return d, back_sq


def _mined_setup(
    embeddings: ArrayLike, labels: ArrayLike, margin: ArrayLike, distance: str, fn: str
) -> tuple[jax.Array, jax.Array, Callable[[jax.Array], jax.Array], jax.Array, jax.Array, jax.Array]:
    """``(e0, D, pull-back, positives [B, B], negatives [B, B], margin)``."""
    e0, lab = labelled_embeddings(embeddings, labels, fn)
    e = upcast(e0)
    d, back = _pairwise(e, distance, fn)
    same, pos = same_label_pairs(lab)
    return e0, d, back, pos, ~same, jnp.asarray(margin, e.dtype)


def _poison(d: jax.Array, take_part: jax.Array) -> jax.Array:
    """0 per row, NaN where a distance that takes part is NaN (or inf): selections by
    comparison (``d_an > d_ap``) would otherwise skip it silently. No gradient."""
    return jax.lax.stop_gradient(0.0 * jnp.sum(jnp.where(take_part, d, 0.0), axis=1))


def _batch_hard_parts(
    embeddings: ArrayLike, labels: ArrayLike, margin: ArrayLike, distance: str, fn: str
) -> tuple[jax.Array, jax.Array]:
    """Returns (per-anchor loss, ∂/∂embeddings of the summed loss), dtype of ``embeddings``."""
    e0, d, back, pos, neg, m = _mined_setup(embeddings, labels, margin, distance, fn)
    has = jnp.any(pos, axis=1) & jnp.any(neg, axis=1)
    # argmax/argmin pick a NaN distance when there is one, so NaN reaches the loss
    hardest_p = jnp.argmax(jnp.where(pos, d, -jnp.inf), axis=1)
    hardest_n = jnp.argmin(jnp.where(neg, d, jnp.inf), axis=1)
    raw = gather_last(d, hardest_p) - gather_last(d, hardest_n) + m
    loss = jnp.where(has, jnp.maximum(raw, 0.0), 0.0)
    act = (has & (raw > 0)).astype(d.dtype)[:, None]
    n = d.shape[0]
    w = act * (
        jax.nn.one_hot(hardest_p, n, dtype=d.dtype) - jax.nn.one_hot(hardest_n, n, dtype=d.dtype)
    )
    return loss.astype(e0.dtype), back(w).astype(e0.dtype)


def batch_hard_triplet_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    distance: str = "euclidean",
) -> jax.Array:
    r"""Batch-hard triplet loss: each anchor's farthest positive against its nearest negative.

    .. math:: \ell_i = \max\Big(0,\ \max_{p \in P(i)} d(e_i, e_p)
       - \min_{n \in N(i)} d(e_i, e_n) + m\Big)

    ``P(i)`` holds the other examples with anchor ``i``'s label and ``N(i)`` those with
    another label (Hermans, Beyer and Leibe's "batch hard" mining, inside the batch). An
    anchor without a positive or without a negative has no triplet: it gives 0 with a
    zero gradient. The mean over anchors is sentence-transformers'
    ``BatchHardTripletLoss`` when every anchor has both (it scores an anchor without a
    positive ``max(0, m - min_n d)``); the mean over anchors with a non-zero loss
    (``masked_mean(loss, where=loss > 0)``) is pytorch-metric-learning's
    ``TripletMarginLoss`` with a ``BatchHardMiner``.

    The maximum and minimum are selections: the closed form is the gradient of the
    selected triplet, exact away from ties (at a tie the loss's ``jax.grad`` follows
    the same first-index choice).

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      margin: ``m``.
      distance: ``"euclidean"`` (``‖e_i - e_j‖``, a double-``where`` root with a zero
        gradient at ``d = 0``), ``"squared_euclidean"`` or ``"cosine"`` (``1 - cos``).

    Returns:
      Per-anchor loss ``[batch]``, dtype of ``embeddings``. It couples the batch: each
      anchor's loss depends on the other examples (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
      >>> # anchors 0, 1: positive at 1, nearest negative at 2: max(0, 1 - 2 + 1.5)
      >>> jl.batch_hard_triplet_loss(e, jnp.array([0, 0, 1, 2]), margin=1.5).tolist()
      [0.5, 0.5, 0.0, 0.0]

    References:
      Hermans, Beyer and Leibe, `In Defense of the Triplet Loss for Person
      Re-Identification <https://arxiv.org/abs/1703.07737>`_, 2017.
    """
    loss, _ = _batch_hard_parts(embeddings, labels, margin, distance, "batch_hard_triplet_loss")
    return loss


@closed_form_of(batch_hard_triplet_loss, _batch_hard_parts)
def _batch_hard_triplet_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``W = ∂L/∂D``: ``+1`` at ``(i, p*_i)`` and ``-1`` at ``(i, n*_i)`` for active anchors.

    Then through the distances: ``∂d_ij/∂e_i = (e_i - e_j)/d_ij`` (euclidean, 0 at
    ``d = 0``), ``2 (e_i - e_j)`` (squared), ``-ê_j`` back through ``ê = e/‖e‖`` (cosine),
    and symmetrically for ``e_j``. Valid away from ties of the max/min.
    """
    return g


def _semi_hard_parts(
    embeddings: ArrayLike, labels: ArrayLike, margin: ArrayLike, distance: str, fn: str
) -> tuple[jax.Array, jax.Array]:
    """Returns (per-anchor loss, ∂/∂embeddings of the summed loss), dtype of ``embeddings``."""
    e0, d, back, pos, neg, m = _mined_setup(embeddings, labels, margin, distance, fn)
    n = d.shape[0]
    has_n = jnp.any(neg, axis=1)
    n_pos = jnp.sum(pos, axis=1)
    has = (n_pos > 0) & has_n
    # [anchor i, positive p, candidate k]: a negative farther than the positive
    farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])
    nearest_farther = jnp.argmin(jnp.where(farther, d[:, None, :], jnp.inf), axis=2)
    farthest = jnp.argmax(jnp.where(neg, d, -jnp.inf), axis=1)  # when none is farther
    chosen = jnp.where(jnp.any(farther, axis=2), nearest_farther, farthest[:, None])
    raw = m + d - jnp.take_along_axis(d, chosen, axis=1)  # [i, p]
    use = pos & has_n[:, None]
    count = jnp.maximum(n_pos, 1).astype(d.dtype)
    total = jnp.sum(jnp.where(use, jnp.maximum(raw, 0.0), 0.0), axis=1)
    loss = jnp.where(has, total / count + _poison(d, pos | neg), 0.0)
    # ∂ℓ_i/∂D: +1/|P(i)| at (i, p), -1/|P(i)| at (i, chosen(i, p)), for active pairs
    w_pair = jnp.where(use & (raw > 0), 1.0 / count[:, None], 0.0)
    rows = jnp.broadcast_to(jnp.arange(n)[:, None], (n, n))
    w = w_pair.at[rows, chosen].add(-w_pair)
    return loss.astype(e0.dtype), back(w).astype(e0.dtype)


def batch_semi_hard_triplet_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    distance: str = "euclidean",
) -> jax.Array:
    r"""Semi-hard triplet loss (FaceNet): each positive pair against its semi-hard negative.

    .. math:: \ell_i = \frac{1}{|P(i)|} \sum_{p \in P(i)}
       \max\big(0,\ d(e_i, e_p) - d(e_i, e_{n^*(i, p)}) + m\big),
       \quad n^*(i, p) = \operatorname*{arg\,min}_{n \in N(i):\ d_{in} > d_{ip}} d_{in}

    For each positive pair ``(i, p)`` the negative is the nearest one *farther* than the
    positive (semi-hard); when no negative is farther, the farthest negative. These are
    TensorFlow Addons' ``triplet_semihard_loss`` and sentence-transformers'
    ``BatchSemiHardTripletLoss``, whose scalar is the mean over all positive pairs:
    ``masked_mean(loss, weights=n_pos)`` with ``n_pos`` the number of positives of each
    anchor (the plain mean when every class has as many examples, P×K batches). An
    anchor without a positive or without a negative gives 0 with a zero gradient (the
    peers score a lone class against the anchor itself, ``d = 0``).

    The selection is piecewise constant: the closed form holds the chosen negatives
    fixed, exact away from ties (equal distances).

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      margin: ``m``.
      distance: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"`` (``1 - cos``);
        see :func:`batch_hard_triplet_loss`.

    Returns:
      Per-anchor loss ``[batch]`` (the mean over the anchor's positives), dtype of
      ``embeddings``. It couples the batch (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-0.5, 0.0]])
      >>> # positive at 1; anchor 0's negatives at 2 and 0.5 (only 2 is farther), anchor
      >>> # 1's at √5 and 1.5 (the nearer, 1.5, is chosen); anchors 2, 3 have no positive
      >>> jl.batch_semi_hard_triplet_loss(e, jnp.array([0, 0, 1, 2]), margin=1.5).tolist()
      [0.5, 1.0, 0.0, 0.0]

    References:
      Schroff, Kalenichenko and Philbin, `FaceNet: A Unified Embedding for Face
      Recognition and Clustering <https://arxiv.org/abs/1503.03832>`_, 2015.
    """
    loss, _ = _semi_hard_parts(embeddings, labels, margin, distance, "batch_semi_hard_triplet_loss")
    return loss


@closed_form_of(batch_semi_hard_triplet_loss, _semi_hard_parts)
def _batch_semi_hard_triplet_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``W = ∂L/∂D``: ``±1/|P(i)|`` at ``(i, p)`` and ``(i, n*(i, p))`` for active pairs.

    Then through the distances as in :func:`_batch_hard_triplet_loss_grad`; the chosen
    negatives are held fixed (valid away from ties).
    """
    return g


def _batch_all_parts(
    embeddings: ArrayLike, labels: ArrayLike, margin: ArrayLike, distance: str, fn: str
) -> tuple[jax.Array, jax.Array]:
    """Returns (the scalar loss, ∂/∂embeddings), dtype of ``embeddings``."""
    e0, d, back, pos, neg, m = _mined_setup(embeddings, labels, margin, distance, fn)
    valid = pos[:, :, None] & neg[:, None, :]  # [anchor, positive, negative]
    raw = d[:, :, None] - d[:, None, :] + m
    act = valid & (raw > 0)
    count = jnp.sum(act).astype(d.dtype)
    # NaN passes through the max and the sum; no triplet gives 0/1 = 0 (not a safe_div,
    # which would turn a NaN sum over no active triplet into 0)
    loss = jnp.sum(jnp.where(valid, jnp.maximum(raw, 0.0), 0.0)) / jnp.maximum(count, 1.0)
    a = act.astype(d.dtype) / jnp.maximum(count, 1.0)
    w = jnp.sum(a, axis=2) - jnp.sum(a, axis=1)  # +1 at (i, p), -1 at (i, n)
    return loss.astype(e0.dtype), back(w).astype(e0.dtype)


def batch_all_triplet_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    distance: str = "euclidean",
) -> jax.Array:
    r"""Batch-all triplet loss: every valid triplet of the batch, averaged over active ones.

    .. math:: \mathcal L = \frac{1}{|A|} \sum_{i}\sum_{p \in P(i)}\sum_{n \in N(i)}
       \max\big(0,\ d(e_i, e_p) - d(e_i, e_n) + m\big),
       \quad A = \{(i, p, n): d_{ip} - d_{in} + m > 0\}

    Hermans, Beyer and Leibe's "batch all": the mean over the triplets with a non-zero
    loss, so that easy triplets do not dilute the gradient. One scalar (a documented
    exception to the per-example rule, like :func:`ntxent`: the normaliser ``|A|``
    counts triplets across the whole batch); 0 with a zero gradient when no triplet is
    active. The same value as sentence-transformers' ``BatchAllTripletLoss`` and as
    pytorch-metric-learning's ``TripletMarginLoss`` without a miner (or with a
    ``TripletMarginMiner(type_of_triplets="all")``) and its default reducer. The
    active set is piecewise constant: the closed form is exact away from triplets with
    ``d_ip - d_in + m = 0``. Memory is ``batch³`` booleans.

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      margin: ``m``.
      distance: ``"euclidean"``, ``"squared_euclidean"`` or ``"cosine"`` (``1 - cos``);
        see :func:`batch_hard_triplet_loss`.

    Returns:
      A scalar in the dtype of ``embeddings``. It couples the batch (``jaxlosses.parallel``
      refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
      >>> # triplets (0, 1, 2): 1 - 2 + 1.5 and (1, 0, 2): 1 - √5 + 1.5, both active
      >>> round(float(jl.batch_all_triplet_loss(e, jnp.array([0, 0, 1]), margin=1.5)), 4)
      0.382

    References:
      Hermans, Beyer and Leibe, `In Defense of the Triplet Loss for Person
      Re-Identification <https://arxiv.org/abs/1703.07737>`_, 2017.
    """
    loss, _ = _batch_all_parts(embeddings, labels, margin, distance, "batch_all_triplet_loss")
    return loss


@closed_form_of(batch_all_triplet_loss, _batch_all_parts)
def _batch_all_triplet_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``W = ∂L/∂D``: ``W_ip = |{n: (i,p,n) ∈ A}|/|A|``, ``W_in = -|{p: (i,p,n) ∈ A}|/|A|``.

    Then through the distances as in :func:`_batch_hard_triplet_loss_grad` (``|A|``
    held fixed: exact away from triplets on the hinge).
    """
    return g


# --- multi-similarity loss -----------------------------------------------------------------


def _log1p_sum_exp(x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``log(1 + Σ_j∈mask e^{x_j})`` per row and its gradient w.r.t. ``x`` (0 off the mask).

    The shift is ``max(0, max x)``, taken over the mask only (NaN in the mask stays NaN);
    an empty row gives ``log 1 = 0`` with a zero gradient.
    """
    xm = jnp.where(mask, x, -jnp.inf)
    shift = jax.lax.stop_gradient(jnp.maximum(jnp.max(xm, axis=1, keepdims=True), 0.0))
    ex = jnp.where(mask, jnp.exp(xm - shift), 0.0)
    total = jnp.exp(-shift) + jnp.sum(ex, axis=1, keepdims=True)
    return (shift + jnp.log(total))[:, 0], ex / total


def _multi_similarity_parts(
    embeddings: ArrayLike,
    labels: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    base: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array]:
    """Returns (per-anchor loss, ∂/∂embeddings of the summed loss), dtype of ``embeddings``."""
    e0, lab = labelled_embeddings(embeddings, labels, fn)
    e = upcast(e0)
    eh, ne = unit(e)
    s = eh @ eh.T
    same, pos = same_label_pairs(lab)
    a, b, lam = (jnp.asarray(v, e.dtype) for v in (alpha, beta, base))
    l_pos, w_pos = _log1p_sum_exp(-a * (s - lam), pos)
    l_neg, w_neg = _log1p_sum_exp(b * (s - lam), ~same)
    loss = l_pos / a + l_neg / b
    g_s = w_neg - w_pos  # ∂ℓ_i/∂s_ij: the weights of the two soft maxima
    g_e = unit_backward((g_s + g_s.T) @ eh, eh, ne)
    return loss.astype(e0.dtype), g_e.astype(e0.dtype)


def multi_similarity_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 2.0,
    beta: ArrayLike = 50.0,
    base: ArrayLike = 0.5,
) -> jax.Array:
    r"""Multi-similarity loss: soft maxima over each anchor's positive and negative cosines.

    .. math:: \ell_i = \frac{1}{\alpha} \log\Big(1 + \sum_{p \in P(i)}
       e^{-\alpha (s_{ip} - \lambda)}\Big) + \frac{1}{\beta} \log\Big(1 + \sum_{n \in N(i)}
       e^{\beta (s_{in} - \lambda)}\Big), \quad s_{ij} = \cos(e_i, e_j)

    ``P(i)``: the other examples with anchor ``i``'s label; ``N(i)``: those with another
    label; an empty set contributes ``log 1 = 0``. Every pair of the batch takes part
    (the paper's pair mining is a separate step: pytorch-metric-learning's
    ``MultiSimilarityMiner``). The mean over anchors is pytorch-metric-learning's
    ``MultiSimilarityLoss`` (its defaults ``α = 2``, ``β = 50``, ``λ = 0.5``, its
    ``MeanReducer``). Smooth: the log-sum-exps are shifted by their masked maximum.
    A zero-norm embedding normalises to 0 (cosine 0).

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      alpha: ``α``, the scale of the positive pairs.
      beta: ``β``, the scale of the negative pairs.
      base: ``λ``, the similarity the two soft maxima are measured from.

    Returns:
      Per-anchor loss ``[batch]``, dtype of ``embeddings``. It couples the batch
      (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> # anchors 0, 1: s = 1 to the positive, 0 to the negative: ½ log(1 + e^-1), twice;
      >>> # anchor 2 (no positive): ½ log(1 + 2 e^-1)
      >>> jl.multi_similarity_loss(e, jnp.array([0, 0, 1]), alpha=2.0, beta=2.0).round(4).tolist()
      [0.3133, 0.3133, 0.2757]

    References:
      Wang et al., `Multi-Similarity Loss with General Pair Weighting for Deep Metric
      Learning <https://arxiv.org/abs/1904.06627>`_, 2019.
    """
    loss, _ = _multi_similarity_parts(
        embeddings, labels, alpha, beta, base, "multi_similarity_loss"
    )
    return loss


@closed_form_of(multi_similarity_loss, _multi_similarity_parts)
def _multi_similarity_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``G_ij = ∂ℓ_i/∂s_ij``: ``-e^{-α(s_ip - λ)}/(1 + Σ_P)`` on positives, ``e^{β(s_in - λ)}/(1 + Σ_N)`` on negatives.

    ``∂/∂ê = (G + Gᵀ) ê`` (``s`` is symmetric), then back through ``ê = e/‖e‖``.
    """
    return g


# --- circle loss -------------------------------------------------------------------------------


def _masked_lse(z: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per row: ``log Σ_{j∈mask} e^{z_j}``, its softmax weights (0 off the mask), non-empty.

    The shift is the masked maximum (NaN in the mask stays NaN); an empty row gives 0
    with zero weights, to be masked by the caller with the third output.
    """
    has = jnp.any(mask, axis=1, keepdims=True)
    zm = jnp.where(mask, z, -jnp.inf)
    mx = jax.lax.stop_gradient(jnp.where(has, jnp.max(zm, axis=1, keepdims=True), 0.0))
    ex = jnp.where(mask, jnp.exp(zm - mx), 0.0)
    total = jnp.sum(ex, axis=1, keepdims=True)
    safe = jnp.where(has, total, 1.0)
    return jnp.where(has, jnp.log(safe) + mx, 0.0)[:, 0], ex / safe, has[:, 0]


def _circle_parts(
    embeddings: ArrayLike,
    labels: ArrayLike,
    margin: ArrayLike,
    gamma: ArrayLike,
    detach_weights: bool,
    fn: str,
) -> tuple[jax.Array, jax.Array]:
    """Returns (per-anchor loss, ∂/∂embeddings of the summed loss), dtype of ``embeddings``."""
    finite_number(margin, "margin", fn)
    hyperparameter(gamma, "gamma", fn, low=0.0, open_low=True, why="the scale of the logits")
    e0, lab = labelled_embeddings(embeddings, labels, fn)
    e = upcast(e0)
    eh, ne = unit(e)
    s = eh @ eh.T
    same, pos = same_label_pairs(lab)
    neg = ~same
    m, g = jnp.asarray(margin, e.dtype), jnp.asarray(gamma, e.dtype)
    # positives: z = -γ α_p (s - Δ_p), α_p = [1 + m - s]_+, Δ_p = 1 - m
    sg = jax.lax.stop_gradient if detach_weights else (lambda v: v)
    a_p = sg(jnp.maximum(1.0 + m - s, 0.0))
    z_p = -g * a_p * (s - (1.0 - m))
    # negatives: z = γ α_n (s - Δ_n), α_n = [s + m]_+, Δ_n = m
    a_n = sg(jnp.maximum(s + m, 0.0))
    z_n = g * a_n * (s - m)
    l_p, w_p, has_p = _masked_lse(z_p, pos)
    l_n, w_n, has_n = _masked_lse(z_n, neg)
    valid = has_p & has_n
    x = l_p + l_n
    loss = jnp.where(valid, jax.nn.softplus(x), 0.0)
    # ∂z/∂s, with the weights α held fixed (detach_weights) or differentiated too
    dz_p = -g * a_p
    dz_n = g * a_n
    if not detach_weights:
        dz_p = dz_p + g * (1.0 + m - s > 0) * (s - (1.0 - m))
        dz_n = dz_n + g * (s + m > 0) * (s - m)
    sig = jnp.where(valid, jax.nn.sigmoid(x), 0.0)[:, None]
    g_s = sig * (w_p * dz_p + w_n * dz_n)  # ∂ℓ_i/∂s_ij
    g_e = unit_backward((g_s + g_s.T) @ eh, eh, ne)
    return loss.astype(e0.dtype), g_e.astype(e0.dtype)


def circle_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 0.4,
    gamma: ArrayLike = 80.0,
    detach_weights: bool = False,
) -> jax.Array:
    r"""Circle loss: self-paced soft maxima over each anchor's positive and negative cosines.

    .. math:: \ell_i = \log\Big(1 + \sum_{n \in N(i)} e^{\gamma \alpha_n (s_{in} - \Delta_n)}
       \sum_{p \in P(i)} e^{-\gamma \alpha_p (s_{ip} - \Delta_p)}\Big),
       \quad \alpha_p = [1 + m - s_{ip}]_+,\ \alpha_n = [s_{in} + m]_+,
       \ \Delta_p = 1 - m,\ \Delta_n = m

    Sun et al.'s pair-based form with class labels in the batch and ``s_ij = cos(e_i,
    e_j)``. ``P(i)``: the other examples with anchor ``i``'s label; ``N(i)``: those with
    another label. Computed as ``softplus(lse_P + lse_N)`` with each log-sum-exp shifted
    by its masked maximum, so ``γ`` in the hundreds (the paper's 256) stays finite. An
    anchor without a positive or without a negative gives 0 with a zero gradient. The
    mean over the anchors that have both is pytorch-metric-learning's ``CircleLoss`` (its
    ``m = 0.4``, ``γ = 80`` defaults, its ``AvgNonZeroReducer``: ``masked_mean(loss,
    where=loss > 0)``). Piecewise smooth: ``α_n`` has a kink at ``s_in = -m``.

    The gradient: by default ``jax.grad`` and the closed form differentiate the value,
    weights ``α`` included. The paper's gradient (its Eq. 8, ``∂/∂s_n ∝ γ α_n``) and
    pytorch-metric-learning's treat the weights as constants (``.detach()``):
    ``detach_weights=True`` does the same, through :func:`jax.lax.stop_gradient`, and
    then ``jax.grad`` (and the closed form) is no longer the derivative of the value,
    which is the same either way.

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      margin: ``m``, the relaxation (the paper suggests 0.25 to 0.4).
      gamma: ``γ > 0``, the scale (the paper: 80 to 256).
      detach_weights: hold ``α_p``, ``α_n`` fixed in the gradient (the paper's and
        pytorch-metric-learning's gradient).

    Returns:
      Per-anchor loss ``[batch]``, dtype of ``embeddings``. It couples the batch
      (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> # anchors 0, 1: s_p = 1 (α_p = m, z_p = -γ m²), s_n = 0 (α_n = m, z_n = -γ m²):
      >>> # log(1 + e^{-2 γ m²}) = log(1 + e^-1) with m = 0.5, γ = 2; anchor 2 has no positive
      >>> jl.circle_loss(e, jnp.array([0, 0, 1]), margin=0.5, gamma=2.0).round(4).tolist()
      [0.3133, 0.3133, 0.0]

    References:
      Sun et al., `Circle Loss: A Unified Perspective of Pair Similarity Optimization
      <https://arxiv.org/abs/2002.10857>`_, 2020.
    """
    loss, _ = _circle_parts(embeddings, labels, margin, gamma, detach_weights, "circle_loss")
    return loss


@closed_form_of(circle_loss, _circle_parts)
def _circle_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``G_ij = ∂ℓ_i/∂s_ij = σ(lse_P + lse_N) softmax(z)_j ∂z_ij/∂s_ij`` on ``P(i)`` and ``N(i)``.

    ``∂z/∂s = -γ α_p + γ [1 + m - s > 0] (s - Δ_p)`` on positives and ``γ α_n + γ [s + m
    > 0] (s - Δ_n)`` on negatives (the second terms dropped with ``detach_weights``); then
    ``∂/∂ê = (G + Gᵀ) ê`` (``s`` is symmetric) and back through ``ê = e/‖e‖``.
    """
    return g


# --- CoSENT and AnglE -------------------------------------------------------------------

# A pair similarity: (â, b̂) -> (score per pair, pullback of ∂L/∂score to (∂/∂â, ∂/∂b̂)).
_Scored = tuple[jax.Array, Callable[[jax.Array], _Pair]]
_Similarity = Callable[[jax.Array, jax.Array], _Scored]


def _cosine_similarity(ah: jax.Array, bh: jax.Array) -> _Scored:
    """``⟨â, b̂⟩``; its gradients are ``b̂`` and ``â``."""
    return jnp.sum(ah * bh, axis=1), lambda g: (g[:, None] * bh, g[:, None] * ah)


def _quarter_turn(v: jax.Array) -> jax.Array:
    """``i v`` in the complex view ``v = v₁ + i v₂`` of the halves: ``[-v₂, v₁]``."""
    first, last = jnp.split(v, 2, axis=1)
    return jnp.concatenate([-last, first], axis=1)


def _angle_similarity(ah: jax.Array, bh: jax.Array) -> _Scored:
    """``|⟨â, b̂⟩ + ⟨â, i b̂⟩|``: ``|Re + Im|`` of ``Σ_k â_k conj(b̂_k)`` (halves as complex).

    ``f = ⟨â, b̂ + J b̂⟩`` with ``J`` the quarter turn (``Jᵀ = -J``), so ``∂f/∂â = b̂ + J b̂``
    and ``∂f/∂b̂ = â - J â``; ``|f|`` multiplies both by ``sign f``. An odd dimension is
    padded with a zero column (which changes no norm), as sentence-transformers does.
    """
    dim = ah.shape[1]
    if dim % 2:
        ah, bh = (jnp.pad(v, ((0, 0), (0, 1))) for v in (ah, bh))
    f = jnp.sum(ah * (bh + _quarter_turn(bh)), axis=1)

    def pullback(g: jax.Array) -> _Pair:
        gf = (g * jnp.sign(f))[:, None]
        g_ah, g_bh = gf * (bh + _quarter_turn(bh)), gf * (ah - _quarter_turn(ah))
        return g_ah[:, :dim], g_bh[:, :dim]

    return jnp.abs(f), pullback


def _ranked_pairs(
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    scale: ArrayLike,
    fn: str,
    similarity: _Similarity,
) -> tuple[jax.Array, _Pair]:
    """CoSENT's ranking of the pairs' ``similarity`` by their labels: (the scalar loss,
    (∂/∂a, ∂/∂b)), in the dtype of ``embeddings_a``."""
    a0 = floating(embeddings_a, "embeddings_a", fn)
    b0 = floating(embeddings_b, "embeddings_b", fn)
    check_equal_shapes({"embeddings_a": a0, "embeddings_b": b0}, fn)
    lab = real(labels, "labels", fn)
    if a0.ndim != 2 or lab.shape != a0.shape[:1]:
        raise ValueError(
            f"{fn}: `embeddings_a` has shape {a0.shape} and `labels` {lab.shape}; expected "
            "pairs [batch, dim] and one similarity score per pair, [batch]."
        )
    a = upcast(a0)
    ah, na = unit(a)
    bh, nb = unit(b0.astype(a.dtype))
    y = lab.astype(a.dtype)
    s = jnp.asarray(scale, a.dtype)
    c, pullback = similarity(ah, bh)
    z = s * (c[:, None] - c[None, :])  # pair i scored above pair j ...
    ranked_lower = y[:, None] < y[None, :]  # ... though its label is lower
    value, w = _log1p_sum_exp(z.reshape(1, -1), ranked_lower.reshape(1, -1))
    w = w.reshape(z.shape)
    g_ah, g_bh = pullback(s * (jnp.sum(w, axis=1) - jnp.sum(w, axis=0)))
    g_a = unit_backward(g_ah, ah, na)
    g_b = unit_backward(g_bh, bh, nb)
    return value[0].astype(a0.dtype), (g_a.astype(a0.dtype), g_b.astype(a0.dtype))


def _cosent_parts(
    embeddings_a: ArrayLike, embeddings_b: ArrayLike, labels: ArrayLike, scale: ArrayLike, fn: str
) -> tuple[jax.Array, _Pair]:
    """Returns (the scalar loss, (∂/∂a, ∂/∂b)), in the dtype of ``embeddings_a``."""
    return _ranked_pairs(embeddings_a, embeddings_b, labels, scale, fn, _cosine_similarity)


def cosent_loss(
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 20.0,
) -> jax.Array:
    r"""CoSENT: rank the pairs' cosine similarities in the order of their labels.

    .. math:: \mathcal L = \log\Big(1 + \sum_{(i, j):\ y_i < y_j}
       e^{s (\cos(a_i, b_i) - \cos(a_j, b_j))}\Big)

    Every two pairs of the batch whose labels differ form a term: the pair with the
    lower label should have the lower cosine. One scalar (the terms span the whole batch;
    a documented exception to the per-example rule, like :func:`ntxent`); a batch whose
    labels are all equal gives 0. Labels are any real similarity scores (STS scores,
    0/1). The same value as sentence-transformers' ``CoSENTLoss`` (``scale = 20``). A
    zero-norm embedding normalises to 0 (cosine 0).

    Args:
      embeddings_a: ``[batch, dim]``.
      embeddings_b: ``[batch, dim]``; row ``i`` pairs with row ``i`` of ``embeddings_a``.
      labels: ``[batch]`` similarity scores of the pairs (float, int or bool).
      scale: ``s``.

    Returns:
      A scalar in the dtype of ``embeddings_a``. It couples the batch
      (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a, b = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # cosines (1, 0), labels (0, 1): the one term is e^{s (1 - 0)} with s = 1
      >>> round(float(jl.cosent_loss(a, b, jnp.array([0.0, 1.0]), scale=1.0)), 4)  # log(1 + e)
      1.3133

    References:
      Su, `CoSENT: A more efficient sentence vector scheme than Sentence-BERT
      <https://kexue.fm/archives/8847>`_, 2022.
    """
    loss, _ = _cosent_parts(embeddings_a, embeddings_b, labels, scale, "cosent_loss")
    return loss


@closed_form_of(cosent_loss, _cosent_parts)
def _cosent_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``W_ij = e^{z_ij}/(1 + Σ e^z)`` on the terms; ``∂L/∂c_i = s (Σ_j W_ij - Σ_j W_ji)``.

    Then ``c_i = ⟨â_i, b̂_i⟩``: ``∂/∂â_i = ∂L/∂c_i b̂_i``, ``∂/∂b̂_i = ∂L/∂c_i â_i``, back
    through the normalisations.
    """
    return grads


def _angle_parts(
    embeddings_a: ArrayLike, embeddings_b: ArrayLike, labels: ArrayLike, scale: ArrayLike, fn: str
) -> tuple[jax.Array, _Pair]:
    """Returns (the scalar loss, (∂/∂a, ∂/∂b)), in the dtype of ``embeddings_a``."""
    return _ranked_pairs(embeddings_a, embeddings_b, labels, scale, fn, _angle_similarity)


def angle_loss(
    embeddings_a: ArrayLike,
    embeddings_b: ArrayLike,
    labels: ArrayLike,
    *,
    scale: ArrayLike = 20.0,
) -> jax.Array:
    r"""AnglE: CoSENT on the pairs' angle similarity in complex space.

    .. math:: \mathcal L = \log\Big(1 + \sum_{(i, j):\ y_i < y_j}
       e^{s (\theta_i - \theta_j)}\Big), \quad
       \theta_i = \Big|\operatorname{Re} q_i + \operatorname{Im} q_i\Big|, \quad
       q_i = \frac{\sum_k z_{ik} \bar w_{ik}}{\lVert a_i \rVert \lVert b_i \rVert}

    where ``z_i = a_i[:d/2] + i a_i[d/2:]`` and ``w_i`` likewise from ``b_i``: the first
    half of each embedding is the real part, the second the imaginary part (an odd
    dimension is padded with a zero). ``Re q`` is the cosine of the pair and ``Im q`` the
    sine term, so ``θ = |cos + sin|``; :func:`cosent_loss` is the same ranking with
    ``θ = cos``. One scalar; a batch whose labels are all equal gives 0. The same value as
    sentence-transformers' ``AnglELoss`` (``pairwise_angle_sim``, ``scale = 20``), which
    follows the authors' code; equation 3 of the paper writes the difference with the
    opposite sign. ``|·|`` has a kink where ``cos + sin = 0``: the closed form is exact
    away from it, and there it takes the gradient 0 (``sign 0 = 0``), as ``jax.grad`` and
    PyTorch do. A zero-norm embedding normalises to 0 (``θ = 0``).

    Args:
      embeddings_a: ``[batch, dim]``.
      embeddings_b: ``[batch, dim]``; row ``i`` pairs with row ``i`` of ``embeddings_a``.
      labels: ``[batch]`` similarity scores of the pairs (float, int or bool).
      scale: ``s``.

    Returns:
      A scalar in the dtype of ``embeddings_a``. It couples the batch
      (``jaxlosses.parallel`` refuses it).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a, b = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> # z = 1 and w = (1, 1 + i): q = (1, (1 - i)/√2), so θ = (1, 0); one term e^{s (1 - 0)}
      >>> round(float(jl.angle_loss(a, b, jnp.array([0.0, 1.0]), scale=1.0)), 4)  # log(1 + e)
      1.3133

    References:
      Li and Li, `AnglE-optimized Text Embeddings <https://arxiv.org/abs/2309.12871>`_,
      2023 (ACL 2024: "AoE: Angle-optimized Embeddings for Semantic Textual Similarity").
    """
    loss, _ = _angle_parts(embeddings_a, embeddings_b, labels, scale, "angle_loss")
    return loss


@closed_form_of(angle_loss, _angle_parts)
def _angle_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""CoSENT's ``∂L/∂θ_i = s (Σ_j W_ij - Σ_j W_ji)``, then through ``θ = |f|``, ``f = ⟨â, b̂ + J b̂⟩``.

    ``J`` is the quarter turn ``[v₁, v₂] ↦ [-v₂, v₁]`` (multiplication by ``i``), ``Jᵀ = -J``:
    ``∂/∂â_i = ∂L/∂θ_i sign(f_i) (b̂_i + J b̂_i)``, ``∂/∂b̂_i = ∂L/∂θ_i sign(f_i) (â_i - J â_i)``,
    back through the normalisations.
    """
    return grads


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(contrastive_loss, in_set("labels", (0.0, 1.0)))
register_checks(cosine_embedding_loss, in_set("targets", (-1.0, 1.0)))
register_checks(hinge_embedding_loss, in_set("targets", (-1.0, 1.0)))
register_checks(arcface_loss, labels_in_range("labels", "class_centers", axis=0))
register_checks(cosface_loss, labels_in_range("labels", "class_centers", axis=0))
register_checks(sub_center_arcface_loss, labels_in_range("labels", "class_centers", axis=0))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    ge2e_loss, "speaker centroids and negatives over the whole batch", gathers="axis_name"
)
register_batch_coupled(
    batch_hard_triplet_loss, "the hardest positive and negative are mined from the whole batch"
)
register_batch_coupled(
    batch_semi_hard_triplet_loss, "positives and semi-hard negatives mined from the whole batch"
)
register_batch_coupled(
    batch_all_triplet_loss, "every triplet of the batch, one scalar over the active ones"
)
register_batch_coupled(multi_similarity_loss, "positive and negative pairs over the whole batch")
register_batch_coupled(circle_loss, "positive and negative pairs over the whole batch")
register_batch_coupled(cosent_loss, "every two pairs of the batch are ranked, one scalar")
register_batch_coupled(angle_loss, "every two pairs of the batch are ranked, one scalar")
