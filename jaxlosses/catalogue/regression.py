"""Proof records of the regression losses (:mod:`jaxlosses._regression`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import ELEMENTWISE_TARGETS, B, K, normal

FAMILY = "regression"


def _sample_regression(rng: np.random.Generator) -> list[Case]:
    p, t = normal(rng, B, K, scale=2.0), normal(rng, B, K, scale=2.0)
    return [Case("predictions, targets", (p, t)), Case("targets=None", (p,))]


def _stress_regression() -> list[Case]:
    p = np.array([[1e4, -1e4, 0.0, 1.0, -3e3]], np.float32)
    return [Case("huge residuals", (p, np.zeros_like(p))), Case("zero residuals", (p, p))]


def _ref_residual(p, t=None):
    return p if t is None else p - t


def _ref_huber(p, t=None, *, delta=1.0):
    a = np.abs(_ref_residual(p, t))
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))


def _ref_smooth_l1(p, t=None, *, beta=1.0):
    a = np.abs(_ref_residual(p, t))
    if beta == 0:
        return a
    return np.where(a < beta, 0.5 * a**2 / beta, a - 0.5 * beta)


def _with_kw(sampler: Callable[[np.random.Generator], list[Case]], **kw: Any):
    def sample(rng: np.random.Generator) -> list[Case]:
        cases = sampler(rng)
        extra = [
            dataclasses.replace(c, label=f"{c.label}, {kw}", kwargs={**c.kwargs, **kw})
            for c in cases
        ]
        return cases + extra

    return sample


def _ref_cosine(p, t, *, epsilon=0.0, axis=-1, where=None):
    assert where is None
    na = np.sqrt(np.maximum((p**2).sum(axis), epsilon))
    nb = np.sqrt(np.maximum((t**2).sum(axis), epsilon))
    return (p * t).sum(axis) / (na * nb)


def _sample_cosine(rng: np.random.Generator) -> list[Case]:
    p, t = normal(rng, B, K), normal(rng, B, K)
    return [
        Case("vectors", (p, t)),
        Case("epsilon floor active", (0.1 * p, t), {"epsilon": 1.0}),
    ]


def _stress_cosine() -> list[Case]:
    p = np.array([[0.0] * 5, [1e4, -1e4, 0.0, 1.0, 2.0], [1e-20, 0.0, 0.0, 0.0, 0.0]], np.float32)
    t = np.array([[1.0] * 5, [0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    return [Case("zero-norm and huge vectors", (p, t))]


def _ref_pinball(p, t, *, quantiles):
    q = np.asarray(quantiles, np.float64)
    if q.ndim == 1 and np.ndim(t) == np.ndim(p) - 1:
        t = np.asarray(t)[..., None]
    r = t - p
    return np.maximum(q * r, (q - 1.0) * r)


def _sample_pinball(rng: np.random.Generator) -> list[Case]:
    p, t = normal(rng, B, K, scale=2.0), normal(rng, B, scale=2.0)
    q = np.sort(rng.uniform(0.05, 0.95, K))
    return [
        Case("Q quantiles, one target per example", (p, t), {"quantiles": q}),
        Case("per-quantile targets", (p, normal(rng, B, K)), {"quantiles": tuple(q.tolist())}),
        Case("one quantile", (p, normal(rng, B, K)), {"quantiles": 0.3}),
    ]


def _stress_pinball() -> list[Case]:
    p = np.array([[1e4, -1e4, 0.0, 1.0, -3e3]], np.float32)
    q = np.array([0.01, 0.25, 0.5, 0.75, 0.99], np.float32)
    return [
        Case("huge residuals", (p, np.zeros(1, np.float32)), {"quantiles": q}),
        Case("zero residuals", (p, p), {"quantiles": q}),
    ]


def _ref_tweedie(mu, y, *, power=0.0):
    """scikit-learn's mean_tweedie_deviance, per element, written out."""
    y = np.broadcast_to(y, mu.shape)
    if power == 0:
        return (y - mu) ** 2
    if power == 1:
        return 2.0 * (special.xlogy(y, y / mu) - y + mu)
    if power == 2:
        return 2.0 * (np.log(mu / y) + y / mu - 1.0)
    y_pos = np.maximum(y, 0.0) if power < 0 else y
    return 2.0 * (
        y_pos ** (2 - power) / ((1 - power) * (2 - power))
        - y * mu ** (1 - power) / (1 - power)
        + mu ** (2 - power) / (2 - power)
    )


def _sample_tweedie(rng: np.random.Generator) -> list[Case]:
    mu = rng.uniform(0.2, 4.0, (B, K))
    y = rng.uniform(0.2, 4.0, (B, K))
    counts = rng.poisson(1.5, (B, K)).astype(np.float64)  # zeros included
    return [
        Case("power=0 (squared error)", (normal(rng, B, K), normal(rng, B, K))),
        Case("power=1 (Poisson), counts", (mu, counts), {"power": 1}),
        Case("power=1.5 (compound Poisson-gamma)", (mu, counts), {"power": 1.5}),
        Case("power=2 (gamma)", (mu, y), {"power": 2.0}),
        Case("power=3 (inverse Gaussian)", (mu, y), {"power": 3.0}),
        Case("power=-1, real targets", (mu, normal(rng, B, K)), {"power": -1.0}),
    ]


