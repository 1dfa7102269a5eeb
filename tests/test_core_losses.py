"""Hand-computed values, optax agreement, and edge behaviour of the foundation losses."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxlosses as jl

LOG2 = math.log(2.0)


# --- hand-computed numbers ----------------------------------------------------------


def test_cross_entropy_hand_values(x64):
    # Uniform logits over K classes: -log(1/K).
    assert float(jl.softmax_cross_entropy(jnp.zeros(4), jnp.eye(4)[2])) == pytest.approx(
        math.log(4)
    )
    # lse([1.2, -0.8, -0.5]) - 1.2 = log(e^1.2 + e^-0.8 + e^-0.5) - 1.2
    hand = math.log(math.exp(1.2) + math.exp(-0.8) + math.exp(-0.5)) - 1.2
    x = jnp.array([[1.2, -0.8, -0.5]])
    assert float(jl.softmax_cross_entropy_with_integer_labels(x, jnp.array([0]))[0]) == (
        pytest.approx(hand, rel=1e-14)
    )
    # Label smoothing 0.3 over 2 classes on equal logits is still log 2.
    v = jl.softmax_cross_entropy_with_integer_labels(
        jnp.zeros((1, 2)), jnp.array([1]), label_smoothing=0.3
    )
    assert float(v[0]) == pytest.approx(LOG2)


def test_binary_hand_values(x64):
    assert float(jl.sigmoid_binary_cross_entropy(0.0, 1.0)) == pytest.approx(LOG2)
    assert float(jl.sigmoid_binary_cross_entropy(0.0, 1.0, pos_weight=3.0)) == pytest.approx(
        3 * LOG2
    )
    # Far on the wrong side the loss is the logit itself.
    assert float(jl.sigmoid_binary_cross_entropy(jnp.float32(1e4), 0.0)) == 1e4
    assert float(jl.binary_cross_entropy(0.5, 1.0)) == pytest.approx(LOG2)
    assert float(jl.binary_cross_entropy(0.0, 1.0)) == 100.0  # PyTorch's clamp
    assert float(jl.binary_cross_entropy(1.0, 1.0)) == 0.0
    p, y = jnp.array([[0.05, 0.95, 0.0]]), jnp.array([[0.0, 1.0, 0.0]])
    assert float(jl.categorical_cross_entropy(p, y)[0]) == pytest.approx(-math.log(0.95))
    # Keras renormalises: [1, 3] is [0.25, 0.75].
    assert float(
        jl.categorical_cross_entropy(jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0]))
    ) == pytest.approx(math.log(4))


def test_nll_hand_values(x64):
    lp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]))
    out = jl.negative_log_likelihood(lp, jnp.array([1, 2]), weights=jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out, [2 * math.log(4), -3 * math.log(0.7)], rtol=1e-14)
    x = jnp.array([[0.3, -1.0, 2.0]])
    np.testing.assert_allclose(
        jl.negative_log_likelihood(jl.log_softmax(x), jnp.array([2])),
        jl.softmax_cross_entropy_with_integer_labels(x, jnp.array([2])),
        rtol=1e-14,
    )


def test_likelihood_hand_values(x64):
    # ½(log 4 + (0 - 2)² / 4)
    assert float(jl.gaussian_nll(0.0, 2.0, 4.0)) == pytest.approx(0.5 * (math.log(4) + 1))
    full = float(jl.gaussian_nll(0.0, 2.0, 4.0, full=True))
    assert full == pytest.approx(0.5 * (math.log(4) + 1) + 0.5 * math.log(2 * math.pi))
    # Variance below eps is clamped to eps.
    assert float(jl.gaussian_nll(1.0, 1.0, 0.0, eps=1e-6)) == pytest.approx(0.5 * math.log(1e-6))
    assert float(jl.poisson_nll(0.0, 3.0)) == 1.0  # e^0 - 3·0
    assert float(jl.poisson_nll(2.0, 3.0, log_input=False, eps=0.0)) == pytest.approx(2 - 3 * LOG2)
    kl = jl.gaussian_kl_divergence(jnp.array([1.0, 0.0]), jnp.array([0.0, math.log(2.0)]))
    assert float(kl) == pytest.approx(0.5 * (1.0 + (2.0 - 1.0 - math.log(2.0))))


def test_gaussian_nll_is_least_squares_with_unit_variance(rng, x64):
    mu, y = rng.standard_normal(7), rng.standard_normal(7)
    np.testing.assert_allclose(
        jl.gaussian_nll(mu, y, np.ones(7)), jl.l2_loss(mu, y), rtol=1e-14, atol=1e-15
    )


def test_gaussian_nll_variance_shapes(rng, x64):
    mu, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    per_example = rng.uniform(0.5, 2.0, 3)
    np.testing.assert_allclose(
        jl.gaussian_nll(mu, y, per_example),
        jl.gaussian_nll(mu, y, np.repeat(per_example[:, None], 2, 1)),
        rtol=1e-14,
    )
    g_mu, g_var = jl.closed_form.gaussian_nll(mu, y, per_example)
    assert g_mu.shape == (3, 2)
    assert g_var.shape == (3,)
    with pytest.raises(ValueError, match="`variances` has shape"):
        jl.gaussian_nll(mu, y, np.ones(2))


def test_regression_hand_values():
    r = jnp.array([0.5, -3.0])
    np.testing.assert_allclose(jl.huber_loss(r, delta=1.0), [0.125, 2.5])
    np.testing.assert_allclose(jl.smooth_l1_loss(r, beta=1.0), [0.125, 2.5])
    np.testing.assert_allclose(jl.smooth_l1_loss(r, beta=0.0), jnp.abs(r))
    np.testing.assert_allclose(jl.huber_loss(r, delta=2.0), [0.125, 2 * (3 - 1)])
    np.testing.assert_allclose(jl.log_cosh(jnp.array([1e4], jnp.float32)), [1e4 - LOG2])
    np.testing.assert_allclose(jl.squared_error(r, jnp.array([0.5, 1.0])), [0.0, 16.0])
    np.testing.assert_allclose(jl.absolute_error(r), [0.5, 3.0])
    a, b = jnp.array([3.0, 4.0]), jnp.array([4.0, 3.0])
    assert float(jl.cosine_similarity(a, b)) == pytest.approx(24 / 25)
    assert float(jl.cosine_distance(a, -a)) == pytest.approx(2.0)


def test_huber_is_half_square_inside_delta(rng, x64):
    r = rng.uniform(-0.9, 0.9, 50)
    np.testing.assert_allclose(jl.huber_loss(r, delta=1.0), 0.5 * r**2, rtol=1e-14)


def test_divergence_hand_values(x64):
    t = jnp.array([0.5, 0.5, 0.0])
    p = jnp.array([0.25, 0.5, 0.25])
    assert float(jl.kl_divergence(jnp.log(p), t)) == pytest.approx(0.5 * LOG2)
    assert float(jl.js_divergence(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]))) == (
        pytest.approx(LOG2)
    )
    assert float(jl.js_divergence(p, p)) == pytest.approx(0.0, abs=1e-15)
    assert float(jl.generalized_kl_divergence(jnp.log(jnp.array([1.0])), jnp.array([2.0]))) == (
        pytest.approx(2 * LOG2 - 2 + 1)
    )


def test_masked_mean():
    losses = jnp.array([1.0, 2.0, jnp.nan, 4.0])
    keep = jnp.array([True, True, False, True])
    assert float(jl.masked_mean(losses, keep)) == pytest.approx(7 / 3)
    assert float(jl.masked_mean(losses, keep, weights=jnp.array([1.0, 3.0, 1.0, 0.0]))) == (
        pytest.approx(7 / 4)
    )
    assert float(jl.masked_mean(losses, jnp.zeros(4, bool))) == 0.0
    g = jax.grad(lambda v: jl.masked_mean(v, jnp.zeros(4, bool)))(losses)
    np.testing.assert_array_equal(g, 0.0)
    assert jl.masked_mean(jnp.ones((2, 3)), axis=1).shape == (2,)


def test_ignore_index_via_where():
    logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    labels = jnp.array([0, -100, 1])
    per = jl.softmax_cross_entropy_with_integer_labels(logits, labels, where=labels != -100)
    assert float(per[1]) == 0.0
    mean = jl.masked_mean(per, labels != -100)
    hand = (math.log(1 + math.exp(-2.0)) + LOG2) / 2
    assert float(mean) == pytest.approx(hand, rel=1e-6)


def test_out_of_range_labels_give_nan_not_a_plausible_number():
    out = jl.softmax_cross_entropy_with_integer_labels(jnp.zeros((2, 3)), jnp.array([3, -1]))
    assert bool(jnp.all(jnp.isnan(out)))
    out = jl.negative_log_likelihood(jnp.zeros((1, 3)), jnp.array([5]))
    assert bool(jnp.isnan(out[0]))


def test_fully_masked_rows_give_zero_with_finite_gradient():
    logits = jnp.array([[-jnp.inf, -jnp.inf], [1.0, 2.0]])
    mask = jnp.array([[False, False], [True, True]])
    onehot = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    for fn, lab in [
        (jl.softmax_cross_entropy, onehot),
        (jl.safe_softmax_cross_entropy, onehot),
        (jl.softmax_cross_entropy_with_integer_labels, jnp.array([0, 1])),
    ]:
        out = fn(logits, lab, where=mask)
        assert float(out[0]) == 0.0
        g = jax.grad(lambda x, fn=fn, lab=lab: fn(x, lab, where=mask).sum())(logits)
        assert bool(jnp.all(jnp.isfinite(g))), fn.__name__


# --- agreement with optax beyond the sampled cases ----------------------------------------
# tests/test_conformance.py compares every optax peer on its entry's sampled cases; these
# are the options optax spells differently (label smoothing) or the samplers lack.


def test_label_smoothing_matches_optax_smooth_labels(rng, x64):
    x = rng.standard_normal((4, 6)) * 3
    labels = rng.integers(0, 6, 4)
    smoothed = optax.losses.smooth_labels(jax.nn.one_hot(labels, 6), 0.2)
    np.testing.assert_allclose(
        jl.softmax_cross_entropy_with_integer_labels(x, labels, label_smoothing=0.2),
        optax.losses.softmax_cross_entropy(x, smoothed),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(x, jax.nn.one_hot(labels, 6), label_smoothing=0.2),
        optax.losses.softmax_cross_entropy(x, smoothed),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.smooth_labels(jax.nn.one_hot(labels, 6), 0.2), smoothed, rtol=1e-14
    )


def test_where_matches_optax(rng, x64):
    x = rng.standard_normal((3, 5))
    y = np.eye(5)[[0, 2, 1]]
    mask = np.array([True, True, True, False, False])
    mask2 = np.broadcast_to(mask, (3, 5))
    np.testing.assert_allclose(
        jl.softmax_cross_entropy(x, y, where=mask2),
        optax.losses.softmax_cross_entropy(x, y, where=mask2),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jl.softmax_cross_entropy_with_integer_labels(x, np.array([0, 2, 1]), where=mask2),
        optax.losses.softmax_cross_entropy_with_integer_labels(x, np.array([0, 2, 1]), where=mask2),
        rtol=1e-12,
    )


def test_tuple_axis_integer_labels_match_optax(x64):
    logits = jnp.arange(24.0).reshape(1, 2, 3, 4) / 7.0
    labels = jnp.array([[5, 11]])
    np.testing.assert_allclose(
        jl.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(2, 3)),
        optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(2, 3)),
        rtol=1e-12,
    )
    g = jl.closed_form.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(2, 3))
    auto = jax.grad(
        lambda v: jl.softmax_cross_entropy_with_integer_labels(v, labels, axis=(2, 3)).sum()
    )(logits)
    np.testing.assert_allclose(g, auto, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("axis", [(2, 1), (-1, -2), (1, 2)])
def test_tuple_axis_flattens_classes_in_the_order_given(x64, axis):
    # optax's convention: axis=(2, 1) makes the flat class index i2 * shape[1] + i1.
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 2, 3))
    labels = np.array([0, 3, 4, 5])
    first, second = (a % 3 for a in axis)
    flat = np.transpose(logits, (0, first, second)).reshape(4, 6)
    expected = -(flat - np.log(np.exp(flat).sum(-1, keepdims=True)))[np.arange(4), labels]
    np.testing.assert_allclose(
        jl.softmax_cross_entropy_with_integer_labels(logits, labels, axis=axis), expected, 1e-12
    )
    g = jl.closed_form.softmax_cross_entropy_with_integer_labels(logits, labels, axis=axis)
    auto = jax.grad(
        lambda v: jl.softmax_cross_entropy_with_integer_labels(v, labels, axis=axis).sum()
    )(logits)
    np.testing.assert_allclose(g, auto, rtol=1e-12, atol=1e-15)


# --- bad input -----------------------------------------------------------------------


def test_integer_logits_are_rejected():
    with pytest.raises(TypeError, match="`logits` must have a floating dtype"):
        jl.softmax_cross_entropy(jnp.array([[1, 2]]), jnp.array([[1.0, 0.0]]))


def test_float_labels_for_integer_loss_are_rejected():
    with pytest.raises(TypeError, match="`labels` must hold integer class indices"):
        jl.softmax_cross_entropy_with_integer_labels(jnp.zeros((2, 3)), jnp.array([0.0, 1.0]))


def test_label_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"needs labels of shape \(2,\)"):
        jl.softmax_cross_entropy_with_integer_labels(jnp.zeros((2, 3)), jnp.array([[0], [1]]))
    with pytest.raises(ValueError, match="no implicit broadcasting"):
        jl.squared_error(jnp.zeros(4), jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match="`labels` has shape"):
        jl.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_bad_axis_and_where_are_explained():
    with pytest.raises(ValueError, match="`axis`=3 is out of range for `logits`"):
        jl.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), axis=3)
    with pytest.raises(ValueError, match="`where` with shape"):
        jl.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones(4, bool))


def test_safe_softmax_cross_entropy_gradient_wrt_labels(x64):
    """d/dy of -sum y log p is -log p, zero labels included (it was 0 there: a wrong
    target gradient that distillation or label learning would have trained with)."""
    logits = jnp.array([[1.0, -2.0, 0.5, -jnp.inf], [0.3, 0.2, -1.0, 2.0]])
    labels = jnp.array([[0.7, 0.0, 0.3, 0.0], [0.0, 1.0, 0.0, 0.0]])
    got = jax.grad(lambda y: jl.safe_softmax_cross_entropy(logits, y).sum())(labels)
    x = np.asarray(logits)
    finite = np.isfinite(x)
    lse = np.log(np.sum(np.where(finite, np.exp(np.where(finite, x, 0.0)), 0.0), -1, keepdims=True))
    log_p = np.where(finite, x - lse, 0.0)  # 0 on the -inf logit: the 0 log 0 convention
    np.testing.assert_allclose(got, -log_p, rtol=1e-12)
