"""Contrastive losses with in-batch negatives: InfoNCE, NT-Xent, multiple-negatives ranking,
CLIP, SigLIP and supervised contrastive (SupCon).

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed*
loss, derived by hand. Similarities are cosines of normalised embeddings (CLIP and SigLIP:
dot products of the features as given, cosines with ``normalize=True``); a zero-norm
embedding normalises to 0 (cosine 0) with a finite gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import (
    AxisName,
    closed_form_of,
    floating,
    labelled_embeddings,
    positive_temperature,
    safe_div,
    unit,
    unit_backward,
    upcast,
)
from ._coupling import register_batch_coupled

__all__ = [
    "clip_loss",
    "info_nce_loss",
    "multiple_negatives_ranking_loss",
    "ntxent",
    "siglip_loss",
    "supervised_contrastive_loss",
]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. two learned inputs
_Triple = tuple[jax.Array, jax.Array | None, jax.Array]  # features, features, scale
_Quad = tuple[jax.Array, jax.Array | None, jax.Array, jax.Array]  # ... and the bias


def _in_batch_softmax(
    queries: ArrayLike,
    keys: ArrayLike,
    negatives: ArrayLike | None,
    scale: ArrayLike,
    names: tuple[str, str, str],
    fn: str,
    axis_name: AxisName | None = None,
    gather_negatives: bool = False,
) -> tuple[jax.Array, _Pair]:
    """Cross-entropy of ``scale · cos`` with the diagonal as target.

    Returns (per-query loss, (∂/∂queries, ∂/∂keys)), each in its input's dtype; negatives
    are held fixed. With ``axis_name`` (inside ``shard_map``/``pmap``) the keys of every
    device are candidates: this device's keys are gathered with ``all_gather``, its rows'
    positives sit at its own offset, and the keys' gradient of the global summed loss is
    reduce-scattered back (the transpose of the gather). ``gather_negatives``: 2-D
    negatives are this device's rows of the batch and are gathered too.
    """
    q0 = floating(queries, names[0], fn)
    k0 = floating(keys, names[1], fn)
    if q0.ndim != 2 or k0.shape != q0.shape:
        raise ValueError(
            f"{fn}: `{names[0]}` has shape {q0.shape} and `{names[1]}` {k0.shape}; expected "
            f"both [batch, dim], row i of `{names[1]}` being the positive for row i of "
            f"`{names[0]}`."
        )
    q = upcast(q0)
    s = jnp.asarray(scale, q.dtype)
    qh, nq = unit(q)
    kh, nk = unit(k0.astype(q.dtype))
    batch, dim = q.shape
    kh_all, offset = kh, jnp.zeros((), jnp.int32)
    if axis_name is not None:
        kh_all = jax.lax.all_gather(kh, axis_name, axis=0, tiled=True)  # [devices · B, D]
        offset = jax.lax.axis_index(axis_name) * batch
    n_keys = kh_all.shape[0]
    logits = s * (qh @ kh_all.T)  # [B, B] (or [B, devices · B])
    nh = None
    if negatives is not None:
        n0 = floating(negatives, names[2], fn)
        if not (
            (n0.ndim == 2 and n0.shape[1] == dim)
            or (n0.ndim == 3 and n0.shape[::2] == (batch, dim))
        ):
            raise ValueError(
                f"{fn}: `{names[2]}` has shape {n0.shape}; expected [num_negatives, {dim}] "
                f"(shared by every row) or [{batch}, num_negatives, {dim}] (per row)."
            )
        nh, _ = unit(n0.astype(q.dtype))
        if axis_name is not None and gather_negatives and nh.ndim == 2:
            nh = jax.lax.all_gather(nh, axis_name, axis=0, tiled=True)
        extra = s * (qh @ nh.T if nh.ndim == 2 else jnp.einsum("bd,bnd->bn", qh, nh))
        logits = jnp.concatenate([logits, extra], axis=-1)
    m = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    lse = jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True)) + m
    target = offset + jnp.arange(batch)  # the column of each row's positive key
    loss = lse[:, 0] - jnp.take_along_axis(logits, target[:, None], axis=1)[:, 0]
    # ∂L/∂logits = softmax - [I | 0]; logits = s q̂ [k̂ | n̂]ᵀ.
    delta = jnp.exp(logits - lse)
    delta = delta - (jnp.arange(logits.shape[1])[None, :] == target[:, None]).astype(q.dtype)
    d_keys = delta[:, :n_keys]
    g_qh = s * (d_keys @ kh_all)
    if nh is not None:
        d_neg = delta[:, n_keys:]
        g_qh = g_qh + s * (d_neg @ nh if nh.ndim == 2 else jnp.einsum("bn,bnd->bd", d_neg, nh))
    g_kh = s * (d_keys.T @ qh)
    if axis_name is not None:  # every device's queries reach these keys: sum, keep ours
        g_kh = jax.lax.psum_scatter(g_kh, axis_name, scatter_dimension=0, tiled=True)
    g_q, g_k = unit_backward(g_qh, qh, nq), unit_backward(g_kh, kh, nk)
    return loss.astype(q0.dtype), (g_q.astype(q0.dtype), g_k.astype(k0.dtype))


def _info_nce_parts(
    queries: ArrayLike,
    keys: ArrayLike,
    temperature: ArrayLike,
    negatives: ArrayLike | None,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    names = ("queries", "keys", "negatives")
    positive_temperature(temperature, fn)
    scale = 1.0 / jnp.asarray(temperature)
    return _in_batch_softmax(queries, keys, negatives, scale, names, fn, axis_name)


def _mnrl_parts(
    anchors: ArrayLike,
    positives: ArrayLike,
    scale: ArrayLike,
    hard_negatives: ArrayLike | None,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    names = ("anchors", "positives", "hard_negatives")
    return _in_batch_softmax(
        anchors, positives, hard_negatives, scale, names, fn, axis_name, gather_negatives=True
    )


def info_nce_loss(
    queries: ArrayLike,
    keys: ArrayLike,
    *,
    temperature: ArrayLike = 0.1,
    negatives: ArrayLike | None = None,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""InfoNCE: identify each query's positive key among the in-batch keys, per query.

    .. math:: \ell_i = -\log \frac{e^{\cos(q_i, k_i)/\tau}}{\sum_j e^{\cos(q_i, k_j)/\tau}
       + \sum_l e^{\cos(q_i, n_l)/\tau}}

    Row ``i`` of ``keys`` is the positive for query ``i``; every other key, and the
    optional extra ``negatives``, are negatives. The closed form
    (``jaxlosses.closed_form.info_nce_loss``) differentiates ``queries`` and ``keys``;
    ``negatives`` are held fixed there (a memory bank), though :func:`jax.grad` reaches
    them.

    Args:
      queries: ``[batch, dim]``.
      keys: ``[batch, dim]``.
      temperature: ``τ > 0``.
      negatives: optional ``[num_negatives, dim]`` shared by every query, or
        ``[batch, num_negatives, dim]`` per query.
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        batch is split over: the keys of every device are negatives (gathered), so the
        loss and its gradients equal those of the global batch on one device; extra
        ``negatives`` stay per device (a shared memory bank, or per query). Used by
        :func:`jaxlosses.parallel.sharded_mean`, which passes it for you.

    Returns:
      Per-query loss ``[batch]`` (this device's queries with ``axis_name``), dtype of
      ``queries``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> q = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> jl.info_nce_loss(q, q, temperature=1.0).round(4).tolist()  # log(1 + e^-1)
      [0.3133, 0.3133]

    References:
      van den Oord, Li and Vinyals, `Representation Learning with Contrastive Predictive
      Coding <https://arxiv.org/abs/1807.03748>`_, 2018.
    """
    loss, _ = _info_nce_parts(queries, keys, temperature, negatives, axis_name, "info_nce_loss")
    return loss


