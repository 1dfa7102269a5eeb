"""Knowledge distillation from hidden states, without materialising the logits.

:func:`jaxlosses.kl_distillation_loss` and :func:`jaxlosses.jsd_distillation_loss` take
the student's and the teacher's logits, ``[N, V]`` each: at ``N = 8192`` tokens and
``V = 32768`` classes that is 1 GiB per model in float32, and value-and-grad keeps several
such arrays alive. The fused forms here take the student's hidden states ``[N, D]`` and
output weight ``[D, V]`` instead (and the teacher's, or its precomputed logits), and
stream over chunks of tokens as :func:`jaxlosses.linear_softmax_cross_entropy` does: each
chunk's ``[C, V]`` logits of both models live only inside one step of a
:func:`jax.lax.scan`.

The :func:`jax.custom_vjp` rule computes the student's gradient pieces in the forward
pass (``dL/dhidden`` per token and the summed ``dL/dweight``; exact for any cotangent
that is one number on every unmasked token, else a second streaming pass recomputes
``dL/dweight``). The teacher's gradient is exact too, but computed in the backward pass
by its own streaming pass: when the teacher is fixed (not differentiated, or under
:func:`jax.lax.stop_gradient`), nothing uses that pass and ``jax.jit`` removes it, so a
fixed teacher costs no gradient work.

Per token, with ``u = z_s / T`` and ``v = z_t / T``, ``q = softmax(u)``, ``p = softmax(v)``
and ``D`` the divergence, ``ℓ = T² D`` and ``∂ℓ/∂z = T ∂D/∂u`` (the ``T²`` scale keeps the
gradient's size independent of ``T``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._core import (
    closed_form_of,
    compute_dtype,
    fill_docstrings,
    floating,
    hidden_and_weight,
    hyperparameter,
)
from ._coupling import varying_like
from ._distillation import _kl_terms, _log_ratio, _softmax_vjp, _static_beta
from ._fused import (
    _accumulate_weight_grad,
    _chunk_logits,
    _default_chunk,
    _static_float,
    weight_grads_for,
)

__all__ = ["linear_jsd_distillation_loss", "linear_kl_distillation_loss"]


# --- the math of one chunk -----------------------------------------------------------------


def _log_softmax(u: jax.Array) -> jax.Array:
    """Row-wise ``log softmax``; a NaN anywhere in a row makes the row NaN."""
    mx = lax.stop_gradient(jnp.max(u, axis=-1, keepdims=True))
    s = u - mx
    return s - jnp.log(jnp.sum(jnp.exp(s), axis=-1, keepdims=True))


def _log_mixture(log_p: jax.Array, p: jax.Array, log_q: jax.Array, q: jax.Array, b: float):
    """``log(β p + (1 - β) q)`` in log space; 0 where both are 0 (impossible classes)."""
    ok = (p != 0) | (q != 0)
    lp = jnp.where(ok, log_p, 0.0) + math.log(b)
    lq = jnp.where(ok, log_q, 0.0) + math.log1p(-b)
    return jnp.where(ok, jnp.logaddexp(lp, lq), 0.0)


def _teacher_logits(ht, wt, bt, cdt):
    """The teacher's logits of a chunk: ``ht @ wt + bt``, or ``ht`` itself without a weight."""
    if wt is None:
        z = ht.astype(cdt)
        return z if bt is None else z + bt.astype(cdt)[None, :]
    return _chunk_logits(ht, wt, bt, cdt)


