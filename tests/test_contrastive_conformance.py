"""CLIP, SigLIP and SupCon against the libraries users know, on realistic shapes.

open_clip's ``ClipLoss``/``SigLipLoss`` and pytorch-metric-learning's ``SupConLoss`` are
modules that reduce over the batch, so the records name these tests
(``Peer.tested_by``). Values, and the gradients of every learned input (both towers, the
logit scale and bias), are compared in float64 with ``jax.grad`` of our loss's mean and
with the closed form. open_clip's package import needs torchvision (not installed
against the CPU torch), so its ``loss.py``, which needs torch alone, is loaded by file.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-10, 1e-12


def _open_clip_loss():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("open_clip is not installed")
    path = f"{next(iter(spec.submodule_search_locations))}/loss.py"
    loader = importlib.util.spec_from_file_location("_open_clip_loss", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _towers(rng, batch, dim, unit):
    x = rng.standard_normal((batch, dim))
    y = x + rng.standard_normal((batch, dim))
    if unit:  # what a CLIP model feeds its loss
        x, y = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x, y))
    return x, y


def _close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize(
    ("batch", "dim", "normalize"), [(256, 128, False), (64, 512, True)], ids=["256x128", "64x512"]
)
def test_clip_loss(rng, x64, batch, dim, normalize):
    oc = _open_clip_loss()
    x, y = _towers(rng, batch, dim, unit=not normalize)
    scale = 1 / 0.07
    tx, ty, ts = _t(x), _t(y), _t(scale)
    fx, fy = (torch.nn.functional.normalize(v, dim=1) for v in (tx, ty)) if normalize else (tx, ty)
    theirs = oc.ClipLoss()(fx, fy, ts)
    theirs.backward()
    want = [v.grad.numpy() for v in (tx, ty, ts)]

    def mean(a, b, s):
        return jnp.mean(jl.clip_loss(a, b, s, normalize=normalize))

    value, grads = jax.value_and_grad(mean, (0, 1, 2))(x, y, scale)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.clip_loss(x, y, scale, normalize=normalize)
    for name, g, c, w in zip(("image", "text", "logit_scale"), grads, closed, want):
        _close(g, w, f"jax.grad w.r.t. {name}")
        _close(np.asarray(c) / batch, w, f"closed form w.r.t. {name}")
    if not normalize:  # the logits-matrix form: same loss, ∂/∂logits = s G
        logits = x @ y.T
        v2, (g_l, g_s) = jax.value_and_grad(
            lambda m, s: jnp.mean(jl.clip_loss(m, None, s)), (0, 1)
        )(logits, scale)
        _close(v2, theirs.item(), "value from logits")
        _close(g_s, want[2], "logit_scale from logits")
        _close(g_l @ y, want[0], "image features through the logits")


@pytest.mark.parametrize(
    ("batch", "dim", "normalize"), [(128, 256, False), (512, 128, True)], ids=["128x256", "512x128"]
)
def test_siglip_loss(rng, x64, batch, dim, normalize):
    oc = _open_clip_loss()
    x, y = _towers(rng, batch, dim, unit=not normalize)
    scale, bias = 10.0, -10.0  # the paper's initialisation
    tx, ty, ts, tb = _t(x), _t(y), _t(scale), _t(bias)
    fx, fy = (torch.nn.functional.normalize(v, dim=1) for v in (tx, ty)) if normalize else (tx, ty)
    theirs = oc.SigLipLoss()(fx, fy, ts, tb)
    theirs.backward()
    want = [v.grad.numpy() for v in (tx, ty, ts, tb)]

    def mean(a, b, s, c):
        return jnp.mean(jl.siglip_loss(a, b, s, c, normalize=normalize))

    value, grads = jax.value_and_grad(mean, (0, 1, 2, 3))(x, y, scale, bias)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.siglip_loss(x, y, scale, bias, normalize=normalize)
    for name, g, c, w in zip(("image", "text", "logit_scale", "logit_bias"), grads, closed, want):
        _close(g, w, f"jax.grad w.r.t. {name}")
        _close(np.asarray(c) / batch, w, f"closed form w.r.t. {name}")


@pytest.mark.parametrize(
    ("batch", "dim", "classes"), [(512, 128, 64), (64, 256, 40)], ids=["512x128", "64x256"]
)
def test_supcon(rng, x64, batch, dim, classes):
    from pytorch_metric_learning import losses, reducers

    e = rng.standard_normal((batch, dim))
    labels = rng.integers(0, classes, batch)
    labels[0] = classes  # a class of one: an anchor without positive
    has_positive = (labels[:, None] == labels[None, :]).sum(1) > 1
    assert has_positive.any() and not has_positive.all()  # both kinds of anchor occur
    te = _t(e)
    theirs = losses.SupConLoss(temperature=0.1)(te, torch.tensor(labels))
    theirs.backward()

    def mean_with_positive(x):  # pml's default reducer: the mean over non-zero losses
        return jnp.sum(jl.supervised_contrastive_loss(x, labels)) / has_positive.sum()

    value, grad = jax.value_and_grad(mean_with_positive)(e)
    _close(value, theirs.item(), "value")
    _close(grad, te.grad.numpy(), "jax.grad")
    closed = jl.closed_form.supervised_contrastive_loss(e, labels)
    _close(np.asarray(closed) / has_positive.sum(), te.grad.numpy(), "closed form")
    # per anchor, with pml's losses unreduced
    per = losses.SupConLoss(temperature=0.1, reducer=reducers.DoNothingReducer())(
        torch.tensor(e), torch.tensor(labels)
    )["loss"]["losses"]
    _close(jl.supervised_contrastive_loss(e, labels), per.numpy(), "per-anchor values")