@closed_form_of(info_nce_loss, _info_nce_parts)
def _info_nce_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``(∂/∂queries, ∂/∂keys)`` with ``D = softmax - [I | 0]``: ``q̂ ← D [k̂; n̂]/τ``, ``k̂ ← Dᵀ q̂/τ``.

    Then back through each normalisation, ``∂/∂v = (g - v̂⟨v̂, g⟩)/‖v‖``.
    """
    return grads


def multiple_negatives_ranking_loss(
    anchors: ArrayLike,
    positives: ArrayLike,
    *,
    scale: ArrayLike = 20.0,
    hard_negatives: ArrayLike | None = None,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""Multiple-negatives ranking loss: in-batch softmax over scaled cosine similarities.

    .. math:: \ell_i = -\log \frac{e^{s \cos(a_i, p_i)}}{\sum_j e^{s \cos(a_i, p_j)}
       + \sum_l e^{s \cos(a_i, h_l)}}

    The sentence-embedding loss of sentence-transformers'
    ``MultipleNegativesRankingLoss`` (cosine similarity times ``scale``, cross-entropy
    with the diagonal as labels), per anchor rather than averaged. Every hard negative is
    a candidate for every anchor, as there. It equals :func:`info_nce_loss` with
    ``temperature = 1/scale``. The closed form differentiates ``anchors`` and
    ``positives`` (hard negatives held fixed).

    Args:
      anchors: ``[batch, dim]``.
      positives: ``[batch, dim]``; row ``i`` is the positive for anchor ``i``.
      scale: ``s`` (sentence-transformers' default 20).
      hard_negatives: optional ``[num_negatives, dim]`` extra candidates.
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis the batch is
        split over: every device's positives and hard negatives are candidates (both are
        taken as this device's rows of the batch and gathered), as on one device with the
        global batch (see :func:`info_nce_loss`).

    Returns:
      Per-anchor loss ``[batch]`` (this device's anchors with ``axis_name``), dtype of
      ``anchors``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> a = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> jl.multiple_negatives_ranking_loss(a, a, scale=1.0).round(4).tolist()
      [0.3133, 0.3133]

    References:
      Henderson et al., `Efficient Natural Language Response Suggestion for Smart Reply
      <https://arxiv.org/abs/1705.00652>`_, 2017.
    """
    loss, _ = _mnrl_parts(
        anchors, positives, scale, hard_negatives, axis_name, "multiple_negatives_ranking_loss"
    )
    return loss


@closed_form_of(multiple_negatives_ranking_loss, _mnrl_parts)
def _multiple_negatives_ranking_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    """As :func:`_info_nce_loss_grad` with ``1/τ = scale``."""
    return grads


# --- NT-Xent ------------------------------------------------------------------------------


