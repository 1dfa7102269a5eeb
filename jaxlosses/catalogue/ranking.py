"""Proof records of the ranking losses (:mod:`jaxlosses._ranking`)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from scipy import special

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import ELEMENTWISE_TARGETS, B, K, huge_logits, masked_logits, normal

FAMILY = "ranking"


def _ref_margin_ranking(x1, x2, y, *, margin=0.0):
    return np.maximum(0.0, -y * (x1 - x2) + margin)


def _sample_margin_ranking(rng: np.random.Generator) -> list[Case]:
    x1, x2 = normal(rng, B, K), normal(rng, B, K)
    y = rng.choice([-1.0, 1.0], (B, K))
    return [Case("scores", (x1, x2, y)), Case("margin=0.5", (x1, x2, y), {"margin": 0.5})]


def _stress_margin_ranking() -> list[Case]:
    x = huge_logits()
    return [Case("huge scores", (x, -x, np.ones_like(x) * np.float32(-1.0)))]


def _ref_ranking_softmax(s, y, *, where=None, weights=None, reduce_fn=jnp.mean):
    valid = np.ones(s.shape, bool) if where is None else np.asarray(where, bool)
    y = np.where(valid, y, 0.0) * (1.0 if weights is None else weights)
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(*s.shape[:-1]):
        ok = valid[idx]
        if ok.any():
            out[idx] = -np.sum(y[idx][ok] * special.log_softmax(s[idx][ok]))
    listed = valid.any(-1)
    if reduce_fn is None:
        return out
    if reduce_fn is jnp.sum:
        return out.sum()
    return out[listed].mean() if listed.any() else np.asarray(0.0)


def _sample_ranking_softmax(rng: np.random.Generator) -> list[Case]:
    s = normal(rng, B, K)
    y = rng.integers(0, 4, (B, K)).astype(np.float64)
    where = np.ones((B, K), bool)
    where[0, :2] = False
    where[2] = False
    return [
        Case("graded labels, per list", (s, y), {"reduce_fn": None}),
        Case("mean over lists", (s, y), in_axes=None),
        Case(
            "weights, sum",
            (s, y),
            {"weights": rng.uniform(0.5, 2, (B, K)), "reduce_fn": jnp.sum},
            in_axes=None,
        ),
        Case("masked items and a masked list, mean", (s, y), {"where": where}, in_axes=None),
    ]


def _stress_ranking_softmax() -> list[Case]:
    x, mask = masked_logits()
    y = np.ones_like(x)
    return [
        Case("huge logits", (huge_logits(), np.ones((3, 5), np.float32))),
        Case("-inf masked items, empty list", (x, y), {"where": mask}),
        Case("-inf masked, per list", (x, y), {"where": mask, "reduce_fn": None}),
    ]


ENTRIES: list[Entry] = [
    Entry(name="margin_ranking_loss", reference=_ref_margin_ranking,
          sample=_sample_margin_ranking, stress=_stress_margin_ranking, argnums=(0, 1),
          smooth=False, accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          free_args=(0, 1),
          peers=(Peer("torch.nn.functional.margin_ranking_loss", kwargs={"reduction": "none"}),)),
    Entry(name="ranking_softmax_loss", reference=_ref_ranking_softmax,
          sample=_sample_ranking_softmax, stress=_stress_ranking_softmax,
          accepts=frozenset({"labels:int"}), properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.ranking_softmax_loss"),)),
]  # fmt: skip


# --- learning to rank: references written from the definitions, list by list ------------


def _ltr_lists(s, y, where):
    """Yields ``(index, scores, labels, positions)`` of the valid items of each list."""
    valid = np.ones(s.shape, bool) if where is None else np.broadcast_to(where, s.shape)
    for idx in np.ndindex(*s.shape[:-1]):
        keep = np.flatnonzero(valid[idx])
        yield idx, s[idx][keep], y[idx][keep], keep


def _ref_rank_positions(v):
    """1-based ranks by ``v`` descending, ties to the earlier item (a stable sort)."""
    order = np.argsort(-v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    return r


def _ref_dcg_discount(r):
    return 1.0 / np.log2(1.0 + r)


def _ref_ideal_dcg(g):
    ideal = float(np.sum(np.sort(g)[::-1] * _ref_dcg_discount(np.arange(1.0, len(g) + 1))))
    return 1.0 if ideal == 0.0 else ideal


def _ref_pairwise(pair_loss):
    def reference(s, y, *, where=None, weights=None, lambdaweight=None, **hyper):
        w_all = np.ones(s.shape) if weights is None else np.broadcast_to(weights, s.shape)
        out = np.zeros(s.shape[:-1])
        for idx, sv, yv, keep in _ltr_lists(s, y, where):
            w, n = w_all[idx][keep], len(sv)
            if lambdaweight in ("dcg", "ndcg"):
                g = (2.0**yv - 1.0) * w
                if lambdaweight == "ndcg":
                    g = g / _ref_ideal_dcg(g)
                disc = _ref_dcg_discount(_ref_rank_positions(sv))
            total = 0.0
            for i in range(n):
                for j in range(n):
                    if not yv[i] > yv[j]:
                        continue
                    lam = 1.0
                    if lambdaweight == "labeldiff":
                        lam = abs(yv[i] - yv[j])
                    elif lambdaweight in ("dcg", "ndcg"):
                        lam = abs(g[i] - g[j]) * abs(disc[i] - disc[j]) * n
                    total += w[i] * lam * pair_loss(sv[i] - sv[j], **hyper)
            out[idx] = total
        return out

    return reference


_ref_pairwise_hinge = _ref_pairwise(lambda d, margin=1.0: max(0.0, margin - d))
_ref_pairwise_logistic = _ref_pairwise(lambda d: np.logaddexp(0.0, -d))
_ref_pairwise_soft_zero_one = _ref_pairwise(lambda d: special.expit(-d))


def _graded(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 4, shape).astype(np.float64)


def _item_mask(rng: np.random.Generator) -> np.ndarray:
    where = rng.uniform(size=(B, K)) < 0.75
    where[0, :2] = True
    where[1] = False  # an empty list
    return where


def _sample_pairwise(rng: np.random.Generator, extra: dict | None = None) -> list[Case]:
    s, y = normal(rng, B, K, scale=2.0), _graded(rng, B, K)
    masked = {"where": _item_mask(rng)}
    w = {"weights": rng.uniform(0.5, 2.0, K)}
    cases = [
        Case("graded labels", (s, y)),
        Case("masked items and an empty list", (s, y), masked, kw_axes={"where": 0}),
        Case("weights per position", (s, y), w),
        Case("lambdaweight=labeldiff", (s, y), {"lambdaweight": "labeldiff"}),
        Case("lambdaweight=dcg, weights", (s, y), {"lambdaweight": "dcg", **w}),
        Case(
            "lambdaweight=ndcg, masked",
            (s, y),
            {"lambdaweight": "ndcg", **masked},
            kw_axes={"where": 0},
        ),
    ]
    if extra:
        cases.append(Case(", ".join(f"{k}={v}" for k, v in extra.items()), (s, y), extra))
    return cases


def _stress_ltr(**kw) -> list[Case]:
    x, mask = masked_logits()
    y = np.array([[3.0, 0.0, 1.0, 2.0, 1.0], [1.0, 0.0, 2.0, 0.0, 1.0], [0.0, 2.0, 1.0, 1.0, 3.0]])
    y = y.astype(np.float32)
    return [
        Case("huge scores", (huge_logits(), y), kw),
        Case("-inf masked items, empty list", (x, y), {"where": mask, **kw}),
    ]


def _stress_pairwise() -> list[Case]:
    x, mask = masked_logits()
    cases = _stress_ltr()
    y = cases[0].args[1]
    return [
        *cases,
        Case("ndcg weights, -inf masked", (x, y), {"where": mask, "lambdaweight": "ndcg"}),
    ]


def _ref_listmle(s, y, *, key=None, where=None):
    assert key is None, "the key's draws are compared with Rax in tests/test_ranking_conformance.py"
    out = np.zeros(s.shape[:-1])
    for idx, sv, yv, _ in _ltr_lists(s, y, where):
        ordered = sv[np.argsort(-yv, kind="stable")]  # most relevant first, ties by position
        out[idx] = sum(special.logsumexp(ordered[k:]) - ordered[k] for k in range(len(ordered)))
    return out


def _sample_listmle(rng: np.random.Generator) -> list[Case]:
    s, y = normal(rng, B, K, scale=2.0), _graded(rng, B, K)
    return [
        Case("graded labels with ties", (s, y)),
        Case("masked items and an empty list", (s, y), {"where": _item_mask(rng)}, kw_axes={"where": 0}),
        Case("distinct real labels", (s, normal(rng, B, K))),
    ]  # fmt: skip


def _ref_approx_ndcg(s, y, *, temperature=1.0, where=None, weights=None):
    w_all = np.ones(s.shape) if weights is None else np.broadcast_to(weights, s.shape)
    out = np.zeros(s.shape[:-1])
    for idx, sv, yv, keep in _ltr_lists(s, y, where):
        g = (2.0**yv - 1.0) * w_all[idx][keep]
        dcg = 0.0
        for i in range(len(sv)):
            r = 1.0 + sum(
                special.expit((sv[j] - sv[i]) / temperature) for j in range(len(sv)) if j != i
            )
            dcg += g[i] / np.log2(1.0 + r)
        out[idx] = -dcg / _ref_ideal_dcg(g)
    return out


def _sample_approx_ndcg(rng: np.random.Generator) -> list[Case]:
    s, y = normal(rng, B, K, scale=2.0), _graded(rng, B, K)
    return [
        Case("graded labels", (s, y)),
        Case("masked items and an empty list", (s, y), {"where": _item_mask(rng)}, kw_axes={"where": 0}),
        Case("temperature=0.5", (s, y), {"temperature": 0.5}),
        Case("weights per position", (s, y), {"weights": rng.uniform(0.5, 2.0, K)}),
        Case("a list without relevant items", (s, y * np.array([[1.0], [0.0], [1.0]]))),
    ]  # fmt: skip


_NOTE_PAIRS = "its reduce_fn=None pair terms, summed per list; lambdaweights passed as functions"


#: Lists on the last axis of scores and labels; `where` masks items; integer grades are fine.
_LISTS: dict[str, Any] = {
    "class_args": (0, 1),
    "where_slices": True,
    "accepts": frozenset({"labels:int"}),
}


def _rax_pairwise(name: str) -> Peer:
    return Peer(
        f"rax.{name}",
        note=_NOTE_PAIRS,
        kwargs={"reduce_fn": None},
        sum_axis=-1,
        skip_cases={
            "lambdaweight=labeldiff": "a function, not a name: tests/test_ranking_conformance.py",
            "lambdaweight=dcg, weights": "a function, not a name: tests/test_ranking_conformance.py",
            "lambdaweight=ndcg, masked": "a function, and Rax scales by the padded list size: "
            "tests/test_ranking_conformance.py",
        },
    )


ENTRIES += [
    Entry(name="pairwise_hinge_loss", reference=_ref_pairwise_hinge,
          sample=lambda rng: _sample_pairwise(rng, {"margin": 0.5}), stress=_stress_pairwise,
          smooth=False, properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(_rax_pairwise("pairwise_hinge_loss"),), **_LISTS),
    Entry(name="pairwise_logistic_loss", reference=_ref_pairwise_logistic,
          sample=_sample_pairwise, stress=_stress_pairwise,
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(_rax_pairwise("pairwise_logistic_loss"),), **_LISTS),
    Entry(name="pairwise_soft_zero_one_loss", reference=_ref_pairwise_soft_zero_one,
          sample=_sample_pairwise, stress=_stress_pairwise,
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(_rax_pairwise("pairwise_soft_zero_one_loss"),), **_LISTS),
    Entry(name="listmle_loss", reference=_ref_listmle, sample=_sample_listmle,
          stress=_stress_ltr, properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("rax.listmle_loss", note="same tie-breaking, key included",
                      kwargs={"reduce_fn": None}),), **_LISTS),
    Entry(name="approx_ndcg_loss", reference=_ref_approx_ndcg, sample=_sample_approx_ndcg,
          stress=_stress_ltr, properties=frozenset({SHIFT, NEG_INF}),
          peers=(Peer("rax.ndcg_metric",
                      note="negated, with rank_fn=rax.utils.approx_ranks: rax.approx_t12n; "
                           "topn not offered",
                      tested_by="tests/test_ranking_conformance.py::test_approx_ndcg_against_rax"),),
          **_LISTS),
]  # fmt: skip
