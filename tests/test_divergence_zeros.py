"""The divergences at zero probabilities: ``0 log 0 = 0`` in the value, finite gradients.

Values are compared with SciPy (``rel_entr``, ``kl_div``, ``jensenshannon``); gradients
with central finite differences in float64 on the interior and, at the zeros, with the
derivatives written out by hand here (the module docstring states the conventions).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import kl_div, rel_entr

import jaxlosses as jl

# targets / predictions with zeros in either, both, and neither
T = np.array([[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.5, 0.0]])
P = np.array([[0.5, 0.0, 0.5, 0.0], [0.25, 0.5, 0.25, 0.0]])


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_values_follow_scipy_at_zeros(x64):
    with np.errstate(divide="ignore"):
        lp, lt = np.log(P), np.log(T)
    np.testing.assert_allclose(jl.kl_divergence(lp, T), rel_entr(T, P).sum(-1))
    np.testing.assert_allclose(jl.kl_divergence(lt, P), rel_entr(P, T).sum(-1))  # +inf, inf
    np.testing.assert_allclose(jl.kl_divergence_with_log_targets(lp, lt), rel_entr(T, P).sum(-1))
    np.testing.assert_allclose(jl.generalized_kl_divergence(lp, T), kl_div(T, P).sum(-1))
    np.testing.assert_allclose(jl.convex_kl_divergence(lt, P), kl_div(P, T).sum(-1))
    js = np.array([jensenshannon(p, t) ** 2 for p, t in zip(P, T)])
    np.testing.assert_allclose(jl.js_divergence(P, T), js, rtol=1e-12)
    # NaN is not laundered by the 0 log 0 convention
    assert np.isnan(jl.kl_divergence(lp, np.where(T == 0.5, np.nan, T))).all()
    assert np.isnan(jl.js_divergence(np.where(P == 0.0, np.nan, P), T)).all()


FNS = {
    "kl_divergence": lambda a, b: jl.kl_divergence(jnp.log(a), b),
    "kl_divergence_with_log_targets": lambda a, b: jl.kl_divergence_with_log_targets(
        jnp.log(a), jnp.log(b)
    ),
    "generalized_kl_divergence": lambda a, b: jl.generalized_kl_divergence(jnp.log(a), b),
    "js_divergence": jl.js_divergence,
}


@pytest.mark.parametrize("name", list(FNS))
def test_gradients_of_both_arguments_match_finite_differences_on_the_interior(name, x64, rng):
    a, b = rng.uniform(0.1, 1.0, (2, 3, 4))
    a, b = a / a.sum(-1, keepdims=True), b / b.sum(-1, keepdims=True)  # away from the zeros
    f = FNS[name]
    ga, gb = jax.grad(lambda x, y: f(x, y).sum(), (0, 1))(a, b)
    np.testing.assert_allclose(ga, _fd(lambda x: float(f(x, b).sum()), a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb, _fd(lambda y: float(f(a, y).sum()), b), rtol=1e-6, atol=1e-8)


def test_kl_gradients_at_zeros(x64):
    with np.errstate(divide="ignore"):
        lp = np.log(P)
    g_lp, g_t = jax.grad(lambda a, b: jl.kl_divergence(a, b).sum(), (0, 1))(lp, T)
    np.testing.assert_array_equal(g_lp, -T)  # -t: 0 wherever t = 0, log p = -inf included
    # d/dt = log t + 1 - log p; at t = 0, d(t log t) is taken as 0; outside both supports 0
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(T > 0, np.log(T) + 1 - lp, np.where(P > 0, -lp, 0.0))
    np.testing.assert_allclose(g_t, want, rtol=1e-12)
    assert np.isfinite(g_t[(P > 0) | (T == 0)]).all()  # +inf only where t > 0 = p (true)
    np.testing.assert_array_equal(jl.closed_form.kl_divergence(lp, T), -T)
    g_lp, g_t = jax.grad(lambda a, b: jl.generalized_kl_divergence(a, b).sum(), (0, 1))(lp, T)
    np.testing.assert_allclose(g_lp, P - T, rtol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(T > 0, np.log(T) - lp, np.where(P > 0, -lp - 1, -1.0))
    np.testing.assert_allclose(g_t, want, rtol=1e-12)


def _js_grad_p(p, t):
    """d JS / d p by hand: ½ log(2p / (p + t)); at p = 0 the conventions of the docstring."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 0.5 * np.log(2 * p / (p + t))
        at_zero = np.where(t > 0, 0.5 * np.log(2 / t) - 0.5, 0.5 * np.log(2))
    return np.where(p > 0, inner, at_zero)


def test_js_gradients_at_zeros(x64):
    gp, gt = jax.grad(lambda a, b: jl.js_divergence(a, b).sum(), (0, 1))(P, T)
    np.testing.assert_allclose(gp, _js_grad_p(P, T), rtol=1e-12)
    np.testing.assert_allclose(gt, _js_grad_p(T, P), rtol=1e-12)
    np.testing.assert_allclose(jl.closed_form.js_divergence(P, T), _js_grad_p(P, T), rtol=1e-12)
    # where p = t = 0 the partials are true one-sided derivatives: JS(h e_k, 0) = h/2 log 2
    h = 1e-7
    e = np.zeros_like(P)
    e[:, 3] = h
    one_sided = (np.asarray(jl.js_divergence(P + e, T)) - np.asarray(jl.js_divergence(P, T))) / h
    np.testing.assert_allclose(one_sided, 0.5 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(gp[:, 3], one_sided, rtol=1e-6)
