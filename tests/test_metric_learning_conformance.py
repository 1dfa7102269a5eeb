"""Mined triplet and contrastive losses against sentence-transformers,
pytorch-metric-learning and (circle loss) Keras 3.

Both libraries reduce over the batch inside a module, so the catalogue records name these
tests (``Peer.tested_by``). sentence-transformers' loss methods are called on tensors
(the module built with ``model=None``: no encoder); pytorch-metric-learning's
``TripletMarginLoss`` gets an ``LpDistance(normalize_embeddings=False)`` (its default
normalises) or a ``CosineSimilarity``. On realistic shapes (batch 64-256, embedding
128-512, unit-norm embeddings around class centres, as a model would feed them), in
float64, the value and the gradient w.r.t. the embeddings (``jax.grad`` of our reduction
and our closed form, reduced alike) must equal the peer's autograd to 1e-10.
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-10, 1e-12


def _st():
    return pytest.importorskip("sentence_transformers.sentence_transformer.losses")


def _st_distance(distance):
    fns = _st().BatchHardTripletLossDistanceFunction
    return {
        "euclidean": fns.euclidean_distance,
        "squared_euclidean": functools.partial(fns.euclidean_distance, squared=True),
        "cosine": fns.cosine_distance,
    }[distance]


def _pml_distance(distance):
    d = pytest.importorskip("pytorch_metric_learning.distances")
    return {
        "euclidean": lambda: d.LpDistance(normalize_embeddings=False),
        "squared_euclidean": lambda: d.LpDistance(normalize_embeddings=False, power=2),
        "cosine": lambda: d.CosineSimilarity(),
    }[distance]()


MARGINS = {"euclidean": 0.15, "squared_euclidean": 0.4, "cosine": 0.2}


def _batch(rng, classes, per_class, dim, lone=0, noise=1.0):
    """Unit-norm embeddings around class centres, P x K labels, plus ``lone`` singletons."""
    labels = np.repeat(np.arange(classes), per_class)
    labels = np.concatenate([labels, classes + np.arange(lone)])
    centres = rng.standard_normal((classes + lone, dim))
    e = centres[labels] + noise * rng.standard_normal((len(labels), dim))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    perm = rng.permutation(len(labels))
    return e[perm], labels[perm]


def _torch_value_and_grad(fn, e):
    te = torch.tensor(e, dtype=torch.float64, requires_grad=True)
    value = fn(te)
    value.backward()
    return value.item(), te.grad.numpy()


def _close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def _compare(ours_reduce, loss, closed_reduce, e, labels, theirs, kwargs, what):
    value, grad = jax.value_and_grad(lambda x: ours_reduce(loss(x, labels, **kwargs)))(e)
    t_value, t_grad = theirs
    _close(value, t_value, f"{what}: value")
    _close(grad, t_grad, f"{what}: jax.grad")
    if closed_reduce is not None:  # the closed form is of the plain sum: a rescaled reduction
        closed = getattr(jl.closed_form, loss.__name__)(e, labels, **kwargs)
        _close(closed_reduce(np.asarray(closed)), t_grad, f"{what}: closed form")
    assert t_value > 0 and np.abs(t_grad).max() > 0  # the comparison is not vacuous


DISTANCES = ["euclidean", "squared_euclidean", "cosine"]


@pytest.mark.parametrize("distance", DISTANCES)
def test_batch_hard(rng, x64, distance):
    from pytorch_metric_learning import losses, miners

    e, labels = _batch(rng, classes=64, per_class=4, dim=128)  # 256 x 128
    m = MARGINS[distance]
    kw = {"margin": m, "distance": distance}
    st = _st().BatchHardTripletLoss(model=None, distance_metric=_st_distance(distance), margin=m)
    theirs = _torch_value_and_grad(lambda t: st.batch_hard_triplet_loss(torch.tensor(labels), t), e)
    n = len(labels)
    _compare(jnp.mean, jl.batch_hard_triplet_loss, lambda g: g / n, e, labels, theirs, kw, "st")

    # pytorch-metric-learning: BatchHardMiner + TripletMarginLoss, mean over non-zero anchors
    miner = miners.BatchHardMiner(distance=_pml_distance(distance))
    pml = losses.TripletMarginLoss(margin=m, distance=_pml_distance(distance))
    lab_t = torch.tensor(labels)
    theirs = _torch_value_and_grad(lambda t: pml(t, lab_t, miner(t, lab_t)), e)
    per = np.asarray(jl.batch_hard_triplet_loss(e, labels, **kw))
    active = per > 0
    assert 0 < active.sum() < n  # both kinds of anchor occur

    def nonzero_mean(x):
        return jl.masked_mean(x, where=x > 0)

    _compare(
        nonzero_mean,
        jl.batch_hard_triplet_loss,
        lambda g: g / active.sum(),
        e,
        labels,
        theirs,
        kw,
        "pml",
    )


def test_batch_hard_anchor_without_positive_is_zero_here(rng, x64):
    """The documented difference: sentence-transformers scores a lone anchor
    ``max(0, m - min_n d_an)`` (its hardest positive distance reads 0); ours is 0."""
    e, labels = _batch(rng, classes=30, per_class=4, dim=256, lone=8)  # 128 x 256
    m = 1.5
    st = _st().BatchHardTripletLoss(model=None, margin=m)
    t_value, _ = _torch_value_and_grad(
        lambda t: st.batch_hard_triplet_loss(torch.tensor(labels), t), e
    )
    ours = np.asarray(jl.batch_hard_triplet_loss(e, labels, margin=m))
    lone = np.bincount(labels)[labels] == 1
    assert np.all(ours[lone] == 0)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    lone_terms = [max(0.0, m - d[i, labels != labels[i]].min()) for i in np.flatnonzero(lone)]
    assert max(lone_terms) > 0  # the difference is real on this batch
    _close((ours.sum() + sum(lone_terms)) / len(labels), t_value, "value with the lone terms")


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("balanced", [True, False], ids=["PxK", "uneven classes"])
def test_batch_semi_hard(rng, x64, distance, balanced):
    if balanced:
        e, labels = _batch(rng, classes=16, per_class=8, dim=512, noise=1.5)  # 128 x 512
    else:  # uneven class sizes and lone anchors: the mean over pairs weighs anchors
        e, labels = _batch(rng, classes=20, per_class=4, dim=256, lone=6, noise=1.5)
        e, labels = e[:-10], labels[:-10]  # drop a few rows: classes of 1 to 4
    m = MARGINS[distance]
    kw = {"margin": m, "distance": distance}
    st = _st().BatchSemiHardTripletLoss(
        model=None, distance_metric=_st_distance(distance), margin=m
    )
    theirs = _torch_value_and_grad(
        lambda t: st.batch_semi_hard_triplet_loss(torch.tensor(labels), t), e
    )
    n_pos = (labels[:, None] == labels[None, :]).sum(1) - 1
    assert balanced or len(set(n_pos)) > 2

    def pair_mean(x):  # sentence-transformers / TF Addons: the mean over positive pairs
        return jl.masked_mean(x, weights=n_pos)

    # the weighted mean is not a rescaled sum unless the weights are equal (P x K); the
    # catalogue proves the closed form equal to jax.grad, which is compared here
    _compare(
        pair_mean,
        jl.batch_semi_hard_triplet_loss,
        (lambda g: g / len(labels)) if balanced else None,
        e,
        labels,
        theirs,
        kw,
        "st",
    )
    if balanced:  # with P x K batches that is the plain mean over anchors
        _close(jnp.mean(jl.batch_semi_hard_triplet_loss(e, labels, **kw)), theirs[0], "mean")


@pytest.mark.parametrize("distance", DISTANCES)
def test_batch_all(rng, x64, distance):
    from pytorch_metric_learning import losses, miners

    e, labels = _batch(rng, classes=16, per_class=4, dim=256, lone=4, noise=1.5)  # 68 x 256
    m = MARGINS[distance]
    kw = {"margin": m, "distance": distance}
    value = float(jl.batch_all_triplet_loss(e, labels, **kw))
    # how many triplets are active: the closed form is of the scalar, used as is
    st = _st().BatchAllTripletLoss(model=None, distance_metric=_st_distance(distance), margin=m)
    theirs = _torch_value_and_grad(lambda t: st.batch_all_triplet_loss(torch.tensor(labels), t), e)
    _compare(lambda x: x, jl.batch_all_triplet_loss, lambda g: g, e, labels, theirs, kw, "st")
    assert value > 0

    lab_t = torch.tensor(labels)
    pml = losses.TripletMarginLoss(margin=m, distance=_pml_distance(distance))
    theirs = _torch_value_and_grad(lambda t: pml(t, lab_t), e)
    _compare(lambda x: x, jl.batch_all_triplet_loss, lambda g: g, e, labels, theirs, kw, "pml")
    miner = miners.TripletMarginMiner(
        margin=m, type_of_triplets="all", distance=_pml_distance(distance)
    )
    theirs = _torch_value_and_grad(lambda t: pml(t, lab_t, miner(t, lab_t)), e)
    _compare(
        lambda x: x, jl.batch_all_triplet_loss, lambda g: g, e, labels, theirs, kw, "pml+miner"
    )


# --- contrastive_loss: pml's plain hinges over in-batch pairs, sentence-transformers' pairs ---


def _all_pairs(labels):
    i, j = np.nonzero(~np.eye(len(labels), dtype=bool))  # every ordered pair, as pml mines
    return i, j, (labels[i] == labels[j]).astype(np.float64)


@pytest.mark.parametrize(
    ("distance", "pml_margins", "ours"),
    [  # the margins sit inside the distances of this batch: within classes d ≈ 1, across ≈ √2
        ("euclidean", (1.0, 1.4), {"pos_margin": 1.0, "margin": 1.4}),
        # CosineSimilarity: margins on s = cos (≈ 0.5 within, 0 across), ours on d = 1 - s
        ("cosine", (0.5, 0.02), {"pos_margin": 0.5, "margin": 0.98}),
    ],
)
def test_pml_contrastive(rng, x64, distance, pml_margins, ours):
    from pytorch_metric_learning import losses, reducers

    e, labels = _batch(rng, classes=16, per_class=4, dim=128)  # 64 x 128: 4032 pairs
    i, j, y = _all_pairs(labels)
    kw = {**ours, "distance": distance, "squared": False}
    pos_m, neg_m = pml_margins
    lab_t = torch.tensor(labels)

    def pml(reducer=None):
        extra = {} if reducer is None else {"reducer": reducer}
        return losses.ContrastiveLoss(
            pos_margin=pos_m, neg_margin=neg_m, distance=_pml_distance(distance), **extra
        )

    theirs = _torch_value_and_grad(lambda t: pml()(t, lab_t), e)
    per = np.asarray(jl.contrastive_loss(e[i], e[j], y, **kw))
    on_pos, on_neg = (y == 1) & (per > 0), (y == 0) & (per > 0)
    assert 0 < on_pos.sum() < (y == 1).sum() and 0 < on_neg.sum() < (y == 0).sum()

    def reduce(x):  # pml's AvgNonZeroReducer, per sub-loss, the two means added
        return jl.masked_mean(x, where=(y == 1) & (x > 0)) + jl.masked_mean(
            x, where=(y == 0) & (x > 0)
        )

    value, grad = jax.value_and_grad(lambda x: reduce(jl.contrastive_loss(x[i], x[j], y, **kw)))(e)
    _close(value, theirs[0], "value")
    _close(grad, theirs[1], "jax.grad")
    # closed form: per-pair gradients (each pair's loss is its own), weighted as reduced
    ga, gb = (np.asarray(g) for g in jl.closed_form.contrastive_loss(e[i], e[j], y, **kw))
    w = np.where(on_pos, 1 / on_pos.sum(), 0.0) + np.where(on_neg, 1 / on_neg.sum(), 0.0)
    closed = np.zeros_like(e)
    np.add.at(closed, i, w[:, None] * ga)
    np.add.at(closed, j, w[:, None] * gb)
    _close(closed, theirs[1], "closed form")
    # per pair, pml unreduced
    out = pml(reducers.DoNothingReducer())(torch.tensor(e), lab_t)
    for key, sign in (("pos_loss", 1), ("neg_loss", 0)):
        a_idx, b_idx = (t.numpy() for t in out[key]["indices"])
        mine = np.asarray(
            jl.contrastive_loss(e[a_idx], e[b_idx], np.full(len(a_idx), float(sign)), **kw)
        )
        _close(mine, out[key]["losses"].detach().numpy(), f"{key} per pair")


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_st_contrastive(rng, x64, distance):
    st_losses = _st()
    batch, dim = 256, 384
    y = rng.integers(0, 2, batch)
    a = rng.standard_normal((batch, dim))
    # similar pairs: a plus noise; dissimilar: noise mixed with a in random amounts (hard
    # negatives at small distances, easy ones past the margin)
    w = np.where(y == 1, 1.0, rng.uniform(0.0, 2.0, batch))[:, None]
    b = w * a + rng.standard_normal((batch, dim))
    metric = {"cosine": st_losses.SiameseDistanceMetric.COSINE_DISTANCE,
              "euclidean": st_losses.SiameseDistanceMetric.EUCLIDEAN}[distance]  # fmt: skip
    # sentence-transformers' default 0.5 for cosine; for euclidean, inside the distances
    margin = {"cosine": 0.5, "euclidean": 25.0}[distance]
    st = st_losses.ContrastiveLoss(model=None, distance_metric=metric, margin=margin)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    theirs = st.compute_loss_from_embeddings([ta, tb], torch.tensor(y))
    theirs.backward()
    kw = {"distance": distance, "margin": margin}
    if distance == "euclidean":  # torch's pairwise_distance takes ‖a - b + 1e-6‖
        b = b - 1e-6
    per = np.asarray(jl.contrastive_loss(a, b, y, **kw))
    assert 0 < np.sum((y == 0) & (per > 0)) < np.sum(y == 0)  # hinges on both sides
    value, grads = jax.value_and_grad(
        lambda u, v: jnp.mean(jl.contrastive_loss(u, v, y, **kw)), (0, 1)
    )(a, b)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.contrastive_loss(a, b, y, **kw)
    for name, g, c, t in zip("ab", grads, closed, (ta, tb)):
        _close(g, t.grad.numpy(), f"jax.grad w.r.t. {name}")
        _close(np.asarray(c) / batch, t.grad.numpy(), f"closed form w.r.t. {name}")


@pytest.mark.parametrize(
    ("alpha", "beta", "base"), [(2.0, 50.0, 0.5), (10.0, 40.0, 0.3)], ids=["defaults", "other"]
)
def test_multi_similarity(rng, x64, alpha, beta, base):
    from pytorch_metric_learning import losses

    e, labels = _batch(rng, classes=32, per_class=4, dim=256, lone=4, noise=1.5)  # 132 x 256
    kw = {"alpha": alpha, "beta": beta, "base": base}
    pml = losses.MultiSimilarityLoss(**kw)
    theirs = _torch_value_and_grad(lambda t: pml(t, torch.tensor(labels)), e)
    n = len(labels)
    _compare(jnp.mean, jl.multi_similarity_loss, lambda g: g / n, e, labels, theirs, kw, "pml")


@pytest.mark.parametrize("labels", ["sts", "binary"])
def test_cosent(rng, x64, labels):
    st = _st().CoSENTLoss(model=None)
    batch, dim = 128, 384
    a = rng.standard_normal((batch, dim))
    y = (
        rng.integers(0, 6, batch).astype(np.float64)
        if labels == "sts"
        else rng.integers(0, 2, batch)
    )
    # pairs whose cosine grows with the label, with noise: some terms are violated
    b = (y[:, None] / 5.0 + 0.3) * a + rng.standard_normal((batch, dim))
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    theirs = st.compute_loss_from_embeddings([ta, tb], torch.tensor(y))
    theirs.backward()
    value, grads = jax.value_and_grad(lambda u, v: jl.cosent_loss(u, v, y), (0, 1))(a, b)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.cosent_loss(a, b, y)
    for name, g, c, t in zip("ab", grads, closed, (ta, tb)):
        _close(g, t.grad.numpy(), f"jax.grad w.r.t. {name}")
        _close(c, t.grad.numpy(), f"closed form w.r.t. {name}")
    assert theirs.item() > 0.1


@pytest.mark.parametrize("dim", [384, 383], ids=["even dim", "odd dim (zero-padded)"])
@pytest.mark.parametrize("labels", ["sts", "binary"])
def test_angle(rng, x64, labels, dim):
    """sentence-transformers' ``AnglELoss`` is its ``CoSENTLoss`` with ``pairwise_angle_sim``
    (``|cos + sin|``, halves of each embedding paired; an odd dimension padded with a zero).
    The same pairs as :func:`test_cosent`; the value and both gradients must agree."""
    st = _st().AnglELoss(model=None)
    batch = 128
    a = rng.standard_normal((batch, dim))
    y = (
        rng.integers(0, 6, batch).astype(np.float64)
        if labels == "sts"
        else rng.integers(0, 2, batch)
    )
    b = (y[:, None] / 5.0 + 0.3) * a + rng.standard_normal((batch, dim))
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    theirs = st.compute_loss_from_embeddings([ta, tb], torch.tensor(y))
    theirs.backward()
    value, grads = jax.value_and_grad(lambda u, v: jl.angle_loss(u, v, y), (0, 1))(a, b)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.angle_loss(a, b, y)
    for name, g, c, t in zip("ab", grads, closed, (ta, tb)):
        _close(g, t.grad.numpy(), f"jax.grad w.r.t. {name}")
        _close(c, t.grad.numpy(), f"closed form w.r.t. {name}")
    # not vacuous: terms are violated, and the sine term changes the loss from CoSENT's
    assert theirs.item() > 0.1
    assert abs(theirs.item() - float(jl.cosent_loss(a, b, y))) > 1e-3


CIRCLE_SETTINGS = [(0.4, 80.0), (0.25, 256.0), (0.25, 128.0)]  # pml's default, the paper's


@pytest.mark.parametrize(("m", "gamma"), CIRCLE_SETTINGS, ids=["pml defaults", "face", "re-id"])
@pytest.mark.parametrize("shape", [(32, 4, 256, 4), (64, 8, 128, 0)], ids=["132x256", "512x128"])
def test_circle(rng, x64, m, gamma, shape):
    """pytorch-metric-learning's ``CircleLoss`` averages over the non-zero anchors (its
    ``AvgNonZeroReducer``) and detaches the weights ``α``: its gradient is ours with
    ``detach_weights=True``. The value is the same either way; the default gradient
    (through ``α``) differs, measurably.

    Its ``torch.nn.Softplus`` turns into the identity above ``x = 20`` (torch's default
    ``threshold``), off by ``log(1 + e^-x) < e^-20 ≈ 2e-9`` in value and ``σ(x) - 1`` in
    slope; with the threshold raised to 700 (where ``log1p(exp(x))`` is still finite in
    float64) pml's softplus is exact and the comparison holds to 1e-10. As shipped, it
    agrees to the threshold's error."""
    from pytorch_metric_learning import losses

    classes, per_class, dim, lone = shape
    e, labels = _batch(rng, classes=classes, per_class=per_class, dim=dim, lone=lone, noise=1.5)
    pml = losses.CircleLoss(m=m, gamma=gamma)
    shipped = _torch_value_and_grad(lambda t: pml(t, torch.tensor(labels)), e)
    pml.soft_plus = torch.nn.Softplus(beta=1, threshold=700)
    theirs = _torch_value_and_grad(lambda t: pml(t, torch.tensor(labels)), e)
    bound = 2 * math.exp(-20)
    np.testing.assert_allclose(shipped[0], theirs[0], rtol=bound)
    np.testing.assert_allclose(shipped[1], theirs[1], rtol=0, atol=bound * np.abs(theirs[1]).max())
    both = np.bincount(labels)[labels] > 1  # a positive (and, with several classes, a negative)
    per = np.asarray(jl.circle_loss(e, labels, margin=m, gamma=gamma))
    np.testing.assert_array_equal(per > 0, both)  # pml's non-zero anchors are exactly these
    assert both.sum() < len(labels) if lone else both.all()

    def nonzero_mean(x):
        return jl.masked_mean(x, where=x > 0)

    kw = {"margin": m, "gamma": gamma, "detach_weights": True}
    count = both.sum()
    _compare(nonzero_mean, jl.circle_loss, lambda g: g / count, e, labels, theirs, kw, "pml")

    # the default differentiates the weights too: the same value, another gradient
    kw = {"margin": m, "gamma": gamma}
    value, grad = jax.value_and_grad(lambda x: nonzero_mean(jl.circle_loss(x, labels, **kw)))(e)
    _close(value, theirs[0], "value with the weights differentiated")
    closed = np.asarray(jl.closed_form.circle_loss(e, labels, **kw)) / count
    _close(grad, closed, "jax.grad against the closed form, weights differentiated")
    assert np.abs(grad - theirs[1]).max() > 1e-3 * np.abs(theirs[1]).max()


