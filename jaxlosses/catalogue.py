"""The catalogue: one entry per public loss.

Each :class:`Entry` holds the loss, its closed-form gradient
(:mod:`jaxlosses.closed_form`), a sampler of valid float64 examples, stress
inputs (float32 extremes and masks), and an independent reference written
directly in NumPy/SciPy (never by calling the package). Tests, the
``python -m jaxlosses verify`` command, the benchmarks and the docs all iterate
over :data:`CATALOGUE`, so adding a loss is one function, one derivative and one
entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import special

from . import _classification as cls
from . import _divergence as div
from . import _likelihood as lik
from . import _regression as reg
from ._catalogue_fused import ENTRIES as _FUSED_ENTRIES
from ._catalogue_margin import ENTRIES as _MARGIN_ENTRIES
from ._catalogue_metric import ENTRIES as _METRIC_ENTRIES
from ._catalogue_reliability import annotate as _annotate
from ._catalogue_structured import ENTRIES as _STRUCTURED_ENTRIES
from ._entry import B, Case, Entry, K, huge_logits, ints, masked_logits, normal, simplex

__all__ = ["CATALOGUE", "Case", "Entry"]


# --- cross-entropy family -----------------------------------------------------------


def _ref_log_softmax(x: np.ndarray) -> np.ndarray:
    return special.log_softmax(x, axis=-1)


def _ref_soft_labels(y: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    return (1.0 - label_smoothing) * y + label_smoothing / y.shape[-1]


def _ref_softmax_ce(x, y, axis=-1, where=None, *, label_smoothing=0.0):
    assert axis == -1 and where is None
    y = _ref_soft_labels(y, label_smoothing)
    return -np.sum(y * _ref_log_softmax(x), axis=-1)


def _ref_safe_softmax_ce(x, y, *, axis=-1, where=None, label_smoothing=0.0):
    return _ref_softmax_ce(x, y, label_smoothing=label_smoothing)


def _sample_soft(rng: np.random.Generator) -> list[Case]:
    x, y = normal(rng, B, K, scale=2.0), simplex(rng, B, K)
    onehot = np.eye(K)[ints(rng, B)]
    return [
        Case("soft labels", (x, y)),
        Case("one-hot labels", (x, onehot)),
        Case("label_smoothing=0.2", (x, onehot), {"label_smoothing": 0.2}),
    ]


def _stress_soft() -> list[Case]:
    x, mask = masked_logits()
    y = np.where(mask, 1.0, 0.0).astype(np.float32)
    y = y / np.maximum(y.sum(-1, keepdims=True), 1.0)
    onehot = np.eye(K, dtype=np.float32)[[1, 4, 0]]
    return [
        Case("huge logits", (huge_logits(), onehot)),
        Case("-inf masked", (x, y), {"where": mask}),
        Case("-inf masked, smoothed", (x, y), {"where": mask, "label_smoothing": 0.1}),
    ]


def _stress_safe() -> list[Case]:
    x, _mask = masked_logits()
    x[1] = np.array([0.0, -np.inf, 1.0, -np.inf, -np.inf], np.float32)
    y = np.where(np.isfinite(x), 1.0, 0.0).astype(np.float32)
    y = y / y.sum(-1, keepdims=True)
    return [Case("-inf logits, zero labels", (x, y)), *_stress_soft()[:1]]


def _ref_integer_ce(x, labels, axis=-1, where=None, *, label_smoothing=0.0):
    assert axis == -1 and where is None
    lsm = _ref_log_softmax(x)
    nll = -lsm[np.arange(len(labels)), labels]
    return (1 - label_smoothing) * nll - label_smoothing * lsm.mean(-1)


def _sample_integer(rng: np.random.Generator) -> list[Case]:
    x, labels = normal(rng, B, K, scale=2.0), ints(rng, B)
    return [
        Case("integer labels", (x, labels)),
        Case("label_smoothing=0.1", (x, labels), {"label_smoothing": 0.1}),
    ]


def _stress_integer() -> list[Case]:
    x, mask = masked_logits()
    labels = np.array([2, 0, 0], np.int32)
    return [
        Case("huge logits", (huge_logits(), np.array([1, 4, 2], np.int32))),
        Case("-inf masked", (x, labels), {"where": mask}),
        Case("-inf masked, smoothed", (x, labels), {"where": mask, "label_smoothing": 0.1}),
        Case("ignored examples", (huge_logits(), labels), {"where": np.array([1, 0, 1], bool)}),
    ]


def _ref_nll(log_probs, labels, *, axis=-1, where=None, weights=None):
    w = np.ones(log_probs.shape[-1]) if weights is None else weights
    out = -w[labels] * log_probs[np.arange(len(labels)), labels]
    return out if where is None else np.where(where, out, 0.0)


def _sample_nll(rng: np.random.Generator) -> list[Case]:
    lp, labels = _ref_log_softmax(normal(rng, B, K)), ints(rng, B)
    w = rng.uniform(0.5, 2.0, K)
    return [
        Case("log-probabilities", (lp, labels)),
        Case("class weights", (lp, labels), {"weights": w}),
        Case(
            "ignored example",
            (lp, labels),
            {"where": np.array([True, False, True])},
            0,
            {"where": 0},
        ),
    ]


def _stress_nll() -> list[Case]:
    lp = np.array([[-1e4, 0.0, -3.0, -1.0, -2.0], [-np.inf, 0.0, -1.0, -2.0, -3.0]], np.float32)
    labels = np.array([0, 0], np.int32)
    return [Case("ignored -inf log-probability", (lp, labels), {"where": np.array([True, False])})]


def _ref_sigmoid_bce(x, y, *, pos_weight=None, label_smoothing=0.0):
    w = 1.0 if pos_weight is None else pos_weight
    y = (1 - label_smoothing) * y + 0.5 * label_smoothing
    p = special.expit(x)
    return -(w * y * np.log(p) + (1 - y) * np.log1p(-p))


def _sample_sigmoid_bce(rng: np.random.Generator) -> list[Case]:
    x = normal(rng, B, K, scale=2.0)
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    soft = rng.uniform(0, 1, (B, K))
    pw = rng.uniform(0.5, 3.0, K)
    return [
        Case("binary labels", (x, y)),
        Case("soft labels", (x, soft)),
        Case("pos_weight per class", (x, y), {"pos_weight": pw}),
        Case("label_smoothing=0.1", (x, y), {"label_smoothing": 0.1}),
    ]


def _stress_sigmoid() -> list[Case]:
    y = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0], [1, 1, 0, 0, 1]], np.float32)
    return [
        Case("huge logits", (huge_logits(), y)),
        Case("huge logits, pos_weight", (huge_logits(), y), {"pos_weight": np.float32(3.0)}),
    ]


def _ref_bce(p, y, *, label_smoothing=0.0):
    y = (1 - label_smoothing) * y + 0.5 * label_smoothing
    with np.errstate(divide="ignore"):
        return -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def _sample_bce(rng: np.random.Generator) -> list[Case]:
    p = rng.uniform(0.05, 0.95, (B, K))
    y = rng.integers(0, 2, (B, K)).astype(np.float64)
    return [
        Case("probabilities", (p, y)),
        Case("soft labels", (p, rng.uniform(0, 1, (B, K)))),
        Case("label_smoothing=0.1", (p, y), {"label_smoothing": 0.1}),
    ]


def _stress_bce() -> list[Case]:
    p = np.array([[0.0, 1.0, 0.5, 1e-30, 1 - 1e-7]] * 3, np.float32)
    y = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 1, 0, 0, 1]], np.float32)
    return [Case("saturated probabilities", (p, y))]


def _ref_cce(p, y, *, axis=-1, eps=1e-7, label_smoothing=0.0):
    y = _ref_soft_labels(y, label_smoothing)
    q = np.clip(p / p.sum(axis, keepdims=True), eps, 1 - eps)
    return -np.sum(y * np.log(q), axis=axis)


def _sample_cce(rng: np.random.Generator) -> list[Case]:
    p, y = simplex(rng, B, K), np.eye(K)[ints(rng, B)]
    unnorm = rng.uniform(0.1, 2.0, (B, K))
    return [
        Case("probabilities", (p, y)),
        Case("unnormalised, soft labels", (unnorm, simplex(rng, B, K))),
        Case("label_smoothing=0.1", (p, y), {"label_smoothing": 0.1}),
    ]


def _stress_cce() -> list[Case]:
    p = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.2] * 5, [1e-30, 0.5, 0.5, 0.0, 0.0]], np.float32)
    y = np.eye(K, dtype=np.float32)[[1, 0, 3]]
    return [Case("exact zeros and ones", (p, y))]


# --- maximum likelihood ---------------------------------------------------------------


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


# --- regression -----------------------------------------------------------------------


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


# --- divergences ----------------------------------------------------------------------


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
    lp = _ref_log_softmax(normal(rng, B, K))
    return [
        Case("distributions", (lp, simplex(rng, B, K))),
        Case("zero targets", (lp, _sparse_simplex(rng))),
    ]


def _sample_kl_log_targets(rng: np.random.Generator) -> list[Case]:
    lp = _ref_log_softmax(normal(rng, B, K))
    return [Case("distributions", (lp, _ref_log_softmax(normal(rng, B, K))))]


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


# --- the catalogue ---------------------------------------------------------------------

_CE = "cross-entropy"
_ML = "maximum likelihood"
_REG = "regression"
_DIV = "divergence"

_ENTRIES = [
    Entry("softmax_cross_entropy", _CE, cls.softmax_cross_entropy, cls._softmax_cross_entropy_grad,
          _ref_softmax_ce, _sample_soft, _stress_soft, class_args=(0, 1), where_slices=True,
          optax="softmax_cross_entropy", torch="cross_entropy (probability targets)"),
    Entry("softmax_cross_entropy_with_integer_labels", _CE,
          cls.softmax_cross_entropy_with_integer_labels,
          cls._softmax_cross_entropy_with_integer_labels_grad, _ref_integer_ce, _sample_integer,
          _stress_integer, class_args=(0,), where_slices=True,
          optax="softmax_cross_entropy_with_integer_labels", torch="cross_entropy"),
    Entry("safe_softmax_cross_entropy", _CE, cls.safe_softmax_cross_entropy,
          cls._safe_softmax_cross_entropy_grad, _ref_safe_softmax_ce, _sample_soft, _stress_safe,
          class_args=(0, 1), where_slices=True, optax="safe_softmax_cross_entropy"),
    Entry("sigmoid_binary_cross_entropy", _CE, cls.sigmoid_binary_cross_entropy,
          cls._sigmoid_binary_cross_entropy_grad, _ref_sigmoid_bce, _sample_sigmoid_bce,
          _stress_sigmoid, optax="sigmoid_binary_cross_entropy",
          torch="binary_cross_entropy_with_logits"),
    Entry("binary_cross_entropy", _CE, cls.binary_cross_entropy, cls._binary_cross_entropy_grad,
          _ref_bce, _sample_bce, _stress_bce, torch="binary_cross_entropy"),
    Entry("categorical_cross_entropy", _CE, cls.categorical_cross_entropy,
          cls._categorical_cross_entropy_grad, _ref_cce, _sample_cce, _stress_cce),
    Entry("negative_log_likelihood", _CE, cls.negative_log_likelihood,
          cls._negative_log_likelihood_grad, _ref_nll, _sample_nll, _stress_nll,
          torch="nll_loss"),
    Entry("gaussian_nll", _ML, lik.gaussian_nll, lik._gaussian_nll_grad, _ref_gaussian_nll,
          _sample_gaussian_nll, _stress_gaussian_nll, argnums=(0, 2), torch="gaussian_nll_loss"),
    Entry("poisson_nll", _ML, lik.poisson_nll, lik._poisson_nll_grad, _ref_poisson_nll,
          _sample_poisson_nll, _stress_poisson_nll, torch="poisson_nll_loss"),
    Entry("gaussian_kl_divergence", _ML, lik.gaussian_kl_divergence,
          lik._gaussian_kl_divergence_grad, _ref_gaussian_kl, _sample_gaussian_kl,
          _stress_gaussian_kl, argnums=(0, 1), class_args=(0, 1)),
    Entry("squared_error", _REG, reg.squared_error, reg._squared_error_grad,
          lambda p, t=None: _ref_residual(p, t) ** 2, _sample_regression, _stress_regression,
          optax="squared_error", torch="mse_loss"),
    Entry("l2_loss", _REG, reg.l2_loss, reg._l2_loss_grad,
          lambda p, t=None: 0.5 * _ref_residual(p, t) ** 2, _sample_regression,
          _stress_regression, optax="l2_loss"),
    Entry("absolute_error", _REG, reg.absolute_error, reg._absolute_error_grad,
          lambda p, t=None: np.abs(_ref_residual(p, t)), _sample_regression, _stress_regression,
          smooth=False, torch="l1_loss"),
    Entry("huber_loss", _REG, reg.huber_loss, reg._huber_loss_grad, _ref_huber,
          _with_kw(_sample_regression, delta=0.5), _stress_regression, smooth=False,
          optax="huber_loss", torch="huber_loss"),
    Entry("smooth_l1_loss", _REG, reg.smooth_l1_loss, reg._smooth_l1_loss_grad, _ref_smooth_l1,
          _with_kw(_sample_regression, beta=2.0), _stress_regression, smooth=False,
          torch="smooth_l1_loss"),
    Entry("log_cosh", _REG, reg.log_cosh, reg._log_cosh_grad,
          lambda p, t=None: np.log(np.cosh(_ref_residual(p, t))), _sample_regression,
          _stress_regression, optax="log_cosh"),
    Entry("cosine_similarity", _REG, reg.cosine_similarity, reg._cosine_similarity_grad,
          _ref_cosine, _sample_cosine, _stress_cosine, class_args=(0, 1), where_slices=True,
          optax="cosine_similarity", torch="cosine_similarity"),
    Entry("cosine_distance", _REG, reg.cosine_distance, reg._cosine_distance_grad,
          lambda p, t, **kw: 1.0 - _ref_cosine(p, t, **kw), _sample_cosine, _stress_cosine,
          class_args=(0, 1), where_slices=True, optax="cosine_distance"),
    Entry("kl_divergence", _DIV, div.kl_divergence, div._kl_divergence_grad, _ref_kl, _sample_kl,
          _stress_kl, class_args=(0, 1), where_slices=True, optax="kl_divergence",
          torch="kl_div"),
    Entry("kl_divergence_with_log_targets", _DIV, div.kl_divergence_with_log_targets,
          div._kl_divergence_with_log_targets_grad, _ref_kl_log_targets, _sample_kl_log_targets,
          _stress_kl_log_targets, class_args=(0, 1), where_slices=True,
          optax="kl_divergence_with_log_targets", torch="kl_div (log_target=True)"),
    Entry("generalized_kl_divergence", _DIV, div.generalized_kl_divergence,
          div._generalized_kl_divergence_grad, _ref_generalized_kl, _sample_generalized_kl,
          _stress_kl, class_args=(0, 1), where_slices=True, optax="generalized_kl_divergence"),
    Entry("convex_kl_divergence", _DIV, div.convex_kl_divergence,
          div._convex_kl_divergence_grad, _ref_generalized_kl, _sample_generalized_kl,
          _stress_kl, class_args=(0, 1), where_slices=True, optax="convex_kl_divergence"),
    Entry("js_divergence", _DIV, div.js_divergence, div._js_divergence_grad, _ref_js, _sample_js,
          _stress_js, class_args=(0, 1), where_slices=True),
]  # fmt: skip

_ENTRIES += _MARGIN_ENTRIES + _STRUCTURED_ENTRIES + _METRIC_ENTRIES + _FUSED_ENTRIES
# Validation variants, checked-mode checks and guaranteed properties (one table).
_ENTRIES = _annotate(_ENTRIES)

#: name -> :class:`Entry`, in presentation order.
CATALOGUE: Mapping[str, Entry] = {e.name: e for e in _ENTRIES}

assert len(CATALOGUE) == len(_ENTRIES), "duplicate catalogue names"