def _stress_tweedie() -> list[Case]:
    mu = np.array([[1e-4, 1e4, 1.0, 3e3, 1e-3]], np.float32)
    y = np.array([[1e3, 1e-3, 0.0, 0.0, 0.0]], np.float32)
    return [
        Case("power=1.5", (mu, y), {"power": 1.5}),
        Case("power=1", (mu, y), {"power": 1.0}),
        Case("power=2", (mu, y + 1e-2), {"power": 2.0}),
    ]


def _sample_gamma(rng: np.random.Generator) -> list[Case]:
    return [Case("positive", (rng.uniform(0.2, 4.0, (B, K)), rng.uniform(0.2, 4.0, (B, K))))]


def _stress_gamma() -> list[Case]:
    mu = np.array([[1e-4, 1e4, 1.0, 3e3, 1e-3]], np.float32)
    return [Case("extreme ratios", (mu, np.array([[1e3, 1e-3, 1.0, 1e-2, 1e4]], np.float32)))]


def _ref_msle(p, t):
    return (np.log1p(p) - np.log1p(t)) ** 2


def _sample_msle(rng: np.random.Generator) -> list[Case]:
    p, t = rng.uniform(0.0, 5.0, (B, K)), rng.uniform(0.0, 5.0, (B, K))
    return [
        Case("non-negative", (p, t)),
        Case("in (-1, 0) too", (rng.uniform(-0.9, 2.0, (B, K)), rng.uniform(-0.9, 2.0, (B, K)))),
    ]


def _stress_msle() -> list[Case]:
    p = np.array([[1e4, 0.0, 3e3, -0.999, 1e-7]], np.float32)
    return [Case("extreme", (p, np.array([[0.0, 1e4, 3e3, 0.0, 1e-7]], np.float32)))]


ENTRIES: list[Entry] = [
    Entry(name="squared_error", reference=lambda p, t=None: _ref_residual(p, t) ** 2,
          sample=_sample_regression, stress=_stress_regression, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.squared_error"),
                 Peer("torch.nn.functional.mse_loss", kwargs={"reduction": "none"}),)),
    Entry(name="l2_loss", reference=lambda p, t=None: 0.5 * _ref_residual(p, t) ** 2,
          sample=_sample_regression, stress=_stress_regression, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}), peers=(Peer("optax.losses.l2_loss"),)),
    Entry(name="absolute_error", reference=lambda p, t=None: np.abs(_ref_residual(p, t)),
          sample=_sample_regression, stress=_stress_regression, smooth=False,
          accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          peers=(Peer("torch.nn.functional.l1_loss", kwargs={"reduction": "none"}),)),
    Entry(name="huber_loss", reference=_ref_huber, sample=_with_kw(_sample_regression, delta=0.5),
          stress=_stress_regression, smooth=False, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}),
          peers=(Peer("optax.losses.huber_loss"),
                 Peer("torch.nn.functional.huber_loss", kwargs={"reduction": "none"}),)),
    Entry(name="smooth_l1_loss", reference=_ref_smooth_l1,
          sample=_with_kw(_sample_regression, beta=2.0), stress=_stress_regression, smooth=False,
          accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          peers=(Peer("torch.nn.functional.smooth_l1_loss", kwargs={"reduction": "none"}),)),
    Entry(name="log_cosh", reference=lambda p, t=None: np.log(np.cosh(_ref_residual(p, t))),
          sample=_sample_regression, stress=_stress_regression, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}), peers=(Peer("optax.losses.log_cosh"),)),
    Entry(name="cosine_similarity", reference=_ref_cosine, sample=_sample_cosine,
          stress=_stress_cosine, class_args=(0, 1), where_slices=True, free_args=(0, 1),
          peers=(Peer("optax.losses.cosine_similarity"),
                 Peer("torch.nn.functional.cosine_similarity", kwargs={"dim": -1},
                      rename={"epsilon": "eps"}, skip_cases={ "epsilon floor active": "same value, but torch clamps the norms " "outside autograd, so its gradient ignores the floor" },),)),
    Entry(name="cosine_distance", reference=lambda p, t, **kw: 1.0 - _ref_cosine(p, t, **kw),
          sample=_sample_cosine, stress=_stress_cosine, class_args=(0, 1), where_slices=True,
          properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("optax.losses.cosine_distance"),)),
    Entry(name="pinball_loss", reference=_ref_pinball, sample=_sample_pinball,
          stress=_stress_pinball, smooth=False, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG})),
    Entry(name="tweedie_deviance", reference=_ref_tweedie, sample=_sample_tweedie,
          stress=_stress_tweedie, accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          free_args=()),
    Entry(name="gamma_deviance", reference=lambda mu, y: _ref_tweedie(mu, y, power=2),
          sample=_sample_gamma, stress=_stress_gamma, accepts=ELEMENTWISE_TARGETS,
          properties=frozenset({NONNEG}), free_args=()),
    Entry(name="mean_squared_log_error", reference=_ref_msle, sample=_sample_msle,
          stress=_stress_msle, accepts=ELEMENTWISE_TARGETS, properties=frozenset({NONNEG}),
          free_args=()),
]  # fmt: skip
