"""The CRF's parallel-in-time method (``method="parallel"``) against the sequential scan.

``log Z`` as a log-depth product of per-step ``[K, K]`` log-semiring matrices, and its
gradient from associative-scan prefix and suffix products, must equal the sequential
forward-backward in float64 (values, ``jax.grad`` w.r.t. every floating input, the closed
forms, the marginals) for odd and even lengths, ``T = 1``, ``K = 1``, variable lengths and
fully masked rows; masked steps must be exact identities (no NaN from ``-inf - (-inf)``),
a NaN at a valid step must give NaN and one at a padded step nothing; float32 scores of
``1e4`` must stay finite and accurate. ``"auto"`` must follow its documented rule.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import special

import jaxlosses
from jaxlosses import _crf, _semiring


class _Jitted:
    """A module's functions under ``jax.jit`` (``method`` static), compiled once per shape.

    Eager, the parallel scan runs op by op (hundreds of tiny dispatches for each call);
    jitted, each test compiles a few programs. Eager use is tested in
    :func:`test_jit_vmap_and_low_precision`.
    """

    def __init__(self, module):
        self._module, self._cache = module, {}

    def __getattr__(self, name):
        if name not in self._cache:
            self._cache[name] = jax.jit(getattr(self._module, name), static_argnames="method")
        return self._cache[name]


jl = _Jitted(jaxlosses)
closed_form = _Jitted(jaxlosses.closed_form)

TAGGED = ["crf_log_likelihood", "crf_loss"]
ALL = ["crf_log_partition", *TAGGED]
RTOL, ATOL = 1e-11, 1e-12

# (batch, steps, tags): T = 1, T = 2, odd and even T, K = 1, a power of 2 plus one.
SHAPES = [(3, 1, 3), (2, 2, 3), (3, 7, 4), (3, 8, 4), (2, 9, 1), (3, 17, 3)]


def _problem(b, t, k, seed=0, ends=True):
    rng = np.random.default_rng(seed + 100 * t + k)
    lengths = rng.integers(1, t + 1, b)
    lengths[0] = t  # one full-length row
    mask = np.arange(t) < lengths[:, None]
    if b > 2:
        mask[-1] = False  # a fully masked row: only its first step counts
    kw = {"mask": mask}
    if ends:
        kw |= {
            "start_transitions": rng.standard_normal(k),
            "end_transitions": rng.standard_normal(k),
        }
    e = rng.standard_normal((b, t, k)) * 2.0
    a = rng.standard_normal((k, k))
    tags = rng.integers(0, k, (b, t)).astype(np.int32)
    return e, a, tags, kw


def _args(name, e, a, tags):
    return (e, tags, a) if name in TAGGED else (e, a)


def _grads(name, e, a, tags, kw, method):
    """``jax.grad`` of the summed loss w.r.t. emissions, transitions and start/end."""
    fn = getattr(jl, name)

    def total(e, a, s, f):
        extra = {} if s is None else {"start_transitions": s, "end_transitions": f}
        return fn(*_args(name, e, a, tags), mask=kw["mask"], method=method, **extra).sum()

    s, f = kw.get("start_transitions"), kw.get("end_transitions")
    return jax.grad(total, argnums=(0, 1) if s is None else (0, 1, 2, 3))(e, a, s, f)


@pytest.mark.parametrize("ends", [True, False], ids=["start/end", "no start/end"])
@pytest.mark.parametrize(("b", "t", "k"), SHAPES, ids=[f"B{b}-T{t}-K{k}" for b, t, k in SHAPES])
@pytest.mark.parametrize("name", ALL)
def test_parallel_equals_sequential_values_grads_and_closed_forms(name, b, t, k, ends, x64):
    e, a, tags, kw = _problem(b, t, k, ends=ends)
    fn, cf = getattr(jl, name), getattr(closed_form, name)
    args = _args(name, e, a, tags)
    seq = fn(*args, **kw, method="sequential")
    par = fn(*args, **kw, method="parallel")
    assert np.all(np.isfinite(par))
    np.testing.assert_allclose(par, seq, rtol=RTOL, atol=ATOL)
    g_seq = _grads(name, e, a, tags, kw, "sequential")
    g_par = _grads(name, e, a, tags, kw, "parallel")
    for gs, gp in zip(g_seq, g_par):
        assert np.all(np.isfinite(gp))
        np.testing.assert_allclose(gp, gs, rtol=RTOL, atol=ATOL)
    # Both closed forms equal jax.grad of the *other* method (emissions, transitions).
    for method, other in (("parallel", g_seq), ("sequential", g_par)):
        c_e, c_a = cf(*args, **kw, method=method)
        np.testing.assert_allclose(c_e, other[0], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(c_a, other[1], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("b", "t", "k"), SHAPES, ids=[f"B{b}-T{t}-K{k}" for b, t, k in SHAPES])
def test_parallel_marginals_equal_sequential(b, t, k, x64):
    e, a, _, kw = _problem(b, t, k, seed=1)
    node_s, pair_s = jl.crf_marginals(e, a, **kw, method="sequential")
    node_p, pair_p = jl.crf_marginals(e, a, **kw, method="parallel")
    assert node_p.shape == (b, t, k) and pair_p.shape == (b, t - 1, k, k)
    np.testing.assert_allclose(node_p, node_s, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pair_p, pair_s, rtol=RTOL, atol=ATOL)
    valid = kw["mask"].copy()
    valid[:, 0] = True  # the first step always counts
    np.testing.assert_allclose(node_p.sum(-1), valid.astype(float), atol=1e-12)


def test_parallel_log_partition_equals_brute_force(x64):
    """Independent of the sequential code: every path of 3 sequences of 5 steps, 3 tags."""
    e, a, _, kw = _problem(3, 5, 3, seed=2)
    s, f = kw["start_transitions"], kw["end_transitions"]
    got = jl.crf_log_partition(e, a, **kw, method="parallel")
    for i, length in enumerate([5, *kw["mask"][1:].sum(-1).clip(1)]):
        scores = [
            s[p[0]] + f[p[-1]] + sum(e[i, t, y] for t, y in enumerate(p))
            + sum(a[p[t - 1], p[t]] for t in range(1, length))
            for p in itertools.product(range(3), repeat=length)
        ]  # fmt: skip
        np.testing.assert_allclose(got[i], special.logsumexp(scores), rtol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_masked_steps_are_identities_nan_there_is_excluded(name, x64):
    """NaN emissions and out-of-range tags at padded steps: the truncated sequence, exactly.

    A padded step is the semiring identity (0 on the diagonal, -inf off it): its -inf
    entries must never meet ``-inf - (-inf)``, so the gradient is finite and 0 there.
    """
    e, a, tags, kw = _problem(1, 9, 4, seed=3)
    n = 4
    mask = np.arange(9) < n
    garbage = np.where(mask[:, None], e[0], np.nan)
    bad_tags = np.where(mask, tags[0], 99).astype(np.int32)
    ends = {k: v for k, v in kw.items() if k != "mask"}
    fn = getattr(jl, name)
    full = _args(name, garbage, a, bad_tags)
    short = _args(name, e[0, :n], a, tags[0, :n])
    par = fn(*full, mask=mask, **ends, method="parallel")
    np.testing.assert_allclose(par, fn(*short, **ends, method="sequential"), rtol=1e-12)
    g_e, g_a = jax.grad(
        lambda x, tr: fn(*_args(name, x, tr, bad_tags), mask=mask, **ends, method="parallel"),
        argnums=(0, 1),
    )(garbage, a)
    g_short_e, g_short_a = jax.grad(
        lambda x, tr: fn(*_args(name, x, tr, tags[0, :n]), **ends, method="sequential"),
        argnums=(0, 1),
    )(e[0, :n], a)
    assert np.all(np.isfinite(g_e)) and np.all(np.isfinite(g_a))
    np.testing.assert_array_equal(g_e[n:], 0.0)
    np.testing.assert_allclose(g_e[:n], g_short_e, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_a, g_short_a, rtol=1e-12, atol=1e-14)
    c_e, c_a = getattr(closed_form, name)(*full, mask=mask, **ends, method="parallel")
    np.testing.assert_array_equal(c_e[n:], 0.0)
    np.testing.assert_allclose(c_e[:n], g_short_e, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_a, g_short_a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("step", [0, 3, 7])
def test_nan_at_a_valid_step_gives_nan_for_that_sequence_only(step, x64):
    e, a, tags, kw = _problem(3, 8, 4, seed=4)
    kw["mask"] = np.ones((3, 8), bool)
    e = e.copy()
    e[1, step, 2] = np.nan
    for name in ALL:
        out = np.asarray(getattr(jl, name)(*_args(name, e, a, tags), **kw, method="parallel"))
        assert np.isnan(out[1]), (name, step)
        assert np.all(np.isfinite(out[[0, 2]])), (name, step)
    node = np.asarray(jl.crf_marginals(e, a, **kw, method="parallel")[0])
    assert np.all(np.isnan(node[1])) and np.all(np.isfinite(node[[0, 2]]))
    a_nan = a.copy()
    a_nan[0, 1] = np.nan  # every sequence uses the transitions
    assert np.all(np.isnan(jl.crf_log_partition(e, a_nan, **kw, method="parallel")))


def test_forbidden_transitions_match_sequential(x64):
    e, a, tags, kw = _problem(3, 8, 4, seed=5)
    a = a.copy()
    a[0, 1] = a[2, 2] = -np.inf
    tags = np.array([[0, 0, 2, 1] * 2] * 3, np.int32)
    for name in ALL:
        args = _args(name, e, a, tags)
        seq = getattr(jl, name)(*args, **kw, method="sequential")
        par = getattr(jl, name)(*args, **kw, method="parallel")
        np.testing.assert_allclose(par, seq, rtol=RTOL)
        for gs, gp in zip(
            _grads(name, e, a, tags, kw, "sequential"), _grads(name, e, a, tags, kw, "parallel")
        ):
            assert np.all(np.isfinite(gp)), name
            np.testing.assert_allclose(gp, gs, rtol=RTOL, atol=ATOL)
    _, pair = jl.crf_marginals(e, a, **kw, method="parallel")
    np.testing.assert_array_equal(pair[..., 0, 1], 0.0)


def test_extreme_scores_and_long_sequences_in_float32():
    """|scores| = 1e4 at T = 300: finite, and as close to float64 as the sequential scan."""
    rng = np.random.default_rng(6)
    t, k = 300, 4
    e = rng.uniform(-1e4, 1e4, (2, t, k)).astype(np.float32)
    a = rng.uniform(-1e4, 1e4, (k, k)).astype(np.float32)
    tags = rng.integers(0, k, (2, t)).astype(np.int32)
    kw = {"mask": np.arange(t) < np.array([[t], [171]])}
    for name in ALL:
        args = _args(name, e, a, tags)
        value = getattr(jl, name)(*args, **kw, method="parallel")
        assert value.dtype == jnp.float32 and np.all(np.isfinite(value)), name
        grads = _grads(name, e, a, tags, kw, "parallel")
        cf = getattr(closed_form, name)(*args, **kw, method="parallel")
        for g in (*grads, *cf):
            assert g.dtype == jnp.float32 and np.all(np.isfinite(g)), name
    # float32 rounds 1e4 scores to ~1e-3, so neither method is exact: parallel must be
    # as close to float64 as the sequential scan is (within a factor of 2, plus 1e-5).
    got = {m: jl.crf_marginals(e, a, **kw, method=m) for m in ("parallel", "sequential")}
    log_z = {m: jl.crf_log_partition(e, a, **kw, method=m) for m in ("parallel", "sequential")}
    with jax.enable_x64(True):
        e64, a64 = e.astype(np.float64), a.astype(np.float64)
        want = [np.asarray(v) for v in jl.crf_marginals(e64, a64, **kw, method="sequential")]
        log_z64 = np.asarray(jl.crf_log_partition(e64, a64, **kw, method="sequential"))
    for i in range(2):  # node, pairwise
        err = {m: np.max(np.abs(np.asarray(g[i], np.float64) - want[i])) for m, g in got.items()}
        assert err["parallel"] <= 2 * err["sequential"] + 1e-5, (i, err)
    err = {m: np.max(np.abs(np.asarray(v, np.float64) / log_z64 - 1)) for m, v in log_z.items()}
    assert err["parallel"] <= 2 * err["sequential"] + 1e-6, err


def test_float32_accuracy_matches_the_sequential_scan():
    rng = np.random.default_rng(8)
    e = (rng.standard_normal((2, 1000, 4)) * 3.0).astype(np.float32)
    a = rng.standard_normal((4, 4)).astype(np.float32)
    par = jl.crf_log_partition(e, a, method="parallel")
    node, _ = jl.crf_marginals(e, a, method="parallel")
    with jax.enable_x64(True):
        want = jl.crf_log_partition(e.astype(np.float64), a.astype(np.float64))
        node64, _ = jl.crf_marginals(e.astype(np.float64), a.astype(np.float64))
    np.testing.assert_allclose(np.asarray(par, np.float64), want, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(node, np.float64), node64, atol=1e-4)


def test_forward_mode_and_second_order(x64):
    """The parallel derivative is a custom JVP: forward mode, reverse mode and order 2."""
    e, a, _, kw = _problem(2, 4, 2, seed=9)

    def log_z(e, a, method):
        return jl.crf_log_partition(e, a, **kw, method=method)

    check_grads(lambda e, a: log_z(e, a, "parallel"), (e, a), order=1, modes=("fwd", "rev"))
    tangents = (np.ones_like(e), np.eye(2))
    _, t_par = jax.jvp(lambda e, a: log_z(e, a, "parallel"), (e, a), tangents)
    _, t_seq = jax.jvp(lambda e, a: log_z(e, a, "sequential"), (e, a), tangents)
    np.testing.assert_allclose(t_par, t_seq, rtol=RTOL)
    h_par = jax.hessian(lambda a: log_z(e, a, "parallel").sum())(a)
    h_seq = jax.hessian(lambda a: log_z(e, a, "sequential").sum())(a)
    np.testing.assert_allclose(h_par, h_seq, rtol=1e-9, atol=1e-11)


def test_jit_vmap_and_low_precision(x64):
    e, a, tags, kw = _problem(3, 8, 4, seed=10)
    want = jaxlosses.crf_loss(e, tags, a, **kw, method="parallel")
    jitted = jax.jit(lambda e, a: jaxlosses.crf_loss(e, tags, a, **kw, method="parallel"))(e, a)
    ends = {k: v for k, v in kw.items() if k != "mask"}
    mapped = jax.vmap(
        lambda e, y, m: jaxlosses.crf_loss(e, y, a, mask=m, **ends, method="parallel")
    )(e, tags, kw["mask"])
    np.testing.assert_allclose(jitted, want, rtol=1e-12)
    np.testing.assert_allclose(mapped, want, rtol=1e-12)
    for dtype in (jnp.bfloat16,):
        out = jaxlosses.crf_loss(
            jnp.asarray(e, dtype), tags, jnp.asarray(a, dtype), method="parallel"
        )
        assert out.dtype == dtype
        node, _ = jaxlosses.crf_marginals(
            jnp.asarray(e, dtype), jnp.asarray(a, dtype), method="parallel"
        )
        assert node.dtype == dtype


def test_log_matmul_is_exact_where_a_rank_one_shift_underflows():
    """Each entry is shifted by its own max: exact for 1e4 scores in float32, -inf safe."""
    rng = np.random.default_rng(11)
    p = rng.uniform(-1e4, 1e4, (5, 6, 6)).astype(np.float32)
    q = rng.uniform(-1e4, 1e4, (5, 6, 6)).astype(np.float32)
    p[0, 2, :] = -np.inf  # a row of forbidden transitions
    with jax.enable_x64(True):
        want = special.logsumexp(
            p.astype(np.float64)[..., :, :, None] + q.astype(np.float64)[..., None, :, :], axis=-2
        )
    got = _semiring.log_matmul(jnp.asarray(p), jnp.asarray(q))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(np.asarray(got, np.float64)[finite], want[finite], rtol=1e-6)
    # A real matmul of exp(p - row max) and exp(q - column max) would lose most entries.
    with np.errstate(divide="ignore", invalid="ignore"):
        row, col = p.max(-1, keepdims=True), q.max(-2, keepdims=True)
        rank_one = np.log(np.exp(p - row) @ np.exp(q - col)) + row + col
    assert np.mean(np.isneginf(rank_one[finite])) > 0.5
    eye = jnp.where(jnp.eye(3, dtype=bool), 0.0, -jnp.inf)
    np.testing.assert_array_equal(_semiring.log_matmul(eye, eye), eye)
    g = jax.grad(
        lambda d: _semiring.log_matmul(jnp.where(jnp.eye(3, dtype=bool), d, -jnp.inf), eye)[0, 0]
    )
    np.testing.assert_array_equal(g(jnp.ones((3, 3))), np.eye(3)[0][:, None] * np.eye(3)[0])


def test_bad_method_raises_naming_the_argument():
    e, a = np.zeros((2, 4, 3), np.float32), np.zeros((3, 3), np.float32)
    tags = np.zeros((2, 4), np.int32)
    for call in (
        lambda: jl.crf_log_partition(e, a, method="fast"),
        lambda: jl.crf_loss(e, tags, a, method="Parallel"),
        lambda: jl.crf_marginals(e, a, method=None),
        lambda: closed_form.crf_log_likelihood(e, tags, a, method="scan"),
    ):
        with pytest.raises(ValueError, match="`method` must be one of 'auto', 'sequential'"):
            call()


def _chain(t, n, k):
    return _crf.chain(
        np.zeros((n, t, k), np.float32), np.zeros((k, k), np.float32), None, None, None, "f"
    )


def test_auto_rule(monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("the CPU rule needs the CPU backend")
    assert _crf.resolve_method("auto", _chain(4096, 2, 2), "f") == "sequential"  # CPU
    assert _crf.resolve_method("parallel", _chain(4096, 2, 2), "f") == "parallel"
    assert _crf.resolve_method("parallel", _chain(1, 2, 2), "f") == "sequential"  # nothing to scan
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _crf.resolve_method("auto", _chain(64, 64, 10), "f") == "parallel"
    assert _crf.resolve_method("auto", _chain(63, 64, 10), "f") == "sequential"  # short
    big = _semiring.PARALLEL_MAX_ENTRIES // (64 * 50 * 50) + 1
    assert _crf.resolve_method("auto", _chain(big, 64, 50), "f") == "sequential"  # memory
    assert _crf.resolve_method("auto", _chain(big - 1, 64, 50), "f") == "parallel"
    assert _crf.resolve_method("sequential", _chain(512, 64, 10), "f") == "sequential"
