"""Proof records of the metric-learning losses (:mod:`jaxlosses._embedding`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import ints, normal, ref_unit

FAMILY = "metric learning"

N_EMB, DIM = 4, 5  # embeddings per example and their dimension


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


def _ref_contrastive(a, b, y, *, margin=1.0, pos_margin=0.0, distance="euclidean", squared=True):
    if distance == "cosine":
        d = 1.0 - np.sum(ref_unit(a) * ref_unit(b), -1)
    else:
        d = np.sqrt(np.sum((a - b) ** 2, -1))
    near, far = np.maximum(d - pos_margin, 0.0), np.maximum(margin - d, 0.0)
    if squared:
        return 0.5 * (y * near**2 + (1 - y) * far**2)
    return y * near + (1 - y) * far


def _sample_contrastive(rng: np.random.Generator) -> list[Case]:
    a, b = normal(rng, N_EMB, DIM), normal(rng, N_EMB, DIM)
    y = np.array([1.0, 0.0, 1.0, 0.0])
    return [
        Case("pairs", (a, b, y)),
        Case("margin=4 (all dissimilar pairs inside)", (a, b, y), {"margin": 4.0}),
        Case("pos_margin=2.5, margin=3.5", (a, b, y), {"pos_margin": 2.5, "margin": 3.5}),
        Case("cosine, margin 1.2", (a, b, y), {"distance": "cosine", "margin": 1.2}),
        Case("cosine hinges, pos_margin 0.9, margin 1.1", (a, b, y),
             {"distance": "cosine", "squared": False, "pos_margin": 0.9, "margin": 1.1}),
        Case("euclidean hinges, margin 3.5", (a, b, y), {"squared": False, "margin": 3.5}),
    ]  # fmt: skip


def _stress_contrastive() -> list[Case]:
    a = np.array([[0.0] * 5, [1e4, -1e4, 0, 1, 2], [1.0, 2, 3, 4, 5]], np.float32)
    y = np.array([1.0, 0.0, 0.0], np.float32)
    return [
        Case("coinciding pairs (d = 0)", (a, a.copy(), y)),
        Case("huge distances", (a, -a, np.array([1.0, 0.0, 1.0], np.float32))),
        Case("hinges, d = 0", (a, a.copy(), y), {"squared": False}),
        Case("cosine, zero-norm and coinciding pairs", (a, a.copy(), y), {"distance": "cosine"}),
        Case("cosine hinges, opposite pairs", (a, -a, y), {"distance": "cosine", "squared": False}),
    ]  # fmt: skip


def _ref_margin_softmax(e, w, labels, scale, target_logit):
    cos = ref_unit(e) @ ref_unit(w).T
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


def _ref_sub_center_arcface(e, w, labels, *, scale=64.0, margin=0.5):
    """Deng et al. 2020: each class's cosine is its nearest sub-centre's, then ArcFace."""
    out = np.zeros(len(labels))
    for n, y in enumerate(labels):
        u = ref_unit(e[n])
        cos = np.array([max(float(u @ ref_unit(c)) for c in centres) for centres in w])
        theta = np.arccos(np.clip(cos[y], -1.0, 1.0))
        target = (
            np.cos(theta + margin) if theta + margin < np.pi else cos[y] - margin * np.sin(margin)
        )
        z = scale * cos
        z[y] = scale * target
        out[n] = special.logsumexp(z) - z[y]
    return out


N_SUB = 3


def _sample_sub_center(rng: np.random.Generator) -> list[Case]:
    w = normal(rng, N_CLASSES, N_SUB, DIM)
    labels = ints(rng, N_EMB, N_CLASSES)
    near = w[labels, ints(rng, N_EMB, N_SUB)]  # each embedding near one of its sub-centres
    e = near + 0.8 * normal(rng, N_EMB, DIM)
    opposite = -near + 0.1 * normal(rng, N_EMB, DIM)  # θ near π: ArcFace's fallback
    axes = (0, None, 0)
    return [
        Case("embeddings near a sub-centre", (e, w, labels), in_axes=axes),
        Case("scale=8, margin=0.3", (e, w, labels), {"scale": 8.0, "margin": 0.3}, in_axes=axes),
        Case("embeddings opposite their sub-centre", (opposite, w, labels), {"scale": 4.0}, in_axes=axes),
    ]  # fmt: skip


def _stress_sub_center() -> list[Case]:
    w = np.zeros((3, 2, 5), np.float32)  # class 2: two zero-norm sub-centres (a tie at 0)
    w[0, 0, 0], w[0, 1, 1], w[1, 0, 1], w[1, 1, 2] = 1.0, 1e4, 1.0, -1e-3
    e = np.array([[0.0] * 5, [1.0, 0, 0, 0, 0], [0, 1e4, 0, 0, 0], [-3.0, 0, 0, 0, 0]], np.float32)
    return [
        Case("zero-norm embedding and sub-centres, cos = ±1, tied sub-centres",
             (e, w, np.array([0, 0, 1, 2], np.int32))),
    ]  # fmt: skip


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
                u, v = ref_unit(e[j, i]), ref_unit(c)
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


def _ref_cosine_embedding(x1, x2, t, *, margin=0.0, eps=1e-12, axis=-1):
    x1, x2 = np.moveaxis(x1, axis, -1), np.moveaxis(x2, axis, -1)
    m1 = np.einsum("...d,...d->...", x1, x1) + eps
    m2 = np.einsum("...d,...d->...", x2, x2) + eps
    cos = np.einsum("...d,...d->...", x1, x2) / np.sqrt(m1 * m2)
    return np.where(t == 1, 1.0 - cos, np.maximum(0.0, cos - margin))


def _pm1(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _sample_cosine_embedding(rng: np.random.Generator) -> list[Case]:
    x1, x2 = normal(rng, N_EMB, DIM), normal(rng, N_EMB, DIM)
    t = np.array([1.0, -1.0, 1.0, -1.0])
    return [
        Case("pairs", (x1, x2, t)),
        Case("margin=-0.5, random targets", (x1, x2, _pm1(rng, N_EMB)), {"margin": -0.5}),
        Case("axis=0", (x1.T.copy(), x2.T.copy(), t), {"axis": 0}, (1, 1, 0)),
    ]


def _stress_cosine_embedding() -> list[Case]:
    x1 = np.array([[0.0] * DIM, [1e4, -1e4, 0.0, 1.0, 2.0], [1e-20, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    x2 = np.array([[1.0] * DIM, [0.0] * DIM, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    t = np.array([1.0, -1.0, -1.0, -1.0], np.float32)
    return [
        Case("zero-norm, huge and equal vectors", (x1.astype(np.float32), x2.astype(np.float32), t))
    ]


def _ref_hinge_embedding(x, t, *, margin=1.0):
    return np.where(t == 1, x, np.maximum(0.0, margin - x))


def _sample_hinge_embedding(rng: np.random.Generator) -> list[Case]:
    x = np.abs(normal(rng, N_EMB, DIM, scale=2.0))
    t = rng.choice(np.array([-1.0, 1.0]), size=(N_EMB, DIM))
    return [
        Case("distances", (x, t)),
        Case("signed inputs, margin=2", (normal(rng, N_EMB, DIM, scale=2.0), t), {"margin": 2.0}),
        Case("scalar target", (x, np.float64(-1.0)), in_axes=(0, None)),
    ]


def _stress_hinge_embedding() -> list[Case]:
    x = np.array([[1e4, -1e4, 0.0, 1.0, 3e3]], np.float32)
    return [Case("huge inputs", (x, np.array([[1, -1, -1, 1, -1]], np.float32)))]


# --- triplets mined from the labels of a batch ----------------------------------------------


def _ref_distances(e, distance):
    """Pairwise distances by a loop over pairs, straight from the definitions."""
    n = len(e)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if distance == "cosine":
                out[i, j] = 1.0 - float(ref_unit(e[i]) @ ref_unit(e[j])) if i != j else 0.0
            else:
                sq = float(np.sum((e[i] - e[j]) ** 2))
                out[i, j] = sq if distance == "squared_euclidean" else np.sqrt(sq)
    return out


def _ref_pos_neg(labels, i):
    pos = [p for p in range(len(labels)) if p != i and labels[p] == labels[i]]
    neg = [n for n in range(len(labels)) if labels[n] != labels[i]]
    return pos, neg


def _ref_batch_hard(e, labels, *, margin=1.0, distance="euclidean"):
    d = _ref_distances(e, distance)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos, neg = _ref_pos_neg(labels, i)
        if pos and neg:
            out[i] = max(0.0, max(d[i, pos]) - min(d[i, neg]) + margin)
    return out


def _ref_semi_hard(e, labels, *, margin=1.0, distance="euclidean"):
    d = _ref_distances(e, distance)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos, neg = _ref_pos_neg(labels, i)
        if not (pos and neg):
            continue
        terms = []
        for p in pos:
            farther = [d[i, n] for n in neg if d[i, n] > d[i, p]]
            d_neg = min(farther) if farther else max(d[i, n] for n in neg)
            terms.append(max(0.0, d[i, p] - d_neg + margin))
        out[i] = np.mean(terms)
    return out


def _ref_batch_all(e, labels, *, margin=1.0, distance="euclidean"):
    d = _ref_distances(e, distance)
    active = []
    for i in range(len(labels)):
        pos, neg = _ref_pos_neg(labels, i)
        for p in pos:
            for n in neg:
                t = d[i, p] - d[i, n] + margin
                if t > 0:
                    active.append(t)
    return np.asarray(np.mean(active) if active else 0.0)


_MINED_LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3], np.int32)  # class 3: no positive


def _sample_mined(rng: np.random.Generator) -> list[Case]:
    centres = normal(rng, 4, DIM, scale=1.5)
    e = centres[_MINED_LABELS] + normal(rng, len(_MINED_LABELS), DIM)
    lab = _MINED_LABELS
    return [
        Case("euclidean, margin 1", (e, lab), in_axes=None),
        Case("squared_euclidean, margin 3", (e, lab), {"distance": "squared_euclidean", "margin": 3.0}, in_axes=None),
        Case("cosine, margin 0.3", (e, lab), {"distance": "cosine", "margin": 0.3}, in_axes=None),
        Case("shuffled labels, margin 2", (e, rng.permutation(lab)), {"margin": 2.0}, in_axes=None),
    ]  # fmt: skip


def _stress_mined() -> list[Case]:
    v = np.array(
        [[0.0] * 5, [0.0] * 5, [1e4, -1e4, 0, 1, 2], [1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5]],
        np.float32,
    )
    lab = np.array([0, 0, 1, 1, 2], np.int32)
    return [
        Case("coinciding pairs (d = 0) and zero-norm rows, distances 1e4", (v, lab), in_axes=None),
        Case("cosine, zero-norm rows", (v, lab), {"distance": "cosine"}, in_axes=None),
        Case("squared, 1e8", (v, lab), {"distance": "squared_euclidean"}, in_axes=None),
        Case("no positive (all labels distinct)", (v, np.arange(5, dtype=np.int32)), in_axes=None),
        Case("no negative (one class)", (v, np.zeros(5, np.int32)), in_axes=None),
    ]  # fmt: skip


def _ref_multi_similarity(e, labels, *, alpha=2.0, beta=50.0, base=0.5):
    u = ref_unit(e)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos, neg = _ref_pos_neg(labels, i)
        s_pos = np.array([u[i] @ u[p] for p in pos])
        s_neg = np.array([u[i] @ u[n] for n in neg])
        out[i] = (
            np.log1p(np.sum(np.exp(-alpha * (s_pos - base)))) / alpha
            + np.log1p(np.sum(np.exp(beta * (s_neg - base)))) / beta
        )
    return out


def _sample_multi_similarity(rng: np.random.Generator) -> list[Case]:
    e = normal(rng, 4, DIM, scale=1.5)[_MINED_LABELS] + normal(rng, len(_MINED_LABELS), DIM)
    lab = _MINED_LABELS
    return [
        Case("defaults (alpha 2, beta 50, base 0.5)", (e, lab), in_axes=None),
        Case("alpha 5, beta 10, base 0", (e, lab), {"alpha": 5.0, "beta": 10.0, "base": 0.0}, in_axes=None),
    ]  # fmt: skip


def _stress_multi_similarity() -> list[Case]:
    v = _stress_mined()[0].args[0]
    lab = np.array([0, 0, 1, 1, 2], np.int32)
    return [
        Case("zero-norm and coinciding rows", (v, lab), in_axes=None),
        Case("beta 1e4 (exponents of 1e4)", (v, lab), {"beta": 1e4, "alpha": 1e4}, in_axes=None),
        Case("one class (no negative)", (v, np.zeros(5, np.int32)), in_axes=None),
    ]  # fmt: skip


def _ref_circle(e, labels, *, margin=0.4, gamma=80.0, detach_weights=False):
    """Sun et al.'s Eq. 4 with the self-paced weights and margins of their Eq. 6 and 7."""
    u = ref_unit(e)
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        pos, neg = _ref_pos_neg(labels, i)
        if not (pos and neg):
            continue
        s_p = np.array([u[i] @ u[p] for p in pos])
        s_n = np.array([u[i] @ u[n] for n in neg])
        alpha_p, alpha_n = np.clip(1 + margin - s_p, 0, None), np.clip(s_n + margin, 0, None)
        # log(1 + Σ_n e^{γ α_n (s_n - Δ_n)} Σ_p e^{-γ α_p (s_p - Δ_p)}), Δ_n = m, Δ_p = 1 - m
        log_sums = special.logsumexp(gamma * alpha_n * (s_n - margin)) + special.logsumexp(
            -gamma * alpha_p * (s_p - (1 - margin))
        )
        out[i] = np.logaddexp(0.0, log_sums)
    return out