def _chunk(hs, ws, bs, ht, wt, bt, m, tau, beta, cdt, with_ds, with_dt):
    """Per-token loss of one chunk ``[C]`` and, on request, ``∂ℓ/∂z_s`` and ``∂ℓ/∂z_t``
    ``[C, V]`` (zero on masked tokens)."""
    log_q = _log_softmax(_chunk_logits(hs, ws, bs, cdt) / tau)
    log_p = _log_softmax(_teacher_logits(ht, wt, bt, cdt) / tau)
    q, p = jnp.exp(log_q), jnp.exp(log_p)
    if beta == 0.0:  # forward KL(p ‖ q)
        terms = _kl_terms(p, log_p, log_q)
    elif beta == 1.0:  # reverse KL(q ‖ p)
        terms = _kl_terms(q, log_q, log_p)
    else:
        log_m = _log_mixture(log_p, p, log_q, q, beta)
        terms = beta * _kl_terms(p, log_p, log_m) + (1.0 - beta) * _kl_terms(q, log_q, log_m)
    loss = jnp.where(m, tau**2 * jnp.sum(terms, axis=-1), 0.0)
    ds = dt = None
    if with_ds:  # T ∂D/∂u
        if beta == 0.0:
            g = jnp.sum(p, axis=-1, keepdims=True) * q - p
        elif beta == 1.0:
            g = _softmax_vjp(q, _log_ratio(q, log_q, log_p), (-1,))
        else:
            g = (1.0 - beta) * _softmax_vjp(q, _log_ratio(q, log_q, log_m), (-1,))
        ds = jnp.where(m[:, None], tau * g, 0.0)
    if with_dt:  # T ∂D/∂v: the same with the roles (and β, 1 - β) swapped
        if beta == 0.0:
            g = _softmax_vjp(p, _log_ratio(p, log_p, log_q), (-1,))
        elif beta == 1.0:
            g = jnp.sum(q, axis=-1, keepdims=True) * p - q
        else:
            g = beta * _softmax_vjp(p, _log_ratio(p, log_p, log_m), (-1,))
        dt = jnp.where(m[:, None], tau * g, 0.0)
    return loss, ds, dt


# --- the streaming paths -------------------------------------------------------------------


def _stream_value(hs, ws, bs, ht, wt, bt, m, tau, beta, cdt, remat):
    """Loss per token, ``[nC, C]``, by plain JAX ops (a fully differentiable map)."""

    def body(xs):
        hc, tc, mc = xs
        return _chunk(hc, ws, bs, tc, wt, bt, mc, tau, beta, cdt, False, False)[0]

    if remat:
        body = jax.checkpoint(body)
    return lax.map(body, (hs, ht, m))


def _zeros_like_varying(shape, cdt, ref):
    return varying_like(jnp.zeros(shape, cdt), ref)


def _stream_student(hs, ws, bs, ht, wt, bt, m, c, tau, beta, cdt):
    """Loss ``[nC, C]``, ``dL/dh`` ``[nC, C, D]`` and the summed ``dL/dW``, ``dL/db`` of the
    student; with a per-token cotangent ``c`` (``[nC, C]``) each token's gradient is
    weighted by it (``c=None``: weight 1)."""

    def body(carry, xs):
        gw, gb = carry
        hc, tc, mc, cc = xs
        loss, ds, _ = _chunk(hc, ws, bs, tc, wt, bt, mc, tau, beta, cdt, True, False)
        if cc is not None:
            ds = ds * cc[:, None].astype(cdt)
        # In the wider input dtype (float32 hidden, bfloat16 weight: no bfloat16 rounding).
        gh = jnp.dot(
            ds.astype(jnp.promote_types(hc.dtype, ws.dtype)), ws.T, preferred_element_type=cdt
        )
        gw = _accumulate_weight_grad(gw, hc, ds, cdt)
        if gb is not None:
            gb = gb + jnp.sum(ds, axis=0)
        return (gw, gb), (loss, gh)

    gw0 = _zeros_like_varying(ws.shape, cdt, hs)
    gb0 = None if bs is None else _zeros_like_varying(ws.shape[1], cdt, hs)
    (gw, gb), (loss, gh) = lax.scan(body, (gw0, gb0), (hs, ht, m, c))
    return loss, gh, gw, gb


def _stream_teacher(hs, ws, bs, ht, wt, bt, m, c, tau, beta, cdt):
    """The teacher's gradients for the per-token cotangent ``c``: ``dL/d teacher_hidden``
    (or ``dL/d teacher_logits`` without a weight), ``dL/d teacher_weight``, ``dL/d teacher_bias``."""

    def body(carry, xs):
        gw, gb = carry
        hc, tc, mc, cc = xs
        _, _, dt = _chunk(hc, ws, bs, tc, wt, bt, mc, tau, beta, cdt, False, True)
        dt = dt * cc[:, None].astype(cdt)
        if wt is None:
            gt = dt
        else:
            gt = jnp.dot(
                dt.astype(jnp.promote_types(tc.dtype, wt.dtype)), wt.T, preferred_element_type=cdt
            )
            gw = _accumulate_weight_grad(gw, tc, dt, cdt)
        if gb is not None:
            gb = gb + jnp.sum(dt, axis=0)
        return (gw, gb), gt

    v = ws.shape[1]
    gw0 = None if wt is None else _zeros_like_varying(wt.shape, cdt, hs)
    gb0 = None if bt is None else _zeros_like_varying(v, cdt, hs)
    (gw, gb), gt = lax.scan(body, (gw0, gb0), (hs, ht, m, c))
    return gt, gw, gb


