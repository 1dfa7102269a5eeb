"""Catalogue entries for the margin losses (assembled into :data:`jaxlosses.catalogue.CATALOGUE`).

The references are written directly in NumPy/SciPy from the definitions (a loop over
examples, a root-finder for the sparsemax threshold, brute-force enumeration of every
CTC alignment); none calls the package.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import optimize, special

from . import _ctc as ctc
from . import _fenchel_young as fy
from . import _margin as mg
from ._entry import B, Case, Entry, K, huge_logits, ints, masked_logits, normal

# --- references ---------------------------------------------------------------------------


def _ref_perceptron(x, t):
    return np.maximum(0.0, -t * x)


def _ref_hinge(x, t):
    return np.maximum(0.0, 1.0 - t * x)


def _ref_squared_hinge(x, t):
    return np.maximum(0.0, 1.0 - t * x) ** 2


def _ref_sparsemax_binary(x, labels):
    # sparseplus(z) = max over p in [0, 1] of  z p - (p^2 - p) ... written as its three pieces.
    z = np.where(np.asarray(labels) != 0, -x, x)
    return np.where(z <= -1, 0.0, np.where(z >= 1, z, (z + 1) ** 2 / 4))


def _rows(scores, labels, axis, where):
    """Yields ``(s, y, keep)`` per example with the classes on the last axis."""
    s = np.moveaxis(scores, axis, -1)
    k = s.shape[-1]
    keep = np.ones(s.shape, bool) if where is None else np.moveaxis(np.asarray(where), axis, -1)
    for i in range(s.shape[0]):
        yield i, s[i], int(labels[i]), keep[i], k


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
        for i, s, y, keep, k in _rows(scores, labels, axis, where):
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
    return _ref_cost_family("hinge")(scores, labels, cost=np.zeros(scores.shape), axis=axis,
                                     where=where)  # fmt: skip


def _ref_multiclass_hinge(scores, labels, *, axis=-1, where=None):
    return _ref_cost_family("hinge")(scores, labels, axis=axis, where=where)


def _sparsemax_np(s):
    """Simplex projection by root-finding the threshold: sum(max(s - tau, 0)) = 1."""
    tau = optimize.brentq(
        lambda t: np.maximum(s - t, 0.0).sum() - 1.0, s.max() - 1.0, s.max(), xtol=1e-15
    )
    return np.maximum(s - tau, 0.0)


def _ref_multiclass_sparsemax(scores, labels, *, axis=-1, where=None):
    # Fenchel-Young loss with Omega(p) = (|p|^2 - 1) / 2:  Omega*(s) + Omega(e_y) - s_y.
    out = np.zeros(len(labels))
    for i, s, y, keep, _ in _rows(scores, labels, axis, where):
        p = _sparsemax_np(s[keep])
        conj = float(np.dot(p, s[keep])) - 0.5 * (float(np.dot(p, p)) - 1.0)
        out[i] = conj - s[y]
    return out


def _collapse(path, blank):
    out, prev = [], None
    for a in path:
        if a != prev and a != blank:
            out.append(a)
        prev = a
    return tuple(out)


def _ref_ctc(logits, logit_paddings, labels, label_paddings, *, blank_id=0, log_epsilon=-1e5):
    """-log of the total probability of every alignment that collapses to the labels."""
    out = np.zeros(logits.shape[0])
    for b in range(logits.shape[0]):
        frames = special.log_softmax(logits[b][np.asarray(logit_paddings[b]) == 0], axis=-1)
        target = tuple(int(a) for a, p in zip(labels[b], label_paddings[b]) if p == 0)
        k = frames.shape[-1]
        total = [
            frames[np.arange(len(path)), list(path)].sum()
            for path in itertools.product(range(k), repeat=len(frames))
            if _collapse(path, blank_id) == target
        ]
        out[b] = -special.logsumexp(total)
    return out


# --- samplers -------------------------------------------------------------------------------


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


def _sample_sparsemax_binary(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    labels = rng.integers(0, 2, (B, K)).astype(np.int32)
    return [
        Case("integer labels", (x, labels)),
        Case("boolean labels", (0.5 * x, labels.astype(bool))),
    ]


def _stress_sparsemax_binary() -> list[Case]:
    labels = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.int32)
    return [Case("huge scores", (huge_logits(), labels))]


def _class_mask(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    mask = rng.uniform(size=(B, K)) < 0.6
    mask[np.arange(B), labels] = True
    return mask


def _sample_multiclass(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    return [
        Case("integer labels", (x, labels)),
        Case("class mask", (x, labels), {"where": _class_mask(rng, labels)}, 0, {"where": 0}),
        Case("axis=0", (x.T.copy(), labels), {"axis": 0}, (1, 0)),
    ]


def _stress_multiclass() -> list[Case]:
    x, mask = masked_logits()
    return [
        Case("huge scores", (huge_logits(), np.array([1, 4, 2], np.int32))),
        Case("-inf masked, one row fully masked", (x, np.array([2, 0, 0], np.int32)),
             {"where": mask}),
    ]  # fmt: skip


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
        Case("class mask, cost matrix", (x, labels),
             {"where": _class_mask(rng, labels), "cost": _cost_matrix(rng)}, 0, {"where": 0}),
        Case("axis=0, per-example costs", (x.T.copy(), labels),
             {"axis": 0, "cost": per_example.T.copy()}, (1, 0), {"cost": 1}),
    ]  # fmt: skip


def _stress_cost() -> list[Case]:
    x, mask = masked_logits()
    c = np.abs(np.subtract.outer(np.arange(K), np.arange(K))).astype(np.float32)
    return [
        Case("huge scores, cost matrix", (huge_logits(), np.array([1, 4, 2], np.int32)),
             {"cost": c}),
        Case("-inf masked, one row fully masked", (x, np.array([2, 0, 0], np.int32)),
             {"where": mask, "cost": c}),
    ]  # fmt: skip


_T, _KC, _N = 6, 3, 3  # CTC: frames, classes (with blank), padded label length


def _sample_ctc(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, _T, _KC, scale=1.5)
    no_pad = np.zeros((B, _T))
    frame_pad = np.zeros((B, _T))
    frame_pad[1, 5:] = 1.0
    frame_pad[2, 4:] = 1.0
    labels = np.array([[1, 2, 1], [2, 2, 0], [1, 1, 1]], np.int32)  # repeats need a blank
    label_pad = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 1]], np.float64)
    return [
        Case("variable label lengths, repeats", (x, no_pad, labels, label_pad)),
        Case("padded frames", (x, frame_pad, labels, label_pad)),
        Case("blank_id=2", (x, frame_pad, labels % 2, label_pad), {"blank_id": 2}),
    ]


def _stress_ctc() -> list[Case]:
    rng = np.random.default_rng(1)
    x = (1e4 * rng.choice([-1.0, 1.0], size=(2, 8, 4))).astype(np.float32)
    pad = np.zeros((2, 8), np.float32)
    pad[1, 5:] = 1.0
    labels = np.array([[1, 2, 2], [3, 1, 0]], np.int32)
    lpad = np.array([[0, 0, 0], [0, 0, 1]], np.float32)
    long_x = rng.standard_normal((1, 256, 5)).astype(np.float32) * 30.0
    long_labels = rng.integers(1, 5, (1, 64)).astype(np.int32)
    return [
        Case("scores of magnitude 1e4", (x, pad, labels, lpad)),
        Case("T=256, 64 labels", (long_x, np.zeros((1, 256), np.float32), long_labels,
                                  np.zeros((1, 64), np.float32))),
        Case("labels longer than the frames", (x[:, :2], pad[:, :2], labels, lpad)),
    ]  # fmt: skip


# --- entries ---------------------------------------------------------------------------

_MARGIN = "margin"
_FY = "Fenchel-Young"
_SEQ = "sequence alignment"

ENTRIES: list[Entry] = [
    Entry("perceptron_loss", _MARGIN, mg.perceptron_loss, mg._perceptron_loss_grad,
          _ref_perceptron, _sample_binary, _stress_binary, smooth=False,
          optax="perceptron_loss"),
    Entry("hinge_loss", _MARGIN, mg.hinge_loss, mg._hinge_loss_grad, _ref_hinge, _sample_binary,
          _stress_binary, smooth=False, optax="hinge_loss"),
    Entry("squared_hinge_loss", _MARGIN, mg.squared_hinge_loss, mg._squared_hinge_loss_grad,
          _ref_squared_hinge, _sample_binary, _stress_binary, smooth=False),
    Entry("multiclass_perceptron_loss", _MARGIN, mg.multiclass_perceptron_loss,
          mg._multiclass_perceptron_loss_grad, _ref_multiclass_perceptron, _sample_multiclass,
          _stress_multiclass, smooth=False, class_args=(0,), where_slices=True,
          optax="multiclass_perceptron_loss"),
    Entry("multiclass_hinge_loss", _MARGIN, mg.multiclass_hinge_loss,
          mg._multiclass_hinge_loss_grad, _ref_multiclass_hinge, _sample_multiclass,
          _stress_multiclass, smooth=False, class_args=(0,), where_slices=True,
          optax="multiclass_hinge_loss"),
    Entry("cost_augmented_hinge_loss", _MARGIN, mg.cost_augmented_hinge_loss,
          mg._cost_augmented_hinge_loss_grad, _ref_cost_family("hinge"), _sample_cost,
          _stress_cost, smooth=False, class_args=(0,)),
    Entry("softmax_margin_loss", _MARGIN, mg.softmax_margin_loss, mg._softmax_margin_loss_grad,
          _ref_cost_family("softmax_margin"), _sample_cost, _stress_cost, class_args=(0,)),
    Entry("risk_loss", _MARGIN, mg.risk_loss, mg._risk_loss_grad, _ref_cost_family("risk"),
          _sample_cost, _stress_cost, class_args=(0,)),
    Entry("sparsemax_loss", _FY, fy.sparsemax_loss, fy._sparsemax_loss_grad,
          _ref_sparsemax_binary, _sample_sparsemax_binary, _stress_sparsemax_binary,
          smooth=False, optax="sparsemax_loss"),
    Entry("multiclass_sparsemax_loss", _FY, fy.multiclass_sparsemax_loss,
          fy._multiclass_sparsemax_loss_grad, _ref_multiclass_sparsemax, _sample_multiclass,
          _stress_multiclass, smooth=False, class_args=(0,), where_slices=True,
          optax="multiclass_sparsemax_loss"),
    Entry("ctc_loss", _SEQ, ctc.ctc_loss, ctc._ctc_loss_grad, _ref_ctc, _sample_ctc, _stress_ctc,
          optax="ctc_loss", torch="ctc_loss (on log_softmax(logits), time-major)"),
]  # fmt: skip
