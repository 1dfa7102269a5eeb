"""Proof records of the proxy and pair-weighting losses (:mod:`jaxlosses._proxy`)."""

from __future__ import annotations

import numpy as np

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import ints, normal, ref_unit

FAMILY = "metric learning"

DIM, N_CLASSES = 5, 3
_LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 0], np.int32)  # every class present
_GAP_LABELS = np.array([0, 0, 2, 2, 0, 2], np.int32)  # class 1 has no positive


def _cos(u, v):
    return float(ref_unit(u) @ ref_unit(v))


# --- Proxy-Anchor ----------------------------------------------------------------------------


def _ref_proxy_anchor(e, p, labels, *, margin=0.1, alpha=32.0):
    k = len(p)
    pos_terms, neg_terms = [], []
    for c in range(k):
        pos = [
            np.exp(-alpha * (_cos(e[i], p[c]) - margin)) for i in range(len(e)) if labels[i] == c
        ]
        neg = [np.exp(alpha * (_cos(e[i], p[c]) + margin)) for i in range(len(e)) if labels[i] != c]
        if pos:
            pos_terms.append(np.log(1.0 + sum(pos)))
        neg_terms.append(np.log(1.0 + sum(neg)))
    return np.asarray(sum(pos_terms) / max(len(pos_terms), 1) + sum(neg_terms) / k)


def _sample_proxies(rng: np.random.Generator, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = normal(rng, N_CLASSES, DIM)
    e = p[labels] + 0.8 * normal(rng, len(labels), DIM)
    return e, p


def _sample_proxy_anchor(rng: np.random.Generator) -> list[Case]:
    e, p = _sample_proxies(rng, _LABELS)
    e2, p2 = _sample_proxies(rng, _GAP_LABELS)
    return [
        Case("defaults (margin 0.1, alpha 32)", (e, p, _LABELS), in_axes=None),
        Case("margin 0.3, alpha 4", (e, p, _LABELS), {"margin": 0.3, "alpha": 4.0}, in_axes=None),
        Case("a class without positives, alpha 8", (e2, p2, _GAP_LABELS), {"alpha": 8.0}, in_axes=None),
    ]  # fmt: skip


def _stress_proxies() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.array(
        [[0.0] * 5, [1.0, 0, 0, 0, 0], [0, 1e4, 0, 0, 0], [-3.0, 0, 0, 0, 0], [1e-20, 0, 0, 0, 0]],
        np.float32,
    )
    p = np.array([[1.0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0], [0.0] * 5], np.float32)
    return e, p, np.array([0, 0, 1, 0, 2], np.int32)


def _stress_proxy_anchor() -> list[Case]:
    e, p, lab = _stress_proxies()
    return [
        Case("zero-norm embedding and proxy, cos = ±1", (e, p, lab), in_axes=None),
        Case("alpha 1e4", (e, p, lab), {"alpha": 1e4}, in_axes=None),
    ]


# --- ProxyNCA --------------------------------------------------------------------------------


def _ref_proxy_nca(e, p, labels, *, scale=1.0):
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        d = np.array([np.sum((ref_unit(e[i]) - ref_unit(p[c])) ** 2) for c in range(len(p))])
        prob = np.exp(-scale * d) / np.sum(np.exp(-scale * d))
        out[i] = -np.log(prob[labels[i]])
    return out


def _sample_proxy_nca(rng: np.random.Generator) -> list[Case]:
    e, p = _sample_proxies(rng, _LABELS)
    far = -p[_LABELS] + 0.3 * normal(rng, len(_LABELS), DIM)  # opposite their proxies
    lab = ints(rng, len(_LABELS), N_CLASSES)
    axes = (0, None, 0)
    return [
        Case("defaults (scale 1)", (e, p, _LABELS), in_axes=axes),
        Case("scale 8", (e, p, _LABELS), {"scale": 8.0}, in_axes=axes),
        Case("embeddings opposite their proxies, random labels", (far, p, lab), {"scale": 3.0}, in_axes=axes),
    ]  # fmt: skip


def _stress_proxy_nca() -> list[Case]:
    e, p, lab = _stress_proxies()
    return [
        Case("zero-norm embedding and proxy, cos = ±1", (e, p, lab), in_axes=(0, None, 0)),
        Case("scale 1e4", (e, p, lab), {"scale": 1e4}, in_axes=(0, None, 0)),
    ]


_TEST = "tests/test_proxy_conformance.py"
_PML = "pytorch_metric_learning.losses"


ENTRIES: list[Entry] = [
    Entry(name="proxy_anchor_loss", reference=_ref_proxy_anchor, sample=_sample_proxy_anchor,
          stress=_stress_proxy_anchor, argnums=(0, 1), properties=frozenset({NONNEG}),
          free_args=(0, 1),
          peers=(Peer(f"{_PML}.ProxyAnchorLoss",
                      note="a module holding the proxies; the same scalar (DivisorReducer)",
                      tested_by=f"{_TEST}::test_proxy_anchor"),)),
    Entry(name="proxy_nca_loss", reference=_ref_proxy_nca, sample=_sample_proxy_nca,
          stress=_stress_proxy_nca, argnums=(0, 1), properties=frozenset({NONNEG}),
          free_args=(0, 1),
          peers=(Peer(f"{_PML}.ProxyNCALoss",
                      note="a module holding the proxies; scale is its softmax_scale; the mean",
                      tested_by=f"{_TEST}::test_proxy_nca"),)),
]  # fmt: skip
