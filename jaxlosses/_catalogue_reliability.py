"""Reliability metadata of the catalogue entries, in one table.

For every loss: which generated bad inputs are in fact valid (``accepts``), the
run-time value checks of :func:`jaxlosses.checked` (``checks``), the properties the
math guarantees (``properties``) and the arguments that may hold any real value
(``free_args``). :func:`annotate` merges the table into the entries; a test fails
if a catalogue entry is missing from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._checks import (
    Bound,
    Check,
    in_set,
    labels_in_range,
    nonnegative,
    prefix_mask,
    simplex,
    unit_interval,
)
from ._entry import Entry

NONNEG = "nonnegative"
SHIFT = "shift_invariant"
NEG_INF = "neg_inf_where"


def _unused_where(labels: str) -> Any:
    """Labels whose ``where`` entry is False (a per-example mask) are not used."""

    def ignore(b: Bound) -> Any:
        w = b.get("where")
        if w is None or np.shape(w) != np.shape(b[labels]):
            return None
        return ~np.asarray(w).astype(bool) if isinstance(w, np.ndarray) else w == 0

    return ignore


def _unused_mask(b: Bound) -> Any:
    m = b.get("mask")
    return None if m is None else ~(m.astype(bool))


def _padded_labels(b: Bound) -> Any:
    return b["label_paddings"] != 0


def _class_labels(labels: str = "labels", source: str = "logits") -> Check:
    return labels_in_range(labels, source, ignore=_unused_where(labels))


def _crf(*, tags: bool = True) -> tuple[Check, ...]:
    mask = prefix_mask("mask", "emissions")
    if not tags:
        return (mask,)
    return (labels_in_range("tags", "emissions", axis=-1, ignore=_unused_mask), mask)


def _probabilities_unless(flag: str) -> Check:
    return unit_interval("predictions", when=lambda b: b.get(flag) is False)


_ELEMENTWISE_TARGETS = frozenset({"targets:int"})
_MULTICLASS = dict(
    accepts=frozenset({"scores:trunc"}),
    checks=(_class_labels("labels", "scores"), nonnegative("cost")),
    properties=frozenset({NONNEG, SHIFT, NEG_INF}),
)
_REGRESSION = dict(accepts=_ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}))
_BINARY_MARGIN = dict(
    accepts=_ELEMENTWISE_TARGETS,
    checks=(in_set("targets", (-1.0, 1.0)),),
    properties=frozenset({NONNEG}),
)
_STRUCTURED = dict(
    checks=_crf(), properties=frozenset({NONNEG, SHIFT}), free_args=(0, 2)
)  # fmt: skip
# [batch, ...] and [batch, ..., 1] both mean binary segmentation (optax's convention).
_BINARY_SEGMENTATION = frozenset(
    {"predictions:expand", "targets:int", "targets:expand", "targets:column"}
)
_SEGMENTATION = dict(
    accepts=_BINARY_SEGMENTATION,
    checks=(unit_interval("targets"), _probabilities_unless("apply_softmax")),
    properties=frozenset({NONNEG}),
)

#: name -> the reliability fields of its :class:`Entry`.
TABLE: Mapping[str, Mapping[str, Any]] = {
    "softmax_cross_entropy": dict(
        checks=(simplex("labels"),), properties=frozenset({NONNEG, SHIFT, NEG_INF})
    ),
    "softmax_cross_entropy_with_integer_labels": dict(
        accepts=frozenset({"logits:trunc"}),
        checks=(_class_labels(),),
        properties=frozenset({NONNEG, SHIFT, NEG_INF}),
    ),
    "safe_softmax_cross_entropy": dict(
        checks=(unit_interval("labels"),), properties=frozenset({NONNEG, SHIFT, NEG_INF})
    ),
    "sigmoid_binary_cross_entropy": dict(
        accepts=frozenset({"labels:int"}),
        checks=(unit_interval("labels"),),
        properties=frozenset({NONNEG}),
    ),
    "binary_cross_entropy": dict(
        accepts=frozenset({"labels:int"}),
        checks=(unit_interval("probabilities"), unit_interval("labels")),
        properties=frozenset({NONNEG}),
        free_args=(),
    ),
    "categorical_cross_entropy": dict(
        checks=(simplex("probabilities"), simplex("labels")),
        properties=frozenset({NONNEG}),
        free_args=(),
    ),
    "negative_log_likelihood": dict(
        accepts=frozenset({"log_probs:trunc"}),
        checks=(_class_labels("labels", "log_probs"), nonnegative("weights")),
        properties=frozenset({NONNEG}),
        free_args=(),
    ),
    "gaussian_nll": dict(
        accepts=_ELEMENTWISE_TARGETS, checks=(nonnegative("variances"),), free_args=(0, 1)
    ),
    # exp(inputs) overflows float32 past ~88: the loss itself is that large.
    "poisson_nll": dict(
        accepts=_ELEMENTWISE_TARGETS, checks=(nonnegative("targets"),), free_args=()
    ),
    "gaussian_kl_divergence": dict(properties=frozenset({NONNEG})),
    "squared_error": _REGRESSION,
    "l2_loss": _REGRESSION,
    "absolute_error": _REGRESSION,
    "huber_loss": _REGRESSION,
    "smooth_l1_loss": _REGRESSION,
    "log_cosh": _REGRESSION,
    "cosine_similarity": dict(free_args=(0, 1)),
    "cosine_distance": dict(properties=frozenset({NONNEG}), free_args=(0, 1)),
    "kl_divergence": dict(
        checks=(simplex("targets"),), properties=frozenset({NONNEG}), free_args=()
    ),
    "kl_divergence_with_log_targets": dict(properties=frozenset({NONNEG}), free_args=()),
    # Both exponentiate log_predictions: past ~88 the float32 value itself overflows.
    "generalized_kl_divergence": dict(
        checks=(nonnegative("targets"),), properties=frozenset({NONNEG}), free_args=()
    ),
    "convex_kl_divergence": dict(
        checks=(nonnegative("targets"),), properties=frozenset({NONNEG}), free_args=()
    ),
    "js_divergence": dict(
        checks=(simplex("predictions"), simplex("targets")),
        properties=frozenset({NONNEG}),
        free_args=(),
    ),
    "perceptron_loss": _BINARY_MARGIN,
    "hinge_loss": _BINARY_MARGIN,
    "squared_hinge_loss": _BINARY_MARGIN,
    "multiclass_perceptron_loss": _MULTICLASS,
    "multiclass_hinge_loss": _MULTICLASS,
    "cost_augmented_hinge_loss": _MULTICLASS,
    "softmax_margin_loss": _MULTICLASS,
    "risk_loss": _MULTICLASS,
    "sparsemax_loss": dict(
        accepts=frozenset({"labels:float"}),
        checks=(in_set("labels", (0.0, 1.0)),),
        properties=frozenset({NONNEG}),
    ),
    "multiclass_sparsemax_loss": _MULTICLASS,
    "ctc_loss": dict(
        accepts=frozenset({"logits:trunc", "logit_paddings:int", "label_paddings:int"}),
        checks=(
            labels_in_range("labels", "logits", axis=-1, ignore=_padded_labels),
            in_set("logit_paddings", (0.0, 1.0)),
            in_set("label_paddings", (0.0, 1.0)),
        ),
        properties=frozenset({NONNEG}),
    ),
    "crf_log_partition": dict(checks=_crf(tags=False), free_args=(0, 1)),
    "crf_log_likelihood": dict(checks=_crf(), properties=frozenset({SHIFT}), free_args=(0, 2)),
    "crf_loss": _STRUCTURED,
    "structured_perceptron_loss": _STRUCTURED,
    "structured_hinge_loss": _STRUCTURED,
    "structured_softmax_margin_loss": _STRUCTURED,
    "structured_risk_loss": _STRUCTURED,
    "sigmoid_focal_loss": dict(
        accepts=frozenset({"labels:int"}),
        checks=(unit_interval("labels"),),
        properties=frozenset({NONNEG}),
    ),
    "softmax_focal_loss": dict(
        accepts=frozenset({"logits:trunc"}),
        checks=(labels_in_range("labels", "logits", axis=-1),),
        properties=frozenset({NONNEG, SHIFT}),
    ),
    "poly_loss_cross_entropy": dict(
        checks=(simplex("labels"),), properties=frozenset({NONNEG, SHIFT, NEG_INF})
    ),
    "triplet_margin_loss": dict(properties=frozenset({NONNEG}), free_args=(0, 1, 2)),
    "contrastive_loss": dict(
        accepts=frozenset({"labels:int"}),
        checks=(in_set("labels", (0.0, 1.0)),),
        properties=frozenset({NONNEG}),
        free_args=(0, 1),
    ),
    "margin_ranking_loss": dict(
        accepts=_ELEMENTWISE_TARGETS,
        checks=(in_set("targets", (-1.0, 1.0)),),
        properties=frozenset({NONNEG}),
        free_args=(0, 1),
    ),
    "arcface_loss": dict(
        checks=(labels_in_range("labels", "class_centers", axis=0),),
        properties=frozenset({NONNEG}),
        free_args=(0, 1),
    ),
    "cosface_loss": dict(
        checks=(labels_in_range("labels", "class_centers", axis=0),),
        properties=frozenset({NONNEG}),
        free_args=(0, 1),
    ),
    "ge2e_loss": dict(
        accepts=frozenset({"embeddings:trunc", "w:int", "b:int"}),  # scalars w, b
        properties=frozenset({NONNEG}),
    ),
    "info_nce_loss": dict(properties=frozenset({NONNEG}), free_args=(0, 1)),
    "ntxent": dict(accepts=frozenset({"embeddings:trunc"}), properties=frozenset({NONNEG})),
    "multiple_negatives_ranking_loss": dict(properties=frozenset({NONNEG}), free_args=(0, 1)),
    "ranking_softmax_loss": dict(
        accepts=frozenset({"labels:int"}),
        checks=(nonnegative("labels"),),
        properties=frozenset({NONNEG, SHIFT, NEG_INF}),
    ),
    "dice_loss": _SEGMENTATION,
    "binary_dice_loss": dict(
        accepts=_BINARY_SEGMENTATION,
        checks=(unit_interval("targets"), _probabilities_unless("apply_sigmoid")),
        properties=frozenset({NONNEG}),
    ),
    "multiclass_generalized_dice_loss": dict(
        accepts=frozenset({"targets:int"}),
        checks=(unit_interval("targets"), _probabilities_unless("apply_softmax")),
        properties=frozenset({NONNEG}),
    ),
    "tversky_loss": _SEGMENTATION,
    "gan_discriminator_loss": dict(properties=frozenset({NONNEG}), free_args=(0, 1)),
    "gan_generator_loss": dict(accepts=frozenset({"fake_logits:expand", "fake_logits:trunc"})),
    "linear_softmax_cross_entropy": dict(
        accepts=frozenset({"weight:trunc"}),
        checks=(labels_in_range("labels", "weight", axis=-1, ignore=_unused_where("labels")),),
        properties=frozenset({NONNEG}),
        free_args=(0, 1),
    ),
}


def annotate(entries: list[Entry]) -> list[Entry]:
    """The entries with their reliability fields filled in from :data:`TABLE`."""
    missing = sorted({e.name for e in entries} - set(TABLE))
    if missing:
        raise AssertionError(f"catalogue entries missing from the reliability table: {missing}")
    return [dataclasses.replace(e, **TABLE[e.name]) for e in entries]