def _keras():
    """Keras 3 on its JAX backend (set before its first import; it cannot change after)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    backend = keras.backend.backend()
    assert backend == "jax", f"keras was imported with the {backend!r} backend; KERAS_BACKEND=jax"
    return keras


@pytest.mark.parametrize(("m", "gamma"), CIRCLE_SETTINGS, ids=["keras defaults", "face", "re-id"])
@pytest.mark.parametrize("shape", [(32, 4, 256, 4), (64, 8, 128, 0)], ids=["132x256", "512x128"])
def test_circle_keras(rng, x64, m, gamma, shape):
    """``keras.losses.circle`` (Keras 3, JAX backend) is per anchor, like ours, and
    differentiates through the weights ``α``, like our default. It takes the embeddings
    as already unit-norm (``s = u·v``, no normalisation) where ours normalises, so at unit
    rows its gradient is ours plus a radial part: ours is its projection onto the tangent
    plane, ``(I - u uᵀ) g``. Keras writes the loss in cosine distances ``d = max(1 - s, 0)``
    (``α_p = [m + d]_+``, ``α_n = [1 + m - d]_+``); at unit rows that is the paper's form
    in similarities. Anchors without a positive are 0 in both."""
    keras = _keras()
    classes, per_class, dim, lone = shape
    u, labels = _batch(rng, classes=classes, per_class=per_class, dim=dim, lone=lone, noise=1.5)
    kw = {"margin": m, "gamma": gamma}

    def theirs(x):
        return keras.losses.circle(jnp.asarray(labels), x, gamma=gamma, margin=m)

    t_value = np.asarray(theirs(jnp.asarray(u)))
    assert t_value.dtype == np.float64
    _close(jl.circle_loss(u, labels, **kw), t_value, "keras: per-anchor values")
    both = np.bincount(labels)[labels] > 1
    np.testing.assert_array_equal(t_value > 0, both)  # zero exactly at the lone anchors
    # a weighted sum, so that every anchor's gradient counts with its own scale
    w = rng.uniform(0.5, 1.5, len(labels))
    t_grad = np.asarray(jax.grad(lambda x: jnp.sum(w * theirs(x)))(jnp.asarray(u)))
    assert np.isfinite(t_grad).all() and np.abs(t_grad).max() > 0

    def tangential(g):  # remove each row's component along its unit embedding
        return g - np.sum(g * u, axis=1, keepdims=True) * u

    tangent = tangential(t_grad)
    grad = jax.grad(lambda x: jnp.sum(w * jl.circle_loss(x, labels, **kw)))(u)
    scale = np.abs(tangent).max()
    np.testing.assert_allclose(
        grad, tangent, rtol=RTOL, atol=RTOL * scale, err_msg="keras: jax.grad"
    )
    closed = np.asarray(jl.closed_form.circle_loss(u, labels, **kw))  # the gradient of the sum
    if not lone:  # unit weights for the closed form: compare it with keras's plain sum
        t_sum = tangential(np.asarray(jax.grad(lambda x: jnp.sum(theirs(x)))(jnp.asarray(u))))
        np.testing.assert_allclose(
            closed, t_sum, rtol=RTOL, atol=RTOL * np.abs(t_sum).max(), err_msg="keras: closed form"
        )
    # the radial part keras keeps is not negligible: the comparison needs the projection
    assert np.abs(t_grad - tangent).max() > 1e-3 * scale


@pytest.mark.parametrize(
    ("classes", "sub_centers", "batch", "dim", "margin", "scale"),
    [(100, 3, 256, 128, 0.5, 64.0), (40, 2, 512, 256, 0.3, 30.0)],
    ids=["pml defaults 256x128", "40x2 centres 512x256"],
)
def test_sub_center_arcface(rng, x64, classes, sub_centers, batch, dim, margin, scale):
    """pytorch-metric-learning's ``SubCenterArcFaceLoss`` holds ``W`` ``[dim, classes * K]``
    (column ``c K + k`` is sub-centre ``k`` of class ``c``: ours is
    ``W.T.reshape(classes, K, dim)``), takes the margin in degrees and returns the mean.
    The value and the gradients w.r.t. the embeddings and the sub-centres must agree; the
    embeddings lie near one sub-centre of their class (others compete), as in training."""
    from pytorch_metric_learning import losses

    w = rng.standard_normal((classes, sub_centers, dim))
    labels = rng.integers(0, classes, batch)
    near = w[labels, rng.integers(0, sub_centers, batch)]
    e = near + 1.5 * rng.standard_normal((batch, dim))
    pml = losses.SubCenterArcFaceLoss(
        num_classes=classes,
        embedding_size=dim,
        margin=math.degrees(margin),
        scale=scale,
        sub_centers=sub_centers,
    )
    pml.W.data = torch.tensor(w.reshape(classes * sub_centers, dim).T.copy())
    te = torch.tensor(e, requires_grad=True)
    theirs = pml(te, torch.tensor(labels))
    theirs.backward()
    t_grads = (te.grad.numpy(), pml.W.grad.numpy().T.reshape(classes, sub_centers, dim))

    kw = {"scale": scale, "margin": margin}
    value, grads = jax.value_and_grad(
        lambda u, v: jnp.mean(jl.sub_center_arcface_loss(u, v, labels, **kw)), (0, 1)
    )(e, w)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.sub_center_arcface_loss(e, w, labels, **kw)
    for name, g, c, t in zip(("embeddings", "class_centers"), grads, closed, t_grads):
        _close(g, t, f"jax.grad w.r.t. {name}")
        _close(np.asarray(c) / batch, t, f"closed form w.r.t. {name}")
    # not vacuous: several sub-centres of a class receive gradient, and the loss is not tiny
    assert theirs.item() > 0.1
    hit = np.abs(t_grads[1]).sum(axis=2) > 0  # [classes, K]
    assert np.sum(hit.sum(axis=1) > 1) > 0
