"""Samplers and references shared by several catalogue modules."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import Case

B, K = 3, 5  # batch size and number of classes of the sampled examples

#: Element-wise losses: integer targets are valid (``Entry.accepts``).
ELEMENTWISE_TARGETS = frozenset({"targets:int"})


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


def simplex(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return special.softmax(rng.standard_normal(shape), axis=-1)


def ints(rng: np.random.Generator, n: int, k: int = K) -> np.ndarray:
    return rng.integers(0, k, size=n).astype(np.int32)


def huge_logits() -> np.ndarray:
    return np.array(
        [[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4, -1e4, -1e4, -1e4, 1e4], [5e3, 5e3, -5e3, 1.0, 1e4]],
        np.float32,
    )


def masked_logits() -> tuple[np.ndarray, np.ndarray]:
    """Logits with ``-inf`` on masked classes, including a fully masked row."""
    x = np.array(
        [[1.0, -np.inf, 2.0, -np.inf, 0.5], [-np.inf] * 5, [1e4, -1e4, -np.inf, 0.0, 2.0]],
        np.float32,
    )
    return x, np.isfinite(x)


def ref_log_softmax(x: np.ndarray) -> np.ndarray:
    return special.log_softmax(x, axis=-1)


def rows(scores, labels, axis, where):
    """Yields ``(s, y, keep)`` per example with the classes on the last axis."""
    s = np.moveaxis(scores, axis, -1)
    k = s.shape[-1]
    keep = np.ones(s.shape, bool) if where is None else np.moveaxis(np.asarray(where), axis, -1)
    for i in range(s.shape[0]):
        yield i, s[i], int(labels[i]), keep[i], k


def class_mask(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    mask = rng.uniform(size=(B, K)) < 0.6
    mask[np.arange(B), labels] = True
    return mask


def sample_multiclass(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    return [
        Case("integer labels", (x, labels)),
        Case("class mask", (x, labels), {"where": class_mask(rng, labels)}, 0, {"where": 0}),
        Case("axis=0", (x.T.copy(), labels), {"axis": 0}, (1, 0)),
    ]


def stress_multiclass() -> list[Case]:
    x, mask = masked_logits()
    return [
        Case("huge scores", (huge_logits(), np.array([1, 4, 2], np.int32))),
        Case(
            "-inf masked, one row fully masked", (x, np.array([2, 0, 0], np.int32)), {"where": mask}
        ),
    ]


def ref_unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)
