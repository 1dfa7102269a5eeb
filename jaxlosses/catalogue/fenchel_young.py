"""Proof records of the Fenchel-Young (sparsemax) losses (:mod:`jaxlosses._fenchel_young`).

The references find the sparsemax threshold with a root-finder.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import B, K, huge_logits, normal, rows, sample_multiclass, stress_multiclass

FAMILY = "Fenchel-Young"


def _ref_sparsemax_binary(x, labels):
    # sparseplus(z) = max over p in [0, 1] of  z p - (p^2 - p) ... written as its three pieces.
    z = np.where(np.asarray(labels) != 0, -x, x)
    return np.where(z <= -1, 0.0, np.where(z >= 1, z, (z + 1) ** 2 / 4))


def _sparsemax_np(s):
    """Simplex projection by root-finding the threshold: sum(max(s - tau, 0)) = 1."""
    tau = optimize.brentq(
        lambda t: np.maximum(s - t, 0.0).sum() - 1.0, s.max() - 1.0, s.max(), xtol=1e-15
    )
    return np.maximum(s - tau, 0.0)


def _ref_multiclass_sparsemax(scores, labels, *, axis=-1, where=None):
    # Fenchel-Young loss with Omega(p) = (|p|^2 - 1) / 2:  Omega*(s) + Omega(e_y) - s_y.
    out = np.zeros(len(labels))
    for i, s, y, keep, _ in rows(scores, labels, axis, where):
        p = _sparsemax_np(s[keep])
        conj = float(np.dot(p, s[keep])) - 0.5 * (float(np.dot(p, p)) - 1.0)
        out[i] = conj - s[y]
    return out


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


ENTRIES: list[Entry] = [
    Entry(name="sparsemax_loss", reference=_ref_sparsemax_binary, sample=_sample_sparsemax_binary,
          stress=_stress_sparsemax_binary, smooth=False, accepts=frozenset({"labels:float"}),
          properties=frozenset({NONNEG}), peers=(Peer("optax.losses.sparsemax_loss"),)),
    Entry(name="multiclass_sparsemax_loss", reference=_ref_multiclass_sparsemax,
          sample=sample_multiclass, stress=stress_multiclass, smooth=False, class_args=(0,),
          where_slices=True, accepts=frozenset({"scores:trunc"}),
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("optax.losses.multiclass_sparsemax_loss"),)),
]  # fmt: skip
