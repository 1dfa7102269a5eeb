"""Proof records of the distillation losses (:mod:`jaxlosses._distillation`).

The references apply the definitions to SciPy's tempered log-softmaxes, with masked
classes set to ``-inf`` and masked tokens set to 0. The gradient w.r.t. the teacher
logits (a keyword-free second positional argument) is checked by finite differences.
TRL's ``generalized_jsd_loss`` and PyTorch's ``kl_div`` are compared in
``tests/test_distillation.py``: they take no ``T²`` factor and reduce, so the arguments
do not map through the records.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer
from ._shared import B, K, huge_logits, masked_logits, normal

FAMILY = "distillation"

_TRL = "trl.experimental.gkd.gkd_trainer.GKDTrainer.generalized_jsd_loss"
_TEST = "tests/test_distillation.py"


def _tempered(s, t, temperature, axis, where):
    """``(log q, log p, token mask)`` with classes last; masked classes at ``-inf``."""
    assert axis == -1
    keep = np.ones(s.shape, bool) if where is None else np.asarray(where, bool)
    if keep.shape != s.shape:  # a token mask
        keep = np.broadcast_to(keep[..., None], s.shape)
    tokens = np.asarray(np.any(keep, axis=-1))
    safe = np.where(tokens[..., None], keep, True)  # a fully masked row: any finite row
    log_q = special.log_softmax(np.where(safe, s / temperature, -np.inf), axis=-1)
    log_p = special.log_softmax(np.where(safe, t / temperature, -np.inf), axis=-1)
    return log_q, log_p, tokens


def _ref_kl_terms(log_a, log_b):
    """``a (log a - log b)`` summed over classes, ``0 log 0 = 0``."""
    a = np.exp(log_a)
    with np.errstate(invalid="ignore"):
        return np.sum(np.where(a > 0, a * (log_a - log_b), 0.0), axis=-1)


def _ref_kl(s, t, *, temperature=1.0, reverse=False, axis=-1, where=None):
    log_q, log_p, tokens = _tempered(s, t, temperature, axis, where)
    kl = _ref_kl_terms(log_q, log_p) if reverse else _ref_kl_terms(log_p, log_q)
    return np.where(tokens, temperature**2 * kl, 0.0)


def _ref_jsd(s, t, *, beta=0.5, temperature=1.0, axis=-1, where=None):
    log_q, log_p, tokens = _tempered(s, t, temperature, axis, where)
    if beta == 0:
        d = _ref_kl_terms(log_p, log_q)
    elif beta == 1:
        d = _ref_kl_terms(log_q, log_p)
    else:
        m = beta * np.exp(log_p) + (1 - beta) * np.exp(log_q)
        with np.errstate(divide="ignore"):
            log_m = np.log(m)
        d = beta * _ref_kl_terms(log_p, log_m) + (1 - beta) * _ref_kl_terms(log_q, log_m)
    return np.where(tokens, temperature**2 * d, 0.0)


def _pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return normal(rng, B, K, scale=2.0), normal(rng, B, K, scale=2.0)


def _class_mask(rng: np.random.Generator) -> np.ndarray:
    mask = rng.uniform(size=(B, K)) < 0.7
    mask[:, 0] = True
    return mask


_TOKENS = np.array([True, False, True])


def _sample_kl(rng: np.random.Generator) -> list[Case]:
    s, t = _pair(rng)
    return [
        Case("forward KL", (s, t)),
        Case("temperature=2", (s, t), {"temperature": 2.0}),
        Case("reverse KL, temperature=0.5", (s, t), {"reverse": True, "temperature": 0.5}),
        Case("padded token", (s, t), {"where": _TOKENS, "temperature": 3.0}, 0, {"where": 0}),
        Case(
            "class mask, reverse",
            (s, t),
            {"where": _class_mask(rng), "reverse": True},
            0,
            {"where": 0},
        ),
    ]


def _sample_jsd(rng: np.random.Generator) -> list[Case]:
    s, t = _pair(rng)
    return [
        Case("beta=0.5", (s, t)),
        Case("beta=0.1, temperature=2", (s, t), {"beta": 0.1, "temperature": 2.0}),
        Case("beta=0.9, padded token", (s, t), {"beta": 0.9, "where": _TOKENS}, 0, {"where": 0}),
        Case("beta=0 (forward KL)", (s, t), {"beta": 0.0, "temperature": 2.0}),
        Case("beta=1 (reverse KL)", (s, t), {"beta": 1.0, "temperature": 0.5}),
        Case("class mask", (s, t), {"where": _class_mask(rng), "beta": 0.3}, 0, {"where": 0}),
    ]


def _stress(extra: dict[str, object]) -> list[Case]:
    x, mask = masked_logits()
    teacher = np.roll(huge_logits(), 2, axis=-1)
    t_masked = np.where(mask, np.roll(np.nan_to_num(x, neginf=0.0), 1, axis=-1), -np.inf)
    t_masked = t_masked.astype(np.float32)
    return [
        Case("huge logits", (huge_logits(), teacher), dict(extra)),
        Case(
            "huge logits, temperature=0.1", (huge_logits(), teacher), {**extra, "temperature": 0.1}
        ),
        Case("-inf masked, one row fully masked", (x, t_masked), {**extra, "where": mask}),
    ]


def _stress_kl() -> list[Case]:
    return [*_stress({}), *_stress({"reverse": True})[:1]]


def _stress_jsd() -> list[Case]:
    return [*_stress({"beta": 0.5}), *_stress({"beta": 0.0})[:1], *_stress({"beta": 1.0})[:1]]


ENTRIES: list[Entry] = [
    Entry(name="kl_distillation_loss", reference=_ref_kl, sample=_sample_kl, stress=_stress_kl,
          class_args=(0, 1), where_slices=True, free_args=(0, 1),
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer("torch.nn.functional.kl_div",
                      note="on log_softmax(s / T), log_softmax(t / T) with log_target=True; no T²",
                      tested_by=f"{_TEST}::test_kl_distillation_matches_torch_kl_div"),
                 Peer(_TRL, note="beta=0 (forward) or 1 (reverse); no T²",
                      tested_by=f"{_TEST}::test_generalized_jsd_matches_trl"),)),
    Entry(name="jsd_distillation_loss", reference=_ref_jsd, sample=_sample_jsd,
          stress=_stress_jsd, class_args=(0, 1), where_slices=True, free_args=(0, 1),
          properties=frozenset({NONNEG, SHIFT, NEG_INF}),
          peers=(Peer(_TRL, note="TRL's GKD loss, no T²; labels=-100 is where=",
                      tested_by=f"{_TEST}::test_generalized_jsd_matches_trl"),)),
]  # fmt: skip
