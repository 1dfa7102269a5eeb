"""Catalogue entries for the metric losses (assembled into :data:`jaxlosses.catalogue.CATALOGUE`).

Focal/poly, metric learning, contrastive, ranking, segmentation and GAN losses.
Every reference below is written directly from the papers' (or optax's /
PyTorch's documented) formulas in NumPy/SciPy, often with explicit loops, and
never calls the package.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import special

from . import _contrastive as con
from . import _embedding as emb
from . import _focal as foc
from . import _gan as gan
from . import _ranking as rnk
from . import _segmentation as seg
from ._entry import B, Case, Entry, K, huge_logits, ints, masked_logits, normal, simplex

# --- focal and poly --------------------------------------------------------------------


def _ref_sigmoid_focal(x, y, *, alpha=None, gamma=2.0):
    p = special.expit(x)
    p_t = y * p + (1 - y) * (1 - p)
    bce = -(y * special.log_expit(x) + (1 - y) * special.log_expit(-x))
    a_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return a_t * (1 - p_t) ** gamma * bce


def _sample_sigmoid_focal(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("binary labels", (x, y)),
        Case("soft labels, alpha=0.25", (x, rng.uniform(0, 1, (B, K))), {"alpha": 0.25}),
        Case("gamma=0 (cross-entropy)", (x, y), {"gamma": 0.0}),
        Case("gamma=0.5", (x, y), {"gamma": 0.5}),
    ]


def _stress_sigmoid_focal() -> list[Case]:
    y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.float32)
    return [
        Case("huge logits", (huge_logits(), y)),
        Case("huge logits, gamma=0.5", (huge_logits(), y), {"gamma": 0.5, "alpha": 0.25}),
        Case("huge logits, soft labels", (huge_logits(), np.full_like(y, 0.3))),
    ]


def _ref_poly(x, y, *, epsilon=2.0, axis=-1, where=None):
    assert axis == -1 and where is None
    lsm = special.log_softmax(x, axis=-1)
    return -np.sum(y * lsm, -1) + epsilon * np.sum(y * (1 - np.exp(lsm)), -1)


def _sample_poly(rng: np.random.Generator) -> list[Case]:
    x, onehot = normal(rng, B, K, scale=2.0), np.eye(K)[ints(rng, B)]
    return [
        Case("one-hot labels", (x, onehot)),
        Case("soft labels, epsilon=-1", (x, simplex(rng, B, K)), {"epsilon": -1.0}),
        Case("epsilon=0 (cross-entropy)", (x, onehot), {"epsilon": 0.0}),
    ]


def _stress_poly() -> list[Case]:
    x, mask = masked_logits()
    y = np.where(mask, 1.0, 0.0).astype(np.float32)
    y = y / np.maximum(y.sum(-1, keepdims=True), 1.0)
    return [
        Case("huge logits", (huge_logits(), np.eye(K, dtype=np.float32)[[1, 4, 0]])),
        Case("-inf masked", (x, y), {"where": mask}),
    ]


def _ref_softmax_focal(x, labels, *, gamma=2.0, alpha=None):
    lsm = special.log_softmax(x, axis=-1)
    lp = lsm[np.arange(len(labels)), labels]
    a = np.ones(x.shape[-1]) if alpha is None else np.broadcast_to(alpha, x.shape[-1:])
    return -a[labels] * (1 - np.exp(lp)) ** gamma * lp


def _sample_softmax_focal(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    return [
        Case("integer labels", (x, labels)),
        Case("gamma=0 (cross-entropy)", (x, labels), {"gamma": 0.0}),
        Case(
            "per-class alpha, gamma=0.5",
            (x, labels),
            {"gamma": 0.5, "alpha": rng.uniform(0.2, 1, K)},
        ),
    ]


def _stress_softmax_focal() -> list[Case]:
    labels = np.array([0, 4, 2], np.int32)
    return [
        Case("huge logits, confident", (huge_logits(), labels)),
        Case(
            "huge logits, gamma=0.5", (huge_logits(), np.array([1, 0, 4], np.int32)), {"gamma": 0.5}
        ),
    ]


# --- embeddings --------------------------------------------------------------------------

N_EMB, DIM = 4, 5


def _ref_triplet(a, p, n, axis=-1, norm_degree=2, margin=1.0, eps=1e-6, *, swap=False):
    def dist(u, v):
        return (np.sum(np.abs(u - v) ** norm_degree, axis) + eps) ** (1.0 / norm_degree)

    d_neg = dist(a, n)
    if swap:
        d_neg = np.minimum(d_neg, dist(p, n))
    return np.maximum(dist(a, p) - d_neg + margin, 0.0)


def _sample_triplet(rng: np.random.Generator) -> list[Case]:
    a, p, n = (normal(rng, N_EMB, DIM) for _ in range(3))
    return [
        Case("triplets", (a, p, n)),
        Case("swap=True", (a, p, n), {"swap": True, "margin": 3.0}),
        Case("norm_degree=3, margin=4", (a, p, n), {"norm_degree": 3, "margin": 4.0}),
    ]


def _stress_triplet() -> list[Case]:
    a = np.array([[0.0] * 5, [1e4, -1e4, 0, 1, 2], [1.0, 2, 3, 4, 5]], np.float32)
    return [
        Case("coinciding anchor, positive, negative (d = 0)", (a, a.copy(), a.copy())),
        Case("d = 0, eps=0", (a, a.copy(), a.copy()), {"eps": 0.0}),
        Case("swap, d = 0", (a, a.copy(), a + 1.0), {"swap": True}),
    ]


def _ref_contrastive(a, b, y, *, margin=1.0):
    d = np.sqrt(np.sum((a - b) ** 2, -1))
    return 0.5 * (y * d**2 + (1 - y) * np.maximum(margin - d, 0.0) ** 2)


def _sample_contrastive(rng: np.random.Generator) -> list[Case]:
    a, b = normal(rng, N_EMB, DIM), normal(rng, N_EMB, DIM)
    y = np.array([1.0, 0.0, 1.0, 0.0])
    return [
        Case("pairs", (a, b, y)),
        Case("margin=4 (all dissimilar pairs inside)", (a, b, y), {"margin": 4.0}),
    ]


def _stress_contrastive() -> list[Case]:
    a = np.array([[0.0] * 5, [1e4, -1e4, 0, 1, 2], [1.0, 2, 3, 4, 5]], np.float32)
    return [
        Case("coinciding pairs (d = 0)", (a, a.copy(), np.array([1.0, 0.0, 0.0], np.float32))),
        Case("huge distances", (a, -a, np.array([1.0, 0.0, 1.0], np.float32))),
    ]


def _ref_margin_ranking(x1, x2, y, *, margin=0.0):
    return np.maximum(0.0, -y * (x1 - x2) + margin)


def _sample_margin_ranking(rng: np.random.Generator) -> list[Case]:
    x1, x2 = normal(rng, B, K), normal(rng, B, K)
    y = rng.choice([-1.0, 1.0], (B, K))
    return [Case("scores", (x1, x2, y)), Case("margin=0.5", (x1, x2, y), {"margin": 0.5})]


def _stress_margin_ranking() -> list[Case]:
    x = huge_logits()
    return [Case("huge scores", (x, -x, np.ones_like(x) * np.float32(-1.0)))]


def _ref_unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def _ref_margin_softmax(e, w, labels, scale, target_logit):
    cos = _ref_unit(e) @ _ref_unit(w).T
    rows = np.arange(len(labels))
    z = scale * cos
    z[rows, labels] = scale * target_logit(cos[rows, labels])
    return special.logsumexp(z, axis=-1) - z[rows, labels]


def _ref_arcface(e, w, labels, *, scale=64.0, margin=0.5):
    def psi(c):
        theta = np.arccos(np.clip(c, -1.0, 1.0))
        return np.where(theta < np.pi - margin, np.cos(theta + margin), c - margin * np.sin(margin))

    return _ref_margin_softmax(e, w, labels, scale, psi)


def _ref_cosface(e, w, labels, *, scale=64.0, margin=0.35):
    return _ref_margin_softmax(e, w, labels, scale, lambda c: c - margin)


N_CLASSES = 3


def _sample_margin_softmax(rng: np.random.Generator) -> list[Case]:
    w = normal(rng, N_CLASSES, DIM)
    labels = ints(rng, N_EMB, N_CLASSES)
    e = w[labels] + 0.8 * normal(rng, N_EMB, DIM)
    opposite = -w[labels] + 0.1 * normal(rng, N_EMB, DIM)  # θ near π: ArcFace's fallback
    axes = (0, None, 0)
    return [
        Case("embeddings near their centres", (e, w, labels), in_axes=axes),
        Case("scale=8", (e, w, labels), {"scale": 8.0}, in_axes=axes),
        Case(
            "embeddings opposite their centres", (opposite, w, labels), {"scale": 4.0}, in_axes=axes
        ),
    ]


def _stress_margin_softmax() -> list[Case]:
    w = np.array([[1.0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0], [0.0] * 5], np.float32)
    e = np.array([[0.0] * 5, [1.0, 0, 0, 0, 0], [0, 1e4, 0, 0, 0], [-3.0, 0, 0, 0, 0]], np.float32)
    return [
        Case("zero-norm embedding and centre, cos = ±1", (e, w, np.array([0, 0, 1, 0], np.int32)))
    ]


def _ref_ge2e(e, w=10.0, b=-5.0, *, method="softmax"):
    n_spk, m_utt, _ = e.shape
    out = np.zeros((n_spk, m_utt))
    for j in range(n_spk):
        for i in range(m_utt):
            sims = []
            for k in range(n_spk):
                # the own speaker's centroid leaves utterance i out
                others = np.delete(e[j], i, axis=0) if k == j else e[k]
                c = np.mean(others, axis=0)
                u, v = _ref_unit(e[j, i]), _ref_unit(c)
                sims.append(w * float(u @ v) + b)
            s = np.array(sims)
            if method == "softmax":
                out[j, i] = special.logsumexp(s) - s[j]
            else:
                sig = special.expit(s)
                out[j, i] = 1 - sig[j] + np.max(np.delete(sig, j))
    return out


def _sample_ge2e(rng: np.random.Generator) -> list[Case]:
    centres = normal(rng, 3, 1, DIM, scale=2.0)
    e = centres + normal(rng, 3, 4, DIM)
    w, b = np.array(10.0), np.array(-5.0)
    return [
        Case("3 speakers x 4 utterances", (e, w, b), in_axes=None),
        Case("w=3, b=1", (e, np.array(3.0), np.array(1.0)), in_axes=None),
        Case(
            "method='contrast'",
            (e, np.array(2.0), np.array(-1.0)),
            {"method": "contrast"},
            in_axes=None,
        ),
    ]


def _stress_ge2e() -> list[Case]:
    e = np.zeros((3, 3, DIM), np.float32)
    e[1] = 1e4
    e[2, 0, 0] = 1.0
    w, b = np.float32(10.0), np.float32(-5.0)
    return [
        Case("zero-norm speaker and centroids", (e, w, b), in_axes=None),
        Case("contrast, zero-norm", (e, w, b), {"method": "contrast"}, in_axes=None),
    ]


# --- contrastive ---------------------------------------------------------------------------


def _ref_in_batch(q, k, extra, scale):
    qh = _ref_unit(q)
    z = scale * qh @ _ref_unit(k).T
    if extra is not None:
        nh = _ref_unit(extra)
        ez = scale * (qh @ nh.T if nh.ndim == 2 else np.einsum("bd,bnd->bn", qh, nh))
        z = np.concatenate([z, ez], axis=-1)
    return special.logsumexp(z, axis=-1) - np.diagonal(z)


def _ref_info_nce(q, k, *, temperature=0.1, negatives=None):
    return _ref_in_batch(q, k, negatives, 1.0 / temperature)


def _ref_mnrl(a, p, *, scale=20.0, hard_negatives=None):
    return _ref_in_batch(a, p, hard_negatives, scale)


def _sample_info_nce(rng: np.random.Generator) -> list[Case]:
    q = normal(rng, N_EMB, DIM)
    k = q + 0.5 * normal(rng, N_EMB, DIM)
    return [
        Case("queries, keys", (q, k), {"temperature": 0.5}, in_axes=None),
        Case("shared negatives", (q, k), {"negatives": normal(rng, 3, DIM)}, in_axes=None),
        Case(
            "per-query negatives", (q, k), {"negatives": normal(rng, N_EMB, 2, DIM)}, in_axes=None
        ),
    ]


def _sample_mnrl(rng: np.random.Generator) -> list[Case]:
    a = normal(rng, N_EMB, DIM)
    p = a + 0.5 * normal(rng, N_EMB, DIM)
    return [
        Case("anchors, positives", (a, p), in_axes=None),
        Case(
            "hard negatives, scale=5",
            (a, p),
            {"hard_negatives": normal(rng, N_EMB, DIM), "scale": 5.0},
            in_axes=None,
        ),
    ]


def _stress_vectors() -> np.ndarray:
    return np.array(
        [[0.0] * 5, [1e4, -1e4, 0, 1, 2], [1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5]], np.float32
    )


def _stress_info_nce() -> list[Case]:
    v = _stress_vectors()
    return [
        Case(
            "zero-norm and duplicate rows, logits 1e4",
            (v, v[::-1].copy()),
            {"temperature": 1e-4},
            in_axes=None,
        ),
        Case(
            "zero-norm negatives",
            (v, v.copy()),
            {"negatives": np.zeros((2, 5), np.float32)},
            in_axes=None,
        ),
    ]


def _stress_mnrl() -> list[Case]:
    v = _stress_vectors()
    return [
        Case("zero-norm rows, scale 1e4", (v, v[::-1].copy()), {"scale": 1e4}, in_axes=None),
        Case(
            "zero-norm hard negatives",
            (v, v.copy()),
            {"hard_negatives": np.zeros((2, 5), np.float32)},
            in_axes=None,
        ),
    ]


def _ref_ntxent(e, labels, temperature=0.07):
    eps = np.finfo(e.dtype).eps
    u = e / np.sqrt(np.maximum(np.sum(e**2, -1, keepdims=True), eps))
    z = u @ u.T / temperature
    total, count = 0.0, 0
    for i in range(len(labels)):
        negs = [z[i, k] for k in range(len(labels)) if labels[k] != labels[i]]
        for j in range(len(labels)):
            if j != i and labels[j] == labels[i]:
                total += special.logsumexp([z[i, j], *negs]) - z[i, j]
                count += 1
    return np.asarray(total / count if count else 0.0)


def _sample_ntxent(rng: np.random.Generator) -> list[Case]:
    e = normal(rng, N_EMB, DIM)
    return [
        Case("pairs", (e, np.array([0, 0, 1, 1], np.int32)), in_axes=None),
        Case(
            "a group of 3, temperature=0.5",
            (e, np.array([0, 0, 0, 1], np.int32), 0.5),
            in_axes=None,
        ),
        Case("interleaved groups", (e, np.array([0, 1, 0, 1], np.int32), 0.2), in_axes=None),
    ]


def _stress_ntxent() -> list[Case]:
    v = _stress_vectors()
    return [
        Case(
            "zero-norm rows, logits 1e4", (v, np.array([0, 0, 1, 1], np.int32), 1e-4), in_axes=None
        ),
        Case("no positive pair", (v, np.arange(4, dtype=np.int32)), in_axes=None),
        Case("one group (no negatives)", (v, np.zeros(4, np.int32)), in_axes=None),
    ]


# --- ranking -------------------------------------------------------------------------------


def _ref_ranking_softmax(s, y, *, where=None, weights=None, reduce_fn=jnp.mean):
    valid = np.ones(s.shape, bool) if where is None else np.asarray(where, bool)
    y = np.where(valid, y, 0.0) * (1.0 if weights is None else weights)
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(*s.shape[:-1]):
        ok = valid[idx]
        if ok.any():
            out[idx] = -np.sum(y[idx][ok] * special.log_softmax(s[idx][ok]))
    listed = valid.any(-1)
    if reduce_fn is None:
        return out
    if reduce_fn is jnp.sum:
        return out.sum()
    return out[listed].mean() if listed.any() else np.asarray(0.0)


def _sample_ranking_softmax(rng: np.random.Generator) -> list[Case]:
    s = normal(rng, B, K)
    y = rng.integers(0, 4, (B, K)).astype(np.float64)
    where = np.ones((B, K), bool)
    where[0, :2] = False
    where[2] = False
    return [
        Case("graded labels, per list", (s, y), {"reduce_fn": None}),
        Case("mean over lists", (s, y), in_axes=None),
        Case(
            "weights, sum",
            (s, y),
            {"weights": rng.uniform(0.5, 2, (B, K)), "reduce_fn": jnp.sum},
            in_axes=None,
        ),
        Case("masked items and a masked list, mean", (s, y), {"where": where}, in_axes=None),
    ]


def _stress_ranking_softmax() -> list[Case]:
    x, mask = masked_logits()
    y = np.ones_like(x)
    return [
        Case("huge logits", (huge_logits(), np.ones((3, 5), np.float32))),
        Case("-inf masked items, empty list", (x, y), {"where": mask}),
        Case("-inf masked, per list", (x, y), {"where": mask, "reduce_fn": None}),
    ]


# --- segmentation --------------------------------------------------------------------------


def _ref_dice(
    x, t, *, class_weights=None, smooth=1.0, alpha=0.5, beta=0.5, apply_softmax=True,
    reduction="mean", ignore_background=False, axis=None,
):  # fmt: skip
    if x.ndim == t.ndim - 1:
        x = x[..., None]
    if t.ndim == x.ndim - 1:
        t = t[..., None]
    if not apply_softmax:
        p = x
    elif x.shape[-1] == 1:
        p = special.expit(x)
    else:
        p = special.softmax(x, axis=-1)
    axes = tuple(range(1, p.ndim - 1)) if axis is None else axis
    inter, psum, tsum = np.sum(p * t, axes), np.sum(p, axes), np.sum(t, axes)
    fp, fn = psum - inter, tsum - inter
    loss = 1.0 - (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)
    if class_weights is not None:
        loss = loss * class_weights
    if ignore_background and p.shape[-1] > 1:
        loss = loss[..., 1:]
    if reduction == "none":
        return loss
    return np.mean(loss, -1) if reduction == "mean" else np.sum(loss, -1)


def _ref_tversky(x, t, *, alpha=0.5, beta=0.5, **kw):
    return _ref_dice(x, t, alpha=alpha, beta=beta, **kw)


def _ref_binary_dice(x, t, *, smooth=1.0, apply_sigmoid=True):
    if x.ndim == t.ndim and x.shape[-1] != 1:
        x, t = x[..., None], t[..., None]
    p = special.expit(x) if apply_sigmoid else x
    axes = tuple(range(1, p.ndim))
    return 1 - (2 * np.sum(p * t, axes) + 2 * smooth) / (
        np.sum(p, axes) + np.sum(t, axes) + 2 * smooth
    )


def _ref_generalized_dice(x, t, *, smooth=1.0, apply_softmax=True, ignore_background=False):
    freq = t.reshape(-1, t.shape[-1]).sum(0)
    w = 1.0 / (freq**2 + 1e-7)
    w = w / w.sum() * len(w)
    per = _ref_dice(
        x, t, class_weights=w, smooth=smooth, apply_softmax=apply_softmax, reduction="none",
        ignore_background=ignore_background,
    )  # fmt: skip
    return np.mean(per)


PIX, SEG_K = 4, 3


def _seg_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = normal(rng, 2, PIX, SEG_K, scale=2.0)
    t = np.eye(SEG_K)[rng.integers(0, SEG_K, (2, PIX))]
    return x, t, special.softmax(normal(rng, 2, PIX, SEG_K), axis=-1)


def _sample_dice(rng: np.random.Generator) -> list[Case]:
    x, t, probs = _seg_data(rng)
    xb = normal(rng, 2, PIX, 1)
    tb = rng.integers(0, 2, (2, PIX, 1)).astype(np.float64)
    return [
        Case("softmax, mean over classes", (x, t), in_axes=None),
        Case(
            "reduction='none', smooth=0.5",
            (x, t),
            {"reduction": "none", "smooth": 0.5},
            in_axes=None,
        ),
        Case(
            "alpha=0.3, beta=0.7, sum, weights",
            (x, t),
            {
                "alpha": 0.3,
                "beta": 0.7,
                "reduction": "sum",
                "class_weights": np.array([0.5, 1.0, 2.0]),
            },
            in_axes=None,
        ),
        Case(
            "probabilities, ignore_background",
            (probs, t),
            {"apply_softmax": False, "ignore_background": True},
            in_axes=None,
        ),
        Case("one class (sigmoid)", (xb, tb), in_axes=None),
    ]


def _sample_tversky(rng: np.random.Generator) -> list[Case]:
    x, t, probs = _seg_data(rng)
    return [
        Case("alpha=0.3, beta=0.7", (x, t), {"alpha": 0.3, "beta": 0.7}, in_axes=None),
        Case(
            "alpha=beta=1 (Jaccard), probabilities",
            (probs, t),
            {"alpha": 1.0, "beta": 1.0, "apply_softmax": False},
            in_axes=None,
        ),
    ]


def _sample_binary_dice(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    t = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("logits", (x, t), in_axes=None),
        Case(
            "probabilities, smooth=0.1",
            (special.expit(x), t),
            {"apply_sigmoid": False, "smooth": 0.1},
            in_axes=None,
        ),
    ]


def _sample_generalized_dice(rng: np.random.Generator) -> list[Case]:
    x, t, _ = _seg_data(rng)
    t_absent = np.eye(SEG_K)[rng.integers(0, 2, (2, PIX))]  # class 2 absent: a 1e7 weight
    return [
        Case("logits", (x, t), in_axes=None),
        Case(
            "absent class, ignore_background",
            (x, t_absent),
            {"ignore_background": True},
            in_axes=None,
        ),
    ]


def _stress_dice() -> list[Case]:
    x = np.stack([huge_logits()[:, :3], huge_logits()[:, 2:]])  # [2, 3, 3]
    t = np.eye(3, dtype=np.float32)[[[0, 1, 2], [2, 2, 0]]]
    return [
        Case("huge logits", (x, t), in_axes=None),
        Case("all-zero targets, smooth=0", (x, np.zeros_like(t)), {"smooth": 1e-6}, in_axes=None),
    ]


def _stress_generalized_dice() -> list[Case]:
    return [c for c in _stress_dice() if not c.kwargs]


def _stress_binary_dice() -> list[Case]:
    return [
        Case("huge logits", (huge_logits(), np.eye(5, dtype=np.float32)[[0, 1, 2]]), in_axes=None)
    ]


# --- GAN ---------------------------------------------------------------------------------


def _ref_gan_discriminator(r, f):
    return -special.log_expit(r) - np.log1p(-special.expit(f))


def _ref_gan_generator(f, *, non_saturating=True):
    return -special.log_expit(f) if non_saturating else np.log1p(-special.expit(f))


def _sample_gan(rng: np.random.Generator) -> list[Case]:
    return [Case("logits", (normal(rng, B, K, scale=3.0), normal(rng, B, K, scale=3.0)))]


def _sample_gan_generator(rng: np.random.Generator) -> list[Case]:
    f = normal(rng, B, K, scale=3.0)
    return [Case("non-saturating", (f,)), Case("minimax", (f,), {"non_saturating": False})]


def _stress_gan() -> list[Case]:
    return [Case("huge logits", (huge_logits(), -huge_logits()))]


def _stress_gan_generator() -> list[Case]:
    return [
        Case("huge logits", (huge_logits(),)),
        Case("huge logits, minimax", (huge_logits(),), {"non_saturating": False}),
    ]


# --- the entries ---------------------------------------------------------------------------

_CL = "classification extras"
_ML = "metric learning"
_CON = "contrastive"
_RANK = "ranking"
_SEG = "segmentation"
_GAN = "GAN"

ENTRIES: list[Entry] = [
    Entry("sigmoid_focal_loss", _CL, foc.sigmoid_focal_loss, foc._sigmoid_focal_loss_grad,
          _ref_sigmoid_focal, _sample_sigmoid_focal, _stress_sigmoid_focal,
          optax="sigmoid_focal_loss", torch="torchvision.ops.sigmoid_focal_loss"),
    Entry("softmax_focal_loss", _CL, foc.softmax_focal_loss, foc._softmax_focal_loss_grad,
          _ref_softmax_focal, _sample_softmax_focal, _stress_softmax_focal, class_args=(0,)),
    Entry("poly_loss_cross_entropy", _CL, foc.poly_loss_cross_entropy,
          foc._poly_loss_cross_entropy_grad, _ref_poly, _sample_poly, _stress_poly,
          class_args=(0, 1), where_slices=True, optax="poly_loss_cross_entropy"),
    Entry("triplet_margin_loss", _ML, emb.triplet_margin_loss, emb._triplet_margin_loss_grad,
          _ref_triplet, _sample_triplet, _stress_triplet, argnums=(0, 1, 2), smooth=False,
          optax="triplet_margin_loss", torch="triplet_margin_loss"),
    Entry("contrastive_loss", _ML, emb.contrastive_loss, emb._contrastive_loss_grad,
          _ref_contrastive, _sample_contrastive, _stress_contrastive, argnums=(0, 1),
          smooth=False),
    Entry("margin_ranking_loss", _RANK, rnk.margin_ranking_loss, rnk._margin_ranking_loss_grad,
          _ref_margin_ranking, _sample_margin_ranking, _stress_margin_ranking, argnums=(0, 1),
          smooth=False, torch="margin_ranking_loss"),
    Entry("arcface_loss", _ML, emb.arcface_loss, emb._arcface_loss_grad, _ref_arcface,
          _sample_margin_softmax, _stress_margin_softmax, argnums=(0, 1), smooth=False),
    Entry("cosface_loss", _ML, emb.cosface_loss, emb._cosface_loss_grad, _ref_cosface,
          _sample_margin_softmax, _stress_margin_softmax, argnums=(0, 1)),
    Entry("ge2e_loss", _ML, emb.ge2e_loss, emb._ge2e_loss_grad, _ref_ge2e, _sample_ge2e,
          _stress_ge2e, argnums=(0, 1, 2), smooth=False),
    Entry("info_nce_loss", _CON, con.info_nce_loss, con._info_nce_loss_grad, _ref_info_nce,
          _sample_info_nce, _stress_info_nce, argnums=(0, 1)),
    Entry("ntxent", _CON, con.ntxent, con._ntxent_grad, _ref_ntxent, _sample_ntxent,
          _stress_ntxent, optax="ntxent"),
    Entry("multiple_negatives_ranking_loss", _CON, con.multiple_negatives_ranking_loss,
          con._multiple_negatives_ranking_loss_grad, _ref_mnrl, _sample_mnrl, _stress_mnrl,
          argnums=(0, 1)),
    Entry("ranking_softmax_loss", _RANK, rnk.ranking_softmax_loss,
          rnk._ranking_softmax_loss_grad, _ref_ranking_softmax, _sample_ranking_softmax,
          _stress_ranking_softmax, optax="ranking_softmax_loss"),
    Entry("dice_loss", _SEG, seg.dice_loss, seg._dice_loss_grad, _ref_dice, _sample_dice,
          _stress_dice, optax="dice_loss"),
    Entry("binary_dice_loss", _SEG, seg.binary_dice_loss, seg._binary_dice_loss_grad,
          _ref_binary_dice, _sample_binary_dice, _stress_binary_dice, optax="binary_dice_loss"),
    Entry("multiclass_generalized_dice_loss", _SEG, seg.multiclass_generalized_dice_loss,
          seg._multiclass_generalized_dice_loss_grad, _ref_generalized_dice,
          _sample_generalized_dice, _stress_generalized_dice,
          optax="multiclass_generalized_dice_loss"),
    Entry("tversky_loss", _SEG, seg.tversky_loss, seg._tversky_loss_grad, _ref_tversky,
          _sample_tversky, _stress_dice),
    Entry("gan_discriminator_loss", _GAN, gan.gan_discriminator_loss,
          gan._gan_discriminator_loss_grad, _ref_gan_discriminator, _sample_gan, _stress_gan,
          argnums=(0, 1)),
    Entry("gan_generator_loss", _GAN, gan.gan_generator_loss, gan._gan_generator_loss_grad,
          _ref_gan_generator, _sample_gan_generator, _stress_gan_generator),
]  # fmt: skip
