"""Conformance of the preference losses with TRL (the ``peers`` extra), values and gradients.

TRL 1.x computes its losses inside the trainers, with no standalone loss function: DPO and
KTO inside ``_compute_loss(model, inputs)``, CPO/SimPO in ``CPOTrainer.cpo_loss``, ORPO in
``ORPOTrainer.odds_ratio_loss``, the sequence log-probabilities in ``get_batch_logps``.
Each is called here on a trainer made without its ``__init__`` (``object.__new__`` and the
attributes the method reads), with a stand-in model whose forward returns given per-token
log-probabilities, so both libraries see the same numbers. Gradients are compared for
every log-probability input (policy and reference), in float64; these are the tests the
catalogue's ``Peer.tested_by`` names.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

with warnings.catch_warnings():  # transformers' import-time deprecations are not ours
    warnings.simplefilter("ignore")
    from trl.experimental.cpo.cpo_trainer import CPOTrainer
    from trl.experimental.orpo.orpo_trainer import ORPOTrainer
    from trl.trainer.dpo_trainer import DPOTrainer
    from trl.trainer.kto_trainer import KTOTrainer

RTOL = 1e-10

_ACCELERATOR = SimpleNamespace(
    device=torch.device("cpu"),
    gather=lambda x: x,
    gather_for_metrics=lambda x: x,
    unwrap_model=lambda m: m,
)


def _t(a: Any, grad: bool = False) -> Any:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


class _Model:
    """Stands in for the policy: its forward returns fixed per-token log-probabilities.

    ``by_width`` maps the width of ``input_ids`` to the ``[N, width - 1]`` log-probs to
    return (KTO calls it on its KL batch, of another width, too).
    """

    training = True

    def __init__(self, by_width: dict[int, Any]):
        self.by_width = by_width

    def __call__(self, *, input_ids, **_: Any) -> Any:
        lp = self.by_width[input_ids.shape[1]]
        zeros = torch.zeros(lp.shape, dtype=torch.float64)
        return SimpleNamespace(
            log_probs=lp, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool(), aux_loss=0.0
        )


def _trainer(cls: type, **attrs: Any) -> Any:
    trainer = object.__new__(cls)
    common = {
        "accelerator": _ACCELERATOR,
        "aux_loss_enabled": False,
        "precompute_ref_logps": True,
        "_metrics": defaultdict(lambda: defaultdict(list)),
        "_total_train_tokens": 0,
        "_tp_size": 1,
        "args": SimpleNamespace(),
    }
    for k, v in {**common, **attrs}.items():
        setattr(trainer, k, v)
    return trainer


def _completions(rng: np.random.Generator, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A completion mask ``[n, width]`` (a prompt of 1-2 tokens, 2+ completion tokens, then
    padding) and per-token log-probs ``[n, width - 1]`` that are 0 off the completion (as
    the fused head returns for ``-100`` labels)."""
    mask = np.zeros((n, width), np.int64)
    for i in range(n):
        start = int(rng.integers(1, 3))
        mask[i, start : start + int(rng.integers(2, width - start + 1))] = 1
    tok = -rng.uniform(0.05, 4.0, (n, width - 1)) * mask[:, 1:]
    return mask, tok


# --- DPO (sigmoid, robust, IPO, hinge): DPOTrainer._compute_loss ---------------------------

_DPO_CASES = [
    ("sigmoid", jl.dpo_loss, {"beta": 0.1}),
    ("sigmoid", jl.dpo_loss, {"beta": 0.7}),
    ("robust", jl.robust_dpo_loss, {"beta": 0.3, "label_smoothing": 0.2}),
    ("ipo", jl.ipo_loss, {"beta": 0.5}),
    ("hinge", jl.preference_hinge_loss, {"beta": 0.1}),
]


