"""Proof records of CTC (:mod:`jaxlosses._ctc`).

The reference enumerates every CTC alignment by brute force.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import B, normal

FAMILY = "sequence alignment"

_T, _KC, _N = 6, 3, 3  # CTC: frames, classes (with blank), padded label length


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
        Case(
            "T=256, 64 labels",
            (long_x, np.zeros((1, 256), np.float32), long_labels, np.zeros((1, 64), np.float32)),
        ),
        Case("labels longer than the frames", (x[:, :2], pad[:, :2], labels, lpad)),
    ]


ENTRIES: list[Entry] = [
    Entry(name="ctc_loss", reference=_ref_ctc, sample=_sample_ctc, stress=_stress_ctc,
          accepts=frozenset({"logits:trunc", "logit_paddings:int", "label_paddings:int"}),
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.ctc_loss"),
                 Peer("torch.nn.functional.ctc_loss",
                      note="on log_softmax(logits), time-major, lengths", tested_by="tests/test_torch_conformance.py::test_ctc_loss",),)),
]  # fmt: skip
