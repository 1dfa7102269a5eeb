"""Proof records of the self-supervised losses (:mod:`jaxlosses._self_supervised`).

The references are written from the papers' pseudo-code in NumPy. lightly's modules
(``lightly.loss``) are the peers; lightly's package import needs torchvision, so
``tests/test_self_supervised_conformance.py`` loads its loss files by path and compares
values and gradients there (its modules take the two views and return the batch mean).
"""

from __future__ import annotations

import numpy as np

from ._entry import NONNEG, SHIFT, Case, Entry, Peer
from ._shared import normal

FAMILY = "self-supervised"

_TEST = "tests/test_self_supervised_conformance.py"
_LIGHTLY_NOTE = "a module returning the batch mean; loaded by file (its package needs torchvision)"


# --- negative cosine similarity ------------------------------------------------------------


def _ref_negative_cosine(p, z, *, epsilon=0.0, axis=-1, where=None):
    p, z = np.moveaxis(p, axis, -1), np.moveaxis(z, axis, -1)
    if where is not None:
        keep = np.moveaxis(np.asarray(where, bool), axis, -1)
        p, z = np.where(keep, p, 0.0), np.where(keep, z, 0.0)
    dot = np.einsum("...d,...d->...", p, z)
    norms = np.sqrt(np.maximum(np.sum(p * p, -1), epsilon) * np.maximum(np.sum(z * z, -1), epsilon))
    return -dot / norms


def _sample_negative_cosine(rng: np.random.Generator) -> list[Case]:
    p = normal(rng, 4, 6)
    z = p + normal(rng, 4, 6)
    keep = rng.uniform(size=(4, 6)) < 0.7
    keep[:, 0] = True
    return [
        Case("predictions, targets", (p, z)),
        Case("feature mask", (p, z), {"where": keep}, 0, {"where": 0}),
        Case("axis=0", (p.T.copy(), z.T.copy()), {"axis": 0}, (1, 1)),
        Case("epsilon floor active", (0.1 * p, z), {"epsilon": 1.0}),
    ]


def _stress_negative_cosine() -> list[Case]:
    p = np.array([[0.0] * 5, [1e4, -1e4, 0.0, 1.0, 2.0], [1e-20, 0.0, 0.0, 0.0, 0.0]], np.float32)
    z = np.array([[1.0] * 5, [0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    return [Case("zero-norm, tiny and huge vectors", (p, z))]


# --- Barlow Twins ---------------------------------------------------------------------------


def _ref_batch_norm(z, eps):
    return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + eps)  # np.var: biased (ddof=0)


def _ref_barlow(z_a, z_b, *, lambda_=5e-3, eps=1e-5):
    c = _ref_batch_norm(z_a, eps).T @ _ref_batch_norm(z_b, eps) / len(z_a)
    on = sum((1.0 - c[i, i]) ** 2 for i in range(len(c)))
    off = sum(c[i, j] ** 2 for i in range(len(c)) for j in range(len(c)) if i != j)
    return np.asarray(on + lambda_ * off)


def _views(rng: np.random.Generator, batch: int = 6, dim: int = 4) -> tuple[np.ndarray, ...]:
    z_a = normal(rng, batch, dim) * np.array([0.5, 2.0, 0.4, 3.0])[:dim]
    return z_a, z_a + 0.5 * normal(rng, batch, dim)


def _sample_barlow(rng: np.random.Generator) -> list[Case]:
    z_a, z_b = _views(rng)
    return [
        Case("two views", (z_a, z_b), in_axes=None),
        Case("lambda_=0.1, eps=0", (z_a, z_b), {"lambda_": 0.1, "eps": 0.0}, in_axes=None),
        Case("more features than examples", _views(rng, 3, 4), {"lambda_": 0.5}, in_axes=None),
    ]


def _stress_views() -> tuple[np.ndarray, np.ndarray]:
    z_a = np.array(
        [
            [1e4, 1.0, 0.0, 2.0],
            [-1e4, 1.0, 1e-3, 2.0],
            [3e3, 1.0, -1e-3, 2.0],
            [0.0, 1.0, 0.0, 2.0],
        ],
        np.float32,
    )  # a huge feature, two constant ones (zero variance) and a tiny one
    return z_a, z_a[::-1].copy()


def _stress_barlow() -> list[Case]:
    z_a, z_b = _stress_views()
    return [
        Case("huge, constant and tiny features", (z_a, z_b), in_axes=None),
        Case("identical views, lambda_=1", (z_a, z_a.copy()), {"lambda_": 1.0}, in_axes=None),
        Case("one example", (z_a[:1], z_b[:1]), in_axes=None),
    ]


ENTRIES: list[Entry] = [
    Entry(name="negative_cosine_similarity", reference=_ref_negative_cosine,
          sample=_sample_negative_cosine, stress=_stress_negative_cosine, class_args=(0, 1),
          where_slices=True, free_args=(0, 1),
          peers=(Peer("lightly.loss.negative_cosine_similarity.NegativeCosineSimilarity",
                      note=_LIGHTLY_NOTE, tested_by=f"{_TEST}::test_negative_cosine_similarity"),)),
    Entry(name="barlow_twins_loss", reference=_ref_barlow, sample=_sample_barlow,
          stress=_stress_barlow, argnums=(0, 1), free_args=(0, 1),
          properties=frozenset({NONNEG, SHIFT}),
          peers=(Peer("lightly.loss.barlow_twins_loss.BarlowTwinsLoss",
                      note="a module; lambda_param is lambda_, batch norm's eps 1e-5",
                      tested_by=f"{_TEST}::test_barlow_twins_loss"),)),
]  # fmt: skip
