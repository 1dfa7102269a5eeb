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


def _ref_multi_margin(scores, labels, *, p=1, margin=1.0, weights=None, axis=-1, where=None):
    out = np.zeros(len(labels))
    for i, s, y, keep, k in rows(scores, labels, axis, where):
        w = 1.0 if weights is None else float(weights[y])
        terms = [max(0.0, margin - s[y] + s[j]) ** p for j in range(k) if keep[j] and j != y]
        out[i] = w * sum(terms) / keep.sum() if keep.any() else 0.0
    return out


def _sample_multi_margin(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K), ints(rng, B)
    w = rng.uniform(0.5, 2.0, K)
    return [
        Case("integer labels", (x, labels)),
        Case("p=2, margin=0.5, class weights", (x, labels), {"p": 2, "margin": 0.5, "weights": w}),
        Case("class mask", (x, labels), {"where": class_mask(rng, labels)}, 0, {"where": 0}),
        Case("axis=0, p=2", (x.T.copy(), labels), {"axis": 0, "p": 2}, (1, 0)),
    ]


def _stress_multi_margin() -> list[Case]:
    return [
        *stress_multiclass(),
        Case("huge scores, p=2", (huge_logits(), np.array([1, 4, 2], np.int32)), {"p": 2}),
    ]


def _ref_multilabel_margin(scores, labels, *, axis=-1):
    s = np.moveaxis(scores, axis, -1)
    lab = np.moveaxis(labels, axis, -1)
    k = s.shape[-1]
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(out.shape):
        row, y = s[idx], lab[idx]
        listed: list[int] = []
        if y.dtype == bool:
            listed = [int(j) for j in np.flatnonzero(y)]
        else:
            for j in y:  # torch's format: indices up to the first negative
                if j < 0:
                    break
                listed.append(int(j))
        is_target = np.zeros(k, bool)
        is_target[listed] = True
        total = 0.0
        for j in listed:
            for i in range(k):
                if not is_target[i]:
                    total += max(0.0, 1.0 - row[j] + row[i])
        out[idx] = total / k
    return out


def _index_lists(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """torch's multi-label targets: distinct indices, then -1 and arbitrary padding."""
    out = np.full((n, k), -1, np.int32)
    for i in range(n):
        m = int(rng.integers(0, k))
        out[i, :m] = rng.permutation(k)[:m]
        out[i, m + 1 :] = rng.integers(-1, k, k - m - 1)  # after the first -1: ignored
    return out


def _sample_multilabel_margin(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=0.5)
    lists = _index_lists(rng, B, K)
    lists[0, :3] = [2, 2, 0]  # a repeated index counts twice, as in torch
    lists[0, 3] = -1
    multi_hot = rng.uniform(size=(B, K)) < 0.5
    return [
        Case("index lists padded with -1", (x, lists)),
        Case("boolean multi-hot mask", (x, multi_hot)),
        Case("axis=0", (x.T.copy(), lists.T.copy()), {"axis": 0}, (1, 1)),
    ]


def _stress_multilabel_margin() -> list[Case]:
    lists = np.array([[0, 3, -1, 2, 2], [4, -1, -1, -1, -1], [0, 1, 2, 3, 4]], np.int32)
    return [Case("huge scores", (huge_logits(), lists))]


def _ref_soft_margin(x, y):
    return np.logaddexp(0.0, -y * x)


def _ref_multilabel_soft_margin(x, y, *, weights=None, axis=-1, where=None):
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y.astype(np.float64), axis, -1)
    keep = np.ones(x.shape, bool) if where is None else np.moveaxis(np.asarray(where), axis, -1)
    w = np.ones(x.shape) if weights is None else np.broadcast_to(weights, x.shape)
    p = special.expit(x)
    with np.errstate(divide="ignore"):
        term = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    total = np.where(keep, w * term, 0.0).sum(-1)
    n = keep.sum(-1)
    return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def _sample_multilabel_soft_margin(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    y = (rng.uniform(size=(B, K)) < 0.5).astype(np.float64)
    w = rng.uniform(0.5, 2.0, K)
    mask = rng.uniform(size=(B, K)) < 0.7
    return [
        Case("multi-hot labels", (x, y)),
        Case("class weights", (x, y), {"weights": w}),
        Case("soft labels", (x, rng.uniform(size=(B, K)))),
        Case("class mask", (x, y), {"where": mask}, 0, {"where": 0}),
        Case("axis=0", (x.T.copy(), y.T.copy()), {"axis": 0}, (1, 1)),
    ]  # fmt: skip


def _stress_multilabel_soft_margin() -> list[Case]:
    x, mask = masked_logits()
    y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.float32)
    return [
        Case("huge logits", (huge_logits(), y)),
        Case("-inf masked, one row fully masked", (x, y), {"where": mask}),
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
    Entry(name="multi_margin_loss", reference=_ref_multi_margin, sample=_sample_multi_margin,
          stress=_stress_multi_margin, smooth=False, class_args=(0,), where_slices=True,
          accepts=frozenset({"scores:trunc"}), properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("torch.nn.functional.multi_margin_loss", kwargs={"reduction": "none"},
                      rename={"weights": "weight"}),)),
    Entry(name="multilabel_margin_loss", reference=_ref_multilabel_margin,
          sample=_sample_multilabel_margin, stress=_stress_multilabel_margin, smooth=False,
          class_args=(0, 1), properties=frozenset({NONNEG, SHIFT}),
          peers=(Peer("torch.nn.functional.multilabel_margin_loss", kwargs={"reduction": "none"},
                      skip_cases={"boolean multi-hot mask": "torch takes index lists only"}),)),
    Entry(name="soft_margin_loss", reference=_ref_soft_margin, sample=_sample_binary,
          stress=_stress_binary, accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          peers=(Peer("torch.nn.functional.soft_margin_loss", kwargs={"reduction": "none"},
                      skip_cases={"scalar target": "torch needs targets of the inputs' shape"}),)),
    Entry(name="multilabel_soft_margin_loss", reference=_ref_multilabel_soft_margin,
          sample=_sample_multilabel_soft_margin, stress=_stress_multilabel_soft_margin,
          class_args=(0, 1), where_slices=True, accepts=frozenset({"labels:int"}),
          properties=frozenset({NONNEG, NEG_INF}),
          peers=(Peer("torch.nn.functional.multilabel_soft_margin_loss",
                      kwargs={"reduction": "none"}, rename={"weights": "weight"}),)),
]  # fmt: skip
