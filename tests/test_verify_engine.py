"""The verification engine must catch wrong gradients, wrong values and non-finite output."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

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