def _fused(hs, ws, bs, ht, wt, bt, m, tau, beta):
    cdt = compute_dtype(hs.dtype)
    return _stream_value(hs, ws, bs, ht, wt, bt, m, tau, beta, cdt, remat=False)


_fused_vjp = jax.custom_vjp(_fused, nondiff_argnums=(7, 8))


def _fused_fwd(hs, ws, bs, ht, wt, bt, m, tau, beta):
    cdt = compute_dtype(hs.dtype)
    loss, gh, gw, gb = _stream_student(hs, ws, bs, ht, wt, bt, m, None, tau, beta, cdt)
    return loss, (gh, gw, gb, hs, ws, bs, ht, wt, bt, m)


def _fused_bwd(tau, beta, res, ct):
    gh, gw, gb, hs, ws, bs, ht, wt, bt, m = res
    cdt = gw.dtype
    c = ct.astype(cdt)
    dh = (c[..., None] * gh).astype(hs.dtype)

    def exact():
        _, _, gw2, gb2 = _stream_student(hs, ws, bs, ht, wt, bt, m, c, tau, beta, cdt)
        return gw2, gb2

    dw, db = weight_grads_for(c, m, gw, gb, exact)
    # The teacher's pass: dead code (removed under jit) when the teacher is fixed.
    dht, dwt, dbt = _stream_teacher(hs, ws, bs, ht, wt, bt, m, c, tau, beta, cdt)
    return (
        dh,
        dw.astype(ws.dtype),
        None if bs is None or db is None else db.astype(bs.dtype),
        dht.astype(ht.dtype),
        None if wt is None else dwt.astype(wt.dtype),
        None if bt is None else dbt.astype(bt.dtype),
        None,
    )


_fused_vjp.defvjp(_fused_fwd, _fused_bwd)


# --- inputs --------------------------------------------------------------------------------


def _inputs(
    hidden,
    weight,
    teacher_hidden,
    teacher_weight,
    bias,
    teacher_bias,
    temperature,
    beta,
    where,
    chunk_size,
    fn,
):
    """Validated ``(h, w, b, ht, wt, bt, mask, T, β)``; masked tokens' inputs zeroed."""
    h, w = hidden_and_weight(hidden, weight, fn)
    batch, v = h.shape[:-1], w.shape[1]
    ht = floating(teacher_hidden, "teacher_hidden", fn)
    wt = None
    if teacher_weight is None:
        if ht.shape != (*batch, v):
            raise ValueError(
                f"{fn}: without `teacher_weight`, `teacher_hidden` holds the teacher's logits "
                f"and needs shape {(*batch, v)} (the batch of `hidden`, then V={v} classes "
                f"of `weight` {w.shape}); got {ht.shape}. Pass `teacher_weight` [D_t, V] to give the "
                "teacher's hidden states instead."
            )
    else:
        wt = floating(teacher_weight, "teacher_weight", fn)
        if wt.ndim != 2 or ht.shape[:-1] != batch or wt.shape != (ht.shape[-1], v):
            raise ValueError(
                f"{fn}: `teacher_hidden` has shape {ht.shape} and `teacher_weight` {wt.shape}; "
                f"expected teacher_hidden {(*batch, 'D_t')} (the tokens of `hidden` "
                f"{h.shape}) and teacher_weight [D_t, {v}] (the V={v} classes of `weight` "
                f"{w.shape}). "
                "Pass `teacher_weight.T` if it is stored [V, D_t]."
            )
    b = bt = None
    if bias is not None:
        b = floating(bias, "bias", fn)
        if b.shape != (v,):
            raise ValueError(f"{fn}: `bias` has shape {b.shape}; expected ({v},), one per class.")
    if teacher_bias is not None:
        bt = floating(teacher_bias, "teacher_bias", fn)
        if bt.shape != (v,):
            raise ValueError(
                f"{fn}: `teacher_bias` has shape {bt.shape}; expected ({v},), one per class."
            )
    m = jnp.ones(batch, bool) if where is None else jnp.asarray(where)
    if m.shape != batch:
        raise ValueError(
            f"{fn}: `where` has shape {m.shape}; it masks tokens, so it needs the batch shape "
            f"{batch} of `hidden` (a class mask is not supported by the fused form: slice "
            "the weights to the shared classes)."
        )
    if m.dtype != jnp.bool_:
        m = m != 0
    if where is not None:
        # A masked token's inputs take no part: zeroed, so a NaN there (padding) reaches
        # neither its logits nor the weights' gradients (0 * NaN in the outer product).
        h = jnp.where(m[..., None], h, jnp.zeros((), h.dtype))
        ht = jnp.where(m[..., None], ht, jnp.zeros((), ht.dtype))
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"{fn}: `chunk_size` must be a positive int or None, got {chunk_size!r}.")
    hyperparameter(temperature, "temperature", fn, low=0.0, open_low=True,
                   why="both softmaxes are taken at logits / temperature; 1 is no scaling")  # fmt: skip
    tau = _static_float(temperature, "temperature", fn)
    return h, w, b, ht, wt, bt, m, tau, beta


