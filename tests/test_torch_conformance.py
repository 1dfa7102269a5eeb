"""Conformance with PyTorch where the catalogue's peer records cannot say it.

``tests/test_conformance.py`` compares every peer whose arguments map through its record
(``Peer.kwargs``/``rename``/``sum_axis``) on the entry's sampled cases. Here are the
peers that need more (``Peer.tested_by`` names these tests: transposed weights,
time-major log-probabilities, a module to build, a different ``eps``) and edge cases the
samplers do not produce (clamps, ignore_index, gradients of every input).

Runs when torch is installed (`pip install -e ".[test,torch]"`, as CI does); values and
gradients are compared in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl
from jaxlosses.catalogue import CATALOGUE

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


@pytest.mark.parametrize(("log_input", "full"), [(False, True)])  # the others are sampled
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


def test_nll_ignore_index_is_where(rng, x64):
    lp = jax.nn.log_softmax(rng.standard_normal((5, 4)) * 2)
    labels = rng.integers(0, 4, 5)
    labels[1] = -100
    w = np.array([1.0, 2.0, 0.5, 1.5])
    tlp = _t(np.asarray(lp), True)
    out = F.nll_loss(tlp, torch.tensor(labels), weight=_t(w), reduction="none")
    out.sum().backward()
    ours = jl.negative_log_likelihood(lp, labels, weights=w, where=labels != -100)
    np.testing.assert_allclose(ours, _np(out), rtol=1e-12)
    g = jax.grad(
        lambda x: jl.negative_log_likelihood(x, labels, weights=w, where=labels != -100).sum()
    )(lp)
    np.testing.assert_allclose(g, _np(tlp.grad), rtol=1e-12)


def test_smooth_l1_at_beta_zero_is_l1(rng, x64):
    p, t = rng.standard_normal((4, 6)) * 3, rng.standard_normal((4, 6)) * 3
    out = F.smooth_l1_loss(_t(p), _t(t), beta=0.0, reduction="none")
    np.testing.assert_allclose(jl.smooth_l1_loss(p, t, beta=0.0), _np(out), rtol=1e-12)


def test_kl_div_with_a_vanishing_log_target(rng, x64):
    lp = jax.nn.log_softmax(rng.standard_normal((3, 5)))
    t = rng.dirichlet(np.ones(5), 3)
    t[0, 1] = 0.0
    lt = np.log(np.where(t > 0, t, 1e-300))
    np.testing.assert_allclose(
        jl.kl_divergence_with_log_targets(lp, lt),
        _np(F.kl_div(_t(np.asarray(lp)), _t(lt), reduction="none", log_target=True).sum(-1)),
        rtol=1e-12,
    )


# --- peers whose arguments do not map through the catalogue record (Peer.tested_by) ----


def _cases(name, rng):
    entry = CATALOGUE[name]
    return entry, entry.sample(rng)


def test_ctc_loss(rng, x64):
    """torch takes time-major log-probabilities and lengths where we take logits and paddings."""
    entry, cases = _cases("ctc_loss", rng)
    for case in cases:
        logits, logit_pad, labels, label_pad = case.args
        blank = case.kwargs.get("blank_id", 0)
        tz = _t(logits, True)
        out = F.ctc_loss(
            torch.log_softmax(tz, -1).transpose(0, 1),
            torch.tensor(np.where(label_pad == 0, labels, 0), dtype=torch.long),
            torch.tensor((1 - logit_pad).sum(-1), dtype=torch.long),
            torch.tensor((1 - label_pad).sum(-1), dtype=torch.long),
            blank=blank,
            reduction="none",
        )
        out.sum().backward()
        ours = entry.fn(*case.args, **case.kwargs)
        np.testing.assert_allclose(ours, _np(out), rtol=1e-10, err_msg=case.label)
        g = jax.grad(lambda z, c=case: entry.fn(z, *c.args[1:], **c.kwargs).sum())(logits)
        np.testing.assert_allclose(g, _np(tz.grad), rtol=1e-10, atol=1e-12, err_msg=case.label)


def test_linear_cross_entropy(rng, x64):
    """torch's weight is ``[V, D]`` (ours ``[D, V]``) and ``where`` is its ``ignore_index``."""
    entry, cases = _cases("linear_softmax_cross_entropy", rng)
    compared = 0
    for case in cases:
        h, w, y = case.args
        kw = dict(case.kwargs)
        if kw.get("z_loss"):
            continue  # torch has no z-loss
        where = kw.get("where")
        th, tw = _t(h, True), _t(w, True)
        out = F.linear_cross_entropy(
            th,
            tw.T,
            torch.tensor(np.where(where, y, -100) if where is not None else y, dtype=torch.long),
            linear_bias=None if kw.get("bias") is None else _t(kw["bias"]),
            weight=None if kw.get("weights") is None else _t(kw["weights"]),
            label_smoothing=kw.get("label_smoothing", 0.0),
            ignore_index=-100,
            reduction="none",
        )
        out.sum().backward()
        ours = entry.fn(*case.args, **kw)
        np.testing.assert_allclose(ours, _np(out), rtol=1e-10, atol=1e-12, err_msg=case.label)
        gh, gw = jax.grad(lambda a, b, y=y, kw=kw: entry.fn(a, b, y, **kw).sum(), (0, 1))(h, w)
        np.testing.assert_allclose(gh, _np(th.grad), rtol=1e-10, atol=1e-12, err_msg=case.label)
        np.testing.assert_allclose(gw, _np(tw.grad), rtol=1e-10, atol=1e-12, err_msg=case.label)
        compared += 1
    assert compared >= 3


