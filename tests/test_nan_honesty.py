"""A NaN or +inf input that takes part in an example's loss is never reported as a
plausible finite number (issue: "nothing silently wrong").

The root was one rule in the stable log-sum-exp: a non-finite normaliser was read as "this
row is fully masked" and turned into 0. Only an *empty* row (every class masked or -inf)
is empty now; these tests pin that down for the primitives and the softmax losses built on
them, and check that NaN at masked positions still never leaks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

NAN, INF = float("nan"), float("inf")


def test_logsumexp_and_log_softmax_keep_nan():
    assert np.isnan(float(jl.logsumexp(jnp.array([1.0, NAN, 0.0]))))
    assert np.isnan(np.asarray(jl.log_softmax(jnp.array([1.0, NAN, 0.0])))).all()
    assert float(jl.logsumexp(jnp.array([1.0, INF, 0.0]))) == INF
    # an empty slice is still -inf with a zero gradient
    empty = jnp.array([-INF, -INF])
    assert float(jl.logsumexp(empty)) == -INF
    assert np.all(jax.grad(lambda z: jl.logsumexp(z, where=jnp.array([False, False])))(empty) == 0)


@pytest.mark.parametrize(
    "loss",
    [
        lambda x, y: jl.softmax_cross_entropy_with_integer_labels(x, y),
        lambda x, y: jl.softmax_cross_entropy(x, jax.nn.one_hot(y, 3)),
        lambda x, y: jl.safe_softmax_cross_entropy(x, jax.nn.one_hot(y, 3)),
        lambda x, y: jl.poly_loss_cross_entropy(x, jax.nn.one_hot(y, 3)),
        lambda x, y: jl.softmax_focal_loss(x, y),
        lambda x, y: jl.softmax_margin_loss(x, y),
    ],
    ids=["integer CE", "soft CE", "safe CE", "poly", "focal", "softmax-margin"],
)
def test_a_nan_logit_makes_its_example_nan(loss):
    x = jnp.array([[1.0, NAN, 0.0], [0.5, 0.2, 0.1]])
    y = jnp.array([0, 1])
    out = np.asarray(loss(x, y))
    assert np.isnan(out[0]), out  # the NaN takes part in example 0's normaliser
    assert np.isfinite(out[1]), out  # example 1 is untouched
    assert np.isnan(np.asarray(loss(jnp.full((2, 3), NAN), y))).all()


def test_a_plus_inf_non_target_logit_is_not_a_finite_loss():
    x = jnp.array([[1.0, INF, 0.0], [0.5, 0.2, 0.1]])
    y = jnp.array([0, 1])
    assert float(jl.softmax_cross_entropy_with_integer_labels(x, y)[0]) == INF  # the truth
    for out in (
        jl.softmax_cross_entropy(x, jax.nn.one_hot(y, 3)),
        jl.safe_softmax_cross_entropy(x, jax.nn.one_hot(y, 3)),
        jl.poly_loss_cross_entropy(x, jax.nn.one_hot(y, 3)),
    ):
        assert not np.isfinite(float(out[0])), out  # +inf or NaN, never a plausible number
        assert np.isfinite(float(out[1]))


def test_nan_at_a_masked_class_never_leaks():
    x = jnp.array([[1.0, NAN, 0.0], [0.5, 0.2, 0.1]])
    y = jnp.array([0, 1])
    where = jnp.array([[True, False, True], [True, True, True]])

    def total(z):
        return jl.softmax_cross_entropy_with_integer_labels(z, y, where=where).sum()

    value = jl.softmax_cross_entropy_with_integer_labels(x, y, where=where)
    expected0 = np.log(np.exp(1.0) + np.exp(0.0)) - 1.0  # by hand, class 1 left out
    np.testing.assert_allclose(value[0], expected0, rtol=1e-6)
    grad = jax.grad(total)(x)
    assert np.all(np.isfinite(grad)) and float(grad[0, 1]) == 0.0


def test_fully_masked_rows_are_still_zero_with_zero_gradient():
    x = jnp.array([[-INF, -INF, -INF], [0.5, 0.2, 0.1]])
    y = jnp.array([0, 1])
    mask = jnp.isfinite(x)
    out = jl.softmax_cross_entropy_with_integer_labels(x, y, where=mask)
    assert float(out[0]) == 0.0 and np.isfinite(float(out[1]))
    g = jax.grad(lambda z: jl.softmax_cross_entropy_with_integer_labels(z, y, where=mask).sum())(x)
    assert np.all(g[0] == 0.0) and np.all(np.isfinite(g))


@pytest.mark.parametrize("loss", [jl.perceptron_loss, jl.hinge_loss, jl.squared_hinge_loss])
def test_binary_margin_losses_keep_nan_in_scores_and_targets(loss):
    x, t = jnp.array([NAN, 0.5, -2.0]), jnp.array([1.0, 1.0, 1.0])
    out = np.asarray(loss(x, t))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()  # was 0 for the NaN score
    out = np.asarray(loss(jnp.array([0.3, 0.5, -2.0]), jnp.array([NAN, 1.0, 1.0])))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()


def test_binary_cross_entropy_keeps_nan_and_still_clamps_zero():
    out = np.asarray(jl.binary_cross_entropy(jnp.array([NAN, 0.5]), jnp.array([1.0, 1.0])))
    assert np.isnan(out[0]) and np.isclose(out[1], np.log(2.0))  # was 100 for the NaN
    clamped = jl.binary_cross_entropy(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(clamped, [100.0, 100.0])  # PyTorch's clamp, unchanged


def _towers_with_a_nan():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((4, 5)))
    return x, x + 0.3, x.at[0, 1].set(NAN)


@pytest.mark.parametrize(
    ("loss", "own_row_only"),
    [
        (lambda q, k: jl.info_nce_loss(q, k), True),
        (lambda q, k: jl.multiple_negatives_ranking_loss(q, k), True),
        (lambda q, k: jl.clip_loss(q, k, 2.0, normalize=True), False),  # columns mix rows
        (lambda q, k: jl.siglip_loss(q, k, normalize=True), True),
        (lambda q, k: jl.supervised_contrastive_loss(q, jnp.array([0, 0, 1, 1])), False),
    ],
    ids=["info_nce", "mnrl", "clip", "siglip", "supcon"],
)
def test_a_nan_embedding_is_not_normalised_into_a_plausible_loss(loss, own_row_only):
    # The unit-norm floor read a NaN norm as "zero vector" and gave cosine 0: a NaN query
    # scored log(batch), a plausible number (1.386 for 4 rows).
    x, y, bad = _towers_with_a_nan()
    out = np.asarray(loss(bad, y))
    assert np.isnan(out[0]), out
    if own_row_only:  # the other rows do not involve that embedding
        assert np.isfinite(out[1:]).all(), out
    assert np.isnan(np.asarray(loss(jnp.full_like(x, NAN), y))).all()
    grad = jax.grad(lambda q: jnp.sum(loss(q, y)))(bad)
    assert np.isnan(np.asarray(grad[0])).all(), grad
    # a zero vector is still the documented cosine 0 with a zero gradient
    zero = x.at[0].set(0.0)
    assert np.isfinite(np.asarray(loss(zero, y))).all()
    assert np.all(np.asarray(jax.grad(lambda q: jnp.sum(loss(q, y)))(zero)[0]) == 0)


def test_a_nan_negative_or_key_reaches_every_row():
    x, y, bad = _towers_with_a_nan()
    assert np.isnan(np.asarray(jl.info_nce_loss(x, bad))).all()  # every query's candidate
    negatives = jnp.full((2, 5), NAN)
    assert np.isnan(np.asarray(jl.info_nce_loss(x, y, negatives=negatives))).all()
    assert np.isnan(np.asarray(jl.ntxent(bad, jnp.array([0, 0, 1, 1]))))


# --- the PyTorch-style margin and embedding losses ------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        lambda x, y: jl.multi_margin_loss(x, y),
        lambda x, y: jl.multi_margin_loss(x, y, p=2, weights=jnp.array([1.0, 2.0, 0.5])),
        lambda x, y: jl.multilabel_margin_loss(x, jnp.stack([y, 1 - y, jnp.full_like(y, -1)], -1)),
        lambda x, y: jl.multilabel_soft_margin_loss(x, jax.nn.one_hot(y, 3)),
    ],
    ids=[
        "multi_margin_loss",
        "multi_margin_loss p=2",
        "multilabel_margin_loss",
        "multilabel_soft_margin_loss",
    ],
)
def test_torch_style_class_losses_keep_nan(loss):
    x = jnp.array([[1.0, NAN, 0.0], [0.5, 0.2, 0.1]])
    y = jnp.array([0, 1])
    out = np.asarray(loss(x, y))
    assert np.isnan(out[0]) and np.isfinite(out[1]), out
    assert np.isnan(np.asarray(loss(jnp.full((2, 3), NAN), y))).all()
    grad = jax.grad(lambda z: jnp.sum(loss(z, y)))(x)
    assert np.isfinite(np.asarray(grad[1])).all()


def test_torch_style_class_losses_with_infinite_scores():
    y = jnp.array([0, 1])
    x = jnp.array([[0.0, INF, 0.0], [0.5, 0.2, 0.1]])  # a wrong class at +inf
    assert float(jl.multi_margin_loss(x, y)[0]) == INF
    assert float(jl.multilabel_margin_loss(x, jnp.array([[0, -1, -1], [1, -1, -1]]))[0]) == INF
    assert float(jl.multilabel_soft_margin_loss(x, jax.nn.one_hot(y, 3))[0]) == INF
    x = jnp.array([[INF, 0.0, 0.0], [0.5, 0.2, 0.1]])  # the true class at +inf: no violation
    assert float(jl.multi_margin_loss(x, y)[0]) == 0.0
    assert float(jl.multilabel_margin_loss(x, jnp.array([[0, -1, -1], [1, -1, -1]]))[0]) == 0.0


def test_multilabel_margin_nan_at_an_unused_pair_does_not_count():
    # No targets in example 0 (its list starts with -1): its loss is 0 whatever the scores,
    # as in torch; a NaN there takes no part in it.
    x = jnp.array([[NAN, 1.0, 0.0], [0.5, 0.2, 0.1]])
    out = jl.multilabel_margin_loss(x, jnp.array([[-1, 0, 1], [1, -1, -1]]))
    assert float(out[0]) == 0.0 and np.isfinite(float(out[1]))
    bad = jl.multilabel_margin_loss(x, jnp.array([[3, -1, -1], [1, -1, -1]]))  # index >= C
    assert np.isnan(float(bad[0])) and np.isfinite(float(bad[1]))


@pytest.mark.parametrize(
    "loss",
    [jl.soft_margin_loss, lambda x, t: jl.hinge_embedding_loss(x, t)],
    ids=["soft_margin_loss", "hinge_embedding_loss"],
)
def test_torch_style_elementwise_losses_keep_nan(loss):
    out = np.asarray(loss(jnp.array([NAN, 0.5, -2.0]), jnp.array([1.0, -1.0, 1.0])))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()
    out = np.asarray(loss(jnp.array([0.3, 0.5, -2.0]), jnp.array([NAN, 1.0, -1.0])))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()


def test_soft_and_hinge_embedding_at_infinity():
    assert jl.soft_margin_loss(jnp.array([INF, -INF]), jnp.array([1.0, 1.0])).tolist() == [0.0, INF]
    assert jl.hinge_embedding_loss(jnp.array([INF, INF]), jnp.array([1.0, -1.0])).tolist() == [
        INF,
        0.0,
    ]
    # a target outside {-1, 1} is not a plausible number (torch would add both branches)
    assert np.isnan(float(jl.hinge_embedding_loss(jnp.array([0.5]), jnp.array([0.0]))[0]))


def test_cosine_embedding_loss_keeps_nan_and_handles_zero_vectors():
    x1 = jnp.array([[1.0, NAN], [1.0, 2.0], [0.0, 0.0]])
    x2 = jnp.array([[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    t = jnp.array([1.0, -1.0, 1.0])
    out = np.asarray(jl.cosine_embedding_loss(x1, x2, t))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all()
    assert out[2] == 1.0  # a zero vector: cosine 0 through torch's eps, not NaN
    g1, g2 = jax.grad(lambda a, b: jl.cosine_embedding_loss(a, b, t).sum(), (0, 1))(x1, x2)
    assert np.isnan(np.asarray(g1[0])).all() and np.isfinite(np.asarray(g1[1:])).all()
    assert np.isfinite(np.asarray(g2[1:])).all()
    bad_t = jl.cosine_embedding_loss(x1[1:], x2[1:], jnp.array([0.0, 1.0]))
    assert np.isnan(float(bad_t[0])) and np.isfinite(float(bad_t[1]))
    inf = jl.cosine_embedding_loss(jnp.array([[INF, 1.0]]), jnp.array([[1.0, 1.0]]), t[:1])
    assert np.isnan(float(inf[0]))  # inf / inf: no direction


# --- regression extras and ASL --------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "p", "t"),
    [
        (lambda p, t: jl.pinball_loss(p, t, quantiles=0.3), [NAN, 0.5, 2.0], [1.0, 1.0, 1.0]),
        (lambda p, t: jl.tweedie_deviance(p, t, power=1.5), [NAN, 0.5, 2.0], [1.0, 0.0, 3.0]),
        (lambda p, t: jl.tweedie_deviance(p, t, power=1), [NAN, 0.5, 2.0], [1.0, 0.0, 3.0]),
        (lambda p, t: jl.tweedie_deviance(p, t, power=-1), [NAN, 0.5, 2.0], [1.0, -1.0, 3.0]),
        (jl.gamma_deviance, [NAN, 0.5, 2.0], [1.0, 0.3, 3.0]),
        (jl.mean_squared_log_error, [NAN, 0.5, 2.0], [1.0, 0.0, 3.0]),
        (jl.asymmetric_loss, [NAN, 0.5, -2.0], [1.0, 0.0, 1.0]),
        (lambda x, y: jl.asymmetric_loss(x, y), [NAN, 0.5, -2.0], [0.0, 0.0, 1.0]),
    ],
    ids=[
        "pinball_loss",
        "tweedie_deviance 1.5",
        "tweedie_deviance 1",
        "tweedie_deviance -1",
        "gamma_deviance",
        "mean_squared_log_error",
        "asymmetric_loss positive",
        "asymmetric_loss negative",
    ],
)
def test_regression_extras_and_asl_keep_nan(loss, p, t):
    p, t = jnp.array(p), jnp.array(t)
    out = np.asarray(loss(p, t))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all(), out
    out = np.asarray(loss(p.at[0].set(1.5), t.at[0].set(NAN)))
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all(), out
    grad = jax.grad(lambda z: jnp.sum(loss(z, t)))(p)
    assert np.isnan(float(grad[0])) and np.isfinite(np.asarray(grad[1:])).all(), grad


def test_regression_extras_out_of_domain_and_infinite():
    # the deviances are not clamped: a non-positive mean is +inf or NaN, never a number
    assert float(jl.tweedie_deviance(jnp.array([0.0]), jnp.array([2.0]), power=1)[0]) == INF
    assert np.isnan(float(jl.tweedie_deviance(jnp.array([-1.0]), jnp.array([2.0]), power=1)[0]))
    assert np.isnan(float(jl.tweedie_deviance(jnp.array([1.0]), jnp.array([-2.0]), power=1.5)[0]))
    assert np.isnan(float(jl.gamma_deviance(jnp.array([1.0]), jnp.array([-2.0]))[0]))
    assert float(jl.mean_squared_log_error(jnp.array([-1.0]), jnp.array([1.0]))[0]) == INF
    assert np.isnan(float(jl.mean_squared_log_error(jnp.array([-2.0]), jnp.array([1.0]))[0]))
    assert jl.pinball_loss(
        jnp.array([-INF, INF]), jnp.array([0.0, 0.0]), quantiles=0.3
    ).tolist() == [INF, INF]
    assert float(jl.tweedie_deviance(jnp.array([INF]), jnp.array([1.0]), power=1.5)[0]) == INF


def test_asymmetric_loss_at_infinite_logits():
    x = jnp.array([INF, -INF, INF, -INF])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    out = jl.asymmetric_loss(x, y).tolist()
    # a sure positive, a sure negative: 0; a negative at p = 1: -(1-m)^4 log m; a positive at p = 0: inf
    assert out[0] == 0.0 and out[1] == 0.0 and out[3] == INF
    np.testing.assert_allclose(out[2], -(0.95**4) * np.log(0.05), rtol=1e-6)
    assert jl.asymmetric_loss(x[2:3], y[2:3], clip=0.0).tolist() == [INF]


_MINED = [jl.batch_hard_triplet_loss, jl.batch_semi_hard_triplet_loss, jl.batch_all_triplet_loss]


@pytest.mark.parametrize("loss", _MINED, ids=[f.__name__ for f in _MINED])
@pytest.mark.parametrize("distance", ["euclidean", "squared_euclidean", "cosine"])
def test_a_nan_embedding_reaches_every_mined_triplet_it_takes_part_in(loss, distance):
    # The semi-hard selection compares distances (d_an > d_ap): a NaN negative compares
    # False and would be skipped silently; the argmax/argmin of batch hard must pick it.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((7, 5)))
    labels = jnp.array([0, 0, 1, 1, 2, 2, 3])  # anchor 6 has no positive: no triplet
    bad = x.at[4, 2].set(NAN)  # a positive of anchor 5, a negative of anchors 0-3

    def total(e):
        return jnp.sum(loss(e, labels, margin=0.01, distance=distance))

    assert np.isfinite(np.asarray(loss(x, labels, margin=0.01, distance=distance))).all()
    out = np.asarray(loss(bad, labels, margin=0.01, distance=distance))
    if out.ndim == 0:
        assert np.isnan(out)
    else:
        assert np.isnan(out[:6]).all(), out  # small margin: a plausible 0 would be easy
        assert out[6] == 0.0  # no triplet, so nothing takes part
    assert np.isnan(np.asarray(jax.grad(total)(bad))[4]).any()  # squared: in its own entry
    # coinciding embeddings (d = 0) and a zero vector: finite values and gradients
    same = x.at[1].set(x[0]).at[3].set(0.0)
    value, grad = jax.value_and_grad(total)(same)
    assert np.isfinite(float(value)) and np.isfinite(np.asarray(grad)).all()


@pytest.mark.parametrize("loss", _MINED, ids=[f.__name__ for f in _MINED])
def test_a_batch_without_triplets_is_zero_with_zero_gradient(loss):
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 3)))
    for labels in (jnp.arange(4), jnp.zeros(4, int)):  # no positive; no negative
        assert np.all(np.asarray(loss(x, labels)) == 0.0)
        grad = jax.grad(lambda e, lab=labels: jnp.sum(loss(e, lab)))(x)
        assert np.all(np.asarray(grad) == 0.0)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("squared", [True, False])
def test_a_nan_embedding_makes_its_contrastive_loss_pair_nan(distance, squared):
    # Each option's root or normalisation must keep NaN (a `sq > 0` floor reads it as
    # d = 0), for similar and dissimilar pairs alike; the other pairs stay finite.
    a = jnp.array([[NAN, 0.0], [1.0, 0.0], [NAN, 1.0], [0.0, 1.0]])
    b = jnp.array([[0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = jnp.array([0, 0, 1, 1])

    def loss(u):
        return jl.contrastive_loss(u, b, y, distance=distance, squared=squared, margin=3.0)

    out = np.asarray(loss(a))
    assert np.isnan(out[[0, 2]]).all() and np.isfinite(out[[1, 3]]).all(), out
    grad = np.asarray(jax.grad(lambda u: jnp.sum(loss(u)))(a))
    assert np.isnan(grad[0]).any() and np.isfinite(grad[[1, 3]]).all()


def test_a_nan_embedding_reaches_every_multi_similarity_anchor():
    # the log-sum-exp shift is the masked maximum: NaN in a pair of the mask stays NaN
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((7, 5)))
    labels = jnp.array([0, 0, 1, 1, 2, 2, 3])
    assert np.isfinite(np.asarray(jl.multi_similarity_loss(x, labels))).all()
    bad = x.at[4, 2].set(NAN)  # a positive or a negative of every anchor
    assert np.isnan(np.asarray(jl.multi_similarity_loss(bad, labels))).all()
    grad = jax.grad(lambda e: jnp.sum(jl.multi_similarity_loss(e, labels)))(bad)
    assert np.isnan(np.asarray(grad)[4]).all()
    zero = x.at[1].set(x[0]).at[3].set(0.0)  # coinciding rows and a zero vector
    grad = jax.grad(lambda e: jnp.sum(jl.multi_similarity_loss(e, labels)))(zero)
    assert np.isfinite(np.asarray(grad)).all() and np.all(np.asarray(grad)[3] == 0)


def test_a_nan_embedding_makes_cosent_nan():
    rng = np.random.default_rng(0)
    a, b = jnp.asarray(rng.standard_normal((5, 3))), jnp.asarray(rng.standard_normal((5, 3)))
    y = jnp.array([0.0, 1.0, 2.0, 2.0, 3.0])
    assert np.isfinite(float(jl.cosent_loss(a, b, y)))
    assert np.isnan(float(jl.cosent_loss(a.at[2, 0].set(NAN), b, y)))
    assert float(jl.cosent_loss(a, b, jnp.ones(5))) == 0.0  # no term: 0


LTR = {
    "pairwise_hinge_loss": jl.pairwise_hinge_loss,
    "pairwise_logistic_loss": jl.pairwise_logistic_loss,
    "pairwise_soft_zero_one_loss": jl.pairwise_soft_zero_one_loss,
    "pairwise_logistic_loss-ndcg": lambda s, y, **kw: jl.pairwise_logistic_loss(
        s, y, lambdaweight="ndcg", **kw
    ),
    "listmle_loss": jl.listmle_loss,
    "approx_ndcg_loss": jl.approx_ndcg_loss,
}


@pytest.mark.parametrize("loss", list(LTR.values()), ids=list(LTR))
def test_ranking_lists_keep_nan_and_mask_it_away(loss):
    """A NaN score of a valid item (in a pair with a different label) or a NaN label makes
    its list NaN, and only its list; the same NaN or a -inf on a padded item changes
    nothing, in the value or the gradient; an empty list is 0 with a zero gradient."""
    s = jnp.array([[1.0, NAN, 0.0, 0.5], [0.5, 0.2, 0.1, -1.0], [-INF, -INF, -INF, -INF]])
    y = jnp.array([[2.0, 1.0, 0.0, 1.0], [1.0, 0.0, 2.0, 0.0], [1.0, 0.0, 2.0, 0.0]])
    out = np.asarray(loss(s, y))
    assert np.isnan(out[0]) and np.isfinite(out[1]), out
    out = np.asarray(loss(s[:2], y[:2].at[1, 0].set(NAN)))
    assert np.isnan(out).all(), out

    where = jnp.array([[True, False, True, True], [True] * 4, [False] * 4])
    padded = s.at[0, 1].set(-INF)
    for scores in (s, padded):
        value = np.asarray(loss(scores, y, where=where))
        sliced = np.asarray(loss(s[:1, [0, 2, 3]], y[:1, [0, 2, 3]]))
        np.testing.assert_allclose(value[0], sliced[0], rtol=1e-6)
        assert value[2] == 0.0
        grad = np.asarray(jax.grad(lambda z: jnp.sum(loss(z, y, where=where)))(scores))
        assert np.isfinite(grad).all() and grad[0, 1] == 0.0 and np.all(grad[2] == 0.0), grad


def test_gaussian_nll_with_an_infinite_variance_is_infinite():
    # ½ (log v + r² / v) -> +inf as v -> +inf, with d/dmean = r / v -> 0 (was inf - inf = NaN
    # in the straight-through variance clamp).
    m, t = jnp.array([0.0, 0.0]), jnp.array([1.0, 1.0])
    v = jnp.array([INF, 2.0])
    loss = jl.gaussian_nll(m, t, v)
    assert float(loss[0]) == INF and np.isfinite(float(loss[1]))
    g_auto = jax.grad(lambda m: jl.gaussian_nll(m, t, v).sum())(m)
    g_mean, _ = jl.closed_form.gaussian_nll(m, t, v)
    np.testing.assert_array_equal(g_auto[0], 0.0)
    np.testing.assert_array_equal(g_mean[0], 0.0)
    assert np.isnan(float(jl.gaussian_nll(m, t, jnp.array([NAN, 1.0]))[0]))
    assert float(jl.gaussian_nll(m, t, jnp.array([0.0, 1.0]), eps=1e-6)[0]) > 1e5  # still clamped


def test_multiclass_sparsemax_with_a_minus_inf_target_score_is_infinite():
    # <p, s> - s_y + ½ (1 - |p|²) with s_y = -inf and p finite: +inf (was 0 * -inf = NaN).
    s = jnp.array([[-INF, 0.0, 1.0], [-INF, 0.0, 1.0], [NAN, 0.0, 1.0]])
    y = jnp.array([0, 2, 1])
    loss = jl.multiclass_sparsemax_loss(s, y)
    assert float(loss[0]) == INF
    assert float(loss[1]) == 0.0  # sparsemax is e_2: the -inf class has no mass
    assert np.isnan(float(loss[2]))
    g = jax.grad(lambda s: jl.multiclass_sparsemax_loss(s, y)[:2].sum())(s)
    np.testing.assert_array_equal(g[:2], [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # p - e_y


@pytest.mark.parametrize("loss", [jl.dice_loss, jl.tversky_loss])
def test_invalid_probabilities_raise_eagerly_and_in_checked_mode_under_jit(loss):
    # Eager calls (jax.grad included) raise; under jit the values are unknown and the loss
    # is unchecked (it stays differentiable off the simplex), so checked mode checks them.
    p = jnp.array([[[0.3, 2.0]], [[0.3, 0.7]]])
    t = jnp.array([[[0.0, 1.0]], [[0.0, 1.0]]])
    with pytest.raises(ValueError, match="must be probabilities"):
        loss(p, t, apply_softmax=False)
    with pytest.raises(ValueError, match="must be probabilities"):
        jax.grad(lambda p: loss(p, t, apply_softmax=False).sum())(p)
    checked = jax.jit(lambda p: jl.checked(loss)(p, t, apply_softmax=False))
    with pytest.raises(jax.errors.JaxRuntimeError, match="`predictions` must sum to 1"):
        jax.block_until_ready(checked(jnp.array([[[0.3, 0.9]], [[0.3, 0.7]]])))
    assert np.isfinite(checked(p.at[0, 0, 1].set(0.7))).all()
