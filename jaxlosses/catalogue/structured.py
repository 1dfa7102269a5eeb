"""Proof records of the structured (linear-chain CRF) losses (:mod:`jaxlosses._structured`).

The references enumerate all ``K ** L`` tag sequences by brute force (``itertools.product``),
score each path from its definition and aggregate with NumPy/SciPy: no dynamic programming,
nothing shared with :mod:`jaxlosses._crf`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from ._entry import NONNEG, SHIFT, Case, Entry, Peer

FAMILY = "structured (linear-chain CRF)"

_B, _T, _K = 3, 4, 3  # batch, steps and tags of the sampled examples (81 paths each)


def _lengths(mask: np.ndarray | None, n: int, t: int) -> list[int]:
    """Length of each sequence's valid prefix (the first step always counts)."""
    if mask is None:
        return [t] * n
    m = np.broadcast_to(np.asarray(mask, bool).reshape(-1, t), (n, t))
    out = []
    for row in m:
        length = 1
        while length < t and row[length]:
            length += 1
        out.append(length)
    return out


def _score(e: np.ndarray, a: np.ndarray, s: np.ndarray, f: np.ndarray, path: tuple) -> float:
    total = s[path[0]] + f[path[-1]]
    for t, tag in enumerate(path):
        total += e[t, tag]
        if t > 0:
            total += a[path[t - 1], tag]
    return float(total)


def _enumerate(
    emissions: np.ndarray,
    transitions: np.ndarray,
    mask: np.ndarray | None,
    start: np.ndarray | None,
    end: np.ndarray | None,
) -> tuple[tuple[int, ...], list[tuple[list[tuple[int, ...]], np.ndarray]]]:
    """``(batch shape, [(all paths, their scores) per sequence])``."""
    *batch, t, k = emissions.shape
    e = emissions.reshape(-1, t, k)
    n = e.shape[0]
    s = np.zeros(k) if start is None else start
    f = np.zeros(k) if end is None else end
    out = []
    for i, length in enumerate(_lengths(mask, n, t)):
        paths = list(itertools.product(range(k), repeat=length))
        scores = np.array([_score(e[i], transitions, s, f, p) for p in paths])
        out.append((paths, scores))
    return tuple(batch), out


def _ref_log_partition(
    emissions, transitions, *, mask=None, start_transitions=None, end_transitions=None
):
    batch, seqs = _enumerate(emissions, transitions, mask, start_transitions, end_transitions)
    return np.array([special.logsumexp(scores) for _, scores in seqs]).reshape(batch)


def _tag_reference(
    aggregate: Callable[[np.ndarray, np.ndarray, float], float],
) -> Callable[..., np.ndarray]:
    """A reference ``(emissions, tags, transitions, **kw)`` from ``aggregate(scores, cost, gold)``.

    ``cost`` is the weighted Hamming distance of every path to the gold tags and ``gold``
    the gold path's score.
    """

    def reference(
        emissions,
        tags,
        transitions,
        *,
        mask=None,
        start_transitions=None,
        end_transitions=None,
        cost_weight=1.0,
    ):
        batch, seqs = _enumerate(emissions, transitions, mask, start_transitions, end_transitions)
        gold_tags = np.asarray(tags).reshape(len(seqs), -1)
        weights = np.broadcast_to(np.asarray(cost_weight, float), batch).reshape(-1)
        out = []
        for (paths, scores), row, c in zip(seqs, gold_tags, weights):
            gold = tuple(int(v) for v in row[: len(paths[0])])
            hamming = np.array([sum(a != b for a, b in zip(p, gold)) for p in paths], float)
            out.append(aggregate(scores, c * hamming, float(scores[paths.index(gold)])))
        return np.array(out).reshape(batch)

    return reference


_ref_log_likelihood = _tag_reference(lambda sc, cost, gold: gold - special.logsumexp(sc))


_ref_crf_loss = _tag_reference(lambda sc, cost, gold: special.logsumexp(sc) - gold)


_ref_perceptron = _tag_reference(lambda sc, cost, gold: sc.max() - gold)


_ref_hinge = _tag_reference(lambda sc, cost, gold: (sc + cost).max() - gold)


_ref_softmax_margin = _tag_reference(lambda sc, cost, gold: special.logsumexp(sc + cost) - gold)


_ref_risk = _tag_reference(lambda sc, cost, gold: float(np.sum(special.softmax(sc) * cost)))


_MASK = np.arange(_T) < np.array([[4], [2], [1]])


def _chain_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "emissions": rng.standard_normal((_B, _T, _K)) * 1.5,
        "transitions": rng.standard_normal((_K, _K)),
        "start": rng.standard_normal(_K),
        "end": rng.standard_normal(_K),
        "tags": rng.integers(0, _K, (_B, _T)).astype(np.int32),
    }


def _sample_partition(rng: np.random.Generator) -> list[Case]:
    v = _chain_inputs(rng)
    args = (v["emissions"], v["transitions"])
    ends = {"start_transitions": v["start"], "end_transitions": v["end"]}
    return [
        Case("full length", args, in_axes=(0, None)),
        Case(
            "start/end scores, lengths 4, 2, 1",
            args,
            {**ends, "mask": _MASK},
            (0, None),
            {"mask": 0},
        ),
    ]