def _ntxent_parts(
    embeddings: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, jax.Array]:
    """Returns (the mean loss, ∂/∂embeddings), in the dtype of ``embeddings``.

    With ``axis_name`` this device's rows are the anchors, every device's rows (gathered)
    the columns; the sums over pairs and their count are ``psum``-ed, so the loss is the
    global mean on every device and the gradient this device's rows of the global one."""
    e0, lab = labelled_embeddings(embeddings, labels, fn)
    e = upcast(e0)
    # optax's cosine: v / sqrt(max(‖v‖², eps)), eps the input dtype's machine epsilon.
    floor = jnp.asarray(jnp.finfo(e0.dtype).eps, e.dtype)
    sq = jnp.sum(e * e, axis=-1, keepdims=True)
    big = sq > floor
    norm = jnp.sqrt(jnp.where(big, sq, floor))
    eh = e / norm
    positive_temperature(temperature, fn)
    t = jnp.asarray(temperature, e.dtype)
    eh_all, lab_all, offset = eh, lab, jnp.zeros((), jnp.int32)
    if axis_name is not None:
        eh_all = jax.lax.all_gather(eh, axis_name, axis=0, tiled=True)  # [devices · b, D]
        lab_all = jax.lax.all_gather(lab, axis_name, axis=0, tiled=True)
        offset = jax.lax.axis_index(axis_name) * e.shape[0]
    z = (eh @ eh_all.T) / t  # [b, B]: this device's anchors against every row
    same = lab[:, None] == lab_all[None, :]
    _, eye = _own_columns(z, offset)
    match = same & ~eye
    diff = ~same
    # log of the per-row sum over negatives (-inf when a row has none)
    zd = jnp.where(diff, z, -jnp.inf)
    m = jax.lax.stop_gradient(jnp.max(jnp.where(diff | match, z, -jnp.inf), axis=-1, keepdims=True))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    neg_sum = jnp.sum(jnp.exp(zd - m), axis=-1, keepdims=True)
    # per-pair log-denominator: log(Σ_neg e^z + e^{z_ij})
    log_den = jnp.log(neg_sum + jnp.exp(jnp.where(match, z, m) - m)) + m
    pair = jnp.where(match, log_den - jnp.where(match, z, 0.0), 0.0)
    count, total = jnp.sum(match).astype(e.dtype), jnp.sum(pair)
    if axis_name is not None:
        count, total = jax.lax.psum(count, axis_name), jax.lax.psum(total, axis_name)
    loss = safe_div(total, count)
    # ∂/∂z_ij (pair) = e^{z_ij - den_ij} - 1; ∂/∂z_ik (negative k) = Σ_j e^{z_ik - den_ij}.
    r = jnp.where(match, jnp.exp(jnp.where(match, z, 0.0) - log_den), 0.0)
    inv_den = jnp.sum(jnp.where(match, jnp.exp(m - log_den), 0.0), axis=-1, keepdims=True)
    gz = jnp.where(match, r - 1.0, 0.0) + jnp.where(diff, jnp.exp(zd - m) * inv_den, 0.0)
    gz = safe_div(gz, count)
    # z_ik = ê_i · ê_k / τ: rows reach this device's anchors, columns every device's rows
    g_cols = (gz.T @ eh) / t  # [B, D]
    if axis_name is not None:  # every device's anchors reach these rows: sum, keep ours
        g_cols = jax.lax.psum_scatter(g_cols, axis_name, scatter_dimension=0, tiled=True)
    g_eh = (gz @ eh_all) / t + g_cols
    g_e = jnp.where(
        big, (g_eh - eh * jnp.sum(eh * g_eh, axis=-1, keepdims=True)) / norm, g_eh / norm
    )
    return loss.astype(e0.dtype), g_e.astype(e0.dtype)


