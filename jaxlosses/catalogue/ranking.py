"""Proof records of the ranking losses (:mod:`jaxlosses._ranking`)."""

from __future__ import annotations

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