def _tagged_sampler(cost: bool = False) -> Callable[[np.random.Generator], list[Case]]:
    """Cases ``(emissions, tags, transitions)``; padded tags hold -1 (they are ignored).

    ``cost``: the masked case also sets ``cost_weight=0.5`` (the first keeps the default 1).
    """

    def sample(rng: np.random.Generator) -> list[Case]:
        v = _chain_inputs(rng)
        kw: dict[str, Any] = {"start_transitions": v["start"], "end_transitions": v["end"]}
        kw["mask"] = _MASK
        label = "start/end scores, lengths 4, 2, 1"
        if cost:
            kw["cost_weight"] = 0.5
            label += ", cost_weight=0.5"
        padded = np.where(_MASK, v["tags"], -1).astype(np.int32)
        e, a = v["emissions"], v["transitions"]
        return [
            Case("full length", (e, v["tags"], a), in_axes=(0, 0, None)),
            Case(label, (e, padded, a), kw, (0, 0, None), {"mask": 0}),
        ]

    return sample


def _stress_inputs() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]]:
    """float32 ``(emissions, tags, transitions, kwargs)``: |scores| = 1e4, and T = 512."""
    rng = np.random.default_rng(3)
    big_e = rng.uniform(-1e4, 1e4, (2, 8, 5)).astype(np.float32)
    big_a = rng.uniform(-1e4, 1e4, (5, 5)).astype(np.float32)
    big_tags = rng.integers(0, 5, (2, 8)).astype(np.int32)
    big_kw = {
        "mask": np.arange(8) < np.array([[8], [3]]),
        "start_transitions": rng.uniform(-1e4, 1e4, 5).astype(np.float32),
        "end_transitions": rng.uniform(-1e4, 1e4, 5).astype(np.float32),
    }
    long_e = (rng.standard_normal((2, 512, 4)) * 1e4).astype(np.float32)
    long_a = rng.standard_normal((4, 4)).astype(np.float32)
    long_tags = rng.integers(0, 4, (2, 512)).astype(np.int32)
    long_kw = {"mask": np.arange(512) < np.array([[512], [300]])}
    return [
        (big_e, big_tags, big_a, big_kw),
        (big_e, big_tags, big_a, {}),
        (long_e, long_tags, long_a, long_kw),
    ]


def _stress_partition() -> list[Case]:
    labels = ["|scores| = 1e4, masked", "|scores| = 1e4", "T = 512, |emission| ~ 1e4"]
    return [Case(lab, (e, a), kw) for lab, (e, _, a, kw) in zip(labels, _stress_inputs())]


def _stress_tagged() -> list[Case]:
    labels = ["|scores| = 1e4, masked", "|scores| = 1e4", "T = 512, |emission| ~ 1e4"]
    return [Case(lab, (e, y, a), kw) for lab, (e, y, a, kw) in zip(labels, _stress_inputs())]


ENTRIES: list[Entry] = [
    Entry(name="crf_log_partition", reference=_ref_log_partition, sample=_sample_partition,
          stress=_stress_partition, argnums=(0, 1), free_args=(0, 1)),
    Entry(name="crf_log_likelihood", reference=_ref_log_likelihood, sample=_tagged_sampler(),
          stress=_stress_tagged, argnums=(0, 2), properties=frozenset({SHIFT}), free_args=(0, 2),
          peers=(Peer("torchcrf.CRF.forward", note="pytorch-crf, reduction='none'",
                      tested_by="tests/test_torch_conformance.py::test_crf_log_likelihood_torchcrf",),)),
    Entry(name="crf_loss", reference=_ref_crf_loss, sample=_tagged_sampler(),
          stress=_stress_tagged, argnums=(0, 2), properties=frozenset({NONNEG, SHIFT}),
          free_args=(0, 2)),
    Entry(name="structured_perceptron_loss", reference=_ref_perceptron, sample=_tagged_sampler(),
          stress=_stress_tagged, argnums=(0, 2), smooth=False,
          properties=frozenset({NONNEG, SHIFT}), free_args=(0, 2)),
    Entry(name="structured_hinge_loss", reference=_ref_hinge, sample=_tagged_sampler(cost=True),
          stress=_stress_tagged, argnums=(0, 2), smooth=False,
          properties=frozenset({NONNEG, SHIFT}), free_args=(0, 2)),
    Entry(name="structured_softmax_margin_loss", reference=_ref_softmax_margin,
          sample=_tagged_sampler(cost=True), stress=_stress_tagged, argnums=(0, 2),
          properties=frozenset({NONNEG, SHIFT}), free_args=(0, 2)),
    Entry(name="structured_risk_loss", reference=_ref_risk, sample=_tagged_sampler(cost=True),
          stress=_stress_tagged, argnums=(0, 2), properties=frozenset({NONNEG, SHIFT}),
          free_args=(0, 2)),
]  # fmt: skip
