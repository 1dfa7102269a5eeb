"""The verification engine must catch wrong gradients, wrong values and non-finite output."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlosses import verify


def _loss(x, y):
    return jnp.sum((x - y) ** 4, axis=-1)


def _grad(x, y):
    return 4 * (x - y) ** 3


X = np.array([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]])
Y = np.array([[0.0, 0.0, 1.0], [1.0, -1.0, 0.5]])


def test_a_correct_gradient_passes():
    report = verify.check(_loss, _grad, X, Y, reference=lambda x, y: ((x - y) ** 4).sum(-1))
    assert report.passed, report.failures
    assert report.autodiff_error < 1e-12
    assert report.value_error < 1e-12
    assert report.fd_error < 1e-6


def test_a_wrong_gradient_fails():
    report = verify.check(_loss, lambda x, y: 4.001 * (x - y) ** 3, X, Y)
    assert not report.passed
    assert report.autodiff_error > 1e-4
    assert any("closed form" in f for f in report.failures)


def test_a_wrong_reference_fails():
    report = verify.check(_loss, _grad, X, Y, reference=lambda x, y: ((x - y) ** 2).sum(-1))
    assert not report.passed
    assert any("reference" in f for f in report.failures)


def test_a_wrong_autodiff_is_caught_by_finite_differences():
    """A loss whose autodiff is wrong (a stop_gradient) fails against FD even if the claim matches."""
    import jax

    def leaky(x, y):
        return jnp.sum(jax.lax.stop_gradient(x) * x - y, axis=-1)

    report = verify.check(leaky, lambda x, y: x, X, Y)
    assert not report.passed
    assert report.fd_error > 1e-3


def test_non_finite_stress_is_reported():
    def naive(x, y):
        return jnp.sum(jnp.log(jnp.exp(x)) * y, axis=-1)

    stress = [((np.full((2, 3), 1e4, np.float32), np.ones((2, 3), np.float32)), {})]
    report = verify.check(naive, lambda x, y: y, X, Y, stress=stress)
    assert not report.stress_ok
    assert not report.passed


def test_vmap_mismatch_is_reported():
    def not_per_example(x, y):
        return jnp.sum((x - y) ** 2, axis=-1) + jnp.mean(x)  # couples the batch

    report = verify.check(not_per_example, lambda x, y: 2 * (x - y) + 1.0 / x.size, X, Y)
    assert report.vmap_error > 1e-6
    assert not report.passed


def test_several_argnums_need_a_tuple():
    report = verify.check(_loss, _grad, X, Y, argnums=(0, 1))
    assert not report.passed
    good = verify.check(_loss, lambda x, y: (_grad(x, y), -_grad(x, y)), X, Y, argnums=(0, 1))
    assert good.passed, good.failures


# --- deliberately wrong gradients the engine must reject (issue: hard to fool) ---------

EXP_X = np.array([30.0, 0.3, -0.5, -8.0])


def _exp_loss(x):
    return jnp.exp(x)


@pytest.mark.parametrize("factor", [2.0, -1.0, 5.0])
def test_a_wrong_small_coordinate_cannot_hide_behind_a_large_one(factor):
    """exp at [30, .3, -.5, -8]: gradients from 1e13 to 3e-4; the small ones wrong."""

    def claimed(x):
        g = jnp.exp(x)
        return g.at[1:].multiply(factor)

    report = verify.check(_exp_loss, claimed, EXP_X, in_axes=None)
    assert not report.passed
    assert any("closed form differs from jax.grad w.r.t. `x`" in f for f in report.failures)
    assert any("worst element [" in f and "> tolerance" in f for f in report.failures)


def test_a_gradient_wrong_only_on_the_stress_inputs_is_reported():
    def claimed(x, y):  # right for |x - y| < 100, wrong beyond
        d = x - y
        return jnp.where(jnp.abs(d) < 100, 4 * d**3, 0.0)

    stress = [((np.full((2, 3), 1e1, np.float32), np.zeros((2, 3), np.float32)), {})]
    assert not any("stress" in n for n in verify.check(_loss, claimed, X, Y, stress=stress).notes)
    stress = [((np.full((2, 3), 1e3, np.float32), np.zeros((2, 3), np.float32)), {})]
    report = verify.check(_loss, claimed, X, Y, stress=stress)
    assert any("stress input 0: the closed form differs" in n for n in report.notes)


def test_a_coincidental_zero_gradient_fails():
    """(x - y)**2 at x == y has gradient 0; a claimed 0 must fail at nearby points."""

    def loss(x, y):
        return jnp.sum((x - y) ** 2, axis=-1)

    report = verify.check(loss, lambda x, y: jnp.zeros_like(x), Y, Y)
    assert not report.passed
    assert any("at random point" in f for f in report.failures)


def test_a_custom_jvp_off_by_3e_7_is_caught_by_finite_differences():
    import jax

    @jax.custom_jvp
    def cube(x):
        return x**3

    @cube.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return cube(x), 3 * x**2 * (1 + 3e-7) * t

    def loss(x, y):
        return jnp.sum(cube(x - y), axis=-1)

    def claimed(x, y):  # agrees with the wrong rule
        return 3 * (x - y) ** 2 * (1 + 3e-7)

    report = verify.check(loss, claimed, X, Y)
    assert not report.passed
    assert any("finite differences differ" in f for f in report.failures)


def test_a_custom_vjp_loss_is_reported_not_crashed():
    import jax

    @jax.custom_vjp
    def quartic(d):
        return d**4

    quartic.defvjp(lambda d: (d**4, d), lambda d, g: (4 * d**3 * g,))

    def loss(x, y):
        return jnp.sum(quartic(x - y), axis=-1)

    report = verify.check(loss, _grad, X, Y)
    assert report.passed, report.failures
    assert any("reverse mode only" in n for n in report.notes)


def _wrong_second_derivative():
    import jax

    @jax.custom_jvp
    def quartic(d):
        return d**4

    # The tangent 4 d^3 t is right; its own derivative (12 d^2) is cut to zero.
    quartic.defjvp(lambda p, t: (p[0] ** 4, 4 * jax.lax.stop_gradient(p[0]) ** 3 * t[0]))

    def loss(x, y):
        return jnp.sum(quartic(x - y), axis=-1)

    return loss


def test_a_wrong_second_derivative_fails_check_grads():
    """First derivatives right, second wrong: only check_grads at order 2 sees it."""
    loss = _wrong_second_derivative()
    assert verify.check(loss, _grad, X, Y, order=1).passed  # first order alone: right
    report = verify.check(loss, _grad, X, Y)
    assert report.check_grads_order == 2
    assert not report.check_grads_ok
    assert any("check_grads failed" in f for f in report.failures), report.failures


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_each_mode_of_the_compiled_check_grads_sees_a_wrong_second_derivative(mode, x64):
    """The compiled derivative programs fail where jax.test_util.check_grads fails, mode by
    mode: the JVP of the JVP, and the JVP/VJP of ``x -> vjp(f, x)(f(x))``."""
    from jax.test_util import check_grads

    loss, args = _wrong_second_derivative(), (jnp.asarray(X), jnp.asarray(Y))
    derivatives = verify._Derivatives(loss, args, {}, (0,))
    derivatives.check(1, (mode,))  # first order passes
    with pytest.raises(AssertionError):
        derivatives.check(2, (mode,))
    with pytest.raises(AssertionError):  # as jax's own check does
        check_grads(lambda x: jnp.sum(loss(x, args[1])), (args[0],), order=2, modes=(mode,))


def test_a_wrong_gradient_wrt_the_targets_is_caught():
    """Only the first argument has a claimed gradient; the targets' jax.grad is checked by FD."""
    import jax

    def loss(x, y):  # the gradient w.r.t. y is silently cut
        return jnp.sum((x - jax.lax.stop_gradient(y)) ** 4, axis=-1)

    report = verify.check(loss, _grad, X, Y)
    assert not report.passed
    assert any("jax.grad w.r.t. `y`" in f for f in report.failures)


