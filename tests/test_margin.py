"""Flat margin losses, the sparsemax (Fenchel-Young) losses and CTC.

Expected values are hand-computed, come from optax (an independent library), or from a
brute-force enumeration written here; the catalogue's verification engine separately
proves each closed-form gradient against jax.grad and finite differences.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp

import jaxlosses as jl

# --- hand-computed values -------------------------------------------------------------


def test_binary_margin_losses_by_hand():
    x, t = jnp.array([2.0, 0.25, 0.5, -0.5]), jnp.array([1.0, 1.0, -1.0, 1.0])
    # 1 - y x = [-1, 0.75, 1.5, 1.5]; -y x = [-2, -0.25, 0.5, 0.5]
    np.testing.assert_allclose(jl.hinge_loss(x, t), [0.0, 0.75, 1.5, 1.5])
    np.testing.assert_allclose(jl.squared_hinge_loss(x, t), [0.0, 0.5625, 2.25, 2.25])
    np.testing.assert_allclose(jl.perceptron_loss(x, t), [0.0, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(jl.closed_form.hinge_loss(x, t), [0.0, -1.0, 1.0, -1.0])
    np.testing.assert_allclose(jl.closed_form.squared_hinge_loss(x, t), [0.0, -1.5, 3.0, -3.0])
    np.testing.assert_allclose(jl.closed_form.perceptron_loss(x, t), [0.0, 0.0, 1.0, -1.0])


def test_sparsemax_binary_by_hand():
    # label 1 -> sparseplus(-x); label 0 -> sparseplus(x); sparseplus(z) = (z + 1)^2 / 4 on (-1, 1)
    x = jnp.array([2.0, 0.0, -3.0, 0.5, -2.0])
    y = jnp.array([1, 1, 1, 0, 0])
    np.testing.assert_allclose(jl.sparsemax_loss(x, y), [0.0, 0.25, 3.0, 0.5625, 0.0])
    # derivative: -(z + 1)/2 clipped for label 1, +(z + 1)/2 clipped for label 0
    np.testing.assert_allclose(jl.closed_form.sparsemax_loss(x, y), [0.0, -0.5, -1.0, 0.75, 0.0])


def test_multiclass_losses_by_hand():
    s = jnp.array([[1.0, 3.0, 0.5], [2.0, -1.0, 0.0]])
    y = jnp.array([0, 0])
    np.testing.assert_allclose(jl.multiclass_perceptron_loss(s, y), [2.0, 0.0])
    # max(1 + 0, 3 + 1, 0.5 + 1) - 1 = 3 ; max(2, 0, 1) - 2 = 0
    np.testing.assert_allclose(jl.multiclass_hinge_loss(s, y), [3.0, 0.0])
    np.testing.assert_allclose(
        jl.closed_form.multiclass_hinge_loss(s, y), [[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    )


def test_cost_losses_by_hand():
    cost = jnp.array([[0.0, 0.5, 4.0], [0.5, 0.0, 4.0], [4.0, 4.0, 0.0]])
    s, y = jnp.array([[1.0, 0.8, -2.0]]), jnp.array([0])
    # max(1 + 0, 0.8 + 0.5, -2 + 4) - 1 = 1
    np.testing.assert_allclose(jl.cost_augmented_hinge_loss(s, y, cost=cost), [1.0])
    np.testing.assert_allclose(
        jl.closed_form.cost_augmented_hinge_loss(s, y, cost=cost), [[-1.0, 0.0, 1.0]]
    )
    # log(e^1 + e^1.3 + e^2) - 1
    want = np.log(np.exp(1.0) + np.exp(1.3) + np.exp(2.0)) - 1.0
    np.testing.assert_allclose(jl.softmax_margin_loss(s, y, cost=cost), [want], rtol=1e-6)
    p = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
    np.testing.assert_allclose(jl.risk_loss(p, y, cost=cost), [0.5 * 0.3 + 4.0 * 0.2], rtol=1e-6)
    # default 0/1 cost: risk = 1 - p_y
    np.testing.assert_allclose(jl.risk_loss(p, jnp.array([1])), [0.7], rtol=1e-6)


def test_multiclass_sparsemax_by_hand():
    # sparsemax([0.5, 0, 0.25]): tau = -1/12, p = [7/12, 1/12, 4/12]
    s = jnp.array([0.5, 0.0, 0.25])
    p = np.array([7.0, 1.0, 4.0]) / 12
    want = p @ np.asarray(s) - 0.0 + 0.5 * (1 - p @ p)
    np.testing.assert_allclose(jl.multiclass_sparsemax_loss(s, jnp.array(1)), want, rtol=1e-6)
    np.testing.assert_allclose(
        jl.closed_form.multiclass_sparsemax_loss(s, jnp.array(1)), p - [0, 1, 0], atol=1e-6
    )
    # zero when sparsemax puts all mass on the label (margin >= 1)
    assert float(jl.multiclass_sparsemax_loss(jnp.array([2.0, 0.0, -1.0]), jnp.array(0))) == 0.0


def test_ctc_by_hand():
    # two frames, P(blank) = [.5, .8], P(a) = [.5, .2]: a-a .1, a-_ .4, _-a .1 -> 0.6
    logits = jnp.log(jnp.array([[[0.5, 0.5], [0.8, 0.2]]]))
    loss = jl.ctc_loss(logits, jnp.zeros((1, 2)), jnp.array([[1]]), jnp.zeros((1, 1)))
    np.testing.assert_allclose(loss, [-np.log(0.6)], rtol=1e-6)
    # "a a" needs a blank between: only a-_-a over three frames
    logits3 = jnp.log(jnp.array([[[0.5, 0.5], [0.8, 0.2], [0.4, 0.6]]]))
    loss = jl.ctc_loss(logits3, jnp.zeros((1, 3)), jnp.array([[1, 1]]), jnp.zeros((1, 2)))
    np.testing.assert_allclose(loss, [-np.log(0.5 * 0.8 * 0.6)], rtol=1e-6)


# --- optax ----------------------------------------------------------------------------


@pytest.fixture
def scores_labels(x64, rng):
    return rng.standard_normal((4, 6)) * 2, rng.integers(0, 6, 4).astype(np.int32)


# tests/test_conformance.py compares the optax peers (multiclass and binary hinge,
# perceptron and sparsemax losses) on their sampled cases.


def test_make_fenchel_young_loss(scores_labels):
    s, y = scores_labels
    onehot = np.eye(6)[y]
    ours = jl.make_fenchel_young_loss(logsumexp)(s, onehot)
    theirs = optax.losses.make_fenchel_young_loss(logsumexp)(s, onehot)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(ours, optax.losses.softmax_cross_entropy(s, onehot), rtol=1e-12)

    # the sparsemax max function max_Omega(s) = <p, s> - (|p|^2 - 1) / 2 gives the sparsemax loss
    def sparsemax_max(row):
        p = optax.projections.projection_simplex(row)
        return p @ row - 0.5 * (p @ p - 1.0)

    fy = jl.make_fenchel_young_loss(sparsemax_max)(s, onehot)
    np.testing.assert_allclose(fy, optax.losses.multiclass_sparsemax_loss(s, y), rtol=1e-10)
    with pytest.raises(TypeError, match="max_fun"):
        jl.make_fenchel_young_loss(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="targets"):
        jl.make_fenchel_young_loss(logsumexp)(s, onehot[:, :3])


# --- the family's reductions ----------------------------------------------------------


def test_zero_cost_reductions(scores_labels):
    s, y = scores_labels
    zero = np.zeros((6, 6))
    np.testing.assert_allclose(
        jl.softmax_margin_loss(s, y, cost=zero),
        optax.losses.softmax_cross_entropy_with_integer_labels(s, y),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.cost_augmented_hinge_loss(s, y, cost=zero),
        optax.losses.multiclass_perceptron_loss(s, y),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.cost_augmented_hinge_loss(s, y), optax.losses.multiclass_hinge_loss(s, y), rtol=1e-12
    )
    # per-example costs given explicitly equal the matrix rows
    cost = np.abs(np.subtract.outer(np.arange(6), np.arange(6))).astype(float)
    for fn in (jl.cost_augmented_hinge_loss, jl.softmax_margin_loss, jl.risk_loss):
        np.testing.assert_allclose(fn(s, y, cost=cost), fn(s, y, cost=cost[y]), rtol=1e-12)
    # softmax-margin is a smooth upper bound of the cost-augmented hinge
    assert np.all(
        jl.softmax_margin_loss(s, y, cost=cost) >= jl.cost_augmented_hinge_loss(s, y, cost=cost)
    )


@pytest.mark.parametrize(
    "name",
    ["cost_augmented_hinge_loss", "softmax_margin_loss", "risk_loss", "multiclass_sparsemax_loss"],
)
def test_where_equals_slicing_and_axis(name, scores_labels):
    s, y = scores_labels
    fn = getattr(jl, name)
    keep = np.array([True, False, True, True, False, True])
    y = np.array([0, 2, 3, 5], np.int32)
    kw = {} if name == "multiclass_sparsemax_loss" else {"cost": np.arange(36.0).reshape(6, 6) % 5}
    sliced_kw = {k: v[np.ix_(keep, keep)] for k, v in kw.items()}
    remap = np.cumsum(keep) - 1
    masked = fn(s, y, where=np.broadcast_to(keep, s.shape), **kw)
    np.testing.assert_allclose(masked, fn(s[:, keep], remap[y], **sliced_kw), rtol=1e-12)
    np.testing.assert_allclose(fn(s.T, y, axis=0, **kw), fn(s, y, **kw), rtol=1e-12)
    # a fully masked row gives 0 and a finite gradient
    where = np.ones(s.shape, bool)
    where[1] = False
    out = fn(s, y, where=where, **kw)
    assert float(out[1]) == 0.0
    g = jax.grad(lambda z: fn(z, y, where=where, **kw).sum())(s)
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0)


# --- CTC ------------------------------------------------------------------------------


def _brute_ctc(logits, frame_pad, labels, label_pad, blank):
    """-log sum over every frame-level path that collapses to the labels (probability space)."""
    out = []
    for b in range(logits.shape[0]):
        x = logits[b][frame_pad[b] == 0]
        p = np.exp(x - x.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        want = [int(a) for a, m in zip(labels[b], label_pad[b]) if m == 0]
        total = 0.0
        for path in itertools.product(range(x.shape[-1]), repeat=len(x)):
            merged = [a for i, a in enumerate(path) if i == 0 or a != path[i - 1]]
            if [a for a in merged if a != blank] == want:
                total += float(np.prod(p[np.arange(len(path)), path]))
        out.append(-np.log(total))
    return np.array(out)


@pytest.fixture
def ctc_problem(x64, rng):
    logits = rng.standard_normal((4, 5, 4)) * 1.5
    frame_pad = np.zeros((4, 5))
    frame_pad[1, 4:] = 1.0
    frame_pad[3, 3:] = 1.0
    labels = np.array([[1, 2, 3], [2, 2, 1], [3, 3, 3], [1, 0, 0]], np.int32)
    label_pad = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 1]], float)
    return logits, frame_pad, labels, label_pad


@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_brute_force_and_optax(ctc_problem, blank):
    logits, frame_pad, labels, label_pad = ctc_problem
    labels = np.where(labels == blank, (blank + 1) % 4, labels)
    ours = jl.ctc_loss(logits, frame_pad, labels, label_pad, blank_id=blank)
    np.testing.assert_allclose(
        ours, _brute_ctc(logits, frame_pad, labels, label_pad, blank), rtol=1e-10
    )
    args = (
        jnp.asarray(logits),
        jnp.asarray(frame_pad),
        jnp.asarray(labels),
        jnp.asarray(label_pad),
    )
    # forward probabilities agree with optax's on every reachable state (both use
    # log_epsilon = -1e5 as log 0 on the others)
    optax_fwd = jax.jit(optax.losses.ctc_loss_with_forward_probs, static_argnames="blank_id")
    o_loss, o_phi, o_emit = optax_fwd(*args, blank_id=blank)
    np.testing.assert_allclose(ours, o_loss, rtol=1e-12)
    _, a_phi, a_emit = jl.ctc_loss_with_forward_probs(*args, blank_id=blank)
    for a, o in ((a_phi, o_phi), (a_emit, o_emit)):
        reachable = np.asarray(o) > -1e4
        np.testing.assert_allclose(np.asarray(a)[reachable], np.asarray(o)[reachable], rtol=1e-12)
        assert np.all(np.asarray(a)[~reachable] < -1e4)
    # the closed form (softmax - forward-backward posterior) equals jax.grad of optax's loss
    g_optax = jax.jit(
        jax.grad(lambda z: optax.losses.ctc_loss(z, *args[1:], blank_id=blank).sum())
    )(args[0])
    g_ours = jl.closed_form.ctc_loss(*args, blank_id=blank)
    np.testing.assert_allclose(g_ours, g_optax, atol=1e-12)
    assert np.all(np.asarray(g_ours)[frame_pad == 1] == 0)
    np.testing.assert_allclose(np.asarray(g_ours).sum(-1), 0.0, atol=1e-12)


def test_ctc_batch_shapes_and_stability(ctc_problem):
    logits, frame_pad, labels, label_pad = ctc_problem
    batched = jl.ctc_loss(logits, frame_pad, labels, label_pad)
    single = jl.ctc_loss(logits[0], frame_pad[0], labels[0], label_pad[0])
    assert single.shape == ()
    np.testing.assert_allclose(single, batched[0], rtol=1e-12)
    vm = jax.vmap(jl.ctc_loss)(logits, frame_pad, labels, label_pad)
    np.testing.assert_allclose(vm, batched, rtol=1e-12)
    big = (1e4 * np.sign(logits)).astype(np.float32)
    with jax.enable_x64(False):
        v, g = jax.value_and_grad(lambda z: jl.ctc_loss(z, frame_pad, labels, label_pad).sum())(
            jnp.asarray(big)
        )
        assert v.dtype == jnp.float32 and np.isfinite(v) and np.all(np.isfinite(g))


# --- dtypes, jit and bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["multiclass_hinge_loss", "softmax_margin_loss", "risk_loss", "multiclass_sparsemax_loss"],
)
def test_dtype_and_jit(name):
    s = jnp.array([[1e4, -1e4, 0.0], [0.5, 0.25, -0.5]], jnp.bfloat16)
    y = jnp.array([1, 0])
    fn = getattr(jl, name)
    out = fn(s, y)
    assert out.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(out, np.float32)))
    np.testing.assert_array_equal(jax.jit(fn)(s, y), out)


def test_bad_inputs():
    s, y = jnp.zeros((2, 3)), jnp.array([0, 1])
    with pytest.raises(TypeError, match="`scores`"):
        jl.multiclass_hinge_loss(jnp.zeros((2, 3), jnp.int32), y)
    with pytest.raises(TypeError, match="`labels`"):
        jl.softmax_margin_loss(s, jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="`labels` has shape"):
        jl.risk_loss(s, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match="`cost` has shape"):
        jl.cost_augmented_hinge_loss(s, y, cost=jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="`axis`"):
        jl.multiclass_perceptron_loss(s, y, axis=2)
    with pytest.raises(ValueError, match="`targets` has shape"):
        jl.hinge_loss(jnp.zeros(3), jnp.ones(4))
    with pytest.raises(TypeError, match="`predictor_outputs`"):
        jl.perceptron_loss(jnp.array([1, 2]), jnp.array([1, -1]))
    x, pad = jnp.zeros((2, 5, 3)), jnp.zeros((2, 5))
    lab, lpad = jnp.array([[1, 2], [2, 1]]), jnp.zeros((2, 2))
    with pytest.raises(ValueError, match="`logit_paddings`"):
        jl.ctc_loss(x, jnp.zeros((2, 4)), lab, lpad)
    with pytest.raises(ValueError, match="`label_paddings`"):
        jl.ctc_loss(x, pad, lab, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="`labels` has shape"):
        jl.ctc_loss(x, pad, lab[0], lpad[0])
    with pytest.raises(ValueError, match="`blank_id`"):
        jl.ctc_loss(x, pad, lab, lpad, blank_id=3)
    with pytest.raises(TypeError, match="`labels`"):
        jl.ctc_loss(x, pad, lab.astype(jnp.float32), lpad)


def test_out_of_range_labels_are_nan_not_plausible():
    s = jnp.zeros((2, 3))
    out = jl.multiclass_hinge_loss(s, jnp.array([0, 3]))
    assert np.isfinite(out[0]) and np.isnan(out[1])
    loss = jl.ctc_loss(jnp.zeros((2, 4, 3)), jnp.zeros((2, 4)), jnp.array([[1], [5]]),
                       jnp.zeros((2, 1)))  # fmt: skip
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


def test_ctc_empty_time_axis():
    """T = 0: an empty label has probability 1 (loss 0); any other is infeasible."""
    x = jnp.zeros((3, 0, 3))
    labels = jnp.array([[1, 1], [2, 0], [0, 0]])
    label_pad = jnp.array([[0, 0], [0, 1], [1, 1]], jnp.float32)
    args = (x, jnp.zeros((3, 0)), labels, label_pad)
    loss = jl.ctc_loss(*args)
    assert loss[2] == 0.0 and np.all(loss[:2] > 5e4)  # the log_epsilon stand-in for +inf
    np.testing.assert_array_equal(jl.ctc_loss(*args, zero_infinity=True), [0.0, 0.0, 0.0])
    assert jax.grad(lambda z: jl.ctc_loss(z, *args[1:]).sum())(x).shape == (3, 0, 3)
    assert jl.closed_form.ctc_loss(*args).shape == (3, 0, 3)
    _, a_phi, a_emit = jl.ctc_loss_with_forward_probs(*args)
    assert a_phi.shape == (0, 3, 3) and a_emit.shape == (0, 3, 2)
    with pytest.raises(TypeError, match="`zero_infinity`"):
        jl.ctc_loss(*args, zero_infinity=1)


@pytest.mark.parametrize(
    "loss", [jl.cost_augmented_hinge_loss, jl.softmax_margin_loss, jl.risk_loss]
)
def test_complex_cost_is_refused(loss):
    # A complex cost matrix was cast to real, its imaginary part dropped without a word.
    scores, labels = jnp.zeros((2, 3)), jnp.array([0, 1])
    cost = jnp.ones((3, 3), jnp.complex64) + 1j
    with pytest.raises(TypeError, match="`cost` is complex"):
        loss(scores, labels, cost=cost)
    # The real part alone is accepted and gives the real-cost loss.
    np.testing.assert_allclose(
        loss(scores, labels, cost=jnp.real(cost)), loss(scores, labels, cost=jnp.ones((3, 3)))
    )
