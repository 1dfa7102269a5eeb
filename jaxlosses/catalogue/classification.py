"""Proof records of cross-entropy on logits, probabilities and log-probabilities
(:mod:`jaxlosses._classification`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import B, K, huge_logits, ints, masked_logits, normal, ref_log_softmax, simplex

FAMILY = "cross-entropy"


def _ref_soft_labels(y: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    return (1.0 - label_smoothing) * y + label_smoothing / y.shape[-1]


def _ref_softmax_ce(x, y, axis=-1, where=None, *, label_smoothing=0.0, weights=None, z_loss=0.0):
    assert axis == -1 and where is None
    y = _ref_soft_labels(y, label_smoothing)
    w = np.ones(x.shape[-1]) if weights is None else weights
    return -np.sum(w * y * ref_log_softmax(x), axis=-1) + z_loss * _ref_lse(x) ** 2


def _ref_safe_softmax_ce(
    x, y, *, axis=-1, where=None, label_smoothing=0.0, weights=None, z_loss=0.0
):
    return _ref_softmax_ce(x, y, label_smoothing=label_smoothing, weights=weights, z_loss=z_loss)


def _ref_lse(x: np.ndarray) -> np.ndarray:
    return special.logsumexp(x, axis=-1)


def _class_weights(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.2, 3.0, K)


def _sample_soft(rng: np.random.Generator) -> list[Case]:
    x, y = normal(rng, B, K, scale=2.0), simplex(rng, B, K)
    onehot = np.eye(K)[ints(rng, B)]
    w = _class_weights(rng)
    return [
        Case("soft labels", (x, y)),
        Case("one-hot labels", (x, onehot)),
        Case("label_smoothing=0.2", (x, onehot), {"label_smoothing": 0.2}),
        Case("class weights, soft labels", (x, y), {"weights": w}),
        Case(
            "class weights, one-hot, label_smoothing=0.2",
            (x, onehot),
            {"weights": w, "label_smoothing": 0.2},
        ),
        Case("z_loss=0.05, class weights", (x, y), {"z_loss": 0.05, "weights": w}),
    ]


def _stress_soft() -> list[Case]:
    x, mask = masked_logits()
    y = np.where(mask, 1.0, 0.0).astype(np.float32)
    y = y / np.maximum(y.sum(-1, keepdims=True), 1.0)
    onehot = np.eye(K, dtype=np.float32)[[1, 4, 0]]
    w = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
    return [
        Case("huge logits", (huge_logits(), onehot)),
        Case("-inf masked", (x, y), {"where": mask}),
        Case("-inf masked, smoothed", (x, y), {"where": mask, "label_smoothing": 0.1}),
        Case(
            "-inf masked, weights, z-loss",
            (x, y),
            {"where": mask, "weights": w, "z_loss": 1e-2, "label_smoothing": 0.1},
        ),
        Case("huge logits, z-loss", (huge_logits(), onehot), {"z_loss": 1e-4, "weights": w}),
    ]


def _stress_safe() -> list[Case]:
    x, _mask = masked_logits()
    x[1] = np.array([0.0, -np.inf, 1.0, -np.inf, -np.inf], np.float32)
    y = np.where(np.isfinite(x), 1.0, 0.0).astype(np.float32)
    y = y / y.sum(-1, keepdims=True)
    return [Case("-inf logits, zero labels", (x, y)), *_stress_soft()[:1]]


def _ref_integer_ce(
    x, labels, axis=-1, where=None, *, label_smoothing=0.0, weights=None, z_loss=0.0
):
    assert axis == -1
    lsm = ref_log_softmax(x)
    w = np.ones(x.shape[-1]) if weights is None else weights
    nll = -w[labels] * lsm[np.arange(len(labels)), labels]
    smooth = -np.sum(w * lsm, axis=-1) / x.shape[-1]
    out = (1 - label_smoothing) * nll + label_smoothing * smooth + z_loss * _ref_lse(x) ** 2
    return out if where is None else np.where(where, out, 0.0)


def _sample_integer(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    w = _class_weights(rng)
    return [
        Case("integer labels", (x, labels)),
        Case("label_smoothing=0.1", (x, labels), {"label_smoothing": 0.1}),
        Case("class weights", (x, labels), {"weights": w}),
        Case(
            "class weights, label_smoothing=0.3",
            (x, labels),
            {"weights": w, "label_smoothing": 0.3},
        ),
        Case(
            "z_loss=0.05, weights, smoothing, ignored example",
            (x, labels),
            {
                "z_loss": 0.05,
                "weights": w,
                "label_smoothing": 0.1,
                "where": np.array([True, False, True]),
            },
            0,
            {"where": 0},
        ),
    ]


def _stress_integer() -> list[Case]:
    x, mask = masked_logits()
    labels = np.array([2, 0, 0], np.int32)
    w = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
    return [
        Case("huge logits", (huge_logits(), np.array([1, 4, 2], np.int32))),
        Case("-inf masked", (x, labels), {"where": mask}),
        Case("-inf masked, smoothed", (x, labels), {"where": mask, "label_smoothing": 0.1}),
        Case("ignored examples", (huge_logits(), labels), {"where": np.array([1, 0, 1], bool)}),
        Case(
            "-inf masked, weights, smoothing, z-loss",
            (x, labels),
            {"where": mask, "weights": w, "label_smoothing": 0.1, "z_loss": 1e-2},
        ),
        Case("huge logits, z-loss", (huge_logits(), labels), {"z_loss": 1e-4, "weights": w}),
    ]


def _ref_nll(log_probs, labels, *, axis=-1, where=None, weights=None):
    w = np.ones(log_probs.shape[-1]) if weights is None else weights
    out = -w[labels] * log_probs[np.arange(len(labels)), labels]
    return out if where is None else np.where(where, out, 0.0)


def _sample_nll(rng: np.random.Generator) -> list[Case]:
    lp, labels = ref_log_softmax(normal(rng, B, K)), ints(rng, B)
    w = rng.uniform(0.5, 2.0, K)
    return [
        Case("log-probabilities", (lp, labels)),
        Case("class weights", (lp, labels), {"weights": w}),
        Case(
            "ignored example",
            (lp, labels),
            {"where": np.array([True, False, True])},
            0,
            {"where": 0},
        ),
    ]


def _stress_nll() -> list[Case]:
    lp = np.array([[-1e4, 0.0, -3.0, -1.0, -2.0], [-np.inf, 0.0, -1.0, -2.0, -3.0]], np.float32)
    labels = np.array([0, 0], np.int32)
    return [Case("ignored -inf log-probability", (lp, labels), {"where": np.array([True, False])})]


def _ref_sigmoid_bce(x, y, *, pos_weight=None, label_smoothing=0.0, weights=None):
    w = 1.0 if pos_weight is None else pos_weight
    c = 1.0 if weights is None else weights
    y = (1 - label_smoothing) * y + 0.5 * label_smoothing
    p = special.expit(x)
    return -c * (w * y * np.log(p) + (1 - y) * np.log1p(-p))


def _sample_sigmoid_bce(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    soft = rng.uniform(0, 1, (B, K))
    pw = rng.uniform(0.5, 3.0, K)
    return [
        Case("binary labels", (x, y)),
        Case("soft labels", (x, soft)),
        Case("pos_weight per class", (x, y), {"pos_weight": pw}),
        Case("label_smoothing=0.1", (x, y), {"label_smoothing": 0.1}),
        Case(
            "class weights, pos_weight, soft labels",
            (x, soft),
            {"weights": _class_weights(rng), "pos_weight": pw},
        ),
        Case(
            "class weights, label_smoothing=0.2",
            (x, y),
            {"weights": _class_weights(rng), "label_smoothing": 0.2},
        ),
    ]


def _stress_sigmoid() -> list[Case]:
    y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.float32)
    w = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
    return [
        Case("huge logits", (huge_logits(), y)),
        Case("huge logits, pos_weight", (huge_logits(), y), {"pos_weight": np.float32(3.0)}),
        Case("huge logits, class weights", (huge_logits(), y), {"weights": w}),
    ]


def _ref_bce(p, y, *, label_smoothing=0.0):
    y = (1 - label_smoothing) * y + 0.5 * label_smoothing
    with np.errstate(divide="ignore"):
        return -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def _sample_bce(rng: np.random.Generator) -> list[Case]:
    p = rng.uniform(0.05, 0.95, (B, K))
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("probabilities", (p, y)),
        Case("soft labels", (p, rng.uniform(0, 1, (B, K)))),
        Case("label_smoothing=0.1", (p, y), {"label_smoothing": 0.1}),
    ]


def _stress_bce() -> list[Case]:
    p = np.array([[0.0, 1.0, 0.5, 1e-30, 1 - 1e-7]] * 3, np.float32)
    y = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 1, 0, 0, 1]], np.float32)
    return [Case("saturated probabilities", (p, y))]


def _ref_cce(p, y, *, axis=-1, eps=1e-7, label_smoothing=0.0):
    y = _ref_soft_labels(y, label_smoothing)
    q = np.clip(p / p.sum(axis, keepdims=True), eps, 1 - eps)
    return -np.sum(y * np.log(q), axis=axis)


def _sample_cce(rng: np.random.Generator) -> list[Case]:
    p, y = simplex(rng, B, K), np.eye(K)[ints(rng, B)]
    unnorm = rng.uniform(0.1, 2.0, (B, K))
    return [
        Case("probabilities", (p, y)),
        Case("unnormalised, soft labels", (unnorm, simplex(rng, B, K))),
        Case("label_smoothing=0.1", (p, y), {"label_smoothing": 0.1}),
    ]


def _stress_cce() -> list[Case]:
    p = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.2] * 5, [1e-30, 0.5, 0.5, 0.0, 0.0]], np.float32)
    y = np.eye(K, dtype=np.float32)[[1, 0, 3]]
    return [Case("exact zeros and ones", (p, y))]


ENTRIES: list[Entry] = [
    Entry(name="softmax_cross_entropy", reference=_ref_softmax_ce, sample=_sample_soft,
          stress=_stress_soft, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.softmax_cross_entropy"),
                 Peer("torch.nn.functional.cross_entropy", note="probability targets",
                      kwargs={"reduction": "none"}, rename={"weights": "weight"},),)),
    Entry(name="softmax_cross_entropy_with_integer_labels", reference=_ref_integer_ce,
          sample=_sample_integer, stress=_stress_integer, class_args=(0,), where_slices=True,
          accepts=frozenset({"logits:trunc"}), properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.softmax_cross_entropy_with_integer_labels"),
                 Peer("torch.nn.functional.cross_entropy", kwargs={"reduction": "none"},
                      rename={"weights": "weight"}),)),
    Entry(name="safe_softmax_cross_entropy", reference=_ref_safe_softmax_ce, sample=_sample_soft,
          stress=_stress_safe, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.safe_softmax_cross_entropy"),)),
    Entry(name="sigmoid_binary_cross_entropy", reference=_ref_sigmoid_bce,
          sample=_sample_sigmoid_bce, stress=_stress_sigmoid, accepts=frozenset({"labels:int"}),
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.sigmoid_binary_cross_entropy"),
                 Peer("torch.nn.functional.binary_cross_entropy_with_logits",
                      kwargs={"reduction": "none"}, rename={"weights": "weight"}),)),
    Entry(name="binary_cross_entropy", reference=_ref_bce, sample=_sample_bce, stress=_stress_bce,
          accepts=frozenset({"labels:int"}), properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("torch.nn.functional.binary_cross_entropy", kwargs={"reduction": "none"}),)),
    Entry(name="categorical_cross_entropy", reference=_ref_cce, sample=_sample_cce,
          stress=_stress_cce, properties=frozenset({NONNEG}), free_args=()),
    Entry(name="negative_log_likelihood", reference=_ref_nll, sample=_sample_nll,
          stress=_stress_nll, accepts=frozenset({"log_probs:trunc"}),
          properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("torch.nn.functional.nll_loss", kwargs={"reduction": "none"},
                      rename={"weights": "weight"},),)),
]  # fmt: skip
