"""Class weights: the reduction that reproduces torch's ``reduction='mean'``.

The per-example values with ``weights=`` are compared with torch by the catalogue's peer
records (``tests/test_conformance.py``). Here: the documented recipe for torch's weighted
mean (the summed loss over the summed weight of the targets, with label smoothing and
``ignore_index``), and passing class weights through :func:`jaxlosses.parallel.sharded_mean`,
whose own ``weights=`` keyword belongs to the reduction.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

import jaxlosses as jl
from jaxlosses.parallel import sharded_mean

torch = pytest.importorskip("torch")
F = torch.nn.functional

B, K, SMOOTH = 6, 4, 0.2


def _example(rng):
    x = rng.standard_normal((B, K)) * 2
    y = rng.integers(0, K, B)
    y[2] = -100  # torch's ignore_index
    w = rng.uniform(0.2, 3.0, K)
    return x, y, w


def _torch_mean(x, y, w):
    tx = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(
        tx, torch.tensor(y), weight=torch.tensor(w), label_smoothing=SMOOTH, ignore_index=-100
    )
    out.backward()
    return out.item(), tx.grad.numpy()


def _recipe(x, y, w):
    """The docstring's recipe: ``masked_mean(loss, keep) / masked_mean(w[y], keep)``."""
    keep = y != -100
    loss = jl.softmax_cross_entropy_with_integer_labels(
        x, y, where=keep, weights=w, label_smoothing=SMOOTH
    )
    return jl.masked_mean(loss, keep) / jl.masked_mean(w[jnp.where(keep, y, 0)], keep)


def test_weighted_mean_recipe_equals_torch(rng, x64):
    x, y, w = _example(rng)
    expected, expected_grad = _torch_mean(x, y, w)
    value, grad = jax.value_and_grad(_recipe)(x, y, w)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    # The plain mean (what masked_mean alone gives) is a different number.
    assert abs(float(jl.masked_mean(jl.softmax_cross_entropy_with_integer_labels(
        x, y, where=y != -100, weights=w, label_smoothing=SMOOTH), y != -100)) - expected) > 1e-3  # fmt: skip


def test_class_weights_through_sharded_mean(rng, x64):
    """``functools.partial`` binds the class weights to the loss; the wrapper's ``weights=``
    is the reduction's (per example), and its ``where=`` is forwarded as the ignore mask."""
    x, y, w = _example(rng)
    keep = y != -100
    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    loss = functools.partial(
        jl.softmax_cross_entropy_with_integer_labels, weights=w, label_smoothing=SMOOTH
    )
    mean = sharded_mean(loss, mesh, forward_where=True)
    yy = np.where(keep, y, 0)
    expected, expected_grad = _torch_mean(x, y, w)

    def torch_mean(logits):
        return mean(logits, yy, where=keep) / jl.masked_mean(w[yy], keep)

    value, grad = jax.value_and_grad(torch_mean)(x)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    # The reduction's weights: the same number as weighting the per-example losses by hand.
    per_example = rng.uniform(0.5, 2.0, B)
    by_hand = jl.masked_mean(loss(x, yy, where=keep), keep, weights=per_example)
    np.testing.assert_allclose(mean(x, yy, where=keep, weights=per_example), by_hand, rtol=1e-12)
