"""Primitives and output layers against SciPy/NumPy, at ordinary and extreme inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import jaxlosses as jl


def test_log_softmax_and_softmax_match_scipy(rng, x64):
    x = rng.standard_normal((4, 6)) * 3
    np.testing.assert_allclose(jl.log_softmax(x), special.log_softmax(x, -1), rtol=1e-13)
    np.testing.assert_allclose(jl.softmax(x, axis=0), special.softmax(x, 0), rtol=1e-13)
    np.testing.assert_allclose(
        jl.softmax(x, temperature=0.5), special.softmax(x / 0.5, -1), rtol=1e-13
    )
    np.testing.assert_allclose(
        jl.log_softmax(x, axis=(0, 1)), special.log_softmax(x, axis=(0, 1)), rtol=1e-13
    )


def test_temperature_limits(x64):
    x = jnp.array([1.0, 3.0, 2.0])
    np.testing.assert_allclose(jl.softmax(x, temperature=1e-3), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(jl.softmax(x, temperature=1e6), [1 / 3] * 3, atol=1e-5)


def test_logsumexp_matches_scipy_with_where(rng, x64):
    x = rng.standard_normal((3, 5))
    mask = rng.random((3, 5)) > 0.3
    mask[:, 0] = True
    expected = special.logsumexp(np.where(mask, x, -np.inf), axis=1)
    np.testing.assert_allclose(jl.logsumexp(x, axis=1, where=mask), expected, rtol=1e-13)
    np.testing.assert_allclose(jl.logsumexp(x), special.logsumexp(x), rtol=1e-13)
    assert jl.logsumexp(x, axis=1, keepdims=True).shape == (3, 1)


def test_masked_entries_and_fully_masked_rows():
    x = jnp.array([[1.0, 2.0, -jnp.inf], [0.0, 0.0, 0.0]])
    mask = jnp.array([[True, True, False], [False, False, False]])
    lsm = jl.log_softmax(x, where=mask)
    assert lsm[0, 2] == -jnp.inf
    assert bool(jnp.all(lsm[1] == -jnp.inf))
    sm = jl.softmax(x, where=mask)
    np.testing.assert_allclose(sm[0].sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(sm[1], 0.0)
    assert float(jl.logsumexp(x[1], where=mask[1])) == -np.inf
    g = jax.grad(lambda v: jl.logsumexp(v, axis=-1, where=mask).clip(-10).sum())(x)
    assert bool(jnp.all(jnp.isfinite(g)))
    g = jax.grad(lambda v: jnp.sum(jl.softmax(v, where=mask)[:, 0]))(x)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_sigmoid_family_matches_scipy(rng, x64):
    x = np.concatenate([rng.standard_normal(20) * 5, [-700.0, -50.0, 0.0, 50.0, 700.0]])
    np.testing.assert_allclose(jl.sigmoid(x), special.expit(x), rtol=1e-14)
    np.testing.assert_allclose(jl.log_sigmoid(x), special.log_expit(x), rtol=1e-14)
    np.testing.assert_allclose(jl.softplus(x), np.logaddexp(x, 0), rtol=1e-14)
    np.testing.assert_allclose(jl.tanh(x), np.tanh(x), rtol=1e-14)
    # log σ(-x) is the stable log(1 - σ(x))
    np.testing.assert_allclose(jl.log_sigmoid(-x[:20]), np.log1p(-special.expit(x[:20])), rtol=1e-9)


@pytest.mark.parametrize("fn", [jl.log_sigmoid, jl.softplus, jl.sigmoid, jl.tanh])
def test_elementwise_extremes_are_finite_in_float32(fn):
    x = jnp.array([-1e4, -100.0, 0.0, 100.0, 1e4], jnp.float32)
    assert bool(jnp.all(jnp.isfinite(fn(x))))
    g = jax.vmap(jax.grad(fn))(x)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_softmax_extremes_are_finite_in_float32():
    x = jnp.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], jnp.float32)
    assert bool(jnp.all(jnp.isfinite(jl.log_softmax(x))))
    np.testing.assert_allclose(jl.softmax(x).sum(-1), 1.0, rtol=1e-6)
    g = jax.grad(lambda v: jl.log_softmax(v)[:, 0].sum())(x)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_linear_layer(rng, x64):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    np.testing.assert_allclose(jl.linear(x, w, b), x @ w + b, rtol=1e-13)
    np.testing.assert_allclose(jl.linear(x, w), x @ w, rtol=1e-13)
    with pytest.raises(ValueError, match=r"weight\.T"):
        jl.linear(x, w.T)
    with pytest.raises(ValueError, match="bias"):
        jl.linear(x, w, np.ones(4))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_dtype_preserved(dtype):
    x = jnp.array([[0.5, -1.0, 2.0]], dtype)
    for fn in (jl.log_softmax, jl.softmax, jl.logsumexp, jl.sigmoid, jl.log_sigmoid, jl.softplus):
        assert fn(x).dtype == dtype


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match="`x` must have a floating dtype"):
        jl.log_softmax(jnp.array([1, 2, 3]))


def test_axis_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        jl.softmax(jnp.ones((2, 3)), axis=2)