@pytest.mark.parametrize(
    ("loss_type", "ours", "kw"), _DPO_CASES, ids=[f"{c[0]}-{c[2]}" for c in _DPO_CASES]
)
def test_dpo_trainer_losses(x64, rng, loss_type, ours, kw):
    pairs, width = 4, 7
    mask, tok = _completions(rng, 2 * pairs, width)
    ref = -rng.uniform(2.0, 20.0, (2, pairs))
    if loss_type == "hinge":  # both sides of the hinge's kink
        ref[0, 0] += 30.0
    per_token = _t(tok, grad=True)
    ref_c, ref_r = _t(ref[0], grad=True), _t(ref[1], grad=True)
    trainer = _trainer(
        DPOTrainer,
        model=_Model({width: per_token}),
        ld_alpha=None,
        f_divergence_type="reverse_kl",
        loss_types=[loss_type],
        loss_weights=[1.0],
        beta=kw["beta"],
        label_smoothing=kw.get("label_smoothing", 0.0),
        use_weighting=False,
    )
    inputs = {
        "input_ids": torch.ones((2 * pairs, width), dtype=torch.long),
        "attention_mask": torch.ones((2 * pairs, width), dtype=torch.long),
        "completion_mask": torch.tensor(mask),
        "ref_chosen_logps": ref_c,
        "ref_rejected_logps": ref_r,
    }
    theirs = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    theirs.backward()

    lengths = mask.sum(1)  # TRL's IPO averages over the completion tokens

    def batch_loss(t, rc, rr):
        logps = jnp.sum(t, axis=1)
        pc, pr = logps[:pairs], logps[pairs:]
        if loss_type == "ipo":
            pc, pr, rc, rr = (
                pc / lengths[:pairs],
                pr / lengths[pairs:],
                rc / lengths[:pairs],
                rr / lengths[pairs:],
            )
        return jnp.mean(ours(pc, pr, rc, rr, **kw))

    value, grads = jax.value_and_grad(batch_loss, (0, 1, 2))(tok, ref[0], ref[1])
    np.testing.assert_allclose(float(value), theirs.item(), rtol=RTOL)
    for g, t in zip(grads, (per_token, ref_c, ref_r)):
        np.testing.assert_allclose(np.asarray(g), _np(t.grad), rtol=RTOL, atol=1e-15)
    # TRL's metrics are those of preference_rewards.
    logps = tok.sum(1)
    r = jl.preference_rewards(logps[:pairs], logps[pairs:], ref[0], ref[1], beta=kw["beta"])
    metrics = trainer._metrics["train"]
    for key, ours_metric in [
        ("rewards/chosen", r.chosen),
        ("rewards/rejected", r.rejected),
        ("rewards/margins", r.margins),
        ("rewards/accuracies", r.accuracies),
    ]:
        np.testing.assert_allclose(float(jnp.mean(ours_metric)), metrics[key][-1], rtol=RTOL)
    if loss_type != "ipo":  # the closed form, per pair (TRL averages over the pairs)
        closed = getattr(jl.closed_form, ours.__name__)
        g_c, g_r = closed(logps[:pairs], logps[pairs:], ref[0], ref[1], **kw)
        row = _row_grad(per_token)
        np.testing.assert_allclose(np.asarray(g_c) / pairs, row[:pairs], rtol=RTOL)
        np.testing.assert_allclose(np.asarray(g_r) / pairs, row[pairs:], rtol=RTOL)


def _row_grad(per_token: Any) -> np.ndarray:
    """The gradient w.r.t. each sequence's log-probability: TRL's per-token gradient, the
    same at every position of a row (TRL sums the whole row)."""
    g = _np(per_token.grad)
    np.testing.assert_allclose(g, np.broadcast_to(g[:, :1], g.shape), rtol=1e-14)
    return g[:, 0]


# --- conservative DPO and SimPO: CPOTrainer.cpo_loss --------------------------------------


def _cpo(loss_type: str, beta: float, label_smoothing: float, gamma: float = 0.5) -> Any:
    return _trainer(
        CPOTrainer,
        alpha=0.0,
        beta=beta,
        label_smoothing=label_smoothing,
        loss_type=loss_type,
        simpo_gamma=gamma,
    )