def ntxent(
    embeddings: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike = 0.07,
    *,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""Normalised temperature-scaled cross-entropy (NT-Xent), averaged over positive pairs.

    .. math:: \mathcal L = \frac{1}{|P|} \sum_{(i, j) \in P} -\log
       \frac{e^{z_{ij}}}{e^{z_{ij}} + \sum_{k: y_k \neq y_i} e^{z_{ik}}},
       \quad z_{ik} = \cos(e_i, e_k) / \tau

    Same name, arguments and values as :func:`optax.losses.ntxent`: ``P`` holds the
    ordered pairs ``i ≠ j`` with equal labels, the denominator of each pair has that
    pair's positive and all of row ``i``'s negatives, and the result is one scalar (the
    mean over ``P``; a documented exception to the per-example rule). A batch without
    any positive pair gives 0 (optax: NaN).

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer group labels ``[batch]``; equal labels mark positive pairs.
      temperature: ``τ > 0``.
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        batch is split over: every device's embeddings and labels are gathered as the
        pairs' partners and negatives, and the pair sums and counts combined with
        ``psum``, so every device returns the global batch's loss (use ``out_specs=P()``)
        and the gradients equal those of the global batch on one device.
        :func:`jaxlosses.parallel.sharded_mean` averages per-example losses, so it
        refuses this scalar loss; call it inside ``shard_map`` yourself.

    Returns:
      A scalar in the dtype of ``embeddings`` (with ``axis_name``, the global one).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
      >>> # every pair: -log(e^1 / (e^1 + 2 e^0)) with τ = 1
      >>> round(float(jl.ntxent(e, jnp.array([0, 0, 1, 1]), 1.0)), 4)
      0.5514

    References:
      Chen et al., `A Simple Framework for Contrastive Learning of Visual Representations
      <https://arxiv.org/abs/2002.05709>`_, 2020.
    """
    loss, _ = _ntxent_parts(embeddings, labels, temperature, axis_name, "ntxent")
    return loss


@closed_form_of(ntxent, _ntxent_parts)
def _ntxent_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``G = ∂L/∂z``: ``(r_ij - 1)/|P|`` on pairs, ``Σ_j e^{z_ik - den_ij}/|P|`` on negatives.

    ``r_ij = e^{z_ij - den_ij}``; then ``∂/∂ê = (G + Gᵀ) ê / τ`` (``z`` is symmetric in
    the two embeddings) and back through ``ê = e / sqrt(max(‖e‖², eps))``.
    """
    return g


# --- CLIP and SigLIP: two towers (or a logits matrix), a learned scale ----------------------


def _learned_scalar(x: ArrayLike, name: str, fn: str) -> jax.Array:
    """A learned scalar (a logit scale, a bias): floating, shape (); Python numbers are floats."""
    if isinstance(x, int | float) and not isinstance(x, bool):
        x = float(x)
    arr = floating(x, name, fn)
    if arr.ndim != 0:
        raise ValueError(
            f"{fn}: `{name}` has shape {arr.shape}; expected a scalar (shape ()), e.g. "
            f"`{name}.reshape(())`."
        )
    return arr


def _check_pair(
    image_features: ArrayLike,
    text_features: ArrayLike | None,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, jax.Array | None, jax.Array, int]:
    """Validates two towers (or a logits matrix): ``(x0, y0, offset, devices)``.

    Image ``i``'s own text is column ``offset + i`` of the rows this device sees.
    """
    x0 = floating(image_features, "image_features", fn)
    y0 = None if text_features is None else floating(text_features, "text_features", fn)
    if y0 is not None and (x0.ndim != 2 or y0.shape != x0.shape):
        raise ValueError(
            f"{fn}: `image_features` has shape {x0.shape} and `text_features` {y0.shape}; "
            "expected both [batch, dim], row i of each describing the same pair."
        )
    if x0.ndim != 2:
        raise ValueError(
            f"{fn}: `image_features` has shape {x0.shape}; expected [batch, dim] (or, with "
            "`text_features=None`, the logits matrix [batch, batch])."
        )
    rows = x0.shape[0]
    offset = jnp.zeros((), jnp.int32)
    n_dev = 1
    if axis_name is not None:
        offset = jax.lax.axis_index(axis_name) * rows
        n_dev = jax.lax.axis_size(axis_name)
    if y0 is None and x0.shape[1] != rows * n_dev:
        raise ValueError(
            f"{fn}: with `text_features=None`, `image_features` is the logits matrix "
            f"(rows images, columns texts) and must be [batch, batch] (with "
            f"`axis_name`, this device's rows of it, [batch, devices · batch]); got "
            f"shape {x0.shape} on {n_dev} device(s)."
        )
    return x0, y0, offset, n_dev


def _similarity(
    image_features: ArrayLike,
    text_features: ArrayLike | None,
    normalize: bool,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, Callable[[jax.Array], tuple[jax.Array, jax.Array | None]], Any]:
    """The block ``S`` of image-text similarities this device's images see, and its pullback.

    Towers: ``S = x̂ ŷᵀ``, ``[b, B]``: this device's images against every device's texts
    (gathered with ``axis_name``; ``B = b`` without), ``x̂, ŷ`` the features as given, or
    unit-normalised with ``normalize``. Logits (``text_features`` None): ``S`` is the
    given ``[b, B]`` rows of the logits matrix. Returns ``(S, offset, pullback, dtype)``:
    image ``i``'s own text is column ``offset + i``; ``pullback(∂/∂S)`` gives
    ``(∂/∂image_features, ∂/∂text_features)`` in their dtypes (``None`` for absent texts),
    the texts' share from every device's images reduce-scattered back to their device;
    ``dtype`` is the output dtype.
    """
    x0, y0, offset, _ = _check_pair(image_features, text_features, axis_name, fn)
    x = upcast(x0)
    if y0 is None:

        def pull_logits(g: jax.Array) -> tuple[jax.Array, jax.Array | None]:
            return g.astype(x0.dtype), None

        return x, offset, pull_logits, x0.dtype
    y = y0.astype(x.dtype)
    xh, nx = unit(x) if normalize else (x, None)
    yh, ny = unit(y) if normalize else (y, None)
    y_all = yh if axis_name is None else jax.lax.all_gather(yh, axis_name, axis=0, tiled=True)

    def pull(g_s: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        g_x, g_y = g_s @ y_all, g_s.T @ xh  # S = x̂ ŷ_allᵀ
        if axis_name is not None:  # every device's images reach these texts: sum, keep ours
            g_y = jax.lax.psum_scatter(g_y, axis_name, scatter_dimension=0, tiled=True)
        if nx is not None and ny is not None:
            g_x, g_y = unit_backward(g_x, xh, nx), unit_backward(g_y, yh, ny)
        return g_x.astype(x0.dtype), g_y.astype(y0.dtype)

    return xh @ y_all.T, offset, pull, x0.dtype


def _lse(z: jax.Array, axis: int, axis_name: AxisName | None = None) -> jax.Array:
    """``log Σ exp z`` along ``axis`` (kept), over every device's slice with ``axis_name``.

    The shift by the max is held fixed (stop_gradient); a NaN reaches the max and stays NaN.
    """
    m = jax.lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    if axis_name is not None:
        m = jax.lax.stop_gradient(jax.lax.pmax(m, axis_name))
    total = jnp.sum(jnp.exp(z - m), axis=axis, keepdims=True)
    if axis_name is not None:
        total = jax.lax.psum(total, axis_name)
    return jnp.log(total) + m


def _own_columns(z: jax.Array, offset: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cols, eye)``: row ``i``'s positive column ``offset + i`` and its ``[b, B]`` indicator."""
    cols = offset + jnp.arange(z.shape[0])
    return cols, jnp.arange(z.shape[1])[None, :] == cols[:, None]


def _clip_parts(
    image_features: ArrayLike,
    text_features: ArrayLike | None,
    logit_scale: ArrayLike,
    normalize: bool,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, _Triple]:
    """Returns (per-pair loss, (∂/∂image_features, ∂/∂text_features, ∂/∂logit_scale))."""
    sim, offset, pull, dtype = _similarity(image_features, text_features, normalize, axis_name, fn)
    s0 = _learned_scalar(logit_scale, "logit_scale", fn)
    s = s0.astype(sim.dtype)
    z = s * sim  # [b, B]: this device's images (rows) against every text
    cols, eye = _own_columns(z, offset)
    lse_rows = _lse(z, 1)  # image -> text: over the texts, [b, 1]
    lse_cols = _lse(z, 0, axis_name)  # text -> image: over every device's images, [1, B]
    diag = jnp.take_along_axis(z, cols[:, None], axis=1)[:, 0]
    loss = 0.5 * (lse_rows[:, 0] + jnp.take(lse_cols[0], cols)) - diag
    # ∂L/∂z = ½ (softmax over the row + softmax over the column) - I
    g_z = 0.5 * (jnp.exp(z - lse_rows) + jnp.exp(z - lse_cols)) - eye.astype(z.dtype)
    g_s = jnp.sum(g_z * sim)
    if axis_name is not None:
        g_s = jax.lax.psum(g_s, axis_name)
    g_x, g_y = pull(s * g_z)
    return loss.astype(dtype), (g_x, g_y, g_s.astype(s0.dtype))


def clip_loss(
    image_features: ArrayLike,
    text_features: ArrayLike | None = None,
    logit_scale: ArrayLike = 1.0,
    *,
    normalize: bool = False,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""CLIP's symmetric InfoNCE: each pair's image picks its text, and its text its image.

    .. math:: z_{ij} = s \langle x_i, y_j \rangle, \quad
       \ell_i = \tfrac12 \Big(\log \sum_j e^{z_{ij}} - z_{ii}\Big)
       + \tfrac12 \Big(\log \sum_j e^{z_{ji}} - z_{ii}\Big)

    Per pair ``i``: the mean of the image-to-text cross-entropy of row ``i`` and the
    text-to-image cross-entropy of column ``i`` of the logits matrix, so the mean over the
    batch is CLIP's loss, ``(CE(logits) + CE(logitsᵀ)) / 2`` (open_clip's ``ClipLoss``).
    ``logit_scale`` is the learned ``s = exp(t)`` itself (CLIP learns ``t`` and starts at
    ``s = 1/0.07``), and is differentiated like the features: the closed form
    (``jaxlosses.closed_form.clip_loss``) returns ``(∂/∂image_features,
    ∂/∂text_features, ∂/∂logit_scale)``. The features are used as given, as open_clip
    does (the model normalises them); ``normalize=True`` takes cosines instead.

    Args:
      image_features: ``[batch, dim]``; or, with ``text_features=None``, the logits
        matrix ``[batch, batch]`` (rows images, columns texts; ``z = s · logits``).
      text_features: ``[batch, dim]``; row ``i`` is the text of image ``i``.
      logit_scale: the scale ``s``, a scalar (learned).
      normalize: unit-normalise each feature vector first (cosine similarities).
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        batch is split over: every device's texts and images are negatives (the texts
        are gathered, the column normalisers combined with ``pmax``/``psum``), so the loss
        and its gradients equal those of the global batch on one device; the closed
        form's ``∂/∂logit_scale`` is then the global one on every device. In logits mode,
        pass this device's rows of the global matrix, ``[batch, devices · batch]``.

    Returns:
      Per-pair loss ``[batch]`` (this device's pairs with ``axis_name``), dtype of
      ``image_features``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> jl.clip_loss(x, x, 1.0).round(4).tolist()  # log(1 + e^-1) both ways
      [0.3133, 0.3133]
      >>> jl.clip_loss(x @ x.T).round(4).tolist()  # the same from the logits matrix
      [0.3133, 0.3133]

    References:
      Radford et al., `Learning Transferable Visual Models From Natural Language
      Supervision <https://arxiv.org/abs/2103.00020>`_, 2021.
    """
    loss, _ = _clip_parts(
        image_features, text_features, logit_scale, normalize, axis_name, "clip_loss"
    )
    return loss


@closed_form_of(clip_loss, _clip_parts)
def _clip_loss_grad(_: jax.Array, grads: _Triple) -> _Triple:
    r"""``G = ½ (softmax_rows(z) + softmax_cols(z)) - I``; ``∂/∂x = s G y``, ``∂/∂y = s Gᵀ x``.

    ``∂/∂s = Σ G ⊙ ⟨x, y⟩``; with ``normalize``, back through ``x̂ = x/‖x‖``. ``None`` for
    the texts in logits mode, where ``∂/∂logits = s G``.
    """
    return grads


def _sigmoid_pairs(
    sim: jax.Array, s: jax.Array, bias: jax.Array, eye: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One block of SigLIP pairs: ``(Σ_j -log σ(±z_ij) per row, ∂/∂z)``, ``z = s·sim + b``.

    ``eye`` marks the matching pairs (+1); every other pair is a negative (-1).
    """
    sign = jnp.where(eye, 1.0, -1.0).astype(sim.dtype)
    u = sign * (s * sim + bias)
    return jnp.sum(jnp.logaddexp(-u, 0.0), axis=1), -sign * jax.nn.sigmoid(-u)


def _ring_shift(a: jax.Array, axis_name: AxisName, n_dev: int) -> jax.Array:
    """Sends ``a`` to the next device of the ring (device ``d`` receives ``d - 1``'s)."""
    return jax.lax.ppermute(a, axis_name, [(j, (j + 1) % n_dev) for j in range(n_dev)])


def _ring_loss(
    x: jax.Array, y: jax.Array, s: jax.Array, bias: jax.Array, axis_name: AxisName
) -> jax.Array:
    """SigLIP per image over every device's texts, one device's ``[b, D]`` chunk at a time.

    After ``k`` shifts device ``d`` holds the texts of device ``d - k``; only ``k = 0``
    holds this device's own pairs. Each step builds one ``[b, b]`` block of logits.
    """
    n_dev = jax.lax.axis_size(axis_name)
    eye = jnp.eye(x.shape[0], dtype=bool)
    acc, _ = _sigmoid_pairs(x @ y.T, s, bias, eye)

    def step(_: int, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        chunk, total = carry
        chunk = _ring_shift(chunk, axis_name, n_dev)
        return chunk, total + _sigmoid_pairs(x @ chunk.T, s, bias, jnp.zeros_like(eye))[0]

    return jax.lax.fori_loop(1, n_dev, step, (y, acc))[1]


def _ring_grads(
    x: jax.Array,
    y: jax.Array,
    s: jax.Array,
    bias: jax.Array,
    ct: jax.Array,
    axis_name: AxisName,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(∂/∂x, ∂/∂y, ∂/∂s, ∂/∂b)`` of ``Σ ct_i ℓ_i`` over the ring; the scale and bias
    parts are this device's share (psum them for the global one).

    Each text chunk travels with the gradient it has gathered so far: device ``d`` adds
    ``s Gᵀ x`` of its images, and after ``n`` shifts the chunk, and its gradient from every
    device's images, is home again. One ``[b, b]`` block at a time, recomputed.
    """
    n_dev = jax.lax.axis_size(axis_name)
    eye = jnp.eye(x.shape[0], dtype=bool)

    def block(chunk: jax.Array, own: jax.Array) -> tuple[jax.Array, jax.Array]:
        sim = x @ chunk.T
        g = ct[:, None] * _sigmoid_pairs(sim, s, bias, own)[1]
        return g, sim

    g, sim = block(y, eye)
    init = (y, s * (g.T @ x), s * (g @ y), jnp.sum(g * sim), jnp.sum(g))

    def step(_: int, carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        chunk, g_chunk, g_x, g_s, g_b = carry
        chunk = _ring_shift(chunk, axis_name, n_dev)
        g_chunk = _ring_shift(g_chunk, axis_name, n_dev)
        g, sim = block(chunk, jnp.zeros_like(eye))
        return (chunk, g_chunk + s * (g.T @ x), g_x + s * (g @ chunk),
                g_s + jnp.sum(g * sim), g_b + jnp.sum(g))  # fmt: skip

    _, g_chunk, g_x, g_s, g_b = jax.lax.fori_loop(1, n_dev, step, init)
    return g_x, _ring_shift(g_chunk, axis_name, n_dev), g_s, g_b


def _summed_like(g: jax.Array, like: jax.Array, data: jax.Array, axis_name: AxisName) -> jax.Array:
    """A cotangent typed as its primal ``like``: summed over the devices where ``like`` is
    the same on every device (a replicated scale inside ``shard_map``), this device's
    share where it varies. Where device variance is not tracked (``pmap``, or
    ``check_vma=False``: even the per-device ``data`` looks unvarying) this device's
    share too, as JAX gives replicated inputs there (the caller psums them)."""

    def varies(a: jax.Array) -> bool:
        kind = getattr(jax.typeof(a), "manual_axis_type", None)
        names = (axis_name,) if isinstance(axis_name, str) else tuple(axis_name)
        return kind is not None and set(names) <= set(kind.varying)

    if varies(like) or not varies(data):
        return g
    return jax.lax.psum(g, axis_name)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _siglip_ring(
    x: jax.Array, y: jax.Array, s: jax.Array, bias: jax.Array, axis_name: AxisName
) -> jax.Array:
    """The ring SigLIP loss; its backward pass runs the ring again (nothing ``[b, B]``
    is kept for it: the residuals are this device's features, the scale and the bias)."""
    return _ring_loss(x, y, s, bias, axis_name)


def _siglip_ring_fwd(
    x: jax.Array, y: jax.Array, s: jax.Array, bias: jax.Array, axis_name: AxisName
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    return _ring_loss(x, y, s, bias, axis_name), (x, y, s, bias)


def _siglip_ring_bwd(
    axis_name: AxisName, res: tuple[jax.Array, ...], ct: jax.Array
) -> tuple[jax.Array, ...]:
    x, y, s, bias = res
    g_x, g_y, g_s, g_b = _ring_grads(x, y, s, bias, ct, axis_name)
    return g_x, g_y, _summed_like(g_s, s, x, axis_name), _summed_like(g_b, bias, x, axis_name)


_siglip_ring.defvjp(_siglip_ring_fwd, _siglip_ring_bwd)


def _siglip_parts(
    image_features: ArrayLike,
    text_features: ArrayLike | None,
    logit_scale: ArrayLike,
    logit_bias: ArrayLike,
    normalize: bool,
    axis_name: AxisName | None,
    ring: bool,
    fn: str,
    with_grads: bool = True,
) -> tuple[jax.Array, _Quad]:
    """Returns (per-image loss, (∂/∂image, ∂/∂text, ∂/∂logit_scale, ∂/∂logit_bias)).

    With ``ring``, ``with_grads=False`` computes the loss alone (see
    :func:`_siglip_ring_parts`; the gradients returned are then ``None``).
    """
    if ring:
        loss, grads = _siglip_ring_parts(
            image_features,
            text_features,
            logit_scale,
            logit_bias,
            normalize,
            axis_name,
            fn,
            with_grads=with_grads,
        )
        return loss, cast(_Quad, grads)
    s0 = _learned_scalar(logit_scale, "logit_scale", fn)
    b0 = _learned_scalar(logit_bias, "logit_bias", fn)
    sim, offset, pull, dtype = _similarity(image_features, text_features, normalize, axis_name, fn)
    s, bias = s0.astype(sim.dtype), b0.astype(sim.dtype)
    loss, g_z = _sigmoid_pairs(sim, s, bias, _own_columns(sim, offset)[1])
    g_s, g_b = jnp.sum(g_z * sim), jnp.sum(g_z)
    if axis_name is not None:
        g_s, g_b = jax.lax.psum((g_s, g_b), axis_name)
    g_x, g_y = pull(s * g_z)
    return loss.astype(dtype), (g_x, g_y, g_s.astype(s0.dtype), g_b.astype(b0.dtype))


def _siglip_ring_parts(
    image_features: ArrayLike,
    text_features: ArrayLike | None,
    logit_scale: ArrayLike,
    logit_bias: ArrayLike,
    normalize: bool,
    axis_name: AxisName | None,
    fn: str,
    with_grads: bool = True,
) -> tuple[jax.Array, _Quad | None]:
    """:func:`_siglip_parts` with the texts passed around the ring (``ring=True``).

    The loss itself asks for no closed form (``with_grads=False``), so that ``jax.grad``
    of it traces the ring's custom_vjp alone.
    """
    x0, y0, _, _ = _check_pair(image_features, text_features, axis_name, fn)
    if axis_name is None or y0 is None:
        raise ValueError(
            f"{fn}: `ring=True` passes the texts from device to device, so it needs "
            "`axis_name` (inside shard_map) and the two towers (not a logits matrix); "
            "without them use the default `ring=False`."
        )
    s0 = _learned_scalar(logit_scale, "logit_scale", fn)
    b0 = _learned_scalar(logit_bias, "logit_bias", fn)
    x = upcast(x0)
    xh, nx = unit(x) if normalize else (x, None)
    yh, ny = unit(y0.astype(x.dtype)) if normalize else (y0.astype(x.dtype), None)
    s, bias = s0.astype(x.dtype), b0.astype(x.dtype)
    loss = _siglip_ring(xh, yh, s, bias, axis_name)
    if not with_grads:
        return loss.astype(x0.dtype), None
    ones = jnp.ones_like(loss)
    g_x, g_y, g_s, g_b = _ring_grads(xh, yh, s, bias, ones, axis_name)
    g_s, g_b = jax.lax.psum((g_s, g_b), axis_name)
    if nx is not None and ny is not None:
        g_x, g_y = unit_backward(g_x, xh, nx), unit_backward(g_y, yh, ny)
    grads = (g_x.astype(x0.dtype), g_y.astype(y0.dtype), g_s.astype(s0.dtype), g_b.astype(b0.dtype))
    return loss.astype(x0.dtype), grads


def siglip_loss(
    image_features: ArrayLike,
    text_features: ArrayLike | None = None,
    logit_scale: ArrayLike = 10.0,
    logit_bias: ArrayLike = -10.0,
    *,
    normalize: bool = False,
    axis_name: AxisName | None = None,
    ring: bool = False,
) -> jax.Array:
    r"""SigLIP's pairwise sigmoid loss: every image-text pair is its own binary problem.

    .. math:: z_{ij} = s \langle x_i, y_j \rangle + b, \quad
       \ell_i = -\sum_j \log \sigma\big(\pm z_{ij}\big)
       \quad (+ \text{ for } j = i, - \text{ otherwise})

    Per image ``i``: the sum over every text of the pair's sigmoid loss, so the **mean**
    over the batch is the paper's normalisation, ``-\frac{1}{|B|} \sum_i \sum_j
    \log \sigma(\pm z_{ij})`` (open_clip's ``SigLipLoss``). ``logit_scale`` (``s``, the
    paper's ``exp(t')``, initialised at 10) and ``logit_bias`` (``b``, initialised at
    -10) are learned: the closed form (``jaxlosses.closed_form.siglip_loss``) returns
    ``(∂/∂image_features, ∂/∂text_features, ∂/∂logit_scale, ∂/∂logit_bias)``. The
    features are used as given (the model normalises them); ``normalize=True`` takes
    cosines.

    Args:
      image_features: ``[batch, dim]``; or, with ``text_features=None``, the similarity
        matrix ``[batch, batch]`` (rows images, columns texts; ``z = s · it + b``).
      text_features: ``[batch, dim]``; row ``i`` is the text of image ``i``.
      logit_scale: ``s``, a scalar (learned).
      logit_bias: ``b``, a scalar (learned).
      normalize: unit-normalise each feature vector first (cosine similarities).
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        batch is split over: every device's texts are negatives (gathered), so the loss
        and its gradients equal those of the global batch on one device (the closed
        form's scale and bias gradients are the global ones on every device). Each
        device holds ``[batch, devices · batch]`` logits, never the global square.
      ring: with ``axis_name``, pass the texts around the devices (``lax.ppermute``)
        one device's ``[batch, dim]`` chunk at a time instead of gathering them, as
        big_vision's chunked sigmoid loss does: a device holds one ``[batch, batch]``
        block of logits and one chunk of texts at a time, and the backward pass runs the
        ring again (a ``custom_vjp``) instead of keeping the blocks. Same values and
        gradients; ``devices - 1`` shifts forward, ``2 devices - 1`` backward. (Under
        ``pmap``, as for the gathered loss, each device gets its share of the scale and
        bias gradients; inside ``shard_map`` a replicated scale gets the global one.)

    Returns:
      Per-image loss ``[batch]`` (this device's images with ``axis_name``), dtype of
      ``image_features``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # z = [[1, 0], [0, 1]]: -log σ(1) - log σ(-0) per image
      >>> jl.siglip_loss(x, x, 1.0, 0.0).round(4).tolist()
      [1.0064, 1.0064]

    References:
      Zhai et al., `Sigmoid Loss for Language Image Pre-Training
      <https://arxiv.org/abs/2303.15343>`_, 2023.
    """
    # With the ring, its forward alone: jax.grad then runs the ring's own backward.
    loss, _ = _siglip_parts(
        image_features,
        text_features,
        logit_scale,
        logit_bias,
        normalize,
        axis_name,
        ring,
        "siglip_loss",
        with_grads=False,
    )
    return loss


@closed_form_of(siglip_loss, _siglip_parts)
def _siglip_loss_grad(_: jax.Array, grads: _Quad) -> _Quad:
    r"""``G_ij = ∓σ(∓z_ij)`` (``-σ(-z)`` on pairs, ``σ(z)`` off them): ``∂/∂x = s G y``.

    ``∂/∂y = s Gᵀ x``, ``∂/∂s = Σ G ⊙ ⟨x, y⟩``, ``∂/∂b = Σ G``; with ``normalize``, back
    through ``x̂ = x/‖x‖``.
    """
    return grads


# --- supervised contrastive (SupCon) --------------------------------------------------------


def _supcon_parts(
    embeddings: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike,
    axis_name: AxisName | None,
    fn: str,
) -> tuple[jax.Array, jax.Array]:
    """Returns (per-anchor loss, ∂/∂embeddings), in the dtype of ``embeddings``."""
    e0, lab = labelled_embeddings(embeddings, labels, fn)
    e = upcast(e0)
    eh, ne = unit(e)
    positive_temperature(temperature, fn)
    t = jnp.asarray(temperature, e.dtype)
    eh_all, lab_all, offset = eh, lab, jnp.zeros((), jnp.int32)
    if axis_name is not None:
        eh_all = jax.lax.all_gather(eh, axis_name, axis=0, tiled=True)
        lab_all = jax.lax.all_gather(lab, axis_name, axis=0, tiled=True)
        offset = jax.lax.axis_index(axis_name) * e.shape[0]
    z = (eh @ eh_all.T) / t  # [b, B]
    _, me = _own_columns(z, offset)
    pos = (lab[:, None] == lab_all[None, :]) & ~me
    n_pos = jnp.sum(pos, axis=1)
    has = n_pos > 0  # anchors without a positive take no part (loss 0)
    m = jax.lax.stop_gradient(jnp.max(jnp.where(me, -jnp.inf, z), axis=1, keepdims=True))
    m = jnp.where(m == -jnp.inf, 0.0, m)  # a batch of one (NaN stays NaN)
    ez = jnp.where(me, 0.0, jnp.exp(jnp.where(me, m, z) - m))  # every a ≠ i
    total = jnp.where(has[:, None], jnp.sum(ez, axis=1, keepdims=True), 1.0)
    count = jnp.where(has, n_pos, 1).astype(z.dtype)
    mean_pos = jnp.sum(jnp.where(pos, z, 0.0), axis=1) / count
    loss = jnp.where(has, jnp.log(total[:, 0]) + m[:, 0] - mean_pos, 0.0)
    # ∂ℓ_i/∂z_ia = softmax_{a ≠ i}(z_i)_a - [a ∈ P(i)] / |P(i)|
    g_z = jnp.where(has[:, None], ez / total - pos.astype(z.dtype) / count[:, None], 0.0) / t
    g_rows = g_z @ eh_all  # through the anchors
    g_cols = g_z.T @ eh  # through the other examples (every device's anchors reach them)
    if axis_name is not None:
        g_cols = jax.lax.psum_scatter(g_cols, axis_name, scatter_dimension=0, tiled=True)
    g_e = unit_backward(g_rows + g_cols, eh, ne)
    return loss.astype(e0.dtype), g_e.astype(e0.dtype)


def supervised_contrastive_loss(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    temperature: ArrayLike = 0.1,
    axis_name: AxisName | None = None,
) -> jax.Array:
    r"""Supervised contrastive loss (SupCon): every same-class example is a positive.

    .. math:: \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
       \log \frac{e^{z_{ip}}}{\sum_{a \neq i} e^{z_{ia}}},
       \quad z_{ia} = \cos(e_i, e_a) / \tau

    ``P(i)`` holds the other examples with anchor ``i``'s label (several positives per
    anchor; the paper's ``L^{sup}_{out}``); the denominator runs over every example but
    the anchor. Stack the views of each image as rows with the same label (SimCLR's
    NT-Xent is the case of two views and one label per image). An anchor without a
    positive gives 0 and its gradient term 0. The mean over anchors *with* a positive is
    pytorch-metric-learning's ``SupConLoss`` (its default reducer); the mean over all
    anchors is the reference implementation's (``SupContrast``).

    Args:
      embeddings: ``[batch, dim]``.
      labels: integer class labels ``[batch]``.
      temperature: ``τ > 0`` (pytorch-metric-learning's default 0.1).
      axis_name: inside ``jax.shard_map`` or ``jax.pmap``, the mesh axis (or axes) the
        batch is split over: every device's examples are positives and negatives
        (gathered with their labels), so the loss and its gradients equal those of the
        global batch on one device.

    Returns:
      Per-anchor loss ``[batch]`` (this device's anchors with ``axis_name``), dtype of
      ``embeddings``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> e = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> # anchor 0: -log(e^1 / (e^1 + e^0)) with τ = 1; anchor 2 has no positive
      >>> jl.supervised_contrastive_loss(e, jnp.array([0, 0, 1]), temperature=1.0).round(4)
      Array([0.3133, 0.3133, 0.    ], dtype=float32)

    References:
      Khosla et al., `Supervised Contrastive Learning
      <https://arxiv.org/abs/2004.11362>`_, 2020.
    """
    loss, _ = _supcon_parts(
        embeddings, labels, temperature, axis_name, "supervised_contrastive_loss"
    )
    return loss


@closed_form_of(supervised_contrastive_loss, _supcon_parts)
def _supervised_contrastive_loss_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``G_ia = softmax_{a≠i}(z_i)_a - [a ∈ P(i)]/|P(i)|`` (0 for anchors without positives).

    ``∂/∂ê = (G + Gᵀ) ê / τ`` (``z`` is symmetric in the two embeddings), then back
    through ``ê = e/‖e‖``.
    """
    return g


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    info_nce_loss, "in-batch negatives: the other examples' keys", gathers="axis_name"
)
register_batch_coupled(
    multiple_negatives_ranking_loss,
    "in-batch negatives: the other examples' positives",
    gathers="axis_name",
)
register_batch_coupled(
    ntxent,
    "positive pairs and negatives drawn from the whole batch, one scalar",
    instead="call ntxent(..., axis_name=AXIS) inside jax.shard_map (out_specs=P()): it "
    "gathers every device's rows and returns the global batch's loss",
)
register_batch_coupled(
    clip_loss, "in-batch negatives: the other pairs' texts and images", gathers="axis_name"
)
register_batch_coupled(
    siglip_loss, "in-batch negatives: the other pairs' texts", gathers="axis_name"
)
register_batch_coupled(
    supervised_contrastive_loss,
    "positives and negatives drawn from the whole batch",
    gathers="axis_name",
)
