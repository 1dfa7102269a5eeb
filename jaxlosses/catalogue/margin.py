"""Proof records of the margin losses (:mod:`jaxlosses._margin`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import (
    ELEMENTWISE_TARGETS,
    B,
    K,
    class_mask,
    huge_logits,
    ints,
    masked_logits,
    normal,
    rows,
    sample_multiclass,
    stress_multiclass,
)

FAMILY = "margin"


def _ref_perceptron(x, t):
    return np.maximum(0.0, -t * x)


def _ref_hinge(x, t):
    return np.maximum(0.0, 1.0 - t * x)


def _ref_squared_hinge(x, t):
    return np.maximum(0.0, 1.0 - t * x) ** 2


def _cost_row(cost, i, y, k, axis):
    if cost is None:
        return np.where(np.arange(k) == y, 0.0, 1.0)
    cost = np.asarray(cost, np.float64)
    if cost.shape == (k, k):
        return cost[y]
    return np.moveaxis(cost, axis, -1)[i]


def _ref_cost_family(kind):
    def ref(scores, labels, *, cost=None, axis=-1, where=None):
        out = np.zeros(len(labels))
        for i, s, y, keep, k in rows(scores, labels, axis, where):
            c = _cost_row(cost, i, y, k, axis)
            if kind == "hinge":
                out[i] = max(s[j] + c[j] for j in range(k) if keep[j]) - s[y]
            elif kind == "softmax_margin":
                out[i] = special.logsumexp((s + c)[keep]) - s[y]
            else:  # risk: expected cost under the softmax over the kept classes
                p = special.softmax(s[keep])
                out[i] = float(np.dot(p, c[keep]))
        return out

    return ref


def _ref_multiclass_perceptron(scores, labels, *, axis=-1, where=None):
    return _ref_cost_family("hinge")(
        scores, labels, cost=np.zeros(scores.shape), axis=axis, where=where
    )


def _ref_multiclass_hinge(scores, labels, *, axis=-1, where=None):
    return _ref_cost_family("hinge")(scores, labels, axis=axis, where=where)


def _signs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def _sample_binary(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    return [
        Case("targets in {-1, 1}", (x, _signs(rng, B, K))),
        Case("scalar target", (x, np.float64(-1.0)), in_axes=(0, None)),
    ]


def _stress_binary() -> list[Case]:
    t = np.array([[1, -1, 1, -1, 1], [-1, 1, -1, 1, -1], [1, 1, -1, -1, 1]], np.float32)
    return [Case("huge scores", (huge_logits(), t))]


def _cost_matrix(rng: np.random.Generator) -> np.ndarray:
    c = rng.uniform(0.2, 3.0, (K, K))
    np.fill_diagonal(c, 0.0)
    return c


def _sample_cost(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    per_example = rng.uniform(0.0, 3.0, (B, K))
    return [
        Case("default 0/1 cost", (x, labels)),
        Case("cost matrix", (x, labels), {"cost": _cost_matrix(rng)}),
        Case("per-example costs", (x, labels), {"cost": per_example}, 0, {"cost": 0}),
        Case(
            "class mask, cost matrix",
            (x, labels),
            {"where": class_mask(rng, labels), "cost": _cost_matrix(rng)},
            0,
            {"where": 0},
        ),
        Case(
            "axis=0, per-example costs",
            (x.T.copy(), labels),
            {"axis": 0, "cost": per_example.T.copy()},
            (1, 0),
            {"cost": 1},
        ),
    ]


def _stress_cost() -> list[Case]:
    x, mask = masked_logits()
    c = np.abs(np.subtract.outer(np.arange(K), np.arange(K))).astype(np.float32)
    return [
        Case(
            "huge scores, cost matrix", (huge_logits(), np.array([1, 4, 2], np.int32)), {"cost": c}
        ),
        Case(
            "-inf masked, one row fully masked",
            (x, np.array([2, 0, 0], np.int32)),
            {"where": mask, "cost": c},
        ),
    ]


ENTRIES: list[Entry] = [
    Entry(name="perceptron_loss", reference=_ref_perceptron, sample=_sample_binary,
          stress=_stress_binary, smooth=False, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.perceptron_loss",
                      skip_cases={"scalar target": "optax needs targets of the outputs' shape"},),)),
    Entry(name="hinge_loss", reference=_ref_hinge, sample=_sample_binary, stress=_stress_binary,
          smooth=False, accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.hinge_loss"),)),
    Entry(name="squared_hinge_loss", reference=_ref_squared_hinge, sample=_sample_binary,
          stress=_stress_binary, smooth=False, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG})),
    Entry(name="multiclass_perceptron_loss", reference=_ref_multiclass_perceptron,
          sample=sample_multiclass, stress=stress_multiclass, smooth=False, class_args=(0,),
          where_slices=True, accepts=frozenset({"scores:trunc"}),
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.multiclass_perceptron_loss"),)),
    Entry(name="multiclass_hinge_loss", reference=_ref_multiclass_hinge, sample=sample_multiclass,
          stress=stress_multiclass, smooth=False, class_args=(0,), where_slices=True,
          accepts=frozenset({"scores:trunc"}), properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.multiclass_hinge_loss"),)),
    Entry(name="cost_augmented_hinge_loss", reference=_ref_cost_family("hinge"),
          sample=_sample_cost, stress=_stress_cost, smooth=False, class_args=(0,),
          accepts=frozenset({"scores:trunc"}), properties=frozenset({NONNEG, SHIFT, NEG_INF})),
    Entry(name="softmax_margin_loss", reference=_ref_cost_family("softmax_margin"),
          sample=_sample_cost, stress=_stress_cost, class_args=(0,),
          accepts=frozenset({"scores:trunc"}), properties=frozenset({NONNEG, SHIFT, NEG_INF})),
    Entry(name="risk_loss", reference=_ref_cost_family("risk"), sample=_sample_cost,
          stress=_stress_cost, class_args=(0,), accepts=frozenset({"scores:trunc"}),
          properties=frozenset({NONNEG, SHIFT, NEG_INF})),
]  # fmt: skip
