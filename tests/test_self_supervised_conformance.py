"""The self-supervised losses against lightly's, on realistic shapes.

lightly's ``NegativeCosineSimilarity``, ``BarlowTwinsLoss``, ``VICRegLoss`` and
``DINOLoss`` are modules that reduce over the batch, so the records name these tests
(``Peer.tested_by``). Values, and the gradients of every learned input, are compared in
float64 with ``jax.grad`` of our loss (its mean where it is per example) and with the
closed form. lightly's package import needs torchvision (whose only build the registries
here serve does not load against the CPU torch), so ``.ci/run`` installs it with
``--no-deps`` and this test loads its loss files, which need torch alone, by path: the
two lightly modules they import (``lightly.utils.dist``, ``lightly.models.modules.center``,
torch alone too) are loaded by path as well and put in ``sys.modules`` only while the
loss files execute.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-10, 1e-12

# The lightly modules that the loss files import, loaded by path under their own names.
_DEPENDENCIES = ("utils/dist.py", "models/modules/center.py")


def _lightly_root() -> str:
    spec = importlib.util.find_spec("lightly")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lightly is not installed (.ci/run installs it with --no-deps)")
    return next(iter(spec.submodule_search_locations))


def _exec(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lightly_loss(file: str) -> types.ModuleType:
    """``lightly/loss/<file>.py`` loaded by path, without importing the lightly package."""
    root = _lightly_root()
    saved = {k: v for k, v in sys.modules.items() if k == "lightly" or k.startswith("lightly.")}
    try:
        for package in ("lightly", "lightly.utils", "lightly.models", "lightly.models.modules"):
            stub = types.ModuleType(package)
            stub.__path__ = []  # a package with nothing importable but what is set below
            sys.modules[package] = stub
        for rel in _DEPENDENCIES:
            name = "lightly." + rel.removesuffix(".py").replace("/", ".")
            module = _exec(name, f"{root}/{rel}")
            sys.modules[name] = module
            parent, _, leaf = name.rpartition(".")
            setattr(sys.modules[parent], leaf, module)
        return _exec(f"_lightly_{file}", f"{root}/loss/{file}.py")
    finally:
        for k in [k for k in sys.modules if k == "lightly" or k.startswith("lightly.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def _views(rng, batch, dim):
    """Two correlated views, features on different scales (as a projector's output)."""
    z_a = rng.standard_normal((batch, dim)) * rng.uniform(0.2, 3.0, size=dim)
    z_b = z_a + 0.7 * rng.standard_normal((batch, dim))
    return z_a, z_b


# --- negative cosine similarity ------------------------------------------------------------


@pytest.mark.parametrize(("batch", "dim"), [(256, 128), (128, 512)], ids=["256x128", "128x512"])
def test_negative_cosine_similarity(rng, x64, batch, dim):
    lightly = _lightly_loss("negative_cosine_similarity")
    p, z = _views(rng, batch, dim)
    tp, tz = _t(p), _t(z)
    theirs = lightly.NegativeCosineSimilarity()(tp, tz)
    theirs.backward()

    value, grads = jax.value_and_grad(
        lambda a, b: jnp.mean(jl.negative_cosine_similarity(a, b)), (0, 1)
    )(p, z)
    _close(value, theirs.item(), "value")
    _close(grads[0], tp.grad.numpy(), "jax.grad w.r.t. predictions")
    _close(grads[1], tz.grad.numpy(), "jax.grad w.r.t. targets")
    closed = jl.closed_form.negative_cosine_similarity(p, z)
    _close(np.asarray(closed) / batch, tp.grad.numpy(), "closed form w.r.t. predictions")


def test_simsiam_stop_gradient(rng, x64):
    """SimSiam's symmetric loss with the stop-gradient: lightly's module on detached targets."""
    lightly = _lightly_loss("negative_cosine_similarity")
    p1, p2 = _views(rng, 128, 256)
    z1, z2 = _views(rng, 128, 256)
    tp1, tp2, tz1, tz2 = (_t(v) for v in (p1, p2, z1, z2))
    crit = lightly.NegativeCosineSimilarity()
    theirs = 0.5 * crit(tp1, tz2.detach()) + 0.5 * crit(tp2, tz1.detach())
    theirs.backward()

    def simsiam(p1, p2, z1, z2):
        sg = jax.lax.stop_gradient
        d1 = jl.negative_cosine_similarity(p1, sg(z2))
        d2 = jl.negative_cosine_similarity(p2, sg(z1))
        return jnp.mean(0.5 * d1 + 0.5 * d2)

    value, grads = jax.value_and_grad(simsiam, (0, 1, 2, 3))(p1, p2, z1, z2)
    _close(value, theirs.item(), "value")
    _close(grads[0], tp1.grad.numpy(), "p1")
    _close(grads[1], tp2.grad.numpy(), "p2")
    assert tz1.grad is None and tz2.grad is None
    assert not np.any(np.asarray(grads[2])) and not np.any(np.asarray(grads[3]))


# --- Barlow Twins --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "dim", "lambda_"),
    [(256, 128, 5e-3), (128, 512, 5e-3), (256, 256, 0.05)],
    ids=["256x128", "128x512", "256x256-lambda0.05"],
)
def test_barlow_twins_loss(rng, x64, batch, dim, lambda_):
    lightly = _lightly_loss("barlow_twins_loss")
    z_a, z_b = _views(rng, batch, dim)
    ta, tb = _t(z_a), _t(z_b)
    theirs = lightly.BarlowTwinsLoss(lambda_param=lambda_)(ta, tb)
    theirs.backward()
    want = (ta.grad.numpy(), tb.grad.numpy())

    value, grads = jax.value_and_grad(
        lambda a, b: jl.barlow_twins_loss(a, b, lambda_=lambda_), (0, 1)
    )(z_a, z_b)
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.barlow_twins_loss(z_a, z_b, lambda_=lambda_)
    for name, g, c, w in zip(("z_a", "z_b"), grads, closed, want):
        _close(g, w, f"jax.grad w.r.t. {name}")
        _close(c, w, f"closed form w.r.t. {name}")


def test_barlow_twins_normalisation_is_biased(rng, x64):
    """lightly's batch norm divides by N (not N - 1) and adds eps = 1e-5: other choices
    differ from it, so the match above is not an accident of the statistics."""
    lightly = _lightly_loss("barlow_twins_loss")
    z_a, z_b = _views(rng, 64, 32)
    theirs = lightly.BarlowTwinsLoss()(_t(z_a), _t(z_b)).item()
    assert abs(float(jl.barlow_twins_loss(z_a, z_b, eps=0.0)) - theirs) > 1e-8
    n = len(z_a)
    unbiased = (
        ((z_a - z_a.mean(0)) / z_a.std(0, ddof=1)).T
        @ ((z_b - z_b.mean(0)) / z_b.std(0, ddof=1))
        / n
    )
    off = np.sum(unbiased**2) - np.sum(np.diag(unbiased) ** 2)
    assert abs(np.sum((1 - np.diag(unbiased)) ** 2) + 5e-3 * off - theirs) > 1e-4
