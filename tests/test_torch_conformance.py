"""Conformance with PyTorch (an independent implementation) where we follow its math.

Runs when torch is installed (`pip install -e ".[test,torch]"`, as CI does); values and
gradients are compared in float64.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(rng, x64, full):
    mu, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = rng.uniform(0.1, 2.0, (4, 3))
    var[0, 0] = 1e-9  # below eps: clamped in the forward, gradient passed straight through
    for v in (var, var[:, :1], var[:, 0]):
        tm, tv = _t(mu, True), _t(v, True)
        out = F.gaussian_nll_loss(tm, _t(y), tv, full=full, eps=1e-6, reduction="none")
        out.sum().backward()
        ours = jl.gaussian_nll(mu, y, v, full=full, eps=1e-6)
        np.testing.assert_allclose(ours, _np(out), rtol=1e-12)
        g_mu, g_var = jl.closed_form.gaussian_nll(mu, y, v, full=full, eps=1e-6)
        np.testing.assert_allclose(g_mu, _np(tm.grad), rtol=1e-12)
        np.testing.assert_allclose(g_var, _np(tv.grad), rtol=1e-12)
        auto = jax.grad(lambda m, vv: jl.gaussian_nll(m, y, vv, full=full).sum(), (0, 1))(mu, v)
        np.testing.assert_allclose(auto[1], _np(tv.grad), rtol=1e-12)


@pytest.mark.parametrize(("log_input", "full"), [(True, False), (True, True), (False, True)])
def test_poisson_nll(rng, x64, log_input, full):
    x = rng.standard_normal((3, 5)) if log_input else rng.uniform(0.1, 4.0, (3, 5))
    y = rng.poisson(2.5, (3, 5)).astype(float)
    tx = _t(x, True)
    out = F.poisson_nll_loss(tx, _t(y), log_input=log_input, full=full, reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(
        jl.poisson_nll(x, y, log_input=log_input, full=full), _np(out), rtol=1e-12
    )
    np.testing.assert_allclose(
        jl.closed_form.poisson_nll(x, y, log_input=log_input, full=full), _np(tx.grad), rtol=1e-12
    )


def test_binary_cross_entropy_clamps_like_torch(x64):
    p = np.array([0.0, 1e-50, 0.3, 1.0, 0.999])
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(_t(p), _t(y), reduction="none")
    np.testing.assert_allclose(jl.binary_cross_entropy(p, y), _np(out), rtol=1e-12)


def test_bce_with_logits_pos_weight(rng, x64):
    x = rng.standard_normal((4, 3)) * 3
    y = rng.uniform(0, 1, (4, 3))
    pw = np.array([0.5, 2.0, 3.0])
    tx = _t(x, True)
    out = F.binary_cross_entropy_with_logits(tx, _t(y), pos_weight=_t(pw), reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(jl.sigmoid_binary_cross_entropy(x, y, pos_weight=pw), _np(out))
    np.testing.assert_allclose(
        jl.closed_form.sigmoid_binary_cross_entropy(x, y, pos_weight=pw), _np(tx.grad), rtol=1e-12
    )


def test_cross_entropy_nll_and_smoothing(rng, x64):
    x = rng.standard_normal((5, 4)) * 2
    labels = rng.integers(0, 4, 5)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    tl = torch.tensor(labels)
    np.testing.assert_allclose(
        jl.softmax_cross_entropy_with_integer_labels(x, labels, label_smoothing=0.2),
        _np(F.cross_entropy(_t(x), tl, label_smoothing=0.2, reduction="none")),
        rtol=1e-12,
    )
    lp = jax.nn.log_softmax(x)
    ignore = labels.copy()
    ignore[1] = -100
    np.testing.assert_allclose(
        jl.negative_log_likelihood(lp, ignore, weights=w, where=ignore != -100),
        _np(F.nll_loss(_t(np.asarray(lp)), torch.tensor(ignore), weight=_t(w), reduction="none")),
        rtol=1e-12,
    )
    soft = rng.dirichlet(np.ones(4), 5)
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(x, soft),
        _np(F.cross_entropy(_t(x), _t(soft), reduction="none")),
        rtol=1e-12,
    )


def test_regression_losses(rng, x64):
    p, t = rng.standard_normal((4, 6)) * 3, rng.standard_normal((4, 6)) * 3
    tp, tt = _t(p), _t(t)
    pairs = [
        (jl.squared_error(p, t), F.mse_loss(tp, tt, reduction="none")),
        (jl.absolute_error(p, t), F.l1_loss(tp, tt, reduction="none")),
        (jl.huber_loss(p, t, delta=1.5), F.huber_loss(tp, tt, delta=1.5, reduction="none")),
        (jl.smooth_l1_loss(p, t, beta=0.7), F.smooth_l1_loss(tp, tt, beta=0.7, reduction="none")),
        (jl.smooth_l1_loss(p, t, beta=0.0), F.smooth_l1_loss(tp, tt, beta=0.0, reduction="none")),
        (jl.cosine_similarity(p, t), F.cosine_similarity(tp, tt, dim=-1)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, _np(theirs), rtol=1e-12)


def test_kl_div(rng, x64):
    lp = jax.nn.log_softmax(rng.standard_normal((3, 5)))
    t = rng.dirichlet(np.ones(5), 3)
    t[0, 1] = 0.0
    lt = np.log(np.where(t > 0, t, 1e-300))
    np.testing.assert_allclose(
        jl.kl_divergence(lp, t),
        _np(F.kl_div(_t(np.asarray(lp)), _t(t), reduction="none").sum(-1)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.kl_divergence_with_log_targets(lp, lt),
        _np(F.kl_div(_t(np.asarray(lp)), _t(lt), reduction="none", log_target=True).sum(-1)),
        rtol=1e-12,
    )
