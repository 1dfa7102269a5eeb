"""Proof records of the divergences (:mod:`jaxlosses._divergence`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import B, K, normal, ref_log_softmax, simplex

FAMILY = "divergence"


def _ref_kl(lp, t, axis=-1, where=None):
    assert where is None
    return special.rel_entr(t, np.exp(lp)).sum(axis)


def _ref_kl_log_targets(lp, lt, axis=-1, where=None):
    return _ref_kl(lp, np.exp(lt), axis)


def _ref_generalized_kl(lp, t, axis=-1, where=None):
    assert where is None
    return special.kl_div(t, np.exp(lp)).sum(axis)


def _ref_js(p, t, *, axis=-1, where=None):
    from scipy.spatial.distance import jensenshannon

    assert where is None and axis == -1
    return np.array([jensenshannon(a, b) ** 2 for a, b in zip(p, t)])


def _sparse_simplex(rng: np.random.Generator) -> np.ndarray:
    t = simplex(rng, B, K)
    t[:, 0] = 0.0
    return t / t.sum(-1, keepdims=True)


def _sample_kl(rng: np.random.Generator) -> list[Case]:
    lp = ref_log_softmax(normal(rng, B, K))
    return [
        Case("distributions", (lp, simplex(rng, B, K))),
        Case("zero targets", (lp, _sparse_simplex(rng))),
    ]


def _sample_kl_log_targets(rng: np.random.Generator) -> list[Case]:
    lp = ref_log_softmax(normal(rng, B, K))
    return [Case("distributions", (lp, ref_log_softmax(normal(rng, B, K))))]


def _sample_generalized_kl(rng: np.random.Generator) -> list[Case]:
    lp = normal(rng, B, K)
    return [
        Case("positive measures", (lp, rng.uniform(0.1, 3.0, (B, K)))),
        Case("zero targets", (lp, _sparse_simplex(rng))),
    ]


def _sample_js(rng: np.random.Generator) -> list[Case]:
    return [
        Case("distributions", (simplex(rng, B, K), simplex(rng, B, K))),
        Case("zero targets", (simplex(rng, B, K), _sparse_simplex(rng))),
    ]


def _stress_kl() -> list[Case]:
    lp = np.array([[-1e4, 0.0, -3.0, -1.0, -2.0], [-1e4] * 4 + [0.0]], np.float32)
    t = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]], np.float32)
    return [Case("zero targets, tiny predictions", (lp, t))]


def _stress_kl_log_targets() -> list[Case]:
    lp = np.array([[-1e4, 0.0, -3.0, -1.0, -2.0]], np.float32)
    lt = np.array([[-np.inf, 0.0, -np.inf, -1e4, -np.inf]], np.float32)
    return [Case("-inf log targets", (lp, lt))]


def _stress_js() -> list[Case]:
    p = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.2] * 5], np.float32)
    t = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    return [Case("disjoint supports and zeros", (p, t))]


ENTRIES: list[Entry] = [
    Entry(name="kl_divergence", reference=_ref_kl, sample=_sample_kl, stress=_stress_kl,
          class_args=(0, 1), where_slices=True, properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("optax.losses.kl_divergence"),
                 Peer("torch.nn.functional.kl_div", note="summed over the class axis",
                      kwargs={"reduction": "none"}, sum_axis=-1,),)),
    Entry(name="kl_divergence_with_log_targets", reference=_ref_kl_log_targets,
          sample=_sample_kl_log_targets, stress=_stress_kl_log_targets, class_args=(0, 1),
          where_slices=True, properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("optax.losses.kl_divergence_with_log_targets"),
                 Peer("torch.nn.functional.kl_div",
                      note="log_target=True, summed over the class axis", kwargs={"reduction": "none", "log_target": True}, sum_axis=-1,),)),
    Entry(name="generalized_kl_divergence", reference=_ref_generalized_kl,
          sample=_sample_generalized_kl, stress=_stress_kl, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("optax.losses.generalized_kl_divergence"),)),
    Entry(name="convex_kl_divergence", reference=_ref_generalized_kl,
          sample=_sample_generalized_kl, stress=_stress_kl, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG}), free_args=(),
          peers=(Peer("optax.losses.convex_kl_divergence"),)),
    Entry(name="js_divergence", reference=_ref_js, sample=_sample_js, stress=_stress_js,
          class_args=(0, 1), where_slices=True, properties=frozenset({NONNEG}), free_args=()),
]  # fmt: skip
