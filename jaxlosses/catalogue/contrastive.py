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


ENTRIES: list[Entry] = [
    Entry(name="info_nce_loss", reference=_ref_info_nce, sample=_sample_info_nce,
          stress=_stress_info_nce, argnums=(0, 1), properties=frozenset({NONNEG}),
          free_args=(0, 1)),
    Entry(name="ntxent", reference=_ref_ntxent, sample=_sample_ntxent, stress=_stress_ntxent,
          accepts=frozenset({"embeddings:trunc"}), properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.ntxent"),)),
    Entry(name="multiple_negatives_ranking_loss", reference=_ref_mnrl, sample=_sample_mnrl,
          stress=_stress_mnrl, argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1)),
]  # fmt: skip