def _sample_circle(rng: np.random.Generator) -> list[Case]:
    e = normal(rng, 4, DIM, scale=1.5)[_MINED_LABELS] + normal(rng, len(_MINED_LABELS), DIM)
    lab = _MINED_LABELS
    return [
        Case("defaults (margin 0.4, gamma 80)", (e, lab), in_axes=None),
        Case("margin 0.25, gamma 256 (face recognition)", (e, lab), {"margin": 0.25, "gamma": 256.0}, in_axes=None),
        Case("margin 0.1, gamma 4", (e, rng.permutation(lab)), {"margin": 0.1, "gamma": 4.0}, in_axes=None),
    ]  # fmt: skip


def _stress_circle() -> list[Case]:
    v = _stress_mined()[0].args[0]
    lab = np.array([0, 0, 1, 1, 2], np.int32)
    return [
        Case("zero-norm and coinciding rows", (v, lab), in_axes=None),
        Case("gamma 1e4 (exponents of 1e4)", (v, lab), {"gamma": 1e4}, in_axes=None),
        Case("weights detached, gamma 1e4", (v, lab), {"gamma": 1e4, "detach_weights": True}, in_axes=None),
        Case("one class (no negative)", (v, np.zeros(5, np.int32)), in_axes=None),
        Case("all labels distinct (no positive)", (v, np.arange(5, dtype=np.int32)), in_axes=None),
    ]  # fmt: skip


