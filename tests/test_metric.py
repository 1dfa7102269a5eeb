"""Focal/poly, metric-learning, contrastive, ranking, segmentation and GAN losses (issue 4).

Expected values are hand-computed, written as NumPy formulas, or taken from optax
(an independent implementation) for the losses that share optax's names.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import special

import jaxlosses as jl

LOG2 = math.log(2.0)


def _finite_value_and_grad(fn, args, argnums):
    value = fn(*args)
    grads = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=argnums)(*args)
    assert bool(jnp.all(jnp.isfinite(value))), value
    for g in jax.tree_util.tree_leaves(grads):
        assert bool(jnp.all(jnp.isfinite(g))), g
    return value, grads


# --- hand-computed values ----------------------------------------------------------------


def test_hand_computed_values():
    # σ(0) = 1/2: focal weight (1/2)^2 times BCE log 2.
    focal = jl.sigmoid_focal_loss(jnp.array([0.0]), jnp.array([1.0]))
    np.testing.assert_allclose(focal, [0.25 * LOG2], rtol=1e-6)
    np.testing.assert_allclose(
        jl.softmax_focal_loss(jnp.array([[0.0, 0.0]]), jnp.array([1])), [0.25 * LOG2], rtol=1e-6
    )
    # CE log 2 plus ε (1 - 1/2).
    poly = jl.poly_loss_cross_entropy(jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]), epsilon=3.0)
    np.testing.assert_allclose(poly, LOG2 + 1.5, rtol=1e-6)
    # d(a, p) = 0.1·√2 (+ε), d(a, n) = 1: max(0, 0.1414 - 1 + 1).
    a = jnp.array([[0.0, 0.0]])
    tri = jl.triplet_margin_loss(a, jnp.array([[0.1, 0.1]]), jnp.array([[1.0, 0.0]]), eps=0.0)
    np.testing.assert_allclose(tri, [0.1 * math.sqrt(2)], rtol=1e-6)
    # similar pair at d = 1 gives 1/2; dissimilar at d = 0.5 < margin 1 gives 0.5·0.25.
    ab = jnp.array([[0.6, 0.8], [0.3, 0.4]])
    np.testing.assert_allclose(
        jl.contrastive_loss(jnp.zeros((2, 2)), ab, jnp.array([1, 0])), [0.5, 0.125], rtol=1e-6
    )
    np.testing.assert_allclose(
        jl.margin_ranking_loss(
            jnp.array([2.0, 2.0]), jnp.array([1.0, 1.0]), jnp.array([1.0, -1.0]), margin=0.5
        ),
        [0.0, 1.5],
    )
    # cos θ = (1, 0) with scale 1: log(1 + e^{-ψ}) with ψ = cos(0.5) (ArcFace), 1 - m (CosFace).
    e, w = jnp.array([[2.0, 0.0]]), jnp.array([[3.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(
        jl.arcface_loss(e, w, jnp.array([0]), scale=1.0),
        [math.log1p(math.exp(-math.cos(0.5)))],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        jl.cosface_loss(e, w, jnp.array([0]), scale=1.0, margin=0.25),
        [math.log1p(math.exp(-0.75))],
        rtol=1e-6,
    )
    # GE2E: own (leave-one-out) centroid at cos 1, the other at cos 0.
    emb = jnp.array([[[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]])
    np.testing.assert_allclose(
        jl.ge2e_loss(emb, w=2.0, b=-1.0), np.full((2, 2), math.log1p(math.exp(-2.0))), rtol=1e-6
    )
    s_own, s_other = special.expit(2.0 - 1.0), special.expit(-1.0)
    np.testing.assert_allclose(
        jl.ge2e_loss(emb, w=2.0, b=-1.0, method="contrast"),
        np.full((2, 2), 1 - s_own + s_other),
        rtol=1e-6,
    )
    # Orthogonal unit rows with τ = 1: log(1 + e^{-1}) per row.
    q = jnp.eye(2)
    np.testing.assert_allclose(
        jl.info_nce_loss(q, q, temperature=1.0), np.full(2, math.log1p(math.exp(-1.0))), rtol=1e-6
    )
    np.testing.assert_allclose(
        jl.multiple_negatives_ranking_loss(q, q, scale=1.0, hard_negatives=jnp.array([[1.0, 1.0]])),
        np.full(2, math.log(math.e + 1 + math.exp(1 / math.sqrt(2))) - 1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        jl.gan_discriminator_loss(jnp.array([0.0]), jnp.array([0.0])), [2 * LOG2], rtol=1e-6
    )
    np.testing.assert_allclose(jl.gan_generator_loss(jnp.array([0.0])), [LOG2], rtol=1e-6)
    np.testing.assert_allclose(
        jl.gan_generator_loss(jnp.array([0.0]), non_saturating=False), [-LOG2], rtol=1e-6
    )
    # Dice: class 0 has I = 1, P = 1, T = 2: 1 - 1/1.5; class 1 has I = 0: loss 1.
    p = jnp.array([[[0.5, 0.5], [0.5, 0.5]]])
    t = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])
    np.testing.assert_allclose(
        jl.dice_loss(p, t, smooth=0.0, apply_softmax=False, reduction="none"),
        [[1 / 3, 1.0]],
        rtol=1e-6,
    )


# --- against optax ------------------------------------------------------------------------


def test_against_optax_beyond_the_sampled_cases(x64, rng):
    """tests/test_conformance.py compares every optax peer on its entry's sampled cases;
    these option combinations are not among them."""
    close = dict(rtol=1e-10, atol=1e-12)
    x = rng.standard_normal((4, 5)) * 3
    grades = rng.integers(0, 3, (4, 5)).astype(np.float64)
    where = rng.uniform(size=(4, 5)) > 0.3
    weights = rng.uniform(0, 1, (4, 5))
    np.testing.assert_allclose(
        jl.ranking_softmax_loss(x, grades, where=where, weights=weights),
        optax.losses.ranking_softmax_loss(
            jnp.asarray(x), jnp.asarray(grades), where=where, weights=weights
        ),
        **close,
    )
    seg_x = rng.standard_normal((2, 3, 4, 3))  # two spatial axes
    seg_t = np.eye(3)[rng.integers(0, 3, (2, 3, 4))]
    for kw in ({}, {"alpha": 0.3, "beta": 0.7, "ignore_background": True}):
        np.testing.assert_allclose(
            jl.dice_loss(seg_x, seg_t, **kw),
            optax.losses.dice_loss(jnp.asarray(seg_x), jnp.asarray(seg_t), **kw),
            **close,
        )
    with jax.numpy_rank_promotion("allow"):  # optax's class weighting relies on it
        expected = optax.losses.multiclass_generalized_dice_loss(
            jnp.asarray(seg_x), jnp.asarray(seg_t)
        )
    np.testing.assert_allclose(jl.multiclass_generalized_dice_loss(seg_x, seg_t), expected, **close)


def test_dice_default_reduction_is_mean_over_classes(x64, rng):
    x = rng.standard_normal((2, 4, 3))
    t = np.eye(3)[rng.integers(0, 3, (2, 4))]
    per_class = jl.dice_loss(x, t, reduction="none")
    assert per_class.shape == (2, 3)
    np.testing.assert_allclose(jl.dice_loss(x, t), np.mean(per_class, -1), rtol=1e-12)
    np.testing.assert_allclose(
        jl.dice_loss(x, t, reduction="sum"), np.sum(per_class, -1), rtol=1e-12
    )


# --- reductions to simpler losses ---------------------------------------------------------


def test_focal_gamma_zero_is_cross_entropy(x64, rng):
    x = rng.standard_normal((3, 5)) * 4
    y = rng.integers(0, 2, (3, 5)).astype(np.float64)
    bce = np.logaddexp(0, x) - y * x  # softplus(x) - y x
    np.testing.assert_allclose(jl.sigmoid_focal_loss(x, y, gamma=0.0), bce, rtol=1e-12)
    labels = rng.integers(0, 5, 3)
    ce = special.logsumexp(x, -1) - x[np.arange(3), labels]
    np.testing.assert_allclose(jl.softmax_focal_loss(x, labels, gamma=0.0), ce, rtol=1e-12)
    np.testing.assert_allclose(
        jl.softmax_focal_loss(x, labels, gamma=0.0),
        jl.softmax_cross_entropy_with_integer_labels(x, labels),
        rtol=1e-12,
    )


def test_poly_epsilon_zero_is_cross_entropy(x64, rng):
    x = rng.standard_normal((3, 5)) * 4
    y = special.softmax(rng.standard_normal((3, 5)), -1)
    ce = -np.sum(y * special.log_softmax(x, -1), -1)
    np.testing.assert_allclose(jl.poly_loss_cross_entropy(x, y, epsilon=0.0), ce, rtol=1e-12)


def test_tversky_half_half_is_dice(x64, rng):
    x = rng.standard_normal((2, 4, 3))
    t = np.eye(3)[rng.integers(0, 3, (2, 4))]
    p = special.softmax(x, -1)
    inter, psum, tsum = (p * t).sum(1), p.sum(1), t.sum(1)
    dice = np.mean(1 - (2 * inter + 2) / (psum + tsum + 2), -1)  # smooth 1
    np.testing.assert_allclose(jl.tversky_loss(x, t, alpha=0.5, beta=0.5), dice, rtol=1e-12)
    np.testing.assert_allclose(jl.tversky_loss(x, t), jl.dice_loss(x, t), rtol=1e-12)


# --- numerics -------------------------------------------------------------------------------


def test_distance_losses_finite_when_pairs_coincide():
    a = jnp.array([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0]])
    for kw in ({}, {"eps": 0.0}, {"swap": True}):
        value, _ = _finite_value_and_grad(
            lambda a, p, n, kw=kw: jl.triplet_margin_loss(a, p, n, **kw), (a, a, a), (0, 1, 2)
        )
        np.testing.assert_allclose(value, [1.0, 1.0], rtol=1e-3)  # margin, distances ~0
    value, (ga, gb) = _finite_value_and_grad(
        lambda a, b: jl.contrastive_loss(a, b, jnp.array([0, 1])), (a, a), (0, 1)
    )
    np.testing.assert_allclose(value, [0.5, 0.0])  # ½ margin² for the dissimilar pair
    np.testing.assert_array_equal(ga, 0.0)
    np.testing.assert_array_equal(gb, 0.0)


def test_normalised_losses_finite_for_zero_norm():
    z = jnp.zeros((3, 4)).at[1].set(jnp.array([1.0, 2.0, 0.0, 0.0]))
    centres = jnp.zeros((2, 4)).at[0, 0].set(1.0)
    labels = jnp.array([0, 1, 0])
    for fn in (jl.arcface_loss, jl.cosface_loss):
        _finite_value_and_grad(lambda e, w, fn=fn: fn(e, w, labels), (z, centres), (0, 1))
    _finite_value_and_grad(lambda q, k: jl.info_nce_loss(q, k), (z, z), (0, 1))
    _finite_value_and_grad(
        lambda q, k: jl.multiple_negatives_ranking_loss(q, k, hard_negatives=jnp.zeros((2, 4))),
        (z, z),
        (0, 1),
    )
    _finite_value_and_grad(lambda e: jl.ntxent(e, jnp.array([0, 0, 1])), (z,), 0)
    _finite_value_and_grad(
        lambda e, w, b: jl.ge2e_loss(e, w, b), (jnp.zeros((2, 3, 4)), 10.0, -5.0), (0, 1, 2)
    )


def test_huge_logits_are_stable():
    x = jnp.array([1e4, -1e4, 0.0, 30.0])
    y = jnp.array([0.0, 1.0, 1.0, 1.0])
    for fn in (
        lambda x: jl.sigmoid_focal_loss(x, y, gamma=0.5),
        lambda x: jl.gan_generator_loss(x),
        lambda x: jl.gan_generator_loss(x, non_saturating=False),
        lambda x: jl.gan_discriminator_loss(x, -x),
    ):
        _finite_value_and_grad(fn, (x,), 0)
    np.testing.assert_allclose(jl.gan_generator_loss(x)[:2], [0.0, 1e4])
    np.testing.assert_allclose(jl.gan_discriminator_loss(x, x)[:2], [1e4, 1e4])
    logits = jnp.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    _finite_value_and_grad(
        lambda x: jl.softmax_focal_loss(x, jnp.array([1, 1]), gamma=0.5), (logits,), 0
    )


def test_dtype_follows_first_argument():
    x = jnp.ones((2, 3), jnp.bfloat16)
    assert jl.sigmoid_focal_loss(x, jnp.zeros((2, 3))).dtype == jnp.bfloat16
    assert jl.triplet_margin_loss(x, x, x).dtype == jnp.bfloat16
    assert jl.info_nce_loss(x, jnp.ones((2, 3))).dtype == jnp.bfloat16
    assert jl.gan_generator_loss(x).dtype == jnp.bfloat16


def test_closed_forms_are_public():
    g = jl.closed_form.gan_generator_loss(jnp.array([0.0]))
    np.testing.assert_allclose(g, [-0.5])  # σ(0) - 1
    ga, gp, gn = jl.closed_form.triplet_margin_loss(
        jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]]), jnp.array([[0.0, 1.0]]), eps=0.0
    )
    # active (5 - 1 + 1 > 0): ∂/∂a = (a - p)/5 - (a - n)/1
    np.testing.assert_allclose(ga, [[-0.6, -0.8 + 1.0]], rtol=1e-6)
    np.testing.assert_allclose(gp, [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(gn, [[0.0, -1.0]], rtol=1e-6)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (
            lambda: jl.sigmoid_focal_loss(jnp.array([1, 2]), jnp.array([1.0, 0.0])),
            TypeError,
            "logits",
        ),
        (lambda: jl.sigmoid_focal_loss(jnp.ones(3), jnp.ones(2)), ValueError, "labels"),
        (
            lambda: jl.softmax_focal_loss(jnp.ones((2, 3)), jnp.array([0.0, 1.0])),
            TypeError,
            "labels",
        ),
        (
            lambda: jl.softmax_focal_loss(jnp.ones((2, 3)), jnp.array([0, 1]), alpha=jnp.ones(2)),
            ValueError,
            "alpha",
        ),
        (
            lambda: jl.triplet_margin_loss(jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.ones((2, 4))),
            ValueError,
            "negatives",
        ),
        (
            lambda: jl.contrastive_loss(jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.ones(3)),
            ValueError,
            "labels",
        ),
        (
            lambda: jl.arcface_loss(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.array([0, 1])),
            ValueError,
            "class_centers",
        ),
        (
            lambda: jl.cosface_loss(jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.array([0.0, 1.0])),
            TypeError,
            "labels",
        ),
        (lambda: jl.ge2e_loss(jnp.ones((2, 1, 3))), ValueError, "embeddings"),
        (lambda: jl.ge2e_loss(jnp.ones((2, 2, 3)), method="triplet"), ValueError, "method"),
        (lambda: jl.info_nce_loss(jnp.ones((2, 3)), jnp.ones((3, 3))), ValueError, "keys"),
        (
            lambda: jl.info_nce_loss(
                jnp.ones((2, 3)), jnp.ones((2, 3)), negatives=jnp.ones((2, 4))
            ),
            ValueError,
            "negatives",
        ),
        (lambda: jl.ntxent(jnp.ones((4, 3)), jnp.array([0, 1])), ValueError, "labels"),
        (lambda: jl.ranking_softmax_loss(jnp.ones((2, 3)), jnp.ones((2, 4))), ValueError, "labels"),
        (lambda: jl.dice_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3, 5))), ValueError, "targets"),
        (
            lambda: jl.dice_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3, 4)), reduction="max"),
            ValueError,
            "reduction",
        ),
        (
            lambda: jl.dice_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3, 4)), apply_softmax=False),
            ValueError,
            "predictions",
        ),
        (lambda: jl.gan_discriminator_loss(jnp.ones(3), jnp.ones(2)), ValueError, "fake_logits"),
        (lambda: jl.gan_generator_loss(jnp.array([1, 2])), TypeError, "fake_logits"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
