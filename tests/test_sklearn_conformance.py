"""Conformance of the deviances and the squared log error with scikit-learn, per element.

scikit-learn's ``mean_tweedie_deviance(y, μ, power=p)`` (targets first) is the mean of
``jaxlosses.tweedie_deviance(μ, y, power=p)``; calling it on one element at a time
compares the element-wise values (float64). Gradients have no scikit-learn peer: the
catalogue proves them against ``jax.grad`` and finite differences, and
``tests/test_torch_conformance.py`` compares the Poisson case with torch's gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import jaxlosses as jl

metrics = pytest.importorskip("sklearn.metrics")


def _per_element(metric, y, mu, **kw):
    return np.array([metric([a], [b], **kw) for a, b in zip(y.ravel(), mu.ravel())]).reshape(
        y.shape
    )


@pytest.mark.parametrize("power", [-1.0, 0.0, 1.0, 1.2, 1.5, 1.9, 2.0, 2.5, 3.0])
def test_tweedie_deviance_is_sklearns(rng, x64, power):
    mu = rng.uniform(0.05, 6.0, (4, 5))
    if power < 1:  # any real target
        y = rng.standard_normal((4, 5)) * 2
    elif power < 2:
        y = rng.poisson(1.5, (4, 5)).astype(float)  # zero counts included
        y[0, :2] = 0.0
    else:
        y = rng.uniform(0.05, 6.0, (4, 5))
    ours = np.asarray(jl.tweedie_deviance(mu, y, power=power))
    theirs = _per_element(metrics.mean_tweedie_deviance, y, mu, power=power)
    np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(
        ours.mean(), metrics.mean_tweedie_deviance(y.ravel(), mu.ravel(), power=power), rtol=1e-11
    )


def test_gamma_deviance_is_sklearns(rng, x64):
    mu, y = rng.uniform(0.01, 50.0, (6, 4)), rng.uniform(0.01, 50.0, (6, 4))
    np.testing.assert_allclose(
        jl.gamma_deviance(mu, y), _per_element(metrics.mean_gamma_deviance, y, mu), rtol=1e-11
    )


def test_mean_squared_log_error_is_sklearns(rng, x64):
    p, t = rng.uniform(0.0, 20.0, (6, 4)), rng.uniform(0.0, 20.0, (6, 4))
    np.testing.assert_allclose(
        jl.mean_squared_log_error(p, t),
        _per_element(metrics.mean_squared_log_error, t, p),
        rtol=1e-11,
    )
    np.testing.assert_allclose(
        np.mean(jl.mean_squared_log_error(p, t)),
        metrics.mean_squared_log_error(t.ravel(), p.ravel()),
        rtol=1e-11,
    )


def test_pinball_loss_is_sklearns(rng, x64):
    p, t = rng.standard_normal((6, 3)), rng.standard_normal(6)
    q = (0.1, 0.5, 0.9)
    ours = np.asarray(jl.pinball_loss(p, t, quantiles=q))
    for j, alpha in enumerate(q):
        theirs = [metrics.mean_pinball_loss([a], [b], alpha=alpha) for a, b in zip(t, p[:, j])]
        np.testing.assert_allclose(ours[:, j], theirs, rtol=1e-12)
