"""Proof records of the focal and poly losses (:mod:`jaxlosses._focal`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import B, K, huge_logits, ints, masked_logits, normal, simplex

FAMILY = "focal and poly"


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


def _ref_softmax_focal(x, labels, *, gamma=2.0, alpha=None, weights=None):
    lsm = special.log_softmax(x, axis=-1)
    lp = lsm[np.arange(len(labels)), labels]
    a = np.ones(x.shape[-1]) if alpha is None else np.broadcast_to(alpha, x.shape[-1:])
    w = np.ones(x.shape[-1]) if weights is None else weights
    return -w[labels] * a[labels] * (1 - np.exp(lp)) ** gamma * lp


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
        Case(
            "class weights, alpha=0.25",
            (x, labels),
            {"weights": rng.uniform(0.2, 3, K), "alpha": 0.25},
        ),
    ]


def _stress_softmax_focal() -> list[Case]:
    labels = np.array([0, 4, 2], np.int32)
    return [
        Case("huge logits, confident", (huge_logits(), labels)),
        Case(
            "huge logits, gamma=0.5", (huge_logits(), np.array([1, 0, 4], np.int32)), {"gamma": 0.5}
        ),
        Case(
            "huge logits, class weights",
            (huge_logits(), labels),
            {"weights": np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)},
        ),
    ]


def _ref_asymmetric(x, y, *, gamma_pos=0.0, gamma_neg=4.0, clip=0.05):
    """Ridnik et al. 2021, eq. (4)-(5), written out (without the reference code's log clamp)."""
    p = special.expit(x)
    p_m = np.maximum(p - clip, 0.0)
    with np.errstate(divide="ignore"):
        l_pos = (1.0 - p) ** gamma_pos * np.log(p)
        l_neg = p_m**gamma_neg * np.log1p(-p_m)
    return -y * l_pos - (1.0 - y) * l_neg


def _sample_asymmetric(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("multi-hot labels", (x, y)),
        Case("gamma_pos=1, gamma_neg=2, clip=0.2", (x, y),
             {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.2}),
        Case("clip=0 (focal with two exponents)", (x, y), {"gamma_pos": 0.5, "clip": 0.0}),
        Case("all zero (cross-entropy)", (x, y), {"gamma_neg": 0.0, "clip": 0.0}),
        Case("soft labels", (x, rng.uniform(0, 1, (B, K)))),
    ]  # fmt: skip


def _stress_asymmetric() -> list[Case]:
    y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.float32)
    return [
        Case("huge logits", (huge_logits(), y)),
        Case(
            "huge logits, clip=0, gamma_pos=2", (huge_logits(), y), {"clip": 0.0, "gamma_pos": 2.0}
        ),
        Case("huge logits, gammas 0", (huge_logits(), y), {"gamma_neg": 0.0, "clip": 0.0}),
        Case("huge logits, soft labels", (huge_logits(), np.full_like(y, 0.3))),
    ]


ENTRIES: list[Entry] = [
    Entry(name="sigmoid_focal_loss", reference=_ref_sigmoid_focal, sample=_sample_sigmoid_focal,
          stress=_stress_sigmoid_focal, accepts=frozenset({"labels:int"}),
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.sigmoid_focal_loss"),
                 Peer("torchvision.ops.sigmoid_focal_loss", note="alpha=0.25 by default",
                      kwargs={"alpha": -1.0, "reduction": "none"},),)),
    Entry(name="softmax_focal_loss", reference=_ref_softmax_focal, sample=_sample_softmax_focal,
          stress=_stress_softmax_focal, class_args=(0,), accepts=frozenset({"logits:trunc"}),
          properties=frozenset({NONNEG, SHIFT})),
    Entry(name="poly_loss_cross_entropy", reference=_ref_poly, sample=_sample_poly,
          stress=_stress_poly, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.poly_loss_cross_entropy"),)),
    Entry(name="asymmetric_loss", reference=_ref_asymmetric, sample=_sample_asymmetric,
          stress=_stress_asymmetric, accepts=frozenset({"labels:int"}),
          properties=frozenset({NONNEG})),
]  # fmt: skip
