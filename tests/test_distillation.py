"""Distillation losses against TRL's GKD loss and PyTorch's ``kl_div`` (the catalogue's
``Peer.tested_by``): values and the gradients w.r.t. both the student and the teacher
logits, in float64. Neither peer has the ``T²`` factor; TRL reduces (``labels=-100``
drops padded tokens), so the per-token values are compared through ``reduction='none'``
and the masked sums through ``reduction='sum'``.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPE = (2, 3, 7)  # batch, sequence, vocabulary


@pytest.fixture(scope="module")
def trl_jsd():
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd.gkd_trainer import GKDTrainer

    return GKDTrainer.generalized_jsd_loss


def _logits(rng):
    return rng.standard_normal(SHAPE) * 2, rng.standard_normal(SHAPE) * 2


def _ours(fn, s, t, **kw):
    value = fn(s, t, **kw)
    grads = jax.grad(lambda a, b: jnp.sum(fn(a, b, **kw)), (0, 1))(s, t)
    return np.asarray(value), [np.asarray(g) for g in grads]


def _torch(peer, s, t):
    ts = torch.tensor(s, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    out = peer(ts, tt)
    out.sum().backward()
    return out.detach().numpy(), [ts.grad.numpy(), tt.grad.numpy()]


def _close(ours, theirs, scale, msg):
    value, grads = ours
    t_value, t_grads = theirs
    np.testing.assert_allclose(value, scale * t_value, rtol=1e-10, atol=1e-13, err_msg=msg)
    for g, tg, who in zip(grads, t_grads, ("student", "teacher")):
        np.testing.assert_allclose(g, scale * tg, rtol=1e-10, atol=1e-13, err_msg=f"{msg}, {who}")


@pytest.mark.parametrize(
    ("beta", "temperature"), [(0.5, 1.0), (0.1, 2.0), (0.9, 0.5), (0.0, 2.0), (1.0, 1.5)]
)
def test_generalized_jsd_matches_trl(trl_jsd, rng, x64, beta, temperature):
    s, t = _logits(rng)
    scale = temperature**2  # ours is T² times TRL's
    ours = _ours(jl.jsd_distillation_loss, s, t, beta=beta, temperature=temperature)

    def trl_per_token(a, b):
        jsd = trl_jsd(a, b, beta=beta, temperature=temperature, reduction="none")
        return jsd.sum(-1)

    _close(ours, _torch(trl_per_token, s, t), scale, f"beta={beta}, T={temperature}")
    if beta in (0.0, 1.0):  # TRL's endpoints are the KLs
        kl = _ours(jl.kl_distillation_loss, s, t, temperature=temperature, reverse=beta == 1.0)
        _close(kl, _torch(trl_per_token, s, t), scale, f"KL as beta={beta}")


def test_padded_tokens_are_trl_labels(trl_jsd, rng, x64):
    """``where`` (token mask) equals TRL's ``labels == -100`` under a summed reduction."""
    s, t = _logits(rng)
    keep = np.array([[True, True, False], [True, False, False]])
    labels = torch.tensor(np.where(keep, 1, -100))
    ours = _ours(
        lambda a, b, **kw: jnp.sum(jl.jsd_distillation_loss(a, b, **kw)),
        s,
        t,
        beta=0.3,
        temperature=2.0,
        where=keep,
    )

    def trl_sum(a, b):
        return trl_jsd(a, b, labels=labels, beta=0.3, temperature=2.0, reduction="sum")

    _close(ours, _torch(trl_sum, s, t), 4.0, "padded tokens")


@pytest.mark.parametrize("reverse", [False, True])
def test_kl_distillation_matches_torch_kl_div(rng, x64, reverse):
    """Hinton's loss: ``T² kl_div(log_softmax(s/T), log_softmax(t/T), log_target=True)``."""
    s, t = _logits(rng)
    temperature = 3.0

    def peer(a, b):
        log_q = F.log_softmax(a / temperature, dim=-1)
        log_p = F.log_softmax(b / temperature, dim=-1)
        first, second = (log_p, log_q) if reverse else (log_q, log_p)
        return F.kl_div(first, second, log_target=True, reduction="none").sum(-1)

    ours = _ours(jl.kl_distillation_loss, s, t, temperature=temperature, reverse=reverse)
    _close(ours, _torch(peer, s, t), temperature**2, f"reverse={reverse}")
    # The T² scale: the student's gradient is T (q - p), of the same size at any T.
    if not reverse:
        q = jax.nn.softmax(s / temperature, axis=-1)
        p = jax.nn.softmax(t / temperature, axis=-1)
        np.testing.assert_allclose(ours[1][0], temperature * (q - p), rtol=1e-10, atol=1e-14)