def _torch_value_and_grads(fn: Any, *arrays: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """``fn(*tensors)`` per example, and the gradients of its sum w.r.t. each input."""
    ts = [_t(a, grad=True) for a in arrays]
    out = fn(*ts)
    out.sum().backward()
    return _np(out), [_np(t.grad) for t in ts]


def _ours_value_and_grads(fn: Any, *arrays: np.ndarray, **kw: Any) -> Any:
    value = fn(*arrays, **kw)
    grads = jax.grad(lambda *a: jnp.sum(fn(*a, **kw)), tuple(range(len(arrays))))(*arrays)
    return np.asarray(value), [np.asarray(g) for g in grads]


def _assert_same(ours: Any, theirs: Any, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=1e-15)
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize(("beta", "eps"), [(0.1, 0.1), (0.5, 0.3)])
def test_conservative_dpo(x64, rng, beta, eps):
    """cDPO is CPO's smoothed sigmoid loss on the log-ratios ``π - π_ref``."""
    pc, pr, rc, rr = (-rng.uniform(5.0, 40.0, 5) for _ in range(4))
    trainer = _cpo("sigmoid", beta, eps)
    theirs = _torch_value_and_grads(
        lambda a, b, c, d: trainer.cpo_loss(a - c, b - d)[0], pc, pr, rc, rr
    )
    kw = {"beta": beta, "label_smoothing": eps}
    ours = _ours_value_and_grads(jl.dpo_loss, pc, pr, rc, rr, **kw)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(jl.closed_form.dpo_loss(pc, pr, rc, rr, **kw), theirs[1][:2])


@pytest.mark.parametrize(
    "kw",
    [{"beta": 0.1, "gamma": 0.5}, {"beta": 2.0, "gamma": 1.0, "label_smoothing": 0.1}],
    ids=["TRL defaults", "paper beta and gamma, smoothed"],
)
def test_simpo(x64, rng, kw):
    c, r = -rng.uniform(0.05, 3.0, 5), -rng.uniform(0.05, 3.0, 5)
    trainer = _cpo("simpo", kw["beta"], kw.get("label_smoothing", 0.0), kw["gamma"])
    theirs = _torch_value_and_grads(lambda a, b: trainer.cpo_loss(a, b)[0], c, r)
    ours = _ours_value_and_grads(jl.simpo_loss, c, r, **kw)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(jl.closed_form.simpo_loss(c, r, **kw), theirs[1])


# --- ORPO: ORPOTrainer.odds_ratio_loss ---------------------------------------------------


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_orpo(x64, beta):
    """``orpo_loss = -c - odds_ratio_loss``; TRL computes the odds ratio in float32."""
    c = np.array([-0.05, -0.3, -0.49, -0.7, -2.5, -6.0])  # both sides of our branch at -0.5
    r = np.array([-1.2, -0.02, -3.0, -0.6, -0.4, -9.0])
    trainer = _trainer(ORPOTrainer, beta=beta)
    theirs = _torch_value_and_grads(lambda a, b: -a - trainer.odds_ratio_loss(a, b)[0], c, r)
    ours = _ours_value_and_grads(jl.orpo_loss, c, r, beta=beta)
    _assert_same(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(jl.closed_form.orpo_loss(c, r, beta=beta), theirs[1], rtol=1e-6)


# --- KTO: KTOTrainer._compute_loss ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kl_shift", "kw"),
    [
        (1.5, {"beta": 0.1}),
        (-3.0, {"beta": 0.5, "desirable_weight": 1.3, "undesirable_weight": 0.7}),
    ],
    ids=["KL estimate > 0", "KL estimate clamped at 0, weights"],
)
def test_kto(x64, rng, kl_shift, kw):
    n, width = 6, 6
    desirable = np.array([True, False, False, True, True, False])
    mask, tok = _completions(rng, n, width)
    kl_mask, kl_tok = _completions(rng, n, width + 1)
    ref = -rng.uniform(2.0, 20.0, n)
    ref_kl = kl_tok.sum(1) + kl_shift + rng.normal(0.0, 0.1, n)  # mean KL about -kl_shift
    per_token, ref_t = _t(tok, grad=True), _t(ref, grad=True)
    trainer = _trainer(
        KTOTrainer,
        model=_Model({width: per_token, width + 1: _t(kl_tok)}),
        calculate_KL=True,
        loss_type="kto",
        beta=kw["beta"],
        desirable_weight=kw.get("desirable_weight", 1.0),
        undesirable_weight=kw.get("undesirable_weight", 1.0),
    )
    batch = {
        "label": torch.tensor(desirable),
        "input_ids": torch.ones((n, width), dtype=torch.long),
        "attention_mask": torch.ones((n, width), dtype=torch.long),
        "completion_mask": torch.tensor(mask),
        "KL_input_ids": torch.ones((n, width + 1), dtype=torch.long),
        "KL_attention_mask": torch.ones((n, width + 1), dtype=torch.long),
        "KL_completion_mask": torch.tensor(kl_mask),
        "ref_logps": ref_t,
        "ref_KL_logps": _t(ref_kl),
    }
    theirs = trainer._compute_loss(trainer.model, batch, return_outputs=False)
    theirs.backward()
    kl = max(float(np.mean(kl_tok.sum(1) - ref_kl)), 0.0)  # TRL's reference point
    assert (kl > 0) == (kl_shift < 0)
    np.testing.assert_allclose(trainer._metrics["train"]["kl"][-1], kl, rtol=1e-12)

    def batch_loss(t, rf):
        return jnp.mean(jl.kto_loss(jnp.sum(t, axis=1), rf, desirable, kl, **kw))

    value, (g_tok, g_ref) = jax.value_and_grad(batch_loss, (0, 1))(tok, ref)
    np.testing.assert_allclose(float(value), theirs.item(), rtol=RTOL)
    np.testing.assert_allclose(np.asarray(g_tok), _np(per_token.grad), rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(np.asarray(g_ref), _np(ref_t.grad), rtol=RTOL, atol=1e-15)
    closed = jl.closed_form.kto_loss(tok.sum(1), ref, desirable, kl, **kw)
    np.testing.assert_allclose(np.asarray(closed) / n, _row_grad(per_token), rtol=RTOL)


# --- sequence log-probabilities: get_batch_logps ------------------------------------------


@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs(x64, rng, average):
    """TRL shifts inside (``logits[:, :-1]`` against ``labels[:, 1:]``) and ignores -100."""
    b, t, v, d = 3, 6, 7, 4
    logits = rng.normal(0.0, 2.0, (b, t, v))
    labels = rng.integers(0, v, (b, t))
    labels[0, :3] = -100  # a prompt
    labels[1, -2:] = -100  # padding
    tl = _t(logits, grad=True)
    theirs = CPOTrainer.get_batch_logps(tl, torch.tensor(labels), average_log_prob=average)
    theirs.sum().backward()
    y, keep = labels[:, 1:], labels[:, 1:] != -100

    def ours(x):
        return jl.sequence_log_probs(x[:, :-1], y, where=keep, average=average)

    np.testing.assert_allclose(np.asarray(ours(logits)), _np(theirs), rtol=RTOL)
    grad = jax.grad(lambda x: jnp.sum(ours(x)))(logits)
    np.testing.assert_allclose(np.asarray(grad), _np(tl.grad), rtol=RTOL, atol=1e-15)

    # The fused form, from hidden states and the output weight.
    h, w = rng.normal(size=(b, t, d)), rng.normal(size=(d, v))
    th, tw = _t(h, grad=True), _t(w, grad=True)
    theirs = CPOTrainer.get_batch_logps(th @ tw, torch.tensor(labels), average_log_prob=average)
    theirs.sum().backward()

    def fused(hh, ww):
        return jl.linear_sequence_log_probs(
            hh[:, :-1], ww, y, where=keep, average=average, chunk_size=4
        )

    np.testing.assert_allclose(np.asarray(fused(h, w)), _np(theirs), rtol=RTOL)
    g_h, g_w = jax.grad(lambda hh, ww: jnp.sum(fused(hh, ww)), (0, 1))(h, w)
    np.testing.assert_allclose(np.asarray(g_h), _np(th.grad), rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(np.asarray(g_w), _np(tw.grad), rtol=RTOL, atol=1e-15)
