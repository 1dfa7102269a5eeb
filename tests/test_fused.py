"""The fused linear + softmax cross-entropy against optax's materialised path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlosses as jl
from jaxlosses._fused import _linear_softmax_cross_entropy_grad, linear_softmax_cross_entropy

N, D, V = 37, 8, 50  # 37 tokens: no chunk size below divides it


def _inputs(seed=0, n=N, dtype=np.float64):
    rng = np.random.default_rng(seed)
    h = jnp.asarray(rng.standard_normal((n, D)), dtype)
    w = jnp.asarray(rng.standard_normal((D, V)) / np.sqrt(D), dtype)
    y = jnp.asarray(rng.integers(0, V, n), jnp.int32)
    m = jnp.asarray(rng.random(n) < 0.7)
    b = jnp.asarray(rng.standard_normal(V), dtype)
    return h, w, y, m, b


def _optax(h, w, y, *, bias=None, where=None, label_smoothing=0.0, z_loss=0.0):
    """The materialised computation, built from optax's own losses."""
    logits = h @ w if bias is None else h @ w + bias[None, :]
    if label_smoothing:
        target = optax.smooth_labels(jax.nn.one_hot(y, V, dtype=logits.dtype), label_smoothing)
        loss = optax.losses.softmax_cross_entropy(logits, target)
    else:
        loss = optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)
    loss = loss + z_loss * jax.nn.logsumexp(logits, axis=-1) ** 2
    return loss if where is None else jnp.where(where, loss, 0.0)


def _max_err(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(z, np.float64))))
        for x, z in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


OPTIONS = {
    "plain": {},
    "where": {"where": True},
    "bias": {"bias": True},
    "label_smoothing": {"label_smoothing": 0.2},
    "z_loss": {"z_loss": 1e-2},
    "all": {"where": True, "bias": True, "label_smoothing": 0.1, "z_loss": 1e-3},
}


def _kw(opts, m, b):
    kw = dict(opts)
    if kw.pop("where", False):
        kw["where"] = m
    if kw.pop("bias", False):
        kw["bias"] = b
    return kw


@pytest.mark.parametrize("custom_vjp", [True, False])
@pytest.mark.parametrize("chunk_size", [None, 1, 5, 37])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_value_and_grads_equal_optax(x64, option, chunk_size, custom_vjp):
    h, w, y, m, b = _inputs()
    kw = _kw(OPTIONS[option], m, b)
    bias = kw.get("bias")

    def mean_fused(h, w, bias):
        k = {**kw, "bias": bias} if bias is not None else kw
        out = linear_softmax_cross_entropy(
            h, w, y, chunk_size=chunk_size, custom_vjp=custom_vjp, **k
        )
        return jnp.mean(out)

    def mean_optax(h, w, bias):
        k = {**kw, "bias": bias} if bias is not None else kw
        return jnp.mean(_optax(h, w, y, **k))

    val, grads = jax.jit(jax.value_and_grad(mean_fused, argnums=(0, 1, 2)))(h, w, bias)
    val_ref, grads_ref = jax.value_and_grad(mean_optax, argnums=(0, 1, 2))(h, w, bias)
    assert abs(float(val) - float(val_ref)) <= 1e-13
    assert _max_err(grads, grads_ref) <= 1e-13
    if "where" in kw:  # masked tokens get no gradient
        assert not np.any(np.asarray(grads[0])[~np.asarray(m)])


def test_per_token_values_and_any_cotangent(x64):
    """A non-uniform cotangent (per-token weights) takes the exact second pass."""
    h, w, y, m, b = _inputs(1)
    kw = {"where": m, "bias": b, "z_loss": 1e-2}
    ct = jnp.asarray(np.random.default_rng(2).uniform(0, 2, N))
    out, vjp = jax.vjp(lambda h, w: linear_softmax_cross_entropy(h, w, y, chunk_size=8, **kw), h, w)
    ref, vjp_ref = jax.vjp(lambda h, w: _optax(h, w, y, **kw), h, w)
    assert _max_err(out, ref) <= 1e-13
    assert _max_err(jax.jit(vjp)(ct), vjp_ref(ct)) <= 1e-13
    # the masked mean with the same mask (uniform on valid tokens): the fast path
    ct2 = jnp.where(m, 1.0 / jnp.sum(m), 0.0)
    assert _max_err(vjp(ct2), vjp_ref(ct2)) <= 1e-13


