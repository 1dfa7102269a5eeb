"""Proof records of the fused linear + softmax cross-entropy (:mod:`jaxlosses._fused`).

The reference materialises the ``[N, V]`` logits in NumPy/SciPy and applies the
definition directly. Most sampled cases use ``custom_vjp=False`` (forward and reverse
mode); one runs the default fused ``custom_vjp`` path, which the verification engine
checks in reverse mode only (a :func:`jax.custom_vjp` function has no forward mode), as
do the stress cases, and
``tests/test_fused.py`` compares that path with optax's materialised computation.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry, Peer
from ._shared import normal

FAMILY = "cross-entropy"

_N, _D, _V = 6, 4, 5  # tokens, hidden size and vocabulary of the sampled examples


def _ref_linear_softmax_ce(
    hidden,
    weight,
    labels,
    *,
    bias=None,
    where=None,
    label_smoothing=0.0,
    z_loss=0.0,
    weights=None,
    chunk_size=None,
    custom_vjp=True,
    vocab_axis_name=None,
):
    z = np.asarray(hidden) @ np.asarray(weight)
    if bias is not None:
        z = z + bias
    lse = special.logsumexp(z, axis=-1)
    v = z.shape[-1]
    target = (1 - label_smoothing) * np.eye(v)[labels] + label_smoothing / v
    c = np.ones(v) if weights is None else weights
    loss = -np.sum(c * target * (z - lse[..., None]), axis=-1) + z_loss * lse**2
    return loss if where is None else np.where(where, loss, 0.0)


def _sample(rng: np.random.Generator) -> list[Case]:
    h, w = normal(rng, _N, _D), normal(rng, _D, _V)
    y = rng.integers(0, _V, _N).astype(np.int32)
    mask = np.array([True, False, True, True, False, True])
    cw = rng.uniform(0.2, 3.0, _V)
    base = {"custom_vjp": False, "chunk_size": 4}  # 6 tokens: a padded last chunk
    axes = (0, None, 0)
    return [
        Case("chunks of 4 over 6 tokens", (h, w, y), base, axes),
        Case(
            "token mask, bias",
            (h, w, y),
            {**base, "where": mask, "bias": normal(rng, _V)},
            axes,
            {"where": 0},
        ),
        Case(
            "label_smoothing=0.1, z_loss=1e-2",
            (h, w, y),
            {**base, "label_smoothing": 0.1, "z_loss": 1e-2},
            axes,
        ),
        Case("one chunk", (h, w, y), {"custom_vjp": False}, axes),
        Case(
            "class weights, label_smoothing=0.2, bias",
            (h, w, y),
            {**base, "weights": cw, "label_smoothing": 0.2, "bias": normal(rng, _V)},
            axes,
        ),
        # The custom_vjp gradient w.r.t. the class weights is checked by finite differences.
        Case(
            "default custom_vjp, class weights, smoothing, z-loss, bias, mask",
            (h, w, y),
            {
                "chunk_size": 4,
                "where": mask,
                "weights": cw,
                "label_smoothing": 0.1,
                "z_loss": 1e-2,
                "bias": normal(rng, _V),
            },
            axes,
            {"where": 0},
        ),
        # The default path: a custom_vjp gradient (reverse mode only; verify says so).
        Case(
            "default custom_vjp gradient, mask, smoothing, z-loss",
            (h, w, y),
            {"chunk_size": 4, "where": mask, "label_smoothing": 0.1, "z_loss": 1e-2},
            axes,
            {"where": 0},
        ),
    ]


def _stress() -> list[Case]:
    h = np.array([[100.0, -100.0, 0.0, 1.0], [-100.0, 100.0, 50.0, 0.0]] * 3, np.float32)
    w = np.array([[100.0, -100.0, 0.0, 1.0, 2.0], [0.0, 100.0, -100.0, 0.0, 1.0]] * 2, np.float32)
    y = np.array([0, 1, 2, 3, 4, 0], np.int32)
    none = np.zeros(6, bool)
    return [
        Case("logits of magnitude 1e4", (h, w, y), {"chunk_size": 4}),
        Case("ignored tokens, -100 labels", (h, w, np.where(none, y, -100)), {"where": none}),
        Case(
            "huge logits, z-loss and smoothing",
            (h, w, y),
            {"z_loss": 1e-4, "label_smoothing": 0.1, "where": np.arange(6) % 2 == 0},
        ),
        Case(
            "huge logits, class weights, smoothing",
            (h, w, y),
            {"weights": np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32), "label_smoothing": 0.1},
        ),
    ]


ENTRIES: list[Entry] = [
    Entry(name="linear_softmax_cross_entropy", reference=_ref_linear_softmax_ce, sample=_sample,
          stress=_stress, argnums=(0, 1), accepts=frozenset({"weight:trunc"}),
          properties=frozenset({NONNEG}), free_args=(0, 1),
          peers=(Peer("torch.nn.functional.linear_cross_entropy",
                      note="PyTorch 2.13; weight transposed, [V, D]", tested_by="tests/test_torch_conformance.py::test_linear_cross_entropy",),)),
]  # fmt: skip
