"""Proof records of the maximum-likelihood losses (:mod:`jaxlosses._likelihood`)."""

from __future__ import annotations

import numpy as np

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import ELEMENTWISE_TARGETS, B, K, normal

FAMILY = "maximum likelihood"


def _ref_gaussian_nll(mu, y, var, *, full=False, eps=1e-6):
    if var.ndim == mu.ndim - 1:
        var = var[..., None]
    var = np.maximum(var, eps)
    out = 0.5 * (np.log(var) + (mu - y) ** 2 / var) + (0.5 * np.log(2 * np.pi) if full else 0.0)
    return np.broadcast_to(out, mu.shape)


def _sample_gaussian_nll(rng: np.random.Generator) -> list[Case]:
    d = 4
    mu, y = normal(rng, B, d), normal(rng, B, d)
    var = rng.uniform(0.2, 3.0, (B, d))
    return [
        Case("variance per output dimension", (mu, y, var)),
        Case("full=True", (mu, y, var), {"full": True}),
        Case("one variance per example", (mu, y, rng.uniform(0.2, 3.0, B))),
        Case("shared variance [1, D]", (mu, y, rng.uniform(0.2, 3.0, (1, d))), in_axes=None),
    ]


def _stress_gaussian_nll() -> list[Case]:
    mu = np.array([[1e4, -1e4, 0.0], [0.0, 1.0, 2.0]], np.float32)
    y = np.zeros_like(mu)
    var = np.array([[1e-30, 0.0, 1e30], [1e-6, 1e4, 1.0]], np.float32)
    return [Case("tiny and huge variances", (mu, y, var))]


def _ref_poisson_nll(x, y, *, log_input=True, full=False, eps=1e-8):
    out = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    if full:
        ys = np.where(y > 1, y, 1.0)
        out = out + np.where(y > 1, ys * np.log(ys) - ys + 0.5 * np.log(2 * np.pi * ys), 0.0)
    return out


def _sample_poisson_nll(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K)
    counts = rng.poisson(3.0, (B, K)).astype(np.float64)
    rate = rng.uniform(0.3, 5.0, (B, K))
    return [
        Case("log-rate input", (x, counts)),
        Case("log-rate, full=True", (x, counts), {"full": True}),
        Case("rate input", (rate, counts), {"log_input": False}),
    ]


def _stress_poisson_nll() -> list[Case]:
    x = np.array([[50.0, -50.0, 0.0, -1e4, 20.0]], np.float32)
    y = np.array([[0.0, 100.0, 1.0, 0.0, 1e6]], np.float32)
    return [
        Case("extreme log-rates", (x, y), {"full": True}),
        Case("zero rate", (np.zeros((1, 5), np.float32), y), {"log_input": False}),
    ]


def _ref_gaussian_kl(mu, lv, *, axis=-1):
    # KL(N(mu, s^2) || N(0, 1)) from the general two-Gaussian formula.
    s = np.exp(0.5 * lv)
    m0, s0 = 0.0, 1.0
    return np.sum(np.log(s0 / s) + (s**2 + (mu - m0) ** 2) / (2 * s0**2) - 0.5, axis=axis)


def _sample_gaussian_kl(rng: np.random.Generator) -> list[Case]:
    return [Case("diagonal posterior", (normal(rng, B, 4), normal(rng, B, 4, scale=0.5)))]


def _stress_gaussian_kl() -> list[Case]:
    mu = np.array([[1e4, -1e4, 0.0]], np.float32)
    lv = np.array([[-80.0, 80.0, 0.0]], np.float32)
    return [Case("extreme means and log-variances", (mu, lv))]


ENTRIES: list[Entry] = [
    Entry(name="gaussian_nll", reference=_ref_gaussian_nll, sample=_sample_gaussian_nll,
          stress=_stress_gaussian_nll, argnums=(0, 2), accepts=ELEMENTWISE_TARGETS,
          free_args=(0, 1),
          peers=(Peer("torch.nn.functional.gaussian_nll_loss", kwargs={"reduction": "none"}),)),
    Entry(name="poisson_nll", reference=_ref_poisson_nll, sample=_sample_poisson_nll,
          stress=_stress_poisson_nll, accepts=ELEMENTWISE_TARGETS, free_args=(),
          peers=(Peer("torch.nn.functional.poisson_nll_loss", kwargs={"reduction": "none"}),)),
    Entry(name="gaussian_kl_divergence", reference=_ref_gaussian_kl, sample=_sample_gaussian_kl,
          stress=_stress_gaussian_kl, argnums=(0, 1), class_args=(0, 1),
          properties=frozenset({NONNEG})),
]  # fmt: skip