def test_class_weights_equal_the_materialised_weighted_loss(x64):
    """Class weights with smoothing and z-loss, as the (torch-conformant) unfused loss;
    the gradient w.r.t. the weights too, on the fast and the exact (second-pass) paths."""
    from jaxlosses import softmax_cross_entropy_with_integer_labels as unfused

    h, w, y, m, b = _inputs(4)
    c = jnp.asarray(np.random.default_rng(5).uniform(0.2, 3.0, V))
    kw = {"where": m, "label_smoothing": 0.1, "z_loss": 1e-2}

    def fused(h, w, c):
        return linear_softmax_cross_entropy(h, w, y, bias=b, weights=c, chunk_size=8, **kw)

    def materialised(h, w, c):
        return unfused(h @ w + b[None, :], y, weights=c, **kw)

    out, vjp = jax.vjp(fused, h, w, c)
    ref, vjp_ref = jax.vjp(materialised, h, w, c)
    assert _max_err(out, ref) <= 1e-13
    for ct in (jnp.where(m, 1.0, 0.0), jnp.asarray(np.random.default_rng(6).uniform(0, 2, N))):
        assert _max_err(jax.jit(vjp)(ct), vjp_ref(ct)) <= 1e-12


def test_closed_form_equals_optax_autodiff(x64):
    h, w, y, m, b = _inputs(3)
    kw = {"where": m, "bias": b, "label_smoothing": 0.1, "z_loss": 1e-2}
    closed = _linear_softmax_cross_entropy_grad(h, w, y, **kw)
    auto = jax.grad(lambda h, w: jnp.sum(_optax(h, w, y, **kw)), argnums=(0, 1))(h, w)
    assert _max_err(closed, auto) <= 1e-13


def test_bfloat16_accumulates_in_float32():
    h, w, y, m, _ = _inputs(4, dtype=np.float32)
    hb, wb = h.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    out = linear_softmax_cross_entropy(hb, wb, y, where=m, chunk_size=8)
    assert out.dtype == jnp.bfloat16
    # reference: float32 math on the same rounded inputs
    h32, w32 = hb.astype(jnp.float32), wb.astype(jnp.float32)
    ref = _optax(h32, w32, y, where=m)
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=1e-2, atol=1e-2)
    gh, gw = jax.grad(
        lambda h, w: jnp.sum(linear_softmax_cross_entropy(h, w, y, where=m, chunk_size=8)),
        argnums=(0, 1),
    )(hb, wb)
    assert gh.dtype == gw.dtype == jnp.bfloat16
    rh, rw = jax.grad(lambda h, w: jnp.sum(_optax(h, w, y, where=m)), argnums=(0, 1))(h32, w32)
    assert _max_err(gh, rh) <= 2e-2 * float(jnp.max(jnp.abs(rh)))
    assert _max_err(gw, rw) <= 2e-2 * float(jnp.max(jnp.abs(rw)))


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_float32_hidden_with_a_bfloat16_weight_keeps_float32_gradients():
    # dL/dz must not be rounded to the weight's bfloat16 before the dL/dh product: that
    # gave a relative error of 1.5e-3 (float32 accuracy is ~1e-7).
    rng = np.random.default_rng(1)
    h = rng.normal(size=(64, 32)).astype(np.float32)
    w16 = jnp.asarray(0.3 * rng.normal(size=(32, 100)), jnp.bfloat16)
    w = np.asarray(w16.astype(jnp.float32), np.float64)  # the weight's exact values
    y = rng.integers(0, 100, 64)
    # NumPy float64 reference: dL/dh = (softmax(h W) - onehot(y)) Wᵀ.
    p = _np_softmax(h.astype(np.float64) @ w)
    p[np.arange(64), y] -= 1.0
    want = p @ w.T
    got = jax.grad(lambda a: linear_softmax_cross_entropy(a, w16, jnp.asarray(y)).sum())(h)
    assert got.dtype == jnp.float32
    assert np.max(np.abs(got - want)) / np.max(np.abs(want)) < 1e-5
    # the fused distillation: KL(teacher || student) with teacher = 0.5 h, same weight
    q = _np_softmax(0.5 * h.astype(np.float64) @ w)
    want_kl = (_np_softmax(h.astype(np.float64) @ w) - q) @ w.T
    got_kl = jax.grad(lambda a: jl.linear_kl_distillation_loss(a, w16, 0.5 * h, w16).sum())(h)
    assert np.max(np.abs(got_kl - want_kl)) / np.max(np.abs(want_kl)) < 1e-5