def test_a_loss_that_reduces_over_the_batch_is_named_as_such():
    def mean_loss(x, y):
        return jnp.mean((x - y) ** 4)

    report = verify.check(mean_loss, lambda x, y: 4 * (x - y) ** 3 / x.size, X, Y)
    assert not report.passed
    assert any("reduces over the batch" in f for f in report.failures)


# --- the program store of `python -m jaxlosses verify` ----------------------------------


def _report(entry, store=None):
    with verify._program_store(None if store is None else str(store)):
        report = verify.verify_entry(entry).as_dict()
    report.pop("seconds")
    return report


def test_the_program_store_gives_the_same_report_and_is_read_back(tmp_path):
    """Stored programs are loaded on the next run (nothing is written again) and every
    measured error, note and failure is the same as without the store."""
    from jaxlosses.catalogue import CATALOGUE

    entry = CATALOGUE["huber_loss"]  # keyword arguments, stress inputs, a kink
    plain = _report(entry)
    first = _report(entry, tmp_path)
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 4  # value+gradients, finite differences, vmap, stress, per case
    written = {f: f.stat().st_mtime_ns for f in files}
    second = _report(entry, tmp_path)
    assert sorted(tmp_path.iterdir()) == files
    assert all(f.stat().st_mtime_ns == written[f] for f in files)  # loaded, not rewritten
    assert first == plain and second == plain


