"""Proxy and pair-weighting losses against pytorch-metric-learning and sentence-transformers.

pytorch-metric-learning's proxy losses are modules that hold the proxies (randomly
initialised): each test builds the module and overwrites its weights with our arrays, so
both sides see the same proxies. On realistic shapes (batch 64-256, embedding 128), in
float64, the value and the gradients w.r.t. the embeddings and the proxies (``jax.grad``
of our reduction and our closed form, reduced alike) must equal the peer's autograd to
1e-10.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
RTOL, ATOL = 1e-10, 1e-12
DIM = 128


def _close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def _batch(rng, classes, batch, present=None, noise=1.0):
    """Embeddings around learned-looking proxies; labels drawn from ``present`` classes."""
    proxies = rng.standard_normal((classes, DIM))
    labels = rng.choice(np.arange(present or classes), size=batch).astype(np.int64)
    e = proxies[labels] + noise * rng.standard_normal((batch, DIM))
    return e * rng.uniform(0.5, 3.0, (batch, 1)), proxies, labels  # varied norms


def _torch_module_value_and_grads(module, weight_name, weights, e, labels):
    """The module's value and its gradients w.r.t. the embeddings and its weights."""
    getattr(module, weight_name).data = torch.tensor(weights, dtype=torch.float64)
    te = torch.tensor(e, dtype=torch.float64, requires_grad=True)
    value = module(te, torch.tensor(labels))
    value.backward()
    return value.item(), te.grad.numpy(), getattr(module, weight_name).grad.numpy()


def _check(ours_value, ours_grads, closed, theirs, what):
    t_value, t_ge, t_gp = theirs
    _close(ours_value, t_value, f"{what}: value")
    for name, g, c, t in zip(("embeddings", "proxies"), ours_grads, closed, (t_ge, t_gp)):
        _close(g, t, f"{what}: jax.grad w.r.t. {name}")
        _close(c, t, f"{what}: closed form w.r.t. {name}")
    assert t_value > 0 and np.abs(t_ge).max() > 0 and np.abs(t_gp).max() > 0


@pytest.mark.parametrize(
    ("margin", "alpha", "present"),
    [(0.1, 32.0, None), (0.2, 16.0, 20)],
    ids=["defaults, every class present", "margin 0.2, alpha 16, 20 of 32 classes present"],
)
def test_proxy_anchor(rng, x64, margin, alpha, present):
    e, p, labels = _batch(rng, classes=32, batch=128, present=present)
    module = pml_losses.ProxyAnchorLoss(32, DIM, margin=margin, alpha=alpha)
    theirs = _torch_module_value_and_grads(module, "proxies", p, e, labels)
    kw = {"margin": margin, "alpha": alpha}
    value, grads = jax.value_and_grad(
        lambda u, v: jl.proxy_anchor_loss(u, v, labels, **kw), (0, 1)
    )(e, p)
    closed = jl.closed_form.proxy_anchor_loss(e, p, labels, **kw)
    _check(value, grads, closed, theirs, "ProxyAnchorLoss")


@pytest.mark.parametrize("scale", [1.0, 10.0], ids=["pml default softmax_scale", "scale 10"])
def test_proxy_nca(rng, x64, scale):
    e, p, labels = _batch(rng, classes=40, batch=192)
    module = pml_losses.ProxyNCALoss(40, DIM, softmax_scale=scale)
    theirs = _torch_module_value_and_grads(module, "proxies", p, e, labels)
    n = len(labels)

    def ours(u, v):  # pml's MeanReducer
        return jnp.mean(jl.proxy_nca_loss(u, v, labels, scale=scale))

    value, grads = jax.value_and_grad(ours, (0, 1))(e, p)
    closed = [np.asarray(g) / n for g in jl.closed_form.proxy_nca_loss(e, p, labels, scale=scale)]
    _check(value, grads, closed, theirs, "ProxyNCALoss")