def _ref_cosent(a, b, y, *, scale=20.0):
    c = np.sum(ref_unit(a) * ref_unit(b), -1)
    terms = [0.0]
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] < y[j]:
                terms.append(scale * (c[i] - c[j]))
    return np.asarray(special.logsumexp(terms))


def _sample_cosent(rng: np.random.Generator) -> list[Case]:
    a = normal(rng, 6, DIM)
    b = a + normal(rng, 6, DIM)
    return [
        Case("STS-like scores with ties, scale 5", (a, b, np.array([0.0, 1.0, 1.0, 2.5, 4.0, 5.0])), {"scale": 5.0}, in_axes=None),
        Case("binary labels, scale 20", (a, b, np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])), in_axes=None),
    ]  # fmt: skip


def _stress_cosent() -> list[Case]:
    v = _stress_mined()[0].args[0]
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    return [
        Case("zero-norm and coinciding rows, scale 1e4", (v, v[::-1].copy(), y), {"scale": 1e4}, in_axes=None),
        Case("all labels equal (no term)", (v, -v, np.ones(5, np.float32)), in_axes=None),
    ]  # fmt: skip


def _ref_angle(a, b, y, *, scale=20.0):
    """AnglE's angle difference, in complex numbers: halves of each row as real and imaginary
    parts, ``q = Σ z conj(w) / (‖a‖ ‖b‖)``, ``θ = |Re q + Im q|``, then CoSENT's ranking."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape[1] % 2:
        a, b = (np.pad(v, ((0, 0), (0, 1))) for v in (a, b))
    h = a.shape[1] // 2
    z, w = a[:, :h] + 1j * a[:, h:], b[:, :h] + 1j * b[:, h:]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    q = np.sum(z * np.conj(w), axis=1) / np.where(norms == 0, 1.0, norms)
    theta = np.abs(q.real + q.imag)
    terms = [0.0]
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] < y[j]:
                terms.append(scale * (theta[i] - theta[j]))
    return np.asarray(special.logsumexp(terms))


def _sample_angle(rng: np.random.Generator) -> list[Case]:
    a = normal(rng, 6, DIM + 1)
    b = a + normal(rng, 6, DIM + 1)
    y = np.array([0.0, 1.0, 1.0, 2.5, 4.0, 5.0])
    return [
        Case("STS-like scores with ties, scale 5", (a, b, y), {"scale": 5.0}, in_axes=None),
        Case("binary labels, scale 20", (a, b, np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])), in_axes=None),
        Case("odd dimension (zero-padded), scale 3", (a[:, :DIM], b[:, :DIM], y), {"scale": 3.0}, in_axes=None),
    ]  # fmt: skip


def _stress_angle() -> list[Case]:
    v = _stress_mined()[0].args[0]
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0], np.float32)
    return [
        Case("zero-norm and coinciding rows, scale 1e4", (v, v[::-1].copy(), y), {"scale": 1e4}, in_axes=None),
        Case("opposite rows, labels reversed", (v, -v, y[::-1].copy()), in_axes=None),
        Case("all labels equal (no term)", (v, -v, np.ones(5, np.float32)), in_axes=None),
    ]  # fmt: skip


_ST = "sentence_transformers.sentence_transformer.losses"
_MINED_TEST = _CONTRASTIVE_TEST = "tests/test_metric_learning_conformance.py"


ENTRIES: list[Entry] = [
    Entry(name="triplet_margin_loss", reference=_ref_triplet, sample=_sample_triplet,
          stress=_stress_triplet, argnums=(0, 1, 2), smooth=False, properties=frozenset({NONNEG}),
          free_args=(0, 1, 2),
          peers=(Peer("optax.losses.triplet_margin_loss",
                      note="no |.| in the norm: differs for odd norm_degree", skip_cases={"norm_degree=3, margin=4": "optax omits |.|: NaN for odd degrees"},),
                 Peer("torch.nn.functional.triplet_margin_loss",
                      note="eps added to each difference, not inside the root", tested_by="tests/test_torch_conformance.py::test_triplet_margin_loss",),)),
    Entry(name="contrastive_loss", reference=_ref_contrastive, sample=_sample_contrastive,
          stress=_stress_contrastive, argnums=(0, 1), smooth=False,
          accepts=frozenset({"labels:int"}), properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("pytorch_metric_learning.losses.ContrastiveLoss",
                      note="squared=False; pairs mined from labels or given as indices; "
                           "cosine margins on the similarity (1 - ours)",
                      tested_by=f"{_CONTRASTIVE_TEST}::test_pml_contrastive"),
                 Peer(f"{_ST}.ContrastiveLoss", note="distance='cosine', margin=0.5; a module, the mean",
                      tested_by=f"{_CONTRASTIVE_TEST}::test_st_contrastive"),)),
    Entry(name="arcface_loss", reference=_ref_arcface, sample=_sample_margin_softmax,
          stress=_stress_margin_softmax, argnums=(0, 1), smooth=False,
          properties=frozenset({NONNEG}), free_args=(0, 1)),
    Entry(name="cosface_loss", reference=_ref_cosface, sample=_sample_margin_softmax,
          stress=_stress_margin_softmax, argnums=(0, 1), properties=frozenset({NONNEG}),
          free_args=(0, 1)),
    Entry(name="sub_center_arcface_loss", reference=_ref_sub_center_arcface,
          sample=_sample_sub_center, stress=_stress_sub_center, argnums=(0, 1), smooth=False,
          properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("pytorch_metric_learning.losses.SubCenterArcFaceLoss",
                      note="a module holding W [dim, classes * K] (ours: W.T.reshape(classes, K, dim)); "
                           "margin in degrees; the mean",
                      tested_by=f"{_MINED_TEST}::test_sub_center_arcface"),)),
    Entry(name="ge2e_loss", reference=_ref_ge2e, sample=_sample_ge2e, stress=_stress_ge2e,
          argnums=(0, 1, 2), smooth=False,
          accepts=frozenset({"embeddings:trunc", "w:int", "b:int"}),
          properties=frozenset({NONNEG})),
    Entry(name="cosine_embedding_loss", reference=_ref_cosine_embedding,
          sample=_sample_cosine_embedding, stress=_stress_cosine_embedding, argnums=(0, 1),
          smooth=False, class_args=(0, 1), accepts=frozenset({"targets:int"}), free_args=(0, 1),
          properties=frozenset({NONNEG}),
          peers=(Peer("torch.nn.functional.cosine_embedding_loss", kwargs={"reduction": "none"}),)),
    Entry(name="hinge_embedding_loss", reference=_ref_hinge_embedding,
          sample=_sample_hinge_embedding, stress=_stress_hinge_embedding, smooth=False,
          accepts=frozenset({"targets:int"}),
          peers=(Peer("torch.nn.functional.hinge_embedding_loss", kwargs={"reduction": "none"},
                      skip_cases={"scalar target": "torch needs targets of the inputs' shape"}),)),
    Entry(name="batch_hard_triplet_loss", reference=_ref_batch_hard, sample=_sample_mined,
          stress=_stress_mined, smooth=False, accepts=frozenset({"embeddings:trunc"}),
          properties=frozenset({NONNEG}),
          peers=(Peer(f"{_ST}.BatchHardTripletLoss",
                      note="a module, the mean over anchors (an anchor without positive scores max(0, m - d_an))",
                      tested_by=f"{_MINED_TEST}::test_batch_hard"),
                 Peer("pytorch_metric_learning.losses.TripletMarginLoss",
                      note="with a BatchHardMiner; normalises embeddings unless given LpDistance(normalize_embeddings=False); the mean over non-zero anchors",
                      tested_by=f"{_MINED_TEST}::test_batch_hard"),)),
    Entry(name="batch_semi_hard_triplet_loss", reference=_ref_semi_hard, sample=_sample_mined,
          stress=_stress_mined, smooth=False, accepts=frozenset({"embeddings:trunc"}),
          properties=frozenset({NONNEG}),
          peers=(Peer(f"{_ST}.BatchSemiHardTripletLoss",
                      note="a module, the mean over positive pairs: masked_mean(loss, weights=n_pos)",
                      tested_by=f"{_MINED_TEST}::test_batch_semi_hard"),)),
    Entry(name="batch_all_triplet_loss", reference=_ref_batch_all, sample=_sample_mined,
          stress=_stress_mined, smooth=False, accepts=frozenset({"embeddings:trunc"}),
          properties=frozenset({NONNEG}),
          peers=(Peer(f"{_ST}.BatchAllTripletLoss", note="a module; the same scalar",
                      tested_by=f"{_MINED_TEST}::test_batch_all"),
                 Peer("pytorch_metric_learning.losses.TripletMarginLoss",
                      note="all triplets (or a TripletMarginMiner 'all'); normalises embeddings unless given LpDistance(normalize_embeddings=False)",
                      tested_by=f"{_MINED_TEST}::test_batch_all"),)),
    Entry(name="multi_similarity_loss", reference=_ref_multi_similarity,
          sample=_sample_multi_similarity, stress=_stress_multi_similarity,
          accepts=frozenset({"embeddings:trunc"}), properties=frozenset({NONNEG}),
          peers=(Peer("pytorch_metric_learning.losses.MultiSimilarityLoss",
                      note="a module, the mean over anchors; no miner",
                      tested_by=f"{_MINED_TEST}::test_multi_similarity"),)),
    Entry(name="circle_loss", reference=_ref_circle, sample=_sample_circle,
          stress=_stress_circle, smooth=False, accepts=frozenset({"embeddings:trunc"}),
          properties=frozenset({NONNEG}),
          peers=(Peer("pytorch_metric_learning.losses.CircleLoss",
                      note="a module (m, gamma), the mean over anchors with a positive and a negative; "
                           "its gradient holds the weights fixed: detach_weights=True",
                      tested_by=f"{_MINED_TEST}::test_circle"),
                 Peer("keras.losses.circle",
                      note="Keras 3 (JAX backend), per anchor; takes unit-norm embeddings as they "
                           "are (no normalisation); its gradient goes through the weights, as ours",
                      tested_by=f"{_MINED_TEST}::test_circle_keras"))),
    Entry(name="cosent_loss", reference=_ref_cosent, sample=_sample_cosent, stress=_stress_cosent,
          argnums=(0, 1), accepts=frozenset({"labels:int"}), free_args=(0, 1),
          properties=frozenset({NONNEG}),
          peers=(Peer(f"{_ST}.CoSENTLoss", note="a module; the same scalar",
                      tested_by=f"{_MINED_TEST}::test_cosent"),)),
    Entry(name="angle_loss", reference=_ref_angle, sample=_sample_angle, stress=_stress_angle,
          argnums=(0, 1), smooth=False, accepts=frozenset({"labels:int"}), free_args=(0, 1),
          properties=frozenset({NONNEG}),
          peers=(Peer(f"{_ST}.AnglELoss", note="a module; the same scalar",
                      tested_by=f"{_MINED_TEST}::test_angle"),)),
]  # fmt: skip
