"""The fused distillation losses against the materialised logits losses, PyTorch's
``kl_div`` and TRL's GKD loss (the catalogue's ``Peer.tested_by``), in float64: values
and the gradients w.r.t. every input of both models; the masked-padding behaviour of the
fused cross-entropy; and the memory that XLA plans for them."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl
from jaxlosses import closed_form

N, D, DT, V = 37, 8, 6, 50  # 37 tokens: no chunk size below divides it


def _inputs(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    h = jnp.asarray(rng.standard_normal((N, D)), dtype)
    w = jnp.asarray(rng.standard_normal((D, V)) / np.sqrt(D) * 2, dtype)
    th = jnp.asarray(rng.standard_normal((N, DT)), dtype)
    tw = jnp.asarray(rng.standard_normal((DT, V)) / np.sqrt(DT) * 2, dtype)
    b, tb = (jnp.asarray(rng.standard_normal(V), dtype) for _ in range(2))
    m = jnp.asarray(rng.random(N) < 0.7)
    return h, w, th, tw, b, tb, m


def _max_err(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(z, np.float64))))
        for x, z in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


# (fused loss, materialised loss, keywords)
KINDS = {
    "kl": (jl.linear_kl_distillation_loss, jl.kl_distillation_loss, {}),
    "kl-reverse": (jl.linear_kl_distillation_loss, jl.kl_distillation_loss, {"reverse": True}),
    "jsd-0.5": (jl.linear_jsd_distillation_loss, jl.jsd_distillation_loss, {}),
    "jsd-0.2": (jl.linear_jsd_distillation_loss, jl.jsd_distillation_loss, {"beta": 0.2}),
    "jsd-0": (jl.linear_jsd_distillation_loss, jl.jsd_distillation_loss, {"beta": 0.0}),
    "jsd-1": (jl.linear_jsd_distillation_loss, jl.jsd_distillation_loss, {"beta": 1.0}),
}


@pytest.mark.parametrize("custom_vjp", [True, False])
@pytest.mark.parametrize(
    ("kind", "chunk_size"), [*((k, 5) for k in KINDS), ("kl", None), ("jsd-0.2", 1)]
)
def test_fused_equals_materialised_logits(x64, kind, chunk_size, custom_vjp):
    """Values and the gradients w.r.t. both models' hidden states, weights and biases."""
    fused, logits_loss, kw = KINDS[kind]
    h, w, th, tw, b, tb, m = _inputs()
    kw = {**kw, "temperature": 2.0, "where": m}

    def mean_fused(h, w, th, tw, b, tb):
        out = fused(h, w, th, tw, bias=b, teacher_bias=tb, chunk_size=chunk_size,
                    custom_vjp=custom_vjp, **kw)  # fmt: skip
        return jnp.mean(out)

    def mean_ref(h, w, th, tw, b, tb):
        return jnp.mean(logits_loss(h @ w + b[None, :], th @ tw + tb[None, :], **kw))

    args = (h, w, th, tw, b, tb)
    val, grads = jax.jit(jax.value_and_grad(mean_fused, argnums=tuple(range(6))))(*args)
    val_ref, grads_ref = jax.value_and_grad(mean_ref, argnums=tuple(range(6)))(*args)
    assert abs(float(val) - float(val_ref)) <= 1e-14
    assert _max_err(grads, grads_ref) <= 1e-13
    assert not np.any(np.asarray(grads[0])[~np.asarray(m)])  # masked tokens: no gradient
    assert not np.any(np.asarray(grads[2])[~np.asarray(m)])


@pytest.mark.parametrize("kind", ["kl", "jsd-0.2"])
def test_precomputed_teacher_logits_and_any_cotangent(x64, kind):
    """Teacher logits instead of hidden states; a per-token cotangent (the exact second
    pass for dL/dweight) and the masked mean (the fast path)."""
    fused, logits_loss, kw = KINDS[kind]
    h, w, th, tw, b, _, m = _inputs(1)
    t = th @ tw
    kw = {**kw, "where": m, "temperature": 0.7}
    out, vjp = jax.vjp(lambda h, w, t, b: fused(h, w, t, bias=b, chunk_size=8, **kw), h, w, t, b)
    ref, vjp_ref = jax.vjp(lambda h, w, t, b: logits_loss(h @ w + b[None, :], t, **kw), h, w, t, b)
    assert _max_err(out, ref) <= 1e-14
    ct = jnp.asarray(np.random.default_rng(2).uniform(0, 2, N))
    assert _max_err(jax.jit(vjp)(ct), vjp_ref(ct)) <= 1e-13
    ct2 = jnp.where(m, 1.0 / jnp.sum(m), 0.0)
    assert _max_err(vjp(ct2), vjp_ref(ct2)) <= 1e-13


