"""Proof records of the contrastive losses (:mod:`jaxlosses._contrastive`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import normal, ref_unit

FAMILY = "contrastive"

N_EMB, DIM = 4, 5  # embeddings per example and their dimension


def _ref_in_batch(q, k, extra, scale):
    qh = ref_unit(q)
    z = scale * qh @ ref_unit(k).T
    if extra is not None:
        nh = ref_unit(extra)
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


# --- CLIP, SigLIP -------------------------------------------------------------------------

_OPEN_CLIP_NOTE = (
    "a module, the mean over the batch; open_clip's package import needs torchvision, so "
    "the test loads open_clip/loss.py by file"
)


def _ref_pair_logits(x, y, scale, bias, normalize):
    if y is None:  # x is the logits matrix
        return scale * x + bias
    if normalize:
        x, y = ref_unit(x), ref_unit(y)
    return scale * (x @ y.T) + bias


def _ref_clip(x, y=None, logit_scale=1.0, *, normalize=False):
    z = _ref_pair_logits(x, y, logit_scale, 0.0, normalize)
    d = np.diagonal(z)
    return 0.5 * (special.logsumexp(z, axis=1) - d) + 0.5 * (special.logsumexp(z, axis=0) - d)


def _ref_siglip(x, y=None, logit_scale=10.0, logit_bias=-10.0, *, normalize=False):
    z = _ref_pair_logits(x, y, logit_scale, logit_bias, normalize)
    sign = 2.0 * np.eye(len(z)) - 1.0
    return np.sum(np.logaddexp(0.0, -sign * z), axis=1)  # -log sigmoid(sign * z)


def _towers(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = normal(rng, N_EMB, DIM)
    return x, x + 0.5 * normal(rng, N_EMB, DIM)


def _sample_clip(rng: np.random.Generator) -> list[Case]:
    x, y = _towers(rng)
    return [
        Case("features, logit_scale 2", (x, y, np.asarray(2.0)), in_axes=None),
        Case("normalize=True", (x, y, np.asarray(5.0)), {"normalize": True}, in_axes=None),
    ]


def _sample_siglip(rng: np.random.Generator) -> list[Case]:
    x, y = _towers(rng)
    return [
        Case("features", (x, y, np.asarray(2.0), np.asarray(-1.0)), in_axes=None),
        Case(
            "normalize=True, the paper's init",
            (x, y, np.asarray(10.0), np.asarray(-10.0)),
            {"normalize": True},
            in_axes=None,
        ),
    ]


def _stress_clip() -> list[Case]:
    v = _stress_vectors()
    return [
        Case("features of 1e4", (v, v[::-1].copy(), np.float32(1.0)), in_axes=None),
        Case(
            "zero-norm rows, normalize, scale 1e4",
            (v, v.copy(), np.float32(1e4)),
            {"normalize": True},
            in_axes=None,
        ),
    ]


def _stress_siglip() -> list[Case]:
    v = _stress_vectors()
    return [
        Case(
            "features of 1e4", (v, v[::-1].copy(), np.float32(1.0), np.float32(-10.0)), in_axes=None
        ),
        Case(
            "zero-norm rows, normalize, scale 1e4",
            (v, v.copy(), np.float32(1e4), np.float32(10.0)),
            {"normalize": True},
            in_axes=None,
        ),
    ]


# --- SupCon -------------------------------------------------------------------------------


def _ref_supcon(e, labels, *, temperature=0.1):
    u = ref_unit(e)
    z = u @ u.T / temperature
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        others = [a for a in range(len(labels)) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if positives:
            out[i] = special.logsumexp(z[i, others]) - np.mean(z[i, positives])
    return out


def _sample_supcon(rng: np.random.Generator) -> list[Case]:
    e = normal(rng, N_EMB, DIM)
    return [
        Case("pairs", (e, np.array([0, 0, 1, 1], np.int32)), in_axes=None),
        Case(
            "a group of 3 and an anchor without positive, temperature=0.5",
            (e, np.array([0, 1, 0, 0], np.int32)),
            {"temperature": 0.5},
            in_axes=None,
        ),
    ]


def _stress_supcon() -> list[Case]:
    v = _stress_vectors()
    return [
        Case(
            "zero-norm rows, logits 1e4",
            (v, np.array([0, 0, 1, 1], np.int32)),
            {"temperature": 1e-4},
            in_axes=None,
        ),
        Case("no positive pair", (v, np.arange(4, dtype=np.int32)), in_axes=None),
        Case("one class (no negatives)", (v, np.zeros(4, np.int32)), in_axes=None),
    ]


ENTRIES: list[Entry] = [
    Entry(name="info_nce_loss", reference=_ref_info_nce, sample=_sample_info_nce,
          stress=_stress_info_nce, argnums=(0, 1), properties=frozenset({NONNEG}),
          free_args=(0, 1)),
    Entry(name="ntxent", reference=_ref_ntxent, sample=_sample_ntxent, stress=_stress_ntxent,
          accepts=frozenset({"embeddings:trunc"}), properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.ntxent"),)),
    Entry(name="multiple_negatives_ranking_loss", reference=_ref_mnrl, sample=_sample_mnrl,
          stress=_stress_mnrl, argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1)),
    Entry(name="clip_loss", reference=_ref_clip, sample=_sample_clip, stress=_stress_clip,
          argnums=(0, 1, 2), properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("open_clip.loss.ClipLoss", note=_OPEN_CLIP_NOTE,
                      tested_by="tests/test_contrastive_conformance.py::test_clip_loss"),)),
    Entry(name="siglip_loss", reference=_ref_siglip, sample=_sample_siglip, stress=_stress_siglip,
          argnums=(0, 1, 2, 3), properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("open_clip.loss.SigLipLoss", note=_OPEN_CLIP_NOTE,
                      tested_by="tests/test_contrastive_conformance.py::test_siglip_loss"),)),
    Entry(name="supervised_contrastive_loss", reference=_ref_supcon, sample=_sample_supcon,
          stress=_stress_supcon, accepts=frozenset({"embeddings:trunc"}),
          properties=frozenset({NONNEG}),
          peers=(Peer("pytorch_metric_learning.losses.SupConLoss",
                      note="a module; its default reducer averages over anchors with a positive",
                      tested_by="tests/test_contrastive_conformance.py::test_supcon"),)),
]  # fmt: skip