def test_no_residual_of_size_n_times_v():
    """Under value-and-grad the largest array at the top level is O(D·V) or O(N·D)."""
    n, d, v, c = 256, 4, 512, 8
    h, w = jnp.ones((n, d)), jnp.ones((d, v))
    y = jnp.zeros(n, jnp.int32)

    def f(h, w):
        return jnp.mean(linear_softmax_cross_entropy(h, w, y, chunk_size=c))

    jaxpr = jax.make_jaxpr(jax.value_and_grad(f, argnums=(0, 1)))(h, w)
    sizes = [
        int(np.prod(var.aval.shape))
        for eqn in jaxpr.eqns
        for var in eqn.outvars
        if hasattr(var.aval, "shape")
    ]
    assert max(sizes) <= max(n * d, d * v) < n * v
    # the materialised path does build [N, V] (so the measure can see it)
    jaxpr_ref = jax.make_jaxpr(
        jax.value_and_grad(lambda h, w: jnp.mean(_optax(h, w, y)), argnums=(0, 1))
    )(h, w)
    assert any(np.prod(var.aval.shape) >= n * v for eqn in jaxpr_ref.eqns for var in eqn.outvars)


def test_forward_mode_and_higher_order_fallback(x64):
    from jax.test_util import check_grads

    h, w, y, m, b = _inputs(5, n=9)
    kw = {"where": m, "bias": b, "label_smoothing": 0.1, "z_loss": 1e-2, "chunk_size": 4}

    def fb(h, w):
        return jnp.sum(linear_softmax_cross_entropy(h, w, y, custom_vjp=False, **kw))

    ref_kw = {k: v for k, v in kw.items() if k != "chunk_size"}

    def ref(h, w):
        return jnp.sum(_optax(h, w, y, **ref_kw))

    check_grads(jax.jit(fb), (h, w), order=2, modes=("fwd", "rev"))
    tangent = (jnp.ones_like(h), jnp.ones_like(w))
    assert _max_err(jax.jvp(fb, (h, w), tangent), jax.jvp(ref, (h, w), tangent)) <= 1e-12
    hess = jax.jacfwd(jax.grad(fb))(h, w)
    assert _max_err(hess, jax.jacfwd(jax.grad(ref))(h, w)) <= 1e-12

    # the default custom_vjp path: reverse-over-reverse and forward-over-reverse work
    def fused(h, w):
        return jnp.sum(linear_softmax_cross_entropy(h, w, y, **kw))

    check_grads(fused, (h, w), order=2, modes=("rev",))
    v = jnp.ones_like(h)
    hvp = jax.jvp(jax.grad(fused), (h, w), (v, jnp.zeros_like(w)))[1]
    assert _max_err(hvp, jax.jvp(jax.grad(ref), (h, w), (v, jnp.zeros_like(w)))[1]) <= 1e-12
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(fused, (h, w), tangent)