def test_triplet_margin_loss(rng, x64):
    """torch adds ``eps`` to each coordinate difference, we add it inside the root: equal at 0."""
    entry, cases = _cases("triplet_margin_loss", rng)
    for case in cases:
        kw = {**case.kwargs, "eps": 0.0}
        torch_kw = {"p" if k == "norm_degree" else k: v for k, v in kw.items()}
        ta, tp, tn = (_t(a, True) for a in case.args)
        out = F.triplet_margin_loss(ta, tp, tn, reduction="none", **torch_kw)
        out.sum().backward()
        np.testing.assert_allclose(
            entry.fn(*case.args, **kw), _np(out), rtol=1e-10, err_msg=case.label
        )
        grads = jax.grad(lambda a, p, n, kw=kw: entry.fn(a, p, n, **kw).sum(), (0, 1, 2))(
            *case.args
        )
        for g, t in zip(grads, (ta, tp, tn)):
            np.testing.assert_allclose(g, _np(t.grad), rtol=1e-10, atol=1e-12, err_msg=case.label)


def test_crf_log_likelihood_torchcrf(rng, x64):
    """pytorch-crf is a module: its parameters hold the transitions; padded tags must index."""
    torchcrf = pytest.importorskip("torchcrf")
    entry, cases = _cases("crf_log_likelihood", rng)
    for case in cases:
        e, tags, a = case.args
        kw = case.kwargs
        k = e.shape[-1]
        mask = kw.get("mask", np.ones(tags.shape, bool))
        crf = torchcrf.CRF(k, batch_first=True).double()
        with torch.no_grad():
            crf.transitions.copy_(_t(a))
            crf.start_transitions.copy_(_t(kw.get("start_transitions", np.zeros(k))))
            crf.end_transitions.copy_(_t(kw.get("end_transitions", np.zeros(k))))
        te = _t(e, True)
        out = crf(
            te,
            torch.tensor(np.where(mask, tags, 0), dtype=torch.long),
            mask=torch.tensor(np.asarray(mask, bool)),
            reduction="none",
        )
        out.sum().backward()
        np.testing.assert_allclose(
            entry.fn(*case.args, **kw), _np(out), rtol=1e-10, err_msg=case.label
        )
        ge, ga = jax.grad(lambda x, t, y=tags, kw=kw: entry.fn(x, y, t, **kw).sum(), (0, 1))(e, a)
        np.testing.assert_allclose(ge, _np(te.grad), rtol=1e-10, atol=1e-12, err_msg=case.label)
        np.testing.assert_allclose(
            ga, _np(crf.transitions.grad), rtol=1e-10, atol=1e-12, err_msg=case.label
        )


# --- the PyTorch-style margin and embedding losses: every learned input, edge cases ------


