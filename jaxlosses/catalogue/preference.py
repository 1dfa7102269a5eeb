"""Proof records of sequence log-probabilities and the preference losses
(:mod:`jaxlosses._preference`).

The references apply the papers' definitions directly in NumPy/SciPy (``log_expit`` for
``log σ``, the odds ``p / (1 - p)`` of ORPO from ``p = exp(c)``, the log-softmax of the
materialised logits). The TRL trainers are compared, values and gradients of every
log-probability input, in ``tests/test_preference_conformance.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, SHIFT, Case, Entry, Peer
from ._shared import normal

FAMILY = "preference optimisation"

_P = 4  # pairs (or completions) per sampled batch
_TESTS = "tests/test_preference_conformance.py"


def _trl(path: str, test: str, note: str) -> Peer:
    return Peer(path, note=note, tested_by=f"{_TESTS}::{test}")


# --- sequence log-probabilities -------------------------------------------------------------

_B, _T, _V = 3, 4, 5  # sequences, tokens and vocabulary of the sampled examples


def _ref_sequence_log_probs(logits, labels, *, where=None, average=False):
    lsm = special.log_softmax(np.asarray(logits, np.float64), axis=-1)
    m = np.ones(np.shape(labels), bool) if where is None else np.asarray(where, bool)
    idx = np.where(m, labels, 0)  # masked tokens may hold any label (-100)
    tok = np.take_along_axis(lsm, idx[..., None], axis=-1)[..., 0]
    total = np.where(m, tok, 0.0).sum(-1)
    if not average:
        return total
    n = m.sum(-1)
    return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def _mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A token mask with a prompt-like masked prefix per row and one fully masked row."""
    m = rng.uniform(size=shape) < 0.7
    m[0, 0] = False
    m[0, 1:] = True
    m[-1] = False
    return m


def _sample_sequence(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, _B, _T, _V, scale=2.0)
    y = rng.integers(0, _V, (_B, _T)).astype(np.int32)
    m = _mask(rng, (_B, _T))
    padded = np.where(m, y, -100).astype(np.int32)  # TRL's padding labels, masked
    return [
        Case("summed", (x, y)),
        Case("token mask, -100 labels", (x, padded), {"where": m}, 0, {"where": 0}),
        Case("average, token mask", (x, y), {"where": m, "average": True}, 0, {"where": 0}),
        Case("average", (x, y), {"average": True}),
    ]


def _stress_sequence() -> list[Case]:
    x = np.zeros((2, 3, 5), np.float32)
    x[0] = [[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4] * 4 + [1e4], [5e3, 5e3, -5e3, 1.0, 1e4]]
    x[1, 0] = np.nan  # masked below: must not leak
    x[1, 1] = [np.inf, -np.inf, 0.0, 1.0, 2.0]
    y = np.array([[0, 4, 1], [-100, -100, 2]], np.int32)
    m = np.array([[True, True, True], [False, False, True]])
    x2 = x.copy()
    x2[1, 1] = 0.0
    return [
        Case("huge logits, masked NaN and inf tokens", (x, y), {"where": m}),
        Case(
            "average, masked NaN token",
            (x2, np.where(m, y, 0).astype(np.int32)),
            {"where": m, "average": True},
        ),
    ]


_N, _D = 3, 4  # sequence length and hidden size of the fused samples


def _ref_linear_sequence_log_probs(
    hidden, weight, labels, *, bias=None, where=None, average=False, chunk_size=None,
    custom_vjp=True,
):  # fmt: skip
    z = np.asarray(hidden) @ np.asarray(weight)
    if bias is not None:
        z = z + bias
    return _ref_sequence_log_probs(z, labels, where=where, average=average)


def _sample_linear(rng: np.random.Generator) -> list[Case]:
    h, w = normal(rng, 2, _N, _D), normal(rng, _D, _V)
    y = rng.integers(0, _V, (2, _N)).astype(np.int32)
    m = np.array([[False, True, True], [True, True, False]])
    axes = (0, None, 0)
    return [
        Case("chunks of 4 over 6 tokens", (h, w, y), {"custom_vjp": False, "chunk_size": 4}, axes),
        Case(
            "average, token mask, bias",
            (h, w, y),
            {"custom_vjp": False, "where": m, "average": True, "bias": normal(rng, _V)},
            axes,
            {"where": 0},
        ),
        # The default path: the fused custom_vjp gradient (reverse mode only; verify says so).
        Case(
            "default custom_vjp gradient, average, mask",
            (h, w, y),
            {"chunk_size": 4, "where": m, "average": True},
            axes,
            {"where": 0},
        ),
    ]


def _stress_linear() -> list[Case]:
    h = np.array([[[100.0, -100.0, 0.0, 1.0], [-100.0, 100.0, 50.0, 0.0]]] * 2, np.float32)
    w = np.array([[100.0, -100.0, 0.0, 1.0, 2.0], [0.0, 100.0, -100.0, 0.0, 1.0]] * 2, np.float32)
    y = np.array([[0, 1], [2, -100]], np.int32)
    m = np.array([[True, True], [True, False]])
    return [Case("logits of magnitude 1e4, -100 label masked", (h, w, y), {"where": m})]


