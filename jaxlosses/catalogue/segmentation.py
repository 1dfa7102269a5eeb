"""Proof records of the segmentation losses (:mod:`jaxlosses._segmentation`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import B, K, huge_logits, normal

FAMILY = "segmentation"

PIX, SEG_K = 4, 3  # pixels and classes of the sampled examples


def _ref_dice(
    x, t, *, class_weights=None, smooth=1.0, alpha=0.5, beta=0.5, apply_softmax=True,
    reduction="mean", ignore_background=False, axis=None,
):  # fmt: skip
    if x.ndim == t.ndim - 1:
        x = x[..., None]
    if t.ndim == x.ndim - 1:
        t = t[..., None]
    if not apply_softmax:
        p = x
    elif x.shape[-1] == 1:
        p = special.expit(x)
    else:
        p = special.softmax(x, axis=-1)
    axes = tuple(range(1, p.ndim - 1)) if axis is None else axis
    inter, psum, tsum = np.sum(p * t, axes), np.sum(p, axes), np.sum(t, axes)
    fp, fn = psum - inter, tsum - inter
    loss = 1.0 - (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)
    if class_weights is not None:
        loss = loss * class_weights
    if ignore_background and p.shape[-1] > 1:
        loss = loss[..., 1:]
    if reduction == "none":
        return loss
    return np.mean(loss, -1) if reduction == "mean" else np.sum(loss, -1)


def _ref_tversky(x, t, *, alpha=0.5, beta=0.5, **kw):
    return _ref_dice(x, t, alpha=alpha, beta=beta, **kw)


def _ref_binary_dice(x, t, *, smooth=1.0, apply_sigmoid=True):
    if x.ndim == t.ndim and x.shape[-1] != 1:
        x, t = x[..., None], t[..., None]
    p = special.expit(x) if apply_sigmoid else x
    axes = tuple(range(1, p.ndim))
    return 1 - (2 * np.sum(p * t, axes) + 2 * smooth) / (
        np.sum(p, axes) + np.sum(t, axes) + 2 * smooth
    )


def _ref_generalized_dice(x, t, *, smooth=1.0, apply_softmax=True, ignore_background=False):
    freq = t.reshape(-1, t.shape[-1]).sum(0)
    w = 1.0 / (freq**2 + 1e-7)
    w = w / w.sum() * len(w)
    per = _ref_dice(
        x, t, class_weights=w, smooth=smooth, apply_softmax=apply_softmax, reduction="none",
        ignore_background=ignore_background,
    )  # fmt: skip
    return np.mean(per)


def _seg_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = normal(rng, 2, PIX, SEG_K, scale=2.0)
    t = np.eye(SEG_K)[rng.integers(0, SEG_K, (2, PIX))]
    return x, t, special.softmax(normal(rng, 2, PIX, SEG_K), axis=-1)


def _sample_dice(rng: np.random.Generator) -> list[Case]:
    x, t, probs = _seg_data(rng)
    xb = normal(rng, 2, PIX, 1)
    tb = rng.integers(0, 2, (2, PIX, 1)).astype(np.float64)
    return [
        Case("softmax, mean over classes", (x, t), in_axes=None),
        Case(
            "reduction='none', smooth=0.5",
            (x, t),
            {"reduction": "none", "smooth": 0.5},
            in_axes=None,
        ),
        Case(
            "alpha=0.3, beta=0.7, sum, weights",
            (x, t),
            {
                "alpha": 0.3,
                "beta": 0.7,
                "reduction": "sum",
                "class_weights": np.array([0.5, 1.0, 2.0]),
            },
            in_axes=None,
        ),
        Case(
            "probabilities, ignore_background",
            (probs, t),
            {"apply_softmax": False, "ignore_background": True},
            in_axes=None,
        ),
        Case("one class (sigmoid)", (xb, tb), in_axes=None),
    ]


def _sample_tversky(rng: np.random.Generator) -> list[Case]:
    x, t, probs = _seg_data(rng)
    return [
        Case("alpha=0.3, beta=0.7", (x, t), {"alpha": 0.3, "beta": 0.7}, in_axes=None),
        Case(
            "alpha=beta=1 (Jaccard), probabilities",
            (probs, t),
            {"alpha": 1.0, "beta": 1.0, "apply_softmax": False},
            in_axes=None,
        ),
    ]


def _sample_binary_dice(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    t = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("logits", (x, t), in_axes=None),
        Case(
            "probabilities, smooth=0.1",
            (special.expit(x), t),
            {"apply_sigmoid": False, "smooth": 0.1},
            in_axes=None,
        ),
    ]


def _sample_generalized_dice(rng: np.random.Generator) -> list[Case]:
    x, t, _ = _seg_data(rng)
    t_absent = np.eye(SEG_K)[rng.integers(0, 2, (2, PIX))]  # class 2 absent: a 1e7 weight
    return [
        Case("logits", (x, t), in_axes=None),
        Case(
            "absent class, ignore_background",
            (x, t_absent),
            {"ignore_background": True},
            in_axes=None,
        ),
    ]


def _stress_dice() -> list[Case]:
    x = np.stack([huge_logits()[:, :3], huge_logits()[:, 2:]])  # [2, 3, 3]
    t = np.eye(3, dtype=np.float32)[[[0, 1, 2], [2, 2, 0]]]
    return [
        Case("huge logits", (x, t), in_axes=None),
        Case("all-zero targets, smooth=0", (x, np.zeros_like(t)), {"smooth": 1e-6}, in_axes=None),
    ]


def _stress_generalized_dice() -> list[Case]:
    return [c for c in _stress_dice() if not c.kwargs]


def _stress_binary_dice() -> list[Case]:
    return [
        Case("huge logits", (huge_logits(), np.eye(5, dtype=np.float32)[[0, 1, 2]]), in_axes=None)
    ]


_BINARY_SEGMENTATION = frozenset(
    {"predictions:expand", "targets:int", "targets:expand", "targets:column"}
)


ENTRIES: list[Entry] = [
    Entry(name="dice_loss", reference=_ref_dice, sample=_sample_dice, stress=_stress_dice,
          accepts=_BINARY_SEGMENTATION, properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.dice_loss"),)),
    Entry(name="binary_dice_loss", reference=_ref_binary_dice, sample=_sample_binary_dice,
          stress=_stress_binary_dice, accepts=_BINARY_SEGMENTATION,
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.binary_dice_loss",
                      skip_cases={ "probabilities, smooth=0.1": "optax 0.2.8 rejects apply_sigmoid=False " "unless every probability is 1 (it checks a single channel sums to 1)" },),)),
    Entry(name="multiclass_generalized_dice_loss", reference=_ref_generalized_dice,
          sample=_sample_generalized_dice, stress=_stress_generalized_dice,
          accepts=frozenset({"targets:int"}), properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.multiclass_generalized_dice_loss"),)),
    Entry(name="tversky_loss", reference=_ref_tversky, sample=_sample_tversky,
          stress=_stress_dice, accepts=_BINARY_SEGMENTATION, properties=frozenset({NONNEG})),
]  # fmt: skip
