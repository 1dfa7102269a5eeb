"""Contrastive losses with in-batch negatives: InfoNCE, NT-Xent, multiple-negatives ranking.

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed*
loss, derived by hand. Similarities are cosines of normalised embeddings; a
zero-norm embedding normalises to 0 (cosine 0) with a finite gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import (
    AxisName,
    closed_form_of,
    floating,
    integer,
    safe_div,
    unit,
    unit_backward,
    upcast,
)
from ._coupling import register_batch_coupled

__all__ = ["info_nce_loss", "multiple_negatives_ranking_loss", "ntxent"]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. two learned inputs


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
    embeddings: ArrayLike, labels: ArrayLike, temperature: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array]:
    """Returns (the mean loss, ∂/∂embeddings), in the dtype of ``embeddings``."""
    e0 = floating(embeddings, "embeddings", fn)
    lab = integer(labels, "labels", fn)
    if e0.ndim != 2 or lab.shape != e0.shape[:1]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape} and `labels` {lab.shape}; expected "
            "embeddings [batch, dim] and one integer group label per row, [batch]."
        )
    e = upcast(e0)
    batch = e.shape[0]
    # optax's cosine: v / sqrt(max(‖v‖², eps)), eps the input dtype's machine epsilon.
    floor = jnp.asarray(jnp.finfo(e0.dtype).eps, e.dtype)
    sq = jnp.sum(e * e, axis=-1, keepdims=True)
    big = sq > floor
    norm = jnp.sqrt(jnp.where(big, sq, floor))
    eh = e / norm
    t = jnp.asarray(temperature, e.dtype)
    z = (eh @ eh.T) / t
    same = lab[:, None] == lab[None, :]
    eye = jnp.eye(batch, dtype=bool)
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
    count = jnp.sum(match).astype(e.dtype)
    loss = safe_div(jnp.sum(pair), count)
    # ∂/∂z_ij (pair) = e^{z_ij - den_ij} - 1; ∂/∂z_ik (negative k) = Σ_j e^{z_ik - den_ij}.
    r = jnp.where(match, jnp.exp(jnp.where(match, z, 0.0) - log_den), 0.0)
    inv_den = jnp.sum(jnp.where(match, jnp.exp(m - log_den), 0.0), axis=-1, keepdims=True)
    gz = jnp.where(match, r - 1.0, 0.0) + jnp.where(diff, jnp.exp(zd - m) * inv_den, 0.0)
    gz = safe_div(gz, count)
    g_eh = ((gz + gz.T) @ eh) / t
    g_e = jnp.where(
        big, (g_eh - eh * jnp.sum(eh * g_eh, axis=-1, keepdims=True)) / norm, g_eh / norm
    )
    return loss.astype(e0.dtype), g_e.astype(e0.dtype)


def ntxent(
    embeddings: ArrayLike,
    labels: ArrayLike,
    temperature: ArrayLike = 0.07,
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

    Returns:
      A scalar in the dtype of ``embeddings``.

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
    loss, _ = _ntxent_parts(embeddings, labels, temperature, "ntxent")
    return loss


@closed_form_of(ntxent, _ntxent_parts)
def _ntxent_grad(_: jax.Array, g: jax.Array) -> jax.Array:
    r"""``G = ∂L/∂z``: ``(r_ij - 1)/|P|`` on pairs, ``Σ_j e^{z_ik - den_ij}/|P|`` on negatives.

    ``r_ij = e^{z_ij - den_ij}``; then ``∂/∂ê = (G + Gᵀ) ê / τ`` (``z`` is symmetric in
    the two embeddings) and back through ``ê = e / sqrt(max(‖e‖², eps))``.
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
    ntxent, "positive pairs and negatives drawn from the whole batch, one scalar"
)
