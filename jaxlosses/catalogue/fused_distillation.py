"""Proof records of the fused distillation losses (:mod:`jaxlosses._fused_distillation`).

The references materialise both models' ``[N, V]`` logits in NumPy and apply the
definitions to SciPy's tempered log-softmaxes. Most sampled cases use
``custom_vjp=False`` (forward and reverse mode); some run the default fused
``custom_vjp`` path, checked in reverse mode only. The teacher's inputs (positional) are
checked by finite differences through ``jax.grad``; the closed form covers the student's
``hidden`` and ``weight`` (``argnums``), the teacher being usually fixed.
``tests/test_fused_distillation.py`` compares the fused forms with the materialised
logits losses and with PyTorch's ``kl_div`` and TRL's ``generalized_jsd_loss``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import normal

FAMILY = "distillation"

_N, _D, _DT, _V = 6, 4, 3, 5  # tokens, student and teacher hidden sizes, vocabulary
_TEST = "tests/test_fused_distillation.py"


def _logits(h, w, b):
    z = np.asarray(h) @ np.asarray(w)
    return z if b is None else z + np.asarray(b)


def _divergence(h, w, th, tw, bias, teacher_bias, temperature, beta, where):
    """``T² D(p, q)`` per token, ``β`` the teacher's weight in the JSD mixture."""
    zs = _logits(h, w, bias)
    zt = np.asarray(th) if tw is None else np.asarray(th) @ np.asarray(tw)
    if teacher_bias is not None:
        zt = zt + np.asarray(teacher_bias)
    log_q = special.log_softmax(zs / temperature, axis=-1)
    log_p = special.log_softmax(zt / temperature, axis=-1)
    q, p = np.exp(log_q), np.exp(log_p)
    if beta == 0:
        d = np.sum(p * (log_p - log_q), axis=-1)
    elif beta == 1:
        d = np.sum(q * (log_q - log_p), axis=-1)
    else:
        log_m = np.log(beta * p + (1 - beta) * q)
        d = beta * np.sum(p * (log_p - log_m), axis=-1)
        d = d + (1 - beta) * np.sum(q * (log_q - log_m), axis=-1)
    loss = temperature**2 * d
    return loss if where is None else np.where(where, loss, 0.0)


def _ref_kl(h, w, th, tw=None, *, bias=None, teacher_bias=None, temperature=1.0,
            reverse=False, where=None, chunk_size=None, custom_vjp=True):  # fmt: skip
    beta = 1.0 if reverse else 0.0
    return _divergence(h, w, th, tw, bias, teacher_bias, temperature, beta, where)


def _ref_jsd(h, w, th, tw=None, *, bias=None, teacher_bias=None, beta=0.5, temperature=1.0,
             where=None, chunk_size=None, custom_vjp=True):  # fmt: skip
    return _divergence(h, w, th, tw, bias, teacher_bias, temperature, beta, where)


_MASK = np.array([True, False, True, True, False, True])
_AXES = (0, None, 0, None)  # tokens of both models batched, weights shared


def _models(rng: np.random.Generator):
    return (normal(rng, _N, _D), normal(rng, _D, _V), normal(rng, _N, _DT), normal(rng, _DT, _V))


def _sample(extra: list[dict[str, object]]):
    def sample(rng: np.random.Generator) -> list[Case]:
        args = _models(rng)
        base = {"custom_vjp": False, "chunk_size": 4}  # 6 tokens: a padded last chunk
        cases = [
            Case("chunks of 4 over 6 tokens", args, base, _AXES),
            Case("token mask, temperature=2", args,
                 {**base, "where": _MASK, "temperature": 2.0}, _AXES, {"where": 0}),
            Case("biases of both models", args,
                 {**base, "bias": normal(rng, _V), "teacher_bias": normal(rng, _V)}, _AXES),
            Case("precomputed teacher logits", (args[0], args[1], normal(rng, _N, _V, scale=2.0)),
                 {**base, "temperature": 0.5}, (0, None, 0)),
            Case("default custom_vjp, mask, temperature=3", args,
                 {"chunk_size": 4, "where": _MASK, "temperature": 3.0}, _AXES, {"where": 0}),
        ]  # fmt: skip
        for i, kw in enumerate(extra):
            label = ", ".join(f"{k}={v}" for k, v in kw.items())
            cases.append(Case(label, args, {**base, **kw}, _AXES))
            if i == 0:
                cases.append(Case(f"default custom_vjp, {label}, mask", args,
                                  {"chunk_size": 4, "where": _MASK, **kw}, _AXES, {"where": 0}))  # fmt: skip
        return cases

    return sample


def _stress(extra: dict[str, object]):
    def stress() -> list[Case]:
        h = np.array([[100.0, -100.0, 0.0, 1.0], [-100.0, 100.0, 50.0, 0.0]] * 3, np.float32)
        w = np.array([[100.0, -100.0, 0.0, 1.0, 2.0], [0.0, 100.0, -100.0, 0.0, 1.0]] * 2,
                     np.float32)  # fmt: skip
        th = np.roll(h[:, :3], 1, axis=0)
        tw = np.array([[1e2, 0.0, -1e2, 5.0, 1.0]] * 3, np.float32)
        none = np.zeros(6, bool)
        return [
            Case("logits of magnitude 1e4", (h, w, th, tw), {"chunk_size": 4, **extra}),
            Case("all tokens masked", (h, w, th, tw), {"where": none, **extra}),
            Case("huge logits, temperature=0.1, mask", (h, w, th, tw),
                 {"temperature": 0.1, "where": np.arange(6) % 2 == 0, **extra}),
        ]  # fmt: skip

    return stress


_KL_PEER = Peer("torch.nn.functional.kl_div",
                note="on log_softmax(h @ W / T) of both models, log_target=True; no T²",
                tested_by=f"{_TEST}::test_fused_kl_matches_torch_kl_div")  # fmt: skip
_TRL = Peer("trl.experimental.gkd.gkd_trainer.GKDTrainer.generalized_jsd_loss",
            note="on the materialised logits; no T²",
            tested_by=f"{_TEST}::test_fused_jsd_matches_trl")  # fmt: skip

ENTRIES: list[Entry] = [
    Entry(name="linear_kl_distillation_loss", reference=_ref_kl,
          sample=_sample([{"reverse": True}]), stress=_stress({}), argnums=(0, 1),
          free_args=(0, 1, 2), properties=frozenset({NONNEG}), peers=(_KL_PEER,)),
    Entry(name="linear_jsd_distillation_loss", reference=_ref_jsd,
          sample=_sample([{"beta": 0.3, "temperature": 2.0}, {"beta": 0.0}, {"beta": 1.0}]),
          stress=_stress({"beta": 0.5}), argnums=(0, 1), free_args=(0, 1, 2),
          properties=frozenset({NONNEG}), peers=(_TRL,)),
]  # fmt: skip
