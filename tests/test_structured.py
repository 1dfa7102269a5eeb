"""Linear-chain CRF and structured sequence losses against brute-force enumeration.

Small problems (B = 3 sequences of T = 4 steps over K = 3 tags: 81 paths each) are solved
exactly by enumerating every tag sequence in plain Python/NumPy; the library's dynamic
programs must agree in float64. Long (T = 2048) and large-score (|emission| = 1e4) float32
inputs must stay finite.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import jaxlosses as jl
from jaxlosses import closed_form

B, T, K = 3, 4, 3
LENGTHS = (4, 2, 1)
MASK = np.arange(T) < np.array(LENGTHS)[:, None]

TAGGED = [
    "crf_log_likelihood",
    "crf_loss",
    "structured_perceptron_loss",
    "structured_hinge_loss",
    "structured_softmax_margin_loss",
    "structured_risk_loss",
]
WITH_COST = TAGGED[3:]


@pytest.fixture
def problem():
    rng = np.random.default_rng(42)
    return {
        "e": rng.standard_normal((B, T, K)) * 1.5,
        "a": rng.standard_normal((K, K)),
        "s": rng.standard_normal(K),
        "f": rng.standard_normal(K),
        "tags": rng.integers(0, K, (B, T)).astype(np.int32),
    }


# --- brute force, written from the definition only -----------------------------------------


def paths_and_scores(e, a, s, f, length):
    """Every tag sequence of ``length`` steps and its score (start + emissions + transitions + end)."""
    paths = list(itertools.product(range(e.shape[-1]), repeat=length))
    scores = []
    for p in paths:
        total = s[p[0]] + f[p[-1]] + sum(e[t, p[t]] for t in range(length))
        total += sum(a[p[t - 1], p[t]] for t in range(1, length))
        scores.append(total)
    return paths, np.array(scores)


def features(path, k, t_max):
    """(emission indicators [T, K], transition counts [K, K]) of one path."""
    node = np.zeros((t_max, k))
    pair = np.zeros((k, k))
    for t, tag in enumerate(path):
        node[t, tag] = 1.0
        if t:
            pair[path[t - 1], tag] += 1.0
    return node, pair


def ends(p):
    return {"start_transitions": p["s"], "end_transitions": p["f"]}


# --- exact inference ----------------------------------------------------------------------


def test_log_partition_equals_brute_force_logsumexp(problem, x64):
    p = problem
    got = jl.crf_log_partition(p["e"], p["a"], mask=MASK, **ends(p))
    want = [
        special.logsumexp(paths_and_scores(p["e"][b], p["a"], p["s"], p["f"], n)[1])
        for b, n in enumerate(LENGTHS)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    zeros = np.zeros(K)
    got = jl.crf_log_partition(p["e"], p["a"])  # no mask, no start/end
    want = [special.logsumexp(paths_and_scores(x, p["a"], zeros, zeros, T)[1]) for x in p["e"]]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_viterbi_equals_brute_force_argmax(problem, x64):
    p = problem
    tags, score = jl.crf_decode(p["e"], p["a"], mask=MASK, **ends(p))
    assert tags.dtype == jnp.int32
    for b, n in enumerate(LENGTHS):
        paths, scores = paths_and_scores(p["e"][b], p["a"], p["s"], p["f"], n)
        best = int(np.argmax(scores))
        assert tags[b, :n].tolist() == list(paths[best])
        assert tags[b, n:].tolist() == [-1] * (T - n)  # padding holds -1
        np.testing.assert_allclose(score[b], scores[best], rtol=1e-12)


def test_marginals_match_brute_force_sum_to_one_and_equal_the_gradient(problem, x64):
    p = problem
    node, pair = jl.crf_marginals(p["e"], p["a"], mask=MASK, **ends(p))
    assert node.shape == (B, T, K) and pair.shape == (B, T - 1, K, K)
    for b, n in enumerate(LENGTHS):
        paths, scores = paths_and_scores(p["e"][b], p["a"], p["s"], p["f"], n)
        prob = special.softmax(scores)
        want_node = np.zeros((T, K))
        want_pair = np.zeros((T - 1, K, K))
        for q, path in zip(prob, paths):
            for t, tag in enumerate(path):
                want_node[t, tag] += q
                if t:
                    want_pair[t - 1, path[t - 1], tag] += q
        np.testing.assert_allclose(node[b], want_node, atol=1e-12)
        np.testing.assert_allclose(pair[b], want_pair, atol=1e-12)
    np.testing.assert_allclose(node.sum(-1), MASK.astype(float), atol=1e-12)
    np.testing.assert_allclose(pair.sum((-1, -2)), MASK[:, 1:].astype(float), atol=1e-12)

    def log_z(e, a, s, f):
        return jl.crf_log_partition(e, a, mask=MASK, start_transitions=s, end_transitions=f).sum()

    g_e, g_a, g_s, g_f = jax.grad(log_z, argnums=(0, 1, 2, 3))(p["e"], p["a"], p["s"], p["f"])
    np.testing.assert_allclose(g_e, node, atol=1e-12)
    np.testing.assert_allclose(g_a, pair.sum((0, 1)), atol=1e-12)
    np.testing.assert_allclose(g_s, node[:, 0].sum(0), atol=1e-12)
    last = np.array(LENGTHS) - 1
    np.testing.assert_allclose(g_f, node[np.arange(B), last].sum(0), atol=1e-12)


def test_transition_gradient_is_expected_minus_observed_counts(problem, x64):
    p = problem
    expected = np.zeros((K, K))
    observed = np.zeros((K, K))
    for b, n in enumerate(LENGTHS):
        paths, scores = paths_and_scores(p["e"][b], p["a"], p["s"], p["f"], n)
        for q, path in zip(special.softmax(scores), paths):
            expected += q * features(path, K, T)[1]
        observed += features(tuple(p["tags"][b, :n]), K, T)[1]

    def total(a):
        return jl.crf_loss(p["e"], p["tags"], a, mask=MASK, **ends(p)).sum()

    np.testing.assert_allclose(jax.grad(total)(p["a"]), expected - observed, atol=1e-12)
    _, g_a = closed_form.crf_loss(p["e"], p["tags"], p["a"], mask=MASK, **ends(p))
    np.testing.assert_allclose(g_a, expected - observed, atol=1e-12)


def test_risk_gradient_is_covariance_of_cost_and_features(problem, x64):
    """The closed form (expectation semiring) against Cov(cost, features) by enumeration."""
    p, c = problem, 0.7
    want_e = np.zeros((B, T, K))
    want_a = np.zeros((K, K))
    for b, n in enumerate(LENGTHS):
        paths, scores = paths_and_scores(p["e"][b], p["a"], p["s"], p["f"], n)
        prob = special.softmax(scores)
        gold = p["tags"][b, :n]
        cost = np.array([c * np.sum(np.array(path) != gold) for path in paths])
        risk = prob @ cost
        for q, path, cst in zip(prob, paths, cost):
            node, pair = features(path, K, T)
            want_e[b] += q * (cst - risk) * node
            want_a += q * (cst - risk) * pair
    g_e, g_a = closed_form.structured_risk_loss(
        p["e"], p["tags"], p["a"], mask=MASK, cost_weight=c, **ends(p)
    )
    np.testing.assert_allclose(g_e, want_e, atol=1e-12)
    np.testing.assert_allclose(g_a, want_a, atol=1e-12)


def test_zero_cost_reduces_to_perceptron_and_crf(problem, x64):
    p = problem
    args, kw = (p["e"], p["tags"], p["a"]), {"mask": MASK, **ends(p)}
    np.testing.assert_allclose(
        jl.structured_hinge_loss(*args, **kw, cost_weight=0.0),
        jl.structured_perceptron_loss(*args, **kw),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.structured_softmax_margin_loss(*args, **kw, cost_weight=0.0),
        jl.crf_loss(*args, **kw),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(jl.structured_risk_loss(*args, **kw, cost_weight=0.0), 0.0)
    # The gold path is always a candidate: max-margin losses are >= 0, and 0 at the Viterbi path.
    assert np.all(np.asarray(jl.structured_hinge_loss(*args, **kw)) >= 0)
    best, _ = jl.crf_decode(p["e"], p["a"], **kw)
    np.testing.assert_allclose(jl.structured_perceptron_loss(p["e"], best, p["a"], **kw), 0.0)


def test_forbidden_transitions_at_minus_inf(problem, x64):
    """``-inf`` transitions (e.g. BIO constraints) give finite losses and gradients."""
    p = problem
    a = p["a"].copy()
    a[0, 1] = -np.inf  # tag 0 may never be followed by tag 1
    gold = np.array([[0, 0, 2, 1], [2, 1, 0, 0], [1, 0, 0, 2]], np.int32)
    kw = {"mask": MASK, **ends(p)}
    zeros = np.zeros(K)
    for name in TAGGED:
        fn = getattr(jl, name)
        assert np.all(np.isfinite(fn(p["e"], gold, a, **kw))), name
        g_e, g_a = jax.grad(lambda e, a, fn=fn: fn(e, gold, a, **kw).sum(), argnums=(0, 1))(
            p["e"], a
        )
        assert np.all(np.isfinite(g_e)) and np.all(np.isfinite(g_a)), name
    _, pair = jl.crf_marginals(p["e"], a, **kw)
    np.testing.assert_array_equal(pair[..., 0, 1], 0.0)
    tags, _ = jl.crf_decode(p["e"], a)
    assert not np.any((tags[:, :-1] == 0) & (tags[:, 1:] == 1))
    want = [special.logsumexp(paths_and_scores(x, a, zeros, zeros, T)[1]) for x in p["e"]]
    np.testing.assert_allclose(jl.crf_log_partition(p["e"], a), want, rtol=1e-12)


# --- masks: a padded sequence equals the truncated one ----------------------------------------


@pytest.mark.parametrize("name", ["crf_log_partition", "crf_marginals", "crf_decode", *TAGGED])
def test_masked_equals_truncated(name, problem, x64):
    p, fn, b, n = problem, getattr(jl, name), 1, LENGTHS[1]
    e, tags = p["e"][b], p["tags"][b]
    garbage_e = np.where(MASK[b][:, None], e, np.nan)  # padded emissions are never read
    garbage_tags = np.where(MASK[b], tags, 99).astype(np.int32)
    tagged = name in TAGGED
    full = (garbage_e, garbage_tags, p["a"]) if tagged else (garbage_e, p["a"])
    short = (e[:n], tags[:n], p["a"]) if tagged else (e[:n], p["a"])
    masked = fn(*full, mask=MASK[b], **ends(p))
    truncated = fn(*short, **ends(p))
    for m, t in zip(jax.tree.leaves(masked), jax.tree.leaves(truncated)):
        np.testing.assert_allclose(m[: t.shape[0]] if m.ndim else m, t, rtol=1e-12, atol=1e-15)
        if m.ndim and m.shape[0] > t.shape[0]:
            pad = -1 if name == "crf_decode" else 0
            np.testing.assert_array_equal(m[t.shape[0] :], pad)
    if name in closed_form.__all__:
        g_full = getattr(closed_form, name)(*full, mask=MASK[b], **ends(p))
        g_short = getattr(closed_form, name)(*short, **ends(p))
        np.testing.assert_allclose(g_full[0][:n], g_short[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(g_full[0][n:], 0.0)
        np.testing.assert_allclose(g_full[1], g_short[1], rtol=1e-12, atol=1e-15)


# --- long sequences and huge scores in float32 -----------------------------------------------


def test_long_sequences_and_huge_scores_stay_finite_in_float32():
    rng = np.random.default_rng(7)
    t_long, k = 2048, 5
    e = jnp.asarray(rng.uniform(-1e4, 1e4, (2, t_long, k)), jnp.float32)
    a = jnp.asarray(rng.uniform(-1e4, 1e4, (k, k)), jnp.float32)
    tags = jnp.asarray(rng.integers(0, k, (2, t_long)), jnp.int32)
    mask = np.arange(t_long) < np.array([[t_long], [1000]])
    kw = {"mask": mask}
    assert bool(jnp.all(jnp.isfinite(jl.crf_log_partition(e, a, **kw))))
    node, pair = jl.crf_marginals(e, a, **kw)
    assert node.dtype == jnp.float32
    np.testing.assert_allclose(node.sum(-1), mask.astype(np.float32), atol=1e-4)
    np.testing.assert_allclose(pair.sum((-1, -2)), mask[:, 1:].astype(np.float32), atol=1e-4)
    best, score = jl.crf_decode(e, a, **kw)
    assert bool(jnp.all(jnp.isfinite(score)))
    for name in TAGGED:
        fn = getattr(jl, name)
        value = fn(e, tags, a, **kw)
        assert value.dtype == jnp.float32, name
        assert bool(jnp.all(jnp.isfinite(value))), name
        grads = jax.grad(lambda e, a, fn=fn: fn(e, tags, a, **kw).sum(), argnums=(0, 1))(e, a)
        for g in [*grads, *getattr(closed_form, name)(e, tags, a, **kw)]:
            assert bool(jnp.all(jnp.isfinite(g))), name
    assert float(jnp.max(jnp.abs(jl.structured_perceptron_loss(e, best, a, **kw)))) == 0.0
    # Not only finite: as accurate as float32 allows (near-ties keep non-trivial marginals).
    with jax.enable_x64(True):
        e64, a64 = np.asarray(e, np.float64), np.asarray(a, np.float64)
        node64, _ = jl.crf_marginals(e64, a64, **kw)
        log_z64 = jl.crf_log_partition(e64, a64, **kw)
    np.testing.assert_allclose(np.asarray(node, np.float64), node64, atol=1e-4)
    log_z32 = np.asarray(jl.crf_log_partition(e, a, **kw), np.float64)
    np.testing.assert_allclose(log_z32, log_z64, rtol=1e-6)


def test_float32_long_sequence_is_accurate():
    """The renormalised recursions keep float32 close to float64 at T = 2048."""
    rng = np.random.default_rng(8)
    e = rng.standard_normal((1, 2048, 4)) * 3.0
    a = rng.standard_normal((4, 4))
    ll32 = jl.crf_log_partition(e.astype(np.float32), a.astype(np.float32))
    node32, _ = jl.crf_marginals(e.astype(np.float32), a.astype(np.float32))
    with jax.enable_x64(True):
        ll64 = jl.crf_log_partition(e, a)
        node64, _ = jl.crf_marginals(e, a)
    np.testing.assert_allclose(np.asarray(ll32, np.float64), ll64, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(node32, np.float64), node64, atol=1e-4)


# --- transformations, batching, dtypes ------------------------------------------------------


@pytest.mark.parametrize("name", ["crf_log_partition", "crf_decode", "crf_marginals", *TAGGED])
def test_jit_vmap_and_batch_shapes_agree(name, problem, x64):
    p, fn = problem, getattr(jl, name)
    tagged = name in TAGGED
    args = (p["e"], p["tags"], p["a"]) if tagged else (p["e"], p["a"])
    in_axes = (0, 0, None) if tagged else (0, None)
    kw = ends(p)
    batched = fn(*args, mask=MASK, **kw)
    jitted = jax.jit(lambda *a: fn(*a, mask=MASK, **kw))(*args)
    mapped = jax.vmap(lambda *a: fn(*a[:-1], mask=a[-1], **kw), in_axes=(*in_axes, 0))(*args, MASK)
    # Two batch dimensions [1, B, ...] equal one.
    nested = fn(
        *(x[None] if x.ndim > 2 or x is p["tags"] else x for x in args), mask=MASK[None], **kw
    )
    for want, *got in zip(*(jax.tree.leaves(v) for v in (batched, jitted, mapped, nested))):
        np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[1], want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[2][0], want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_in_same_dtype_out(dtype, problem):
    p = problem
    e, a = jnp.asarray(p["e"], dtype), jnp.asarray(p["a"], dtype)
    assert jl.crf_loss(e, p["tags"], a, mask=MASK).dtype == dtype
    node, pair = jl.crf_marginals(e, a)
    assert node.dtype == dtype and pair.dtype == dtype
    tags, score = jl.crf_decode(e, a)
    assert tags.dtype == jnp.int32 and score.dtype == dtype
    g_e, g_a = closed_form.structured_risk_loss(e, p["tags"], a)
    assert g_e.dtype == dtype and g_a.dtype == dtype


def test_out_of_range_tag_gives_nan_and_zero_gradient(problem):
    p = problem
    tags = p["tags"].copy()
    tags[0, 1] = K  # invalid at a valid step
    loss = jl.crf_loss(p["e"], tags, p["a"])
    assert np.isnan(loss[0]) and np.all(np.isfinite(loss[1:]))
    g_e, _ = closed_form.crf_loss(p["e"], tags, p["a"])
    np.testing.assert_array_equal(g_e[0], 0.0)
    assert np.all(np.isfinite(g_e))


# --- bad input --------------------------------------------------------------------------------


def _bad_inputs():
    e, a = np.zeros((2, 4, 3), np.float32), np.zeros((3, 3), np.float32)
    tags = np.zeros((2, 4), np.int32)
    return [
        (ValueError, "transitions", jl.crf_loss, (e, tags, np.zeros((3, 4), np.float32)), {}),
        (ValueError, "transitions", jl.crf_log_partition, (e, np.zeros(3, np.float32)), {}),
        (ValueError, "tags", jl.crf_loss, (e, np.zeros((2, 5), np.int32), a), {}),
        (ValueError, "tags", jl.structured_hinge_loss, (e, np.zeros(4, np.int32), a), {}),
        (TypeError, "tags", jl.crf_loss, (e, tags.astype(np.float32), a), {}),
        (TypeError, "emissions", jl.crf_decode, (np.zeros((2, 4, 3), np.int32), a), {}),
        (ValueError, "emissions", jl.crf_log_partition, (np.zeros(3, np.float32), a), {}),
        (ValueError, "mask", jl.crf_marginals, (e, a), {"mask": np.ones((2, 5), bool)}),
        (ValueError, "start_transitions", jl.crf_loss, (e, tags, a),
         {"start_transitions": np.zeros(4, np.float32)}),
        (ValueError, "end_transitions", jl.crf_decode, (e, a),
         {"end_transitions": np.zeros((3, 1), np.float32)}),
        (ValueError, "cost_weight", jl.structured_risk_loss, (e, tags, a),
         {"cost_weight": np.ones(3)}),
    ]  # fmt: skip


@pytest.mark.parametrize(("error", "arg", "fn", "args", "kw"), _bad_inputs())
def test_bad_input_raises_naming_the_argument(error, arg, fn, args, kw):
    with pytest.raises(error, match=f"`{arg}`"):
        fn(*args, **kw)
