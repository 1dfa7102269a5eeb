"""CTC's parallel-in-time method (``method="parallel"``) against the sequential scan.

The loss as a log-depth product of per-frame ``[S, S]`` log-semiring matrices over the
``S = 2N + 2`` lattice states (with one state standing for the ``log_epsilon`` that the
sequential scan offers a forbidden skip) must equal the sequential scan in float64: values,
forward probabilities, ``jax.grad`` w.r.t. the logits and ``log_epsilon``, the closed forms,
for odd and even lengths, repeated labels, padded frames and labels, empty labels, a
nonzero ``blank_id``, infeasible examples and ``zero_infinity``; and both must equal the
brute-force sum over alignments of the catalogue's reference. Also tested here for both
methods: the closed form is ``jax.grad`` even for an infeasible example (it was not: the
softmax term must be weighted by the frame's total occupancy), a NaN in a padded frame
reaches neither the value nor the gradient (it reached the gradient), a NaN in a used
frame makes only its sequence NaN, float32 scores of ``1e4`` and ``T = 512`` stay finite
and accurate, and ``"auto"`` follows its documented rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses
from jaxlosses import _semiring
from jaxlosses.catalogue.ctc import _ref_ctc

METHODS = ("sequential", "parallel")


def _jit(fn):
    return jax.jit(fn, static_argnames=("method", "zero_infinity", "blank_id"))


loss_fn = _jit(jaxlosses.ctc_loss)
closed_form = _jit(jaxlosses.closed_form.ctc_loss)
forward_probs = jax.jit(
    jaxlosses.ctc_loss_with_forward_probs, static_argnames=("method", "blank_id")
)


def _problem(b, t, k, n, seed=0):
    """Logits, frame paddings (variable lengths), labels with repeats, label paddings."""
    rng = np.random.default_rng(seed + 10 * t + n)
    x = rng.standard_normal((b, t, k)) * 2.0
    frames = rng.integers(max(1, t // 2), t + 1, b)
    frames[0] = t
    pad = (np.arange(t) >= frames[:, None]).astype(np.float64)
    labels = rng.integers(1, k, (b, n))
    if n >= 2:
        labels[0, 1] = labels[0, 0]  # a repeat: needs a blank between
    lengths = rng.integers(0, n + 1, b)
    lengths[0] = n
    lpad = (np.arange(n) >= lengths[:, None]).astype(np.float64)
    return x, pad, labels.astype(np.int32), lpad


# (batch, frames, classes, padded label length): T = 2, odd and even T, N = 1, long labels.
SHAPES = [(3, 2, 3, 1), (4, 7, 4, 3), (4, 8, 5, 3), (3, 9, 3, 4), (2, 16, 6, 5)]


def _value_and_grads(method, x, pad, labels, lpad, **kw):
    def total(x, eps):
        return jnp.sum(loss_fn(x, pad, labels, lpad, log_epsilon=eps, method=method, **kw))

    value = loss_fn(x, pad, labels, lpad, method=method, **kw)
    gx, geps = jax.grad(total, argnums=(0, 1))(x, jnp.asarray(-1e5))
    cf = closed_form(x, pad, labels, lpad, method=method, **kw)
    return value, gx, geps, cf


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize(("b", "t", "k", "n"), SHAPES)
def test_parallel_equals_sequential_and_brute_force(b, t, k, n, zero_infinity, x64):
    x, pad, labels, lpad = _problem(b, t, k, n)
    kw = {"zero_infinity": zero_infinity}
    seq = _value_and_grads("sequential", x, pad, labels, lpad, **kw)
    par = _value_and_grads("parallel", x, pad, labels, lpad, **kw)
    for a, p in zip(seq, par):
        np.testing.assert_allclose(p, a, rtol=1e-10, atol=1e-10)
    # Each closed form is jax.grad of its own loss.
    for _, gx, _, cf in (seq, par):
        np.testing.assert_allclose(cf, gx, rtol=1e-10, atol=1e-10)
    if t <= 9:  # brute force: K ** T alignments
        want = _ref_ctc(x, pad, labels, lpad)
        feasible = want < np.inf
        np.testing.assert_allclose(par[0][feasible], want[feasible], rtol=1e-10)


def test_forward_probs_blank_id_and_batch_shape(x64):
    x, pad, labels, lpad = _problem(6, 8, 4, 3, seed=3)
    labels = labels % 3  # blank_id=3 below: labels in {0, 1, 2}
    x, pad, labels, lpad = (a.reshape(2, 3, *a.shape[1:]) for a in (x, pad, labels, lpad))
    out = {m: forward_probs(x, pad, labels, lpad, blank_id=3, method=m) for m in METHODS}
    for a, p in zip(out["sequential"], out["parallel"]):
        assert a.shape == p.shape
        np.testing.assert_allclose(p, a, rtol=1e-10, atol=1e-9)
    assert out["parallel"][0].shape == (2, 3)
    assert out["parallel"][1].shape == (8, 2, 3, 4)


def test_closed_form_is_the_gradient_of_an_infeasible_example(x64):
    """Three frames cannot carry labels (1, 1, 1): the log_epsilon path holds the mass.

    The closed form used to be ``softmax - gamma``, off by ``(1 - sum gamma) softmax``
    where no alignment exists (0.73 here); it is now ``jax.grad`` for both methods.
    """
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4))
    pad = np.zeros((2, 3))
    labels = np.array([[1, 1, 1], [1, 2, 3]], np.int32)
    lpad = np.zeros((2, 3))
    for method in METHODS:
        g = jax.grad(lambda x, m=method: jnp.sum(loss_fn(x, pad, labels, lpad, method=m)))(x)
        cf = closed_form(x, pad, labels, lpad, method=method)
        np.testing.assert_allclose(cf, g, rtol=1e-9, atol=1e-9)
        assert np.abs(np.asarray(g[0])).max() > 1e-3  # the infeasible example has a gradient


@pytest.mark.parametrize("method", METHODS)
def test_nan_in_a_padded_frame_reaches_nothing_in_a_used_frame_its_sequence(method, x64):
    x, pad, labels, lpad = _problem(4, 8, 4, 3, seed=1)
    padded = np.argwhere(pad[1] == 1)[0, 0]
    clean = loss_fn(x, pad, labels, lpad, method=method)

    def grad(x):
        return jax.grad(lambda x: jnp.sum(loss_fn(x, pad, labels, lpad, method=method)))(x)

    x_pad_nan = x.copy()
    x_pad_nan[1, padded, 2] = np.nan
    np.testing.assert_array_equal(loss_fn(x_pad_nan, pad, labels, lpad, method=method), clean)
    g = grad(x_pad_nan)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, grad(x), rtol=1e-12, atol=1e-14)
    cf = closed_form(x_pad_nan, pad, labels, lpad, method=method)
    np.testing.assert_allclose(cf, g, rtol=1e-10, atol=1e-12)

    x_nan = x.copy()
    x_nan[2, 0, 1] = np.nan
    v = np.asarray(loss_fn(x_nan, pad, labels, lpad, method=method))
    assert np.isnan(v[2]) and np.all(np.isfinite(np.delete(v, 2)))
    g = np.asarray(grad(x_nan))
    assert np.all(np.isfinite(np.delete(g, 2, axis=0)))


def test_extreme_scores_and_long_sequences_in_float32():
    rng = np.random.default_rng(2)
    x = (1e4 * rng.choice([-1.0, 1.0], size=(2, 12, 4))).astype(np.float32)
    pad = np.zeros((2, 12), np.float32)
    labels = np.array([[1, 2, 2], [3, 1, 1]], np.int32)
    lpad = np.zeros((2, 3), np.float32)
    long_x = (rng.standard_normal((2, 512, 6)) * 5).astype(np.float32)
    long_labels = rng.integers(1, 6, (2, 40)).astype(np.int32)
    problems = [
        (x, pad, labels, lpad),
        (long_x, np.zeros((2, 512), np.float32), long_labels, np.zeros((2, 40), np.float32)),
    ]
    for args in problems:
        with jax.enable_x64(True):
            x64_args = [a.astype(np.float64) if a.dtype == np.float32 else a for a in args]
            want = loss_fn(*x64_args, method="sequential")
        for method in METHODS:
            v = loss_fn(*args, method=method)
            g = closed_form(*args, method=method)
            assert v.dtype == jnp.float32 and np.all(np.isfinite(v))
            assert np.all(np.isfinite(g))
            np.testing.assert_allclose(v, want, rtol=2e-5, atol=1e-3)


def test_eager_and_vmap():
    x, pad, labels, lpad = (np.asarray(a, np.float32) for a in _problem(3, 6, 4, 2, seed=4))
    labels = labels.astype(np.int32)
    eager = jaxlosses.ctc_loss(x, pad, labels, lpad, method="parallel")
    mapped = jax.vmap(lambda *a: jaxlosses.ctc_loss(*(v[None] for v in a), method="parallel")[0])(
        x, pad, labels, lpad
    )
    want = jaxlosses.ctc_loss(x, pad, labels, lpad, method="sequential")
    np.testing.assert_allclose(eager, want, rtol=1e-5)
    np.testing.assert_allclose(mapped, want, rtol=1e-5)


def test_bad_method_raises_naming_the_argument():
    x, pad = np.zeros((1, 4, 3), np.float32), np.zeros((1, 4), np.float32)
    labels, lpad = np.ones((1, 2), np.int32), np.zeros((1, 2), np.float32)
    for call in (
        lambda: jaxlosses.ctc_loss(x, pad, labels, lpad, method="fast"),
        lambda: jaxlosses.ctc_loss_with_forward_probs(x, pad, labels, lpad, method=None),
        lambda: jaxlosses.closed_form.ctc_loss(x, pad, labels, lpad, method="Parallel"),
    ):
        with pytest.raises(ValueError, match=r"ctc_loss.*`method` must be one of 'auto'"):
            call()


def test_auto_rule(monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("the CPU rule needs the CPU backend")

    def chosen(b, t, n, method="auto"):
        x, pad = np.zeros((b, t, 3), np.float32), np.zeros((b, t), np.float32)
        labels, lpad = np.ones((b, n), np.int32), np.zeros((b, n), np.float32)
        from jaxlosses._ctc import _ctc_inputs

        return _ctc_inputs(x, pad, labels, lpad, 0, -1e5, "f", method=method)[8]

    assert chosen(2, 4096, 2) == "sequential"  # CPU
    assert chosen(2, 256, 2, "parallel") == "parallel"
    assert chosen(2, 1, 2, "parallel") == "sequential"  # one frame: nothing to scan
    assert chosen(2, 0, 2, "parallel") == "sequential"  # no frames
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert chosen(8, 64, 4) == "parallel"
    assert chosen(8, 63, 4) == "sequential"  # short
    s = 2 * 4 + 2
    big = _semiring.PARALLEL_MAX_ENTRIES // (8 * s * s) + 1
    assert chosen(8, big, 4) == "sequential"  # the matrices would not fit
    assert chosen(8, big - 1, 4) == "parallel"
    assert chosen(8, 512, 4, "sequential") == "sequential"