@pytest.mark.parametrize("kind", ["kl-reverse", "jsd-0.5"])
def test_closed_form_equals_autodiff_of_the_materialised_loss(x64, kind):
    fused, logits_loss, kw = KINDS[kind]
    h, w, th, tw, b, tb, m = _inputs(3)
    kw = {**kw, "where": m, "temperature": 1.5}
    closed = getattr(closed_form, fused.__name__)(h, w, th, tw, bias=b, teacher_bias=tb, **kw)
    auto = jax.grad(
        lambda h, w: jnp.sum(logits_loss(h @ w + b[None, :], th @ tw + tb[None, :], **kw)),
        argnums=(0, 1),
    )(h, w)
    assert _max_err(closed, auto) <= 1e-13


@pytest.mark.parametrize("custom_vjp", [True, False])
@pytest.mark.parametrize("kind", ["kl", "jsd-0.5"])
def test_nan_hidden_state_of_a_masked_token_reaches_no_gradient(x64, kind, custom_vjp):
    """Padding holds garbage: NaN hidden states (student and teacher) of masked tokens
    reach neither the value nor any gradient, as in the fused cross-entropy."""
    fused, _, kw = KINDS[kind]
    h, w, th, tw, _, _, m = _inputs(4)
    keep = np.asarray(m)[:, None]

    def total(h, w, th, tw):
        return jnp.sum(fused(h, w, th, tw, where=m, chunk_size=4, custom_vjp=custom_vjp, **kw))

    clean = jax.grad(total, argnums=(0, 1, 2, 3))(h, w, th, tw)
    dh, dth = np.where(keep, h, np.nan), np.where(keep, th, np.nan)
    dirty = jax.grad(total, argnums=(0, 1, 2, 3))(dh, w, dth, tw)
    for a, b in zip(dirty, clean, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(total(dh, w, dth, tw)) == float(total(h, w, th, tw))
    # an unmasked NaN is honest: that token's loss is NaN
    out = fused(h.at[0, 0].set(jnp.nan), w, th, tw, **kw)
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()


def test_fully_masked_gives_zero_and_zero_gradients():
    h, w, th, tw, _, _, _ = _inputs(5, np.float32)
    none = jnp.zeros(N, bool)
    f = lambda h, w: jnp.sum(jl.linear_kl_distillation_loss(h, w, th, tw, where=none))  # noqa: E731
    val, grads = jax.value_and_grad(f, argnums=(0, 1))(h, w)
    assert float(val) == 0.0 and all(not np.any(np.asarray(g)) for g in grads)


def test_bfloat16_and_batch_shapes():
    h, w, th, tw, _, _, m = _inputs(6, np.float32)
    out = jl.linear_jsd_distillation_loss(
        h.astype(jnp.bfloat16), w.astype(jnp.bfloat16), th, tw, where=m, chunk_size=8
    )
    assert out.dtype == jnp.bfloat16
    ref = jl.jsd_distillation_loss(
        h.astype(jnp.bfloat16).astype(jnp.float32) @ w.astype(jnp.bfloat16).astype(jnp.float32),
        th @ tw,
        where=m,
    )
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=2e-2, atol=2e-2)
    h3, th3, m3 = h[:36].reshape(4, 9, D), th[:36].reshape(4, 9, DT), m[:36].reshape(4, 9)
    batched = jl.linear_kl_distillation_loss(h3, w, th3, tw, where=m3, chunk_size=5)
    flat = jl.linear_kl_distillation_loss(h[:36], w, th[:36], tw, where=m[:36], chunk_size=5)
    np.testing.assert_allclose(batched.reshape(-1), flat, rtol=1e-6, atol=1e-7)


def test_bad_inputs_are_named():
    h, w, th, tw, b, _, m = _inputs(7, np.float32)
    f = jl.linear_kl_distillation_loss
    with pytest.raises(ValueError, match=r"weight\.T"):
        f(h, w.T, th, tw)
    with pytest.raises(ValueError, match="teacher_weight"):
        f(h, w, th, tw[:, :-1])
    with pytest.raises(ValueError, match="teacher_hidden"):
        f(h, w, th[:-1], tw)
    with pytest.raises(ValueError, match="teacher_hidden"):
        f(h, w, th)  # hidden states without the weight: not logits of V classes
    with pytest.raises(ValueError, match="where"):
        f(h, w, th, tw, where=m[:-1])
    with pytest.raises(ValueError, match="teacher_bias"):
        f(h, w, th, tw, teacher_bias=b[:-1])
    with pytest.raises(ValueError, match="temperature"):
        f(h, w, th, tw, temperature=0.0)
    with pytest.raises(ValueError, match="beta"):
        jl.linear_jsd_distillation_loss(h, w, th, tw, beta=1.5)
    with pytest.raises(ValueError, match="chunk_size"):
        f(h, w, th, tw, chunk_size=0)
    with pytest.raises(TypeError, match="hidden"):
        f(jnp.ones((N, D), jnp.int32), w, th, tw)