def test_cosine_embedding_loss_both_gradients(rng, x64):
    """Values and the gradients w.r.t. both towers, zero vectors included (torch's eps)."""
    x1, x2 = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    x1[0] = 0.0  # a zero vector: cosine 0 through torch's eps, a large finite gradient
    x2[1] = 0.0
    x2[2] = 3.0 * x1[2]  # cosine 1
    t = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    # torch's EPSILON is the float32 1e-12 (9.99999996e-13); with our default 1e-12 the
    # gradients at a zero vector (~1e6 here) differ from torch's by 2e-9 relative.
    eps = float(np.float32(1e-12))
    for margin in (0.0, 0.3, -0.4):
        ta, tb = _t(x1, True), _t(x2, True)
        out = F.cosine_embedding_loss(ta, tb, _t(t), margin=margin, reduction="none")
        out.sum().backward()
        ours = jl.cosine_embedding_loss(x1, x2, t, margin=margin)
        np.testing.assert_allclose(ours, _np(out), rtol=1e-12, atol=1e-15)
        kw = {"margin": margin, "eps": eps}
        closed = jl.closed_form.cosine_embedding_loss(x1, x2, t, **kw)
        auto = jax.grad(lambda a, b, kw=kw: jl.cosine_embedding_loss(a, b, t, **kw).sum(), (0, 1))(
            x1, x2
        )
        default = jl.closed_form.cosine_embedding_loss(x1, x2, t, margin=margin)
        np.testing.assert_allclose(default[0], _np(ta.grad), rtol=1e-8)
        for got in (closed, auto):
            np.testing.assert_allclose(got[0], _np(ta.grad), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(got[1], _np(tb.grad), rtol=1e-10, atol=1e-12)


def test_multi_margin_loss_every_option(rng, x64):
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 5, 7)
    w = rng.uniform(0.2, 3.0, 5)
    for p in (1, 2):
        for margin in (1.0, 0.25, -0.5, 3.0):
            for weights in (None, w):
                tx = _t(x, True)
                out = F.multi_margin_loss(
                    tx,
                    torch.tensor(y),
                    p=p,
                    margin=margin,
                    weight=None if weights is None else _t(weights),
                    reduction="none",
                )
                out.sum().backward()
                kw = {"p": p, "margin": margin, "weights": weights}
                np.testing.assert_allclose(jl.multi_margin_loss(x, y, **kw), _np(out), rtol=1e-12)
                np.testing.assert_allclose(
                    jl.closed_form.multi_margin_loss(x, y, **kw), _np(tx.grad), rtol=1e-12
                )


def _index_lists_and_masks(rng, n, k):
    lists = np.full((n, k), -1)
    for i in range(n):
        m = int(rng.integers(0, k + 1))
        lists[i, :m] = rng.permutation(k)[:m]
        if m + 1 < k:
            lists[i, m + 1 :] = rng.integers(0, k, k - m - 1)  # after the first -1: ignored
    masks = np.zeros((n, k), bool)
    for i in range(n):
        for j in lists[i]:
            if j < 0:
                break
            masks[i, j] = True
    return lists, masks