def _kl_inputs(
    hidden,
    weight,
    teacher_hidden,
    teacher_weight,
    bias,
    teacher_bias,
    temperature,
    reverse,
    where,
    chunk_size,
    custom_vjp,
    fn,
):
    beta = 1.0 if reverse else 0.0
    return _inputs(hidden, weight, teacher_hidden, teacher_weight, bias, teacher_bias,
                   temperature, beta, where, chunk_size, fn)  # fmt: skip


def _jsd_inputs(
    hidden,
    weight,
    teacher_hidden,
    teacher_weight,
    bias,
    teacher_bias,
    beta,
    temperature,
    where,
    chunk_size,
    custom_vjp,
    fn,
):
    b = _static_beta(beta, fn)
    return _inputs(hidden, weight, teacher_hidden, teacher_weight, bias, teacher_bias,
                   temperature, b, where, chunk_size, fn)  # fmt: skip


def _loss(h, w, b, ht, wt, bt, m, tau, beta, chunk_size, custom_vjp):
    """Chunks the tokens (padding the last chunk with masked ones) and streams."""
    batch = m.shape
    d, v = w.shape
    n = math.prod(batch)
    if n == 0:
        return jnp.zeros(batch, h.dtype)
    c = min(chunk_size or _default_chunk(n, v), n)
    n_chunks = -(-n // c)
    pad = n_chunks * c - n
    h2, t2, m2 = h.reshape(n, d), ht.reshape(n, ht.shape[-1]), m.reshape(n)
    if pad:
        h2 = jnp.concatenate([h2, jnp.zeros((pad, d), h2.dtype)])
        t2 = jnp.concatenate([t2, jnp.zeros((pad, t2.shape[-1]), t2.dtype)])
        m2 = jnp.concatenate([m2, jnp.zeros(pad, bool)])
    hs, ts, ms = h2.reshape(n_chunks, c, d), t2.reshape(n_chunks, c, -1), m2.reshape(n_chunks, c)
    if custom_vjp:
        # Under shard_map the weights may be replicated while the tokens vary over devices:
        # give them the tokens' type, so the rule's per-device gradients match its inputs.
        wv, bv, wtv, btv = (None if x is None else varying_like(x, hs) for x in (w, b, wt, bt))
        loss = _fused_vjp(hs, wv, bv, ts, wtv, btv, ms, tau, beta)
    else:
        cdt = compute_dtype(h.dtype)
        loss = _stream_value(hs, w, b, ts, wt, bt, ms, tau, beta, cdt, remat=True)
    return loss.reshape(-1)[:n].reshape(batch).astype(h.dtype)


_SHARED_ARGS = """
      hidden: ``[..., D]`` the student's features of each token (any leading batch shape).
      weight: ``[D, V]`` the student's output projection (for a tied embedding table
        ``E`` of shape ``[V, D]``, pass ``E.T``).
      teacher_hidden: ``[..., D_t]`` the teacher's features of the same tokens (the same
        batch shape; ``D_t`` may differ from ``D``), or, without ``teacher_weight``, the
        teacher's precomputed logits ``[..., V]``.
      teacher_weight: ``[D_t, V]`` the teacher's output projection, or ``None`` when
        ``teacher_hidden`` holds logits.
      bias: optional ``[V]`` output bias of the student.
      teacher_bias: optional ``[V]`` output bias of the teacher.
"""

_SHARED_TAIL = """
      where: optional boolean token mask of the batch shape; masked tokens give 0 and no
        gradient, and their inputs (NaN padding included) reach no weight's gradient.
        A class mask is not supported (slice the weights to the shared classes).
      chunk_size: tokens per chunk; default ``max(128, 2**22 // V)``, as
        :func:`linear_softmax_cross_entropy`. A token count not divisible by it is
        padded (and masked) internally.
      custom_vjp: the fused custom gradient (default; reverse mode only) or plain autodiff
        of the same chunked computation (each chunk rematerialised), which also has
        forward mode.
"""


def linear_kl_distillation_loss(
    hidden: ArrayLike,
    weight: ArrayLike,
    teacher_hidden: ArrayLike,
    teacher_weight: ArrayLike | None = None,
    *,
    bias: ArrayLike | None = None,
    teacher_bias: ArrayLike | None = None,
    temperature: float = 1.0,
    reverse: bool = False,
    where: ArrayLike | None = None,
    chunk_size: int | None = None,
    custom_vjp: bool = True,
) -> jax.Array:
    r""":func:`kl_distillation_loss` of a linear output layer, without materialising logits.

    .. math:: \ell_i = T^2\, \mathrm{KL}(p_i \,\|\, q_i), \quad
       q_i = \operatorname{softmax}((h_i W + b) / T),\
       p_i = \operatorname{softmax}((h^t_i W^t + b^t) / T)

    Equal to ``kl_distillation_loss(hidden @ weight + bias, teacher_hidden @
    teacher_weight + teacher_bias, temperature=T, reverse=reverse, where=where)`` (the
    same ``T²`` scale; ``reverse=True`` is ``T² KL(q ‖ p)``), computed over chunks of
    ``chunk_size`` tokens so that only one ``[chunk_size, V]`` block of each model's
    logits exists at a time. bf16 inputs are multiplied with float32 accumulation and
    the loss is returned in the dtype of ``hidden``.

    Gradients: the student's (``hidden``, ``weight``, ``bias``) are computed in the
    forward pass while each chunk's logits are at hand, as in
    :func:`linear_softmax_cross_entropy`. The teacher's inputs are differentiable too
    (co-distillation): their gradient has its own streaming pass in the backward rule,
    which ``jax.jit`` drops when the teacher is fixed (not differentiated, or under
    ``jax.lax.stop_gradient``), so a frozen teacher costs nothing extra.

    Args:{shared}      temperature: ``T > 0``, a Python number (static; no gradient w.r.t. it).
      reverse: the reverse KL ``KL(q ‖ p)`` (mode-seeking) instead of ``KL(p ‖ q)``.{tail}
    Returns:
      Per-token loss, shape ``hidden.shape[:-1]``, dtype of ``hidden``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> weight = jnp.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
      >>> teacher = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # precomputed logits
      >>> jl.linear_kl_distillation_loss(hidden, weight, teacher).round(4).tolist()
      [0.0616, 0.7965]

    References:
      Hinton, Vinyals and Dean, `Distilling the Knowledge in a Neural Network
      <https://arxiv.org/abs/1503.02531>`_, 2015; Wijmans et al., `Cut Your Losses in
      Large-Vocabulary Language Models <https://arxiv.org/abs/2411.09009>`_, 2024.
    """
    h, w, b, ht, wt, bt, m, tau, beta = _kl_inputs(
        hidden, weight, teacher_hidden, teacher_weight, bias, teacher_bias, temperature,
        reverse, where, chunk_size, custom_vjp, "linear_kl_distillation_loss",
    )  # fmt: skip
    return _loss(h, w, b, ht, wt, bt, m, tau, beta, chunk_size, custom_vjp)


def linear_jsd_distillation_loss(
    hidden: ArrayLike,
    weight: ArrayLike,
    teacher_hidden: ArrayLike,
    teacher_weight: ArrayLike | None = None,
    *,
    bias: ArrayLike | None = None,
    teacher_bias: ArrayLike | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    where: ArrayLike | None = None,
    chunk_size: int | None = None,
    custom_vjp: bool = True,
) -> jax.Array:
    r""":func:`jsd_distillation_loss` (GKD) of a linear output layer, without the logits.

    .. math:: \ell_i = T^2 \left[\beta\, \mathrm{KL}(p_i \,\|\, m_i)
       + (1 - \beta)\, \mathrm{KL}(q_i \,\|\, m_i)\right], \quad m_i = \beta p_i + (1 - \beta) q_i

    with ``q_i`` the student's and ``p_i`` the teacher's tempered softmax of their linear
    output layers. Equal to ``jsd_distillation_loss(hidden @ weight + bias,
    teacher_hidden @ teacher_weight + teacher_bias, beta=β, temperature=T, where=where)``
    (``beta=0``: forward KL, ``beta=1``: reverse KL, as there and in TRL), streamed over
    chunks of tokens with the same gradients and memory as
    :func:`linear_kl_distillation_loss`.

    Args:{shared}      beta: ``β`` in ``[0, 1]``, a Python float: the teacher's weight in the mixture.
      temperature: ``T > 0``, a Python number (static; no gradient w.r.t. it).{tail}
    Returns:
      Per-token loss, shape ``hidden.shape[:-1]``, dtype of ``hidden``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> weight = jnp.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
      >>> teacher = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # precomputed logits
      >>> jl.linear_jsd_distillation_loss(hidden, weight, teacher).round(4).tolist()
      [0.0169, 0.161]

    References:
      Agarwal et al., `On-Policy Distillation of Language Models: Learning from
      Self-Generated Mistakes <https://arxiv.org/abs/2306.13649>`_, 2024, Eq. (1).
    """
    h, w, b, ht, wt, bt, m, tau, bb = _jsd_inputs(
        hidden, weight, teacher_hidden, teacher_weight, bias, teacher_bias, beta,
        temperature, where, chunk_size, custom_vjp, "linear_jsd_distillation_loss",
    )  # fmt: skip
    return _loss(h, w, b, ht, wt, bt, m, tau, bb, chunk_size, custom_vjp)


fill_docstrings(
    linear_kl_distillation_loss,
    linear_jsd_distillation_loss,
    shared=_SHARED_ARGS,
    tail=_SHARED_TAIL,
)


# --- closed forms ----------------------------------------------------------------------------


def _grad(h, w, b, ht, wt, bt, m, tau, beta):
    r"""``(d hidden, d weight)`` of the summed loss, with the logits materialised.

    With ``A_i = ∂ℓ_i/∂z_i = T ∂D/∂u_i`` (``u_i = z_i / T``; 0 on masked tokens), the
    chain rule through ``z_i = h_i W + b`` gives ``∂/∂h_i = A_i Wᵀ`` and
    ``∂/∂W = Σ_i h_iᵀ A_i``. ``∂D/∂u``: forward KL ``q - p``; reverse KL
    ``q ⊙ (r - ⟨q, r⟩)`` with ``r = log q - log p``; JSD ``(1 - β) q ⊙ (r - ⟨q, r⟩)``
    with ``r = log q - log m``.
    """
    cdt = compute_dtype(h.dtype)
    d = w.shape[0]
    hc = h.astype(cdt).reshape(-1, d)
    tc = ht.astype(cdt).reshape(hc.shape[0], -1)
    mc = m.reshape(-1)
    _, a, _ = _chunk(hc, w.astype(cdt), b, tc, wt, bt, mc, tau, beta, cdt, True, False)
    d_hidden = (a @ w.astype(cdt).T).reshape(h.shape)
    d_weight = hc.T @ a
    return d_hidden.astype(h.dtype), d_weight.astype(w.dtype)


@closed_form_of(linear_kl_distillation_loss, _kl_inputs)
def _linear_kl_distillation_loss_grad(
    h, w, b, ht, wt, bt, m, tau, beta
) -> tuple[jax.Array, jax.Array]:
    r"""Closed-form gradient of the summed loss: ``(d hidden, d weight)``.

    Forward KL: ``A_i = T (q_i - p_i)``; reverse: ``A_i = T q_i ⊙ (r_i - ⟨q_i, r_i⟩)``
    with ``r_i = log q_i - log p_i``; then ``d hidden_i = A_i Wᵀ`` and
    ``d W = Σ_i h_iᵀ A_i`` (``A_i = 0`` on masked tokens). Written with the logits
    materialised, for clarity (``chunk_size`` and ``custom_vjp`` are ignored).
    """
    return _grad(h, w, b, ht, wt, bt, m, tau, beta)


@closed_form_of(linear_jsd_distillation_loss, _jsd_inputs)
def _linear_jsd_distillation_loss_grad(
    h, w, b, ht, wt, bt, m, tau, beta
) -> tuple[jax.Array, jax.Array]:
    r"""Closed-form gradient of the summed loss: ``(d hidden, d weight)``.

    ``A_i = T (1 - β) q_i ⊙ (r_i - ⟨q_i, r_i⟩)`` with ``r_i = log q_i - log m_i`` (the
    forward and reverse KL at ``β = 0, 1``), ``d hidden_i = A_i Wᵀ``,
    ``d W = Σ_i h_iᵀ A_i``; with the logits materialised.
    """
    return _grad(h, w, b, ht, wt, bt, m, tau, beta)