# --- peers: PyTorch's kl_div and TRL's GKD loss on the materialised logits ----------------


def _torch_grads(peer, h, w, th, tw):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(np.asarray(x), requires_grad=True) for x in (h, w, th, tw)]
    out = peer(ts[0] @ ts[1], ts[2] @ ts[3])
    out.sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _ours(fused, h, w, th, tw, **kw):
    value = fused(h, w, th, tw, chunk_size=8, **kw)
    grads = jax.grad(lambda *a: jnp.sum(fused(*a, chunk_size=8, **kw)), argnums=(0, 1, 2, 3))(
        h, w, th, tw
    )
    return np.asarray(value), [np.asarray(g) for g in grads]


def _close(ours, theirs, scale):
    np.testing.assert_allclose(ours[0], scale * theirs[0], rtol=1e-10, atol=1e-13)
    for g, tg in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(g, scale * tg, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("reverse", [False, True])
def test_fused_kl_matches_torch_kl_div(x64, reverse):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    h, w, th, tw, _, _, _ = _inputs(8)
    temperature = 2.5

    def peer(zs, zt):
        log_q = F.log_softmax(zs / temperature, dim=-1)
        log_p = F.log_softmax(zt / temperature, dim=-1)
        first, second = (log_p, log_q) if reverse else (log_q, log_p)
        return F.kl_div(first, second, log_target=True, reduction="none").sum(-1)

    ours = _ours(jl.linear_kl_distillation_loss, h, w, th, tw,
                 temperature=temperature, reverse=reverse)  # fmt: skip
    _close(ours, _torch_grads(peer, h, w, th, tw), temperature**2)


@pytest.mark.parametrize(("beta", "temperature"), [(0.5, 1.0), (0.1, 2.0), (0.9, 0.5)])
def test_fused_jsd_matches_trl(x64, beta, temperature):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd.gkd_trainer import GKDTrainer

    h, w, th, tw, _, _, _ = _inputs(9)

    def peer(zs, zt):
        jsd = GKDTrainer.generalized_jsd_loss(
            zs, zt, beta=beta, temperature=temperature, reduction="none"
        )
        return jsd.sum(-1)

    ours = _ours(jl.linear_jsd_distillation_loss, h, w, th, tw, beta=beta,
                 temperature=temperature)  # fmt: skip
    _close(ours, _torch_grads(peer, h, w, th, tw), temperature**2)


# --- memory ---------------------------------------------------------------------------------


def _planned_bytes(f, *args):
    mem = jax.jit(f).lower(*args).compile().memory_analysis()
    if mem is None:
        pytest.skip("this backend reports no memory analysis")
    return sum(
        int(getattr(mem, k, 0))
        for k in ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
    )


def test_fused_plans_under_a_quarter_of_the_materialised_memory():
    """Value-and-grad w.r.t. the student (teacher fixed), from XLA's compiled memory
    analysis (deterministic; compiled, not run) at a small shape, with the chunk of the
    default at V=32768 (128 tokens; the default here, 1024 of 2048, would be half the
    tokens); the benchmark
    ``python -m bench.fused_distillation`` measures N=8192, D=512, V=32768."""
    n, d, v = 2048, 64, 4096
    h = t_h = jax.ShapeDtypeStruct((n, d), jnp.float32)
    w = t_w = jax.ShapeDtypeStruct((d, v), jnp.float32)

    def fused(h, w, th, tw):
        kw = {"temperature": 2.0, "chunk_size": 128}
        return jnp.mean(jl.linear_kl_distillation_loss(h, w, th, tw, **kw))

    def materialised(h, w, th, tw):
        return jnp.mean(jl.kl_distillation_loss(h @ w, th @ tw, temperature=2.0))

    grad = lambda f: jax.value_and_grad(f, argnums=(0, 1))  # noqa: E731
    ratio = _planned_bytes(grad(fused), h, w, t_h, t_w) / _planned_bytes(
        grad(materialised), h, w, t_h, t_w
    )
    assert ratio <= 0.25, ratio