# --- the DPO family: four per-pair log-probabilities --------------------------------------


def _margin(pc, pr, rc, rr):
    return (np.asarray(pc) - rc) - (np.asarray(pr) - rr)


def _ref_dpo(pc, pr, rc, rr, *, beta=0.1, label_smoothing=0.0):
    z = beta * _margin(pc, pr, rc, rr)
    return -(1 - label_smoothing) * special.log_expit(z) - label_smoothing * special.log_expit(-z)


def _ref_robust_dpo(pc, pr, rc, rr, *, beta=0.1, label_smoothing=0.0):
    z = beta * _margin(pc, pr, rc, rr)
    e = label_smoothing
    return (-(1 - e) * special.log_expit(z) + e * special.log_expit(-z)) / (1 - 2 * e)


def _ref_ipo(pc, pr, rc, rr, *, beta=0.1):
    return (_margin(pc, pr, rc, rr) - 1 / (2 * beta)) ** 2


def _ref_hinge(pc, pr, rc, rr, *, beta=0.1):
    return np.maximum(0.0, 1 - beta * _margin(pc, pr, rc, rr))


def _four_logps(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Summed log-probabilities of completions of 5 to 40 tokens."""
    return tuple(-rng.uniform(5.0, 40.0, _P) for _ in range(4))


def _sample_dpo(rng: np.random.Generator) -> list[Case]:
    args = _four_logps(rng)
    return [
        Case("beta=0.1", args),
        Case("beta=0.5, label_smoothing=0.2", args, {"beta": 0.5, "label_smoothing": 0.2}),
    ]


def _sample_beta(rng: np.random.Generator) -> list[Case]:
    args = _four_logps(rng)
    return [Case("beta=0.1", args), Case("beta=0.5", args, {"beta": 0.5})]


def _sample_ipo(rng: np.random.Generator) -> list[Case]:
    args = _four_logps(rng)
    means = tuple(a / 20.0 for a in args)  # TRL's length-normalised form
    return [Case("summed, beta=0.1", args), Case("mean log-probs, beta=0.5", means, {"beta": 0.5})]


def _stress_dpo() -> list[Case]:
    f = np.float32
    pc = np.array([-1e4, 0.0, -5.0, -1e4], f)
    pr = np.array([0.0, -1e4, -np.inf, -1e4], f)
    rc = np.array([0.0, -1e4, -5.0, -1e4], f)
    rr = np.array([-1e4, 0.0, -7.0, -1e4], f)
    return [
        Case("margins of 2e4, a rejected completion at probability 0", (pc, pr, rc, rr)),
        Case(
            "huge margins, smoothed",
            (pc, np.where(np.isinf(pr), f(-1e4), pr), rc, np.zeros(4, f)),
            {"label_smoothing": 0.1},
        ),
    ]


def _stress_margin() -> list[Case]:
    f = np.float32
    pc, pr = np.array([-1e4, 0.0, -5.0], f), np.array([0.0, -1e4, -7.0], f)
    zeros = np.zeros(3, f)
    return [Case("margins of 1e4", (pc, pr, zeros, zeros))]


# --- SimPO and ORPO: mean log-probabilities of the policy only ----------------------------


def _ref_simpo(c, r, *, beta=2.0, gamma=1.0, label_smoothing=0.0):
    z = beta * (np.asarray(c) - r) - gamma
    return -(1 - label_smoothing) * special.log_expit(z) - label_smoothing * special.log_expit(-z)


def _ref_orpo(c, r, *, beta=0.1):
    pc, pr = np.exp(c), np.exp(r)
    log_odds_ratio = np.log((pc / (1 - pc)) / (pr / (1 - pr)))
    return -np.asarray(c) - beta * special.log_expit(log_odds_ratio)


def _two_means(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean per-token log-probabilities, on both sides of ORPO's branch at -0.5."""
    c = -rng.uniform(0.05, 3.0, _P)
    c[0] = -0.2
    r = -rng.uniform(0.05, 3.0, _P)
    r[1] = -0.1
    return c, r


def _sample_simpo(rng: np.random.Generator) -> list[Case]:
    c, r = _two_means(rng)
    return [
        Case("paper defaults", (c, r)),
        Case("TRL defaults, label_smoothing=0.1", (c, r),
             {"beta": 0.1, "gamma": 0.5, "label_smoothing": 0.1}),
    ]  # fmt: skip


def _sample_orpo(rng: np.random.Generator) -> list[Case]:
    c, r = _two_means(rng)
    return [Case("beta=0.1", (c, r)), Case("beta=1.0", (c, r), {"beta": 1.0})]


def _stress_simpo() -> list[Case]:
    f = np.float32
    return [Case("huge means", (np.array([-1e4, 0.0, -2.0], f), np.array([0.0, -1e4, -2.0], f)))]


def _stress_orpo() -> list[Case]:
    f = np.float32
    c = np.array([0.0, -1e-8, -1e4, -0.5, -30.0], f)
    r = np.array([-1.0, -1e4, -1e-8, -0.5, -1e-3], f)
    return [
        Case("chosen at probability 1, huge and tiny log-probabilities", (c, r)),
        Case("beta=1", (c, r), {"beta": 1.0}),
    ]


# --- KTO: unpaired completions -------------------------------------------------------------


def _ref_kto(p, ref, desirable, kl, *, beta=0.1, desirable_weight=1.0, undesirable_weight=1.0):
    rho = np.asarray(p) - ref
    good = desirable_weight * (1 - special.expit(beta * (rho - kl)))
    bad = undesirable_weight * (1 - special.expit(beta * (kl - rho)))
    return np.where(desirable, good, bad)


def _sample_kto(rng: np.random.Generator) -> list[Case]:
    p, ref = -rng.uniform(5.0, 40.0, _P), -rng.uniform(5.0, 40.0, _P)
    desirable = np.array([True, False, True, False])
    kl = np.array(rng.uniform(0.0, 2.0))
    axes = (0, 0, 0, None)
    return [
        Case("batch KL estimate", (p, ref, desirable, kl), {}, axes),
        Case(
            "per-completion KL, weights, beta=0.5",
            (p, ref, desirable, rng.uniform(0.0, 2.0, _P)),
            {"beta": 0.5, "desirable_weight": 1.33, "undesirable_weight": 0.75},
        ),
    ]


def _stress_kto() -> list[Case]:
    f = np.float32
    p, ref = np.array([-1e4, 0.0, -1e4, 0.0], f), np.array([0.0, -1e4, 0.0, -1e4], f)
    return [Case("log-ratios of 1e4", (p, ref, np.array([True, True, False, False]), f(0.5)))]


_DPO_TRAINER = "trl.trainer.dpo_trainer.DPOTrainer._compute_loss"
_CPO = "trl.experimental.cpo.cpo_trainer.CPOTrainer"

ENTRIES: list[Entry] = [
    Entry(name="sequence_log_probs", reference=_ref_sequence_log_probs, sample=_sample_sequence,
          stress=_stress_sequence, accepts=frozenset({"logits:trunc"}),
          properties=frozenset({SHIFT}),
          peers=(_trl(f"{_CPO}.get_batch_logps", "test_sequence_log_probs",
                      "labels shifted inside, -100 padding; average_log_prob"),)),
    Entry(name="linear_sequence_log_probs", reference=_ref_linear_sequence_log_probs,
          sample=_sample_linear, stress=_stress_linear, argnums=(0, 1),
          accepts=frozenset({"weight:trunc"}), free_args=(0, 1),
          peers=(_trl(f"{_CPO}.get_batch_logps", "test_sequence_log_probs",
                      "on hidden @ weight"),)),
    Entry(name="dpo_loss", reference=_ref_dpo, sample=_sample_dpo, stress=_stress_dpo,
          argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1, 2, 3),
          peers=(_trl(_DPO_TRAINER, "test_dpo_trainer_losses", "loss_type='sigmoid'"),
                 _trl(f"{_CPO}.cpo_loss", "test_conservative_dpo",
                      "label_smoothing > 0: loss_type='sigmoid' on the log-ratios"))),
    Entry(name="robust_dpo_loss", reference=_ref_robust_dpo, sample=_sample_dpo,
          stress=_stress_dpo, argnums=(0, 1), free_args=(0, 1, 2, 3),
          peers=(_trl(_DPO_TRAINER, "test_dpo_trainer_losses", "loss_type='robust'"),)),
    Entry(name="ipo_loss", reference=_ref_ipo, sample=_sample_ipo, stress=_stress_margin,
          argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1, 2, 3),
          peers=(_trl(_DPO_TRAINER, "test_dpo_trainer_losses",
                      "loss_type='ipo' divides by the completion lengths: pass means"),)),
    Entry(name="preference_hinge_loss", reference=_ref_hinge, sample=_sample_beta,
          stress=_stress_margin, argnums=(0, 1), smooth=False, properties=frozenset({NONNEG}),
          free_args=(0, 1, 2, 3),
          peers=(_trl(_DPO_TRAINER, "test_dpo_trainer_losses", "loss_type='hinge'"),)),
    Entry(name="simpo_loss", reference=_ref_simpo, sample=_sample_simpo, stress=_stress_simpo,
          argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(_trl(f"{_CPO}.cpo_loss", "test_simpo", "loss_type='simpo', gamma=simpo_gamma"),)),
    Entry(name="kto_loss", reference=_ref_kto, sample=_sample_kto, stress=_stress_kto,
          properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(_trl("trl.trainer.kto_trainer.KTOTrainer._compute_loss", "test_kto",
                      "kl from calculate_KL; completions reordered desirable first"),)),
    Entry(name="orpo_loss", reference=_ref_orpo, sample=_sample_orpo, stress=_stress_orpo,
          argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(_trl("trl.experimental.orpo.orpo_trainer.ORPOTrainer.odds_ratio_loss",
                      "test_orpo", "the odds-ratio term; its NLL is a batch token mean"),)),
]  # fmt: skip