def test_a_torn_program_file_is_compiled_again(tmp_path):
    from jaxlosses.catalogue import CATALOGUE

    entry = CATALOGUE["l2_loss"]
    plain = _report(entry, tmp_path)
    for f in tmp_path.iterdir():
        f.write_bytes(b"torn")
    assert _report(entry, tmp_path) == plain
    assert all(f.read_bytes() != b"torn" for f in tmp_path.iterdir())


def test_a_users_loss_is_checked_but_never_stored(tmp_path):
    """Only what the package's source determines has a key: a function defined outside
    it (here, in the test module) could change without the key changing."""
    with verify._program_store(str(tmp_path)):
        report = verify.check(_loss, _grad, X, Y)
    assert report.passed and not any(tmp_path.iterdir())


def test_a_program_key_changes_with_what_the_program_closes_over():
    import jaxlosses as jl

    x = jnp.ones((2, 3))

    def key(what, arrays=(x,), static=None):
        return verify._program_key(what, static or {}, list(arrays))

    base = key(("summed", jl.huber_loss, {"delta": 1.0}))
    assert base is not None and key(("summed", jl.huber_loss, {"delta": 1.0})) == base
    assert key(("summed", jl.huber_loss, {"delta": 2.0})) != base  # a hyperparameter
    assert key(("summed", jl.l2_loss, {"delta": 1.0})) != base  # the loss
    assert key(("bundle", jl.huber_loss, {"delta": 1.0})) != base  # the program
    assert key(("summed", jl.huber_loss, {"delta": 1.0}), (jnp.ones((3, 3)),)) != base
    assert key(("summed", jl.huber_loss, {"delta": 1.0}), static={1: 0.5}) != base
    w = np.array([1.0, 2.0])
    assert key(("s", jl.huber_loss, {"w": w})) != key(("s", jl.huber_loss, {"w": w + 1}))
    assert key(("summed", lambda v: v, {})) is None  # a lambda: no key
    assert key(("summed", _loss, {})) is None  # defined outside the package: no key


def test_a_program_key_covers_the_source_its_loss_imports():
    """A loss's programs are keyed by its module's source and every package module that
    module imports, so an edit to a helper module re-traces exactly the losses using it."""
    focal = set(verify._imported_sources("jaxlosses._focal"))
    assert {"jaxlosses._focal", "jaxlosses._classification", "jaxlosses._core"} <= focal
    assert "jaxlosses._embedding" not in focal and "jaxlosses.catalogue" not in focal
    assert "jaxlosses._crf" in verify._imported_sources("jaxlosses._structured")