def test_multilabel_margin_loss_lists_and_masks(rng, x64):
    """torch's index lists (padding after the first -1 ignored), and the bool-mask form."""
    x = rng.standard_normal((9, 6)) * 0.7
    lists, masks = _index_lists_and_masks(rng, 9, 6)
    lists[0] = [1, 1, 4, -1, 0, 2]  # a repeated index counts twice in torch's sum
    masks[0] = np.isin(np.arange(6), [1, 4])
    tx = _t(x, True)
    out = F.multilabel_margin_loss(tx, torch.tensor(lists), reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(jl.multilabel_margin_loss(x, lists), _np(out), rtol=1e-12)
    np.testing.assert_allclose(
        jl.closed_form.multilabel_margin_loss(x, lists), _np(tx.grad), rtol=1e-12, atol=1e-15
    )
    # without the repeat, the mask form is the same loss
    distinct = slice(1, None)
    np.testing.assert_allclose(
        jl.multilabel_margin_loss(x[distinct], masks[distinct]), _np(out)[distinct], rtol=1e-12
    )


def test_multilabel_soft_margin_and_soft_margin_extremes(x64):
    x = np.array([[-800.0, 0.0, 800.0, 3.0], [50.0, -50.0, 1e-3, -2.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    tx = _t(x, True)
    out = F.multilabel_soft_margin_loss(tx, _t(y), weight=_t(w), reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(
        jl.multilabel_soft_margin_loss(x, y, weights=w), _np(out), rtol=1e-12
    )
    np.testing.assert_allclose(
        jl.closed_form.multilabel_soft_margin_loss(x, y, weights=w), _np(tx.grad), rtol=1e-12
    )
    per_entry = np.array([[0.5, 1.0, 2.0, 1.5], [3.0, 0.25, 1.0, 0.0]])  # torch broadcasts
    tx = _t(x, True)
    out = F.multilabel_soft_margin_loss(tx, _t(y), weight=_t(per_entry), reduction="none")
    out.sum().backward()
    kw = {"weights": per_entry}
    np.testing.assert_allclose(jl.multilabel_soft_margin_loss(x, y, **kw), _np(out), rtol=1e-12)
    np.testing.assert_allclose(
        jl.closed_form.multilabel_soft_margin_loss(x, y, **kw), _np(tx.grad), rtol=1e-12
    )
    s = 2.0 * y - 1.0
    tx = _t(x, True)
    out = F.soft_margin_loss(tx, _t(s), reduction="none")
    out.sum().backward()
    # torch computes log(1 + exp(-y x)) and overflows to inf at -y x = 800 even in float64;
    # the softplus gives the exact 800.
    finite = np.isfinite(_np(out))
    assert not finite.all()
    ours = np.asarray(jl.soft_margin_loss(x, s))
    np.testing.assert_allclose(ours[finite], _np(out)[finite], rtol=1e-12)
    np.testing.assert_array_equal(ours[~finite], (-s * x)[~finite])
    g, tg = np.asarray(jl.closed_form.soft_margin_loss(x, s)), _np(tx.grad)
    np.testing.assert_allclose(g[finite], tg[finite], rtol=1e-12)
    assert np.isnan(tg[~finite]).all()  # torch's backward: inf / inf
    np.testing.assert_array_equal(g[~finite], np.where(-s * x > 0, -s, 0.0)[~finite])


def test_hinge_embedding_loss_margins(rng, x64):
    x = rng.standard_normal((5, 4)) * 2
    t = rng.choice([-1.0, 1.0], (5, 4))
    for margin in (1.0, 0.0, -0.5, 2.5):
        tx = _t(x, True)
        out = F.hinge_embedding_loss(tx, _t(t), margin=margin, reduction="none")
        out.sum().backward()
        np.testing.assert_allclose(jl.hinge_embedding_loss(x, t, margin=margin), _np(out))
        np.testing.assert_allclose(
            jl.closed_form.hinge_embedding_loss(x, t, margin=margin), _np(tx.grad)
        )


def test_tweedie_deviance_at_power_one_is_twice_torchs_poisson_nll_gap(rng, x64):
    """``d_1(y, μ) = 2 [nll(μ) - nll(y)]`` with torch's ``poisson_nll_loss(log_input=False)``."""
    mu = rng.uniform(0.1, 5.0, (4, 6))
    y = rng.poisson(2.0, (4, 6)).astype(float)
    tm = _t(mu, True)
    nll = F.poisson_nll_loss(tm, _t(y), log_input=False, eps=0.0, reduction="none")
    with np.errstate(divide="ignore", invalid="ignore"):
        at_y = np.where(y > 0, y - y * np.log(y), 0.0)  # nll(y), with 0 log 0 = 0
    (2.0 * nll).sum().backward()
    np.testing.assert_allclose(
        jl.tweedie_deviance(mu, y, power=1), 2.0 * (_np(nll) - at_y), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        jl.closed_form.tweedie_deviance(mu, y, power=1), _np(tm.grad), rtol=1e-12
    )
    tm = _t(mu, True)
    out = F.mse_loss(tm, _t(y), reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(jl.tweedie_deviance(mu, y, power=0), _np(out), rtol=1e-12)
    np.testing.assert_allclose(jl.closed_form.tweedie_deviance(mu, y), _np(tm.grad), rtol=1e-12)


def _torch_ctc(logits, logit_pad, labels, label_pad, blank=0, zero_infinity=False):
    """PyTorch's per-sequence CTC loss and its gradient w.r.t. the logits (float64)."""
    tz = _t(logits, True)
    out = F.ctc_loss(
        torch.log_softmax(tz, -1).transpose(0, 1),
        torch.tensor(np.where(label_pad == 0, labels, 1), dtype=torch.long),
        torch.tensor((1 - logit_pad).sum(-1), dtype=torch.long),
        torch.tensor((1 - label_pad).sum(-1), dtype=torch.long),
        blank=blank,
        reduction="none",
        zero_infinity=zero_infinity,
    )
    out.sum().backward()
    return _np(out), _np(tz.grad)


def test_ctc_zero_infinity(rng, x64):
    """Infeasible examples (too few frames) give 0 and a zero gradient, as torch's."""
    logits = rng.standard_normal((4, 4, 3)) * 2.0
    logit_pad = np.zeros((4, 4))
    logit_pad[2, 2:] = 1.0  # two frames for "1 2": feasible
    logit_pad[3, 2:] = 1.0  # two frames for "1 1": needs three
    labels = np.array([[1, 2, 1], [2, 2, 2], [1, 2, 0], [1, 1, 0]], np.int32)
    label_pad = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 1]], np.float64)
    # example 1: "2 2 2" needs 5 frames > 4; examples 0 and 2 are feasible
    ref, ref_grad = _torch_ctc(logits, logit_pad, labels, label_pad, zero_infinity=True)
    assert ref[1] == ref[3] == 0.0 and np.all(ref[[0, 2]] > 0)  # the batch is as intended
    args = (logits, logit_pad, labels, label_pad)
    ours = jl.ctc_loss(*args, zero_infinity=True)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    g = jax.grad(lambda z: jl.ctc_loss(z, *args[1:], zero_infinity=True).sum())(logits)
    np.testing.assert_allclose(g, ref_grad, rtol=1e-10, atol=1e-12)
    closed = jl.closed_form.ctc_loss(*args, zero_infinity=True)
    np.testing.assert_allclose(closed, ref_grad, rtol=1e-10, atol=1e-12)
    # the default keeps optax's log_epsilon stand-in (torch: +inf) on the infeasible ones
    ref_inf, _ = _torch_ctc(logits, logit_pad, labels, label_pad)
    default = np.asarray(jl.ctc_loss(*args))
    assert np.isinf(ref_inf[[1, 3]]).all() and np.all(default[[1, 3]] > 5e4)
    np.testing.assert_allclose(default[[0, 2]], ref_inf[[0, 2]], rtol=1e-10)
    # a NaN logit in a used frame of an infeasible example is not zeroed away
    nan = logits.copy()
    nan[1, 0, 0] = np.nan
    assert np.isnan(jl.ctc_loss(nan, *args[1:], zero_infinity=True)[1])


def test_ctc_clamped_at_zero_with_the_true_gradient():
    """optax issue 1771: float32 rounding made a near-certain alignment's loss about -1e-8."""
    frames = [1, 0, 2, 0]  # the only likely path emits "1 2"
    x = np.zeros((1, 4, 3), np.float32)
    x[0, np.arange(4), frames] = 17.0
    args = (jnp.asarray(x), jnp.zeros((1, 4)), jnp.array([[1, 2]]), jnp.zeros((1, 2)))
    loss = jl.ctc_loss(*args)
    assert loss.dtype == jnp.float32 and float(loss[0]) >= 0.0
    _, ref_grad = _torch_ctc(x.astype(np.float64), *(np.asarray(a) for a in args[1:]))
    g = jax.grad(lambda z: jl.ctc_loss(z, *args[1:]).sum())(args[0])
    # the clamp does not zero the gradient: softmax - gamma, about 4e-8 per off-path class
    assert np.abs(ref_grad).max() > 1e-8
    np.testing.assert_allclose(g, ref_grad, atol=2e-7)
    np.testing.assert_allclose(jl.closed_form.ctc_loss(*args), ref_grad, atol=2e-7)
    assert np.isnan(jl.ctc_loss(args[0].at[0, 1, 1].set(jnp.nan), *args[1:])).all()
