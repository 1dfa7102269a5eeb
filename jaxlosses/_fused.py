"""Memory-efficient linear + softmax cross-entropy for large vocabularies.

The output layer of a language model computes ``logits = hidden @ weight`` of shape
``[N, V]`` and then a cross-entropy. For ``N = 8192`` tokens and ``V = 262144`` classes the
logits alone are 8 GiB in float32, and the materialised path keeps several such arrays
alive for the backward pass. :func:`linear_softmax_cross_entropy` never builds them: it
streams over chunks of tokens, each chunk's ``[C, V]`` logits living only inside one step
of a :func:`jax.lax.scan`, and its :func:`jax.custom_vjp` keeps residuals of size
``O(N + N·D + D·V)``.

Under differentiation the forward rule computes the gradient pieces while the chunk's
logits are at hand (``dL/dhidden`` per token and the summed ``dL/dweight``), so a
value-and-grad costs three matrix products (logits, ``A Wᵀ``, ``Hᵀ A``) instead of the
four of recomputing the logits in the backward pass. The summed ``dL/dweight`` is exact
for any cotangent that is the same on every unmasked token (``sum``, ``mean``,
``masked_mean`` with the same ``where``); for other cotangents (per-token weights) the
backward pass detects it at run time and recomputes ``dL/dweight`` in a second streaming
pass, so the result is always exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._checks import labels_in_range, register_checks, unused_where
from ._classification import class_weights, smoothing
from ._core import closed_form_of, compute_dtype, floating, hidden_and_weight, integer
from ._coupling import varying_like

__all__ = ["linear_softmax_cross_entropy"]

# Default chunking: about 2**22 logits (16 MiB in float32) per chunk, but never fewer than
# _MIN_CHUNK tokens. Each chunk adds its [D, V] contribution into the dL/dW accumulator, so
# very short chunks turn the loop into a memory-bound sweep over D x V; 128 tokens keeps
# that add under ~5 % of the chunk's three matrix products at any V. Measured on a 2-core
# CPU at N=8192, D=512, V=32768 (bench/): 128-token chunks used the least CPU time and
# kept peak memory lowest among 32..1024.
_TARGET_CHUNK_ELEMENTS = 2**22
_MIN_CHUNK = 128


def _default_chunk(n: int, v: int) -> int:
    c = max(_MIN_CHUNK, _TARGET_CHUNK_ELEMENTS // max(v, 1))
    c -= c % 8
    return max(1, min(c, n))


def _static_float(x: Any, name: str, fn: str) -> float:
    try:
        return float(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"{fn}: `{name}` must be a Python number (a static hyperparameter), got "
            f"{type(x).__name__}. Pass it as a float, e.g. `{name}=0.1`."
        ) from None


# --- the math of one chunk ---------------------------------------------------------------


def _chunk_logits(h: jax.Array, w: jax.Array, b: jax.Array | None, cdt: Any) -> jax.Array:
    z = jnp.dot(h, w, preferred_element_type=cdt)
    if b is not None:
        z = z + b.astype(cdt)[None, :]
    return z


def _chunk_loss_and_dz(
    h: jax.Array,
    w: jax.Array,
    b: jax.Array | None,
    y: jax.Array,
    m: jax.Array,
    cw: jax.Array | None,
    alpha: float,
    zc: float,
    cdt: Any,
    with_dz: bool,
    axis: str | None = None,
) -> tuple[jax.Array, jax.Array | None, tuple[jax.Array, jax.Array]]:
    """Per-token loss of one chunk, optionally ``A = dloss/dlogits`` ``[C, V]``, and the
    per-token ``(lse, lse - z_y)`` (what the gradient w.r.t. class weights ``cw`` needs).

    With a vocabulary ``axis`` (inside ``shard_map``), ``w``, ``b`` and ``cw`` are this
    device's block of classes and every sum over classes is completed by a collective
    over ``axis``; ``A`` is the local ``[C, V/n]`` block. ``axis=None`` is the plain path.
    """
    v = w.shape[1]
    if axis is None:
        vl, off = v, None
    else:  # this device holds the classes [off, off + vl) of v
        vl, off = v, lax.axis_index(axis) * v
        v = v * lax.axis_size(axis)
    z = _chunk_logits(h, w, b, cdt)
    mx = lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    if axis is not None:
        mx = lax.stop_gradient(lax.pmax(mx, axis))
    # exp is recomputed below for p rather than kept: one fewer [C, V] buffer alive.
    lse = mx[:, 0] + jnp.log(_vsum(jnp.sum(jnp.exp(z - mx), axis=-1), axis))
    in_range = (y >= 0) & (y < v)
    if off is None:
        yl, mine = y, None
        yc = jnp.clip(y, 0, v - 1)
        z_y = jnp.take_along_axis(z, yc[:, None], axis=-1)[:, 0]
    else:  # the target logit comes from the device whose block holds the label
        yl = y - off
        mine = (yl >= 0) & (yl < vl)
        yc = jnp.clip(yl, 0, vl - 1)
        z_y = _vsum(jnp.where(mine, jnp.take_along_axis(z, yc[:, None], axis=-1)[:, 0], 0.0), axis)
    nll = lse - z_y
    if cw is None:
        loss = nll
        if alpha != 0.0 and axis is None:
            loss = (1.0 - alpha) * loss + alpha * (lse - jnp.mean(z, axis=-1))
        elif alpha != 0.0:
            loss = (1.0 - alpha) * loss + alpha * (lse - _vsum(jnp.sum(z, axis=-1), axis) / v)
    else:  # (1 - α) c_y (lse - z_y) + (α / V) Σ_v c_v (lse - z_v)
        cwc = cw.astype(cdt)
        w_y = cwc[yc] if mine is None else _vsum(jnp.where(mine, cwc[yc], 0.0), axis)
        loss = w_y * nll
        if alpha != 0.0:
            smooth = (_vsum(jnp.sum(cwc), axis) * lse - _vsum(jnp.dot(z, cwc), axis)) / v
            loss = (1.0 - alpha) * loss + alpha * smooth
    if zc != 0.0:
        loss = loss + zc * lse**2
    valid = m & in_range
    # Masked tokens give 0 whatever their label; an unmasked out-of-range label gives NaN.
    loss = jnp.where(m, jnp.where(in_range, loss, jnp.nan), 0.0)
    if not with_dz:
        return loss, None, (lse, nll)
    p = jnp.exp(z - lse[:, None])
    scale = 1.0 + 2.0 * zc * lse if zc != 0.0 else None
    if cw is not None:  # <c, t> with t the smoothed one-hot target
        tw = (1.0 - alpha) * w_y + alpha * _vsum(jnp.sum(cwc), axis) / v
        scale = tw if scale is None else scale - 1.0 + tw
    if scale is not None:
        p = p * scale[:, None]
    onehot = jnp.arange(vl, dtype=y.dtype)[None, :] == yl[:, None]
    if cw is None:
        dz = p - jnp.where(onehot, 1.0 - alpha, 0.0)
        if alpha != 0.0:
            dz = dz - alpha / v
    else:
        dz = p - jnp.where(onehot, (1.0 - alpha) * w_y[:, None], 0.0)
        if alpha != 0.0:
            dz = dz - (alpha / v) * cwc[None, :]
    return loss, jnp.where(valid[:, None], dz, 0.0), (lse, nll)


def _vsum(x: jax.Array, axis: str | None) -> jax.Array:
    """``x`` summed over the vocabulary devices (itself without a vocabulary axis)."""
    return x if axis is None else lax.psum(x, axis)


# --- the streaming paths ---------------------------------------------------------------------


def _stream_value(h, w, b, y, m, cw, alpha, zc, cdt, remat, axis=None):
    """Loss per token, ``[nC, C]``, by plain JAX ops (a fully differentiable scan)."""

    def body(xs):
        hc, yc, mc = xs
        return _chunk_loss_and_dz(hc, w, b, yc, mc, cw, alpha, zc, cdt, False, axis)[0]

    if remat:
        body = jax.checkpoint(body)
    return lax.map(body, (h, y, m))


_VOCAB_BLOCK = 4096


def _vocab_block(v: int) -> int:
    """The largest block of at most ``_VOCAB_BLOCK`` classes dividing ``v``.

    Blocks smaller than an eighth of ``_VOCAB_BLOCK`` are not worth the loop: then ``v``.
    """
    if v <= _VOCAB_BLOCK:
        return v
    for blk in range(_VOCAB_BLOCK, max(1, _VOCAB_BLOCK // 8) - 1, -1):
        if v % blk == 0:
            return blk
    return v


def _accumulate_weight_grad(gw, hc, dz, cdt):
    """``gw + hcᵀ dz`` updated in place one vocabulary block at a time.

    ``gw + jnp.dot(hc.T, dz)`` would materialise the whole ``[D, V]`` product before the
    add (XLA does not accumulate a dot into an existing buffer): a second ``D·V`` array,
    as large as the weight. Updating ``[D, block]`` slices of the loop-carried buffer keeps
    that temporary at ``D·block``.
    """
    v = gw.shape[1]
    blk = _vocab_block(v)
    if blk == v:
        return gw + jnp.dot(hc.T, dz.astype(hc.dtype), preferred_element_type=cdt)

    def update(j, g):
        start = j * blk
        dzj = lax.dynamic_slice_in_dim(dz, start, blk, axis=1).astype(hc.dtype)
        gj = lax.dynamic_slice_in_dim(g, start, blk, axis=1)
        gj = gj + jnp.dot(hc.T, dzj, preferred_element_type=cdt)
        return lax.dynamic_update_slice_in_dim(g, gj, start, axis=1)

    return lax.fori_loop(0, v // blk, update, gw)


def _stream_value_and_grads(h, w, b, y, m, cw, alpha, zc, cdt, axis=None):
    """Loss ``[nC, C]``, ``dL/dh`` ``[nC, C, D]``, the summed ``dL/dW``, ``dL/db``, and the
    per-token ``(lse, lse - z_y)`` (``None`` without class weights)."""

    def body(carry, xs):
        gw, gb = carry
        hc, yc, mc = xs
        loss, dz, stats = _chunk_loss_and_dz(hc, w, b, yc, mc, cw, alpha, zc, cdt, True, axis)
        assert dz is not None
        # With a vocabulary axis each device holds the classes of its block: A Wᵀ sums them.
        # The operands in the wider of the two input dtypes: float32 hidden states with a
        # bfloat16 weight must not round dL/dz to bfloat16 (a 1e-3 error in dL/dh).
        odt = jnp.promote_types(hc.dtype, w.dtype)
        gh = _vsum(jnp.dot(dz.astype(odt), w.T, preferred_element_type=cdt), axis)
        gw = _accumulate_weight_grad(gw, hc, dz, cdt)
        if gb is not None:
            gb = gb + jnp.sum(dz, axis=0)
        return (gw, gb), (loss, gh, None if cw is None else stats)

    gw0 = _zeros_like_grad(w.shape, cdt, h, w, axis)
    gb0 = None if b is None else _zeros_like_grad(w.shape[1], cdt, h, w, axis)
    (gw, gb), (loss, gh, stats) = lax.scan(body, (gw0, gb0), (h, y, m))
    return loss, gh, gw, gb, stats


def _stream_weight_grad(h, w, b, y, m, c, cw, alpha, zc, cdt, axis=None):
    """``Hᵀ diag(c) A`` (and ``Σ c A``) for an arbitrary per-token cotangent ``c``."""

    def body(carry, xs):
        gw, gb = carry
        hc, yc, mc, cc = xs
        _, dz, _ = _chunk_loss_and_dz(hc, w, b, yc, mc, cw, alpha, zc, cdt, True, axis)
        assert dz is not None
        dz = dz * cc[:, None].astype(cdt)
        gw = _accumulate_weight_grad(gw, hc, dz, cdt)
        if gb is not None:
            gb = gb + jnp.sum(dz, axis=0)
        return (gw, gb), None

    gb0 = None if b is None else _zeros_like_grad(w.shape[1], cdt, h, w, axis)
    gw0 = _zeros_like_grad(w.shape, cdt, h, w, axis)
    (gw, gb), _ = lax.scan(body, (gw0, gb0), (h, y, m, c))
    return gw, gb


def _zeros_like_grad(shape, cdt, h, w, axis):
    """A zero ``dL/dW`` (or ``dL/db``) accumulator typed like the per-device gradient.

    It varies over the tokens' mesh axes, and with a vocabulary axis over the weight's too.
    """
    z = varying_like(jnp.zeros(shape, cdt), h)
    return z if axis is None else varying_like(z, w)


def _fused(h, w, b, y, m, cw, alpha, zc, axis):
    cdt = compute_dtype(h.dtype)
    return _stream_value(h, w, b, y, m, cw, alpha, zc, cdt, False, axis)


_fused_vjp = jax.custom_vjp(_fused, nondiff_argnums=(6, 7, 8))


def _fused_fwd(h, w, b, y, m, cw, alpha, zc, axis):
    cdt = compute_dtype(h.dtype)
    loss, gh, gw, gb, stats = _stream_value_and_grads(h, w, b, y, m, cw, alpha, zc, cdt, axis)
    return loss, (gh, gw, gb, h, w, b, y, m, cw, stats)


def _class_weight_grad(h, w, b, y, m, c, cw, stats, alpha, axis=None):
    r"""``Σ_i c_i ∂ℓ_i/∂cw`` for the class weights ``cw``, from per-token statistics only.

    ``∂ℓ_i/∂cw_v = (1 - α)(lse_i - z_{i y_i}) [v = y_i] + (α / V)(lse_i - z_{iv})``, and
    ``Σ_i c_i z_i = (Σ_i c_i h_i) W + (Σ_i c_i) b``: no ``[N, V]`` array is needed.
    """
    lse, nll = stats
    v = vl = w.shape[1]
    if axis is not None:  # this device's block of classes: [off, off + vl) of v
        v = vl * lax.axis_size(axis)
        y_local = y - lax.axis_index(axis) * vl
    valid = m & (y >= 0) & (y < v)
    cv = jnp.where(valid, c, 0.0)
    if axis is None:
        yc = jnp.clip(y, 0, v - 1).reshape(-1)
        first = ((1.0 - alpha) * cv * jnp.where(valid, nll, 0.0)).reshape(-1)
    else:  # a label outside this block adds nothing here
        yc = jnp.clip(y_local, 0, vl - 1).reshape(-1)
        mine = (y_local >= 0) & (y_local < vl)
        first = jnp.where(mine, (1.0 - alpha) * cv * jnp.where(valid, nll, 0.0), 0.0).reshape(-1)
    g = jnp.zeros(vl, c.dtype).at[yc].add(first)
    if alpha != 0.0:
        hs = jnp.einsum("...,...d->d", cv, h.astype(c.dtype))
        cz = jnp.dot(hs, w.astype(c.dtype))
        if b is not None:
            cz = cz + jnp.sum(cv) * b.astype(c.dtype)
        g = g + (alpha / v) * (jnp.sum(cv * jnp.where(valid, lse, 0.0)) - cz)
    return g.astype(cw.dtype)


def weight_grads_for(
    c: jax.Array,
    m: jax.Array,
    gw: jax.Array,
    gb: jax.Array | None,
    exact: Callable[[], tuple[jax.Array, jax.Array | None]],
) -> tuple[jax.Array, jax.Array | None]:
    """The summed weight and bias gradients for the per-token cotangent ``c``.

    ``gw``, ``gb`` were summed in the forward pass with cotangent 1 on every token; they
    are exact, scaled, when ``c`` is one number on every unmasked token (a mean or a sum
    of the loss); otherwise ``exact()`` streams the tokens again with their cotangents.
    """
    any_valid = jnp.any(m)
    cmax = jnp.max(jnp.where(m, c, -jnp.inf))
    cmin = jnp.min(jnp.where(m, c, jnp.inf))
    uniform = (cmax == cmin) | ~any_valid
    scale = jnp.where(any_valid, cmax, 0.0)

    def fast(_: None) -> tuple[jax.Array, jax.Array | None]:
        return scale * gw, None if gb is None else scale * gb

    return lax.cond(uniform, fast, lambda _: exact(), None)


def _fused_bwd(alpha, zc, axis, res, ct):
    gh, gw, gb, h, w, b, y, m, cw, stats = res
    cdt = gw.dtype
    c = ct.astype(cdt)
    dh = (c[..., None] * gh).astype(h.dtype)
    dw, db = weight_grads_for(
        c, m, gw, gb, lambda: _stream_weight_grad(h, w, b, y, m, c, cw, alpha, zc, cdt, axis)
    )
    db_out = None if b is None or db is None else db.astype(b.dtype)
    dcw = None if cw is None else _class_weight_grad(h, w, b, y, m, c, cw, stats, alpha, axis)
    return dh, dw.astype(w.dtype), db_out, None, None, dcw


_fused_vjp.defvjp(_fused_fwd, _fused_bwd)


# --- the public function -----------------------------------------------------------------


def _inputs(
    hidden,
    weight,
    labels,
    bias,
    where,
    label_smoothing,
    z_loss,
    chunk_size,
    fn,
    weights=None,
    custom_vjp=True,
    vocab_axis_name=None,
):
    """Validated ``(h, w, y, b, m, alpha, z-loss coefficient, class weights or None)`` for
    the loss and its closed form.

    ``custom_vjp`` is taken (the closed form passes all the loss's arguments) and not used;
    ``vocab_axis_name`` is checked here and used by the loss.
    """
    h, w = hidden_and_weight(hidden, weight, fn)
    y = integer(labels, "labels", fn)
    if y.shape != h.shape[:-1]:
        raise ValueError(
            f"{fn}: `labels` has shape {y.shape} but `hidden` {h.shape} needs labels of "
            f"shape {h.shape[:-1]} (one class index per token)."
        )
    b = None
    if bias is not None:
        b = floating(bias, "bias", fn)
        if b.shape != (w.shape[1],):
            raise ValueError(
                f"{fn}: `bias` has shape {b.shape}; expected ({w.shape[1]},), one per class."
            )
    m = jnp.ones(y.shape, bool) if where is None else jnp.asarray(where)
    if m.shape != y.shape:
        raise ValueError(
            f"{fn}: `where` has shape {m.shape}; it masks tokens, so it needs the labels' "
            f"shape {y.shape}."
        )
    if m.dtype != jnp.bool_:
        m = m != 0
    if where is not None:
        # A masked token's hidden state takes no part: zeroed, so a NaN there (padding)
        # reaches neither its logits nor dL/dweight (0 * NaN in the outer product).
        h = jnp.where(m[..., None], h, jnp.zeros((), h.dtype))
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"{fn}: `chunk_size` must be a positive int or None, got {chunk_size!r}.")
    if vocab_axis_name is not None and not isinstance(vocab_axis_name, str):
        raise TypeError(
            f"{fn}: `vocab_axis_name` must be the name (a str) of the mesh axis that the "
            f"weight's classes are split over, got {vocab_axis_name!r}."
        )
    alpha = _static_float(smoothing(label_smoothing, fn), "label_smoothing", fn)
    zc = _static_float(z_loss, "z_loss", fn)
    cw = class_weights(weights, (w.shape[1],), compute_dtype(h.dtype), fn)
    return h, w, y, b, m, alpha, zc, cw


def linear_softmax_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    where: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    weights: ArrayLike | None = None,
    chunk_size: int | None = None,
    custom_vjp: bool = True,
    vocab_axis_name: str | None = None,
) -> jax.Array:
    r"""Cross-entropy of a linear output layer, without materialising the logits.

    .. math::
        z_i = h_i W + b, \qquad
        \ell_i = (1 - \alpha)\,c_{y_i} (\operatorname{lse}(z_i) - z_{i y_i})
                 + \tfrac{\alpha}{V} \textstyle\sum_v c_v (\operatorname{lse}(z_i) - z_{iv})
                 + \lambda \operatorname{lse}(z_i)^2

    Equal to ``softmax_cross_entropy_with_integer_labels(hidden @ weight + bias, labels)``
    (with optax-style label smoothing over all ``V`` classes, PaLM's z-loss
    :math:`\lambda\,\operatorname{lse}^2` and torch's class weights ``c``, all with
    the same meaning as there), but computed over chunks of ``chunk_size``
    tokens so that only one ``[chunk_size, V]`` block of logits exists at a time. bf16
    inputs are multiplied with float32 accumulation, the softmax is computed in float32
    and the loss is returned in the input dtype.

    Differentiation: with ``custom_vjp=True`` (default) reverse mode uses a
    :func:`jax.custom_vjp` whose forward rule computes the gradient pieces while each
    chunk's logits are at hand (about three matrix products for value-and-grad, residuals
    ``O(N·D + D·V)``); exact for every cotangent (a per-token weighting triggers a second
    pass for ``dL/dweight``). Pass the same ``where`` to the loss and to the reduction to
    stay on the fast path. A ``custom_vjp`` function cannot be forward-differentiated:
    for ``jax.jvp``, ``jax.jacfwd``, forward-over-anything Hessians, pass
    ``custom_vjp=False``, which differentiates the same chunked computation with plain
    autodiff (each chunk rematerialised with :func:`jax.checkpoint`, so memory stays
    ``O(N·D + D·V)``; one more matrix product in reverse mode). Reverse-over-reverse and
    ``jax.vmap`` work on both paths.

    Args:
      hidden: ``[..., D]`` features of each token (any leading batch shape).
      weight: ``[D, V]`` output projection (for a tied embedding table ``E`` of shape
        ``[V, D]``, pass ``E.T``).
      labels: integer class per token, shape ``hidden.shape[:-1]``.
      bias: optional ``[V]`` output bias.
      where: optional boolean token mask, shape of ``labels``; masked tokens give 0 and
        no gradient (torch's ``ignore_index`` is ``where=labels != ignore_index``).
      label_smoothing: α, a Python float: mass spread uniformly over the ``V`` classes.
      z_loss: λ, a Python float: coefficient of the ``lse²`` penalty.
      weights: optional class weights ``c`` ``[V]`` (torch's ``weight``); torch's
        ``reduction='mean'`` is ``loss.sum() / c[labels].sum()`` over the kept tokens.
        Differentiable: its gradient comes from per-token statistics, without the logits.
      chunk_size: tokens per chunk; default ``max(128, 2**22 // V)`` (16 MiB of float32
        logits per chunk at ``V = 32768``).
        A token count not divisible by it is padded (and masked) internally.
      custom_vjp: use the fused custom gradient (default) or plain autodiff.
      vocab_axis_name: vocabulary parallelism, inside :func:`jax.shard_map`: the name of
        the mesh axis over which the classes are split. Then ``weight`` is this device's
        block of columns ``[D, V/n]`` (device ``k`` of the ``n`` along the axis holds
        classes ``[k V/n, (k+1) V/n)``, as ``PartitionSpec(None, axis)`` splits them),
        ``bias`` and ``weights`` are the matching ``[V/n]`` blocks, ``labels`` are
        *global* class indices in ``[0, V)``, and ``hidden`` must be the same on every
        device of the axis. Each device computes only its ``[chunk, V/n]`` logits; the
        max, the softmax normaliser, the target logit and the smoothing / class-weight
        sums are combined with ``pmax``/``psum`` over the axis, so neither the
        ``[N, V]`` logits nor the whole weight ever exist on one device. The loss is the
        same on every device of the axis; ``dL/dhidden`` is summed over the axis (one
        ``psum`` of ``[N, D]``), ``dL/dweight``, ``dL/dbias`` and ``dL/dweights`` are the
        local blocks. :func:`jaxlosses.parallel.vocab_parallel_cross_entropy` sets up the
        ``shard_map``. (:func:`jaxlosses.checked` compares labels with the local
        block's size, so it does not apply here.)

    Returns:
      The per-token loss, shape ``hidden.shape[:-1]``, dtype of ``hidden``. Unchecked, a
      label outside ``[0, V)`` on an unmasked token gives NaN for that token (and a zero
      gradient from it); a masked token gives 0 whatever its label. Wrap the loss in
      :func:`jaxlosses.checked` to raise instead.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
      >>> weight = jnp.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
      >>> jl.linear_softmax_cross_entropy(hidden, weight, jnp.array([0, 2, 1])).round(4).tolist()
      [0.4076, 2.4076, 2.6967]

    References:
      Wijmans et al., `Cut Your Losses in Large-Vocabulary Language Models
      <https://arxiv.org/abs/2411.09009>`_ (2024); Chowdhery et al., `PaLM
      <https://arxiv.org/abs/2204.02311>`_ (2022), for the z-loss.
    """
    fn = "linear_softmax_cross_entropy"
    h, w, y, b, m, alpha, zc, cw = _inputs(
        hidden,
        weight,
        labels,
        bias,
        where,
        label_smoothing,
        z_loss,
        chunk_size,
        fn,
        weights,
        vocab_axis_name=vocab_axis_name,
    )
    batch_shape = y.shape
    d, v = w.shape
    n = math.prod(batch_shape)
    if n == 0:
        return jnp.zeros(batch_shape, h.dtype)
    c = chunk_size or _default_chunk(n, v)
    c = min(c, n)
    n_chunks = -(-n // c)
    pad = n_chunks * c - n
    h2, y2, m2 = h.reshape(n, d), y.reshape(n), m.reshape(n)
    if pad:
        h2 = jnp.concatenate([h2, jnp.zeros((pad, d), h2.dtype)])
        y2 = jnp.concatenate([y2, jnp.zeros(pad, y2.dtype)])
        m2 = jnp.concatenate([m2, jnp.zeros(pad, bool)])
    hs, ys, ms = h2.reshape(n_chunks, c, d), y2.reshape(n_chunks, c), m2.reshape(n_chunks, c)
    if custom_vjp:
        # Under shard_map the weight and bias may be replicated while the tokens vary over
        # devices: give them the tokens' type first, so the custom rule's per-device
        # gradients match its inputs and autodiff sums them over the devices.
        wv = varying_like(w, hs)
        bv = None if b is None else varying_like(b, hs)
        cwv = None if cw is None else varying_like(cw, hs)
        loss = _fused_vjp(hs, wv, bv, ys, ms, cwv, alpha, zc, vocab_axis_name)
    else:
        cdt = compute_dtype(h.dtype)
        loss = _stream_value(hs, w, b, ys, ms, cw, alpha, zc, cdt, True, vocab_axis_name)
    return loss.reshape(-1)[:n].reshape(batch_shape).astype(h.dtype)


@closed_form_of(linear_softmax_cross_entropy, _inputs)
def _linear_softmax_cross_entropy_grad(
    h: jax.Array,
    w: jax.Array,
    y: jax.Array,
    b: jax.Array | None,
    m: jax.Array,
    alpha: float,
    zc: float,
    cw: jax.Array | None,
) -> tuple[jax.Array, jax.Array]:
    r"""Closed-form gradient of the summed loss: ``(d hidden, d weight)``.

    With :math:`p_i = \operatorname{softmax}(z_i)`, :math:`\lambda` the z-loss coefficient,
    the smoothed target :math:`t_i = (1-\alpha)\,e_{y_i} + \alpha/V` and the class
    weights :math:`c` (1 by default):

    .. math::
        A_i = \frac{\partial \ell_i}{\partial z_i}
            = (\langle c, t_i \rangle + 2\lambda \operatorname{lse}(z_i))\, p_i - c \odot t_i,
            \qquad
        \frac{\partial \sum_i \ell_i}{\partial h_i} = A_i W^\top, \qquad
        \frac{\partial \sum_i \ell_i}{\partial W} = \sum_i h_i^\top A_i

    with :math:`A_i = 0` for masked tokens and out-of-range labels. Written with the
    logits materialised, for clarity (``chunk_size`` and ``custom_vjp`` are ignored).
    """
    cdt = compute_dtype(h.dtype)
    v = w.shape[1]
    hc, wc = h.astype(cdt), w.astype(cdt)
    z = hc @ wc
    if b is not None:
        z = z + jnp.broadcast_to(b.astype(cdt), z.shape)
    lse = jax.nn.logsumexp(z, axis=-1, keepdims=True)
    p = jnp.exp(z - lse)
    t = (1.0 - alpha) * jax.nn.one_hot(y, v, dtype=cdt) + alpha / v
    if cw is not None:
        t = jnp.broadcast_to(cw, t.shape) * t
    a = (jnp.sum(t, axis=-1, keepdims=True) + 2.0 * zc * lse) * p - t
    ok = m & (y >= 0) & (y < v)
    a = jnp.where(ok[..., None], a, 0.0)
    d_hidden = a @ wc.T
    d_weight = jnp.einsum("...d,...v->dv", hc, a)
    return d_hidden.astype(h.dtype), d_weight.astype(w.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(
    linear_softmax_cross_entropy,
    labels_in_range("labels", "weight", axis=-1, ignore=unused_where("labels")),
)