@pytest.mark.parametrize("custom_vjp", [True, False])
def test_vmap_and_batch_shapes(x64, custom_vjp):
    h, w, y, m, _ = _inputs(6, n=12)
    hb, yb, mb = h.reshape(3, 4, D), y.reshape(3, 4), m.reshape(3, 4)

    def f(h, y, m):
        return linear_softmax_cross_entropy(h, w, y, where=m, chunk_size=3, custom_vjp=custom_vjp)

    ref = _optax(h, w, y, where=m).reshape(3, 4)
    assert _max_err(jax.vmap(f)(hb, yb, mb), ref) <= 1e-13
    assert _max_err(f(hb, yb, mb), ref) <= 1e-13  # leading batch shape [3, 4]
    g = jax.vmap(jax.grad(lambda h, y, m: jnp.sum(f(h, y, m))))(hb, yb, mb)
    g_ref = jax.grad(lambda h: jnp.sum(_optax(h, w, y, where=m)))(h).reshape(3, 4, D)
    assert _max_err(g, g_ref) <= 1e-13


def test_masking_edge_cases():
    h, w, y, _, _ = _inputs(7, dtype=np.float32)
    none = jnp.zeros(N, bool)
    pad = jnp.full(N, -100, jnp.int32)
    out, grads = jax.value_and_grad(
        lambda h, w: jnp.sum(linear_softmax_cross_entropy(h, w, pad, where=none)), argnums=(0, 1)
    )(h, w)
    assert float(out) == 0.0
    assert all(not np.any(np.asarray(g)) for g in grads)
    bad = y.at[0].set(V)  # an unmasked out-of-range label: NaN, never a plausible number
    loss = linear_softmax_cross_entropy(h, w, bad)
    assert np.isnan(loss[0]) and np.isfinite(loss[1:]).all()


def test_bad_inputs_are_named():
    h, w, y, m, b = _inputs(8, dtype=np.float32)
    with pytest.raises(ValueError, match=r"weight\.T"):
        linear_softmax_cross_entropy(h, w.T, y)
    with pytest.raises(ValueError, match="labels"):
        linear_softmax_cross_entropy(h, w, y[:-1])
    with pytest.raises(ValueError, match="where"):
        linear_softmax_cross_entropy(h, w, y, where=m[:-1])
    with pytest.raises(ValueError, match="bias"):
        linear_softmax_cross_entropy(h, w, y, bias=b[:-1])
    with pytest.raises(ValueError, match="chunk_size"):
        linear_softmax_cross_entropy(h, w, y, chunk_size=0)
    with pytest.raises(TypeError, match="labels"):
        linear_softmax_cross_entropy(h, w, y.astype(jnp.float32))
    with pytest.raises(TypeError, match="label_smoothing"):
        jax.jit(lambda a: linear_softmax_cross_entropy(h, w, y, label_smoothing=a))(0.1)


def test_vocabulary_blocked_weight_grad(x64, monkeypatch):
    """With V above the block size, dL/dW is accumulated one vocabulary block at a time."""
    import jaxlosses._fused as fused

    monkeypatch.setattr(fused, "_VOCAB_BLOCK", 16)  # V=50: blocks of 10 (largest divisor <= 16)
    assert fused._vocab_block(V) == 10
    monkeypatch.setattr(fused, "_VOCAB_BLOCK", 7)
    assert fused._vocab_block(V) == 5
    monkeypatch.setattr(fused, "_VOCAB_BLOCK", 16)
    assert fused._vocab_block(53) == 53  # prime: no block in [2, 16] divides it, no blocking
    h, w, y, m, b = _inputs(7)
    kw = {"where": m, "bias": b, "label_smoothing": 0.1}
    ref_vjp = jax.vjp(lambda h, w: _optax(h, w, y, **kw), h, w)[1]
    vjp = jax.vjp(lambda h, w: linear_softmax_cross_entropy(h, w, y, chunk_size=8, **kw), h, w)[1]
    ones = jnp.asarray(m, h.dtype)  # uniform on valid tokens: the fast path
    weights = jnp.asarray(np.random.default_rng(8).uniform(0, 2, N))  # the exact second pass
    for ct in (ones, weights):
        assert _max_err(jax.jit(vjp)(ct), ref_vjp(ct)) <= 1e-13
