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


# --- VICReg --------------------------------------------------------------------------------


def _vicreg_views(rng, batch, dim):
    """Views whose features' stds straddle the hinge at 1 (some active, some not)."""
    z_a = rng.standard_normal((batch, dim)) * rng.uniform(0.2, 2.0, size=dim)
    z_b = 0.8 * z_a + 0.5 * rng.standard_normal((batch, dim))
    return z_a, z_b


@pytest.mark.parametrize(
    ("batch", "dim", "coefficients"),
    [
        (256, 128, {}),
        (128, 512, {}),
        (512, 256, {"lambda_": 10.0, "mu": 5.0, "nu": 0.5, "eps": 1e-3}),
    ],
    ids=["256x128", "128x512", "512x256-custom"],
)
def test_vicreg_loss(rng, x64, batch, dim, coefficients):
    lightly = _lightly_loss("vicreg_loss")
    z_a, z_b = _vicreg_views(rng, batch, dim)
    stds = np.sqrt(np.concatenate([z_a.var(0, ddof=1), z_b.var(0, ddof=1)]))
    assert (stds < 0.99).sum() > dim // 4 and (stds > 1.01).sum() > dim // 4  # both sides
    rename = {"lambda_": "lambda_param", "mu": "mu_param", "nu": "nu_param", "eps": "eps"}
    ta, tb = _t(z_a), _t(z_b)
    theirs = lightly.VICRegLoss(**{rename[k]: v for k, v in coefficients.items()})(ta, tb)
    theirs.backward()
    want = (ta.grad.numpy(), tb.grad.numpy())

    value, grads = jax.value_and_grad(lambda a, b: jl.vicreg_loss(a, b, **coefficients), (0, 1))(
        z_a, z_b
    )
    _close(value, theirs.item(), "value")
    closed = jl.closed_form.vicreg_loss(z_a, z_b, **coefficients)
    for name, g, c, w in zip(("z_a", "z_b"), grads, closed, want):
        _close(g, w, f"jax.grad w.r.t. {name}")
        _close(c, w, f"closed form w.r.t. {name}")


def _vicreg_variant(z_a, z_b, *, ddof, var_weight, cov_scale):
    """VICReg in NumPy with the conventions as parameters (weights 25, 25, 1; eps 1e-4)."""
    d = z_a.shape[1]

    def v(z):
        return np.mean(np.maximum(0.0, 1.0 - np.sqrt(z.var(0, ddof=ddof) + 1e-4)))

    def c(z):
        cov = np.cov(z, rowvar=False, ddof=ddof)
        return (np.sum(cov**2) - np.sum(np.diag(cov) ** 2)) * cov_scale(d)

    inv = np.mean((z_a - z_b) ** 2)
    return 25 * inv + 25 * var_weight * (v(z_a) + v(z_b)) + c(z_a) + c(z_b)


def test_vicreg_conventions_are_lightlys(rng, x64):
    """The unbiased (N - 1) statistics, μ/2 on the variance term and the covariance over D:
    each other choice moves the value far beyond the 1e-10 of the match above, which
    therefore pins these conventions down."""
    lightly = _lightly_loss("vicreg_loss")
    z_a, z_b = _vicreg_views(rng, 64, 32)
    theirs = lightly.VICRegLoss()(_t(z_a), _t(z_b)).item()
    ours = float(jl.vicreg_loss(z_a, z_b))
    lightlys = {"ddof": 1, "var_weight": 0.5, "cov_scale": lambda d: 1.0 / d}
    assert abs(_vicreg_variant(z_a, z_b, **lightlys) - theirs) < 1e-10 * abs(theirs)
    for other in ({"ddof": 0}, {"var_weight": 1.0}, {"cov_scale": lambda d: 1.0}):
        alternative = _vicreg_variant(z_a, z_b, **{**lightlys, **other})
        assert abs(alternative - theirs) > 1e-6 * abs(theirs), other
        assert abs(alternative - ours) > 1e-6 * abs(ours), other
    with pytest.raises(ValueError, match="vicreg_loss: the batch has 1 example"):
        jl.vicreg_loss(z_a[:1], z_b[:1])


# --- DINO ----------------------------------------------------------------------------------


def _dino_outputs(rng, batch, dim, n_global, n_local):
    """Teacher outputs of the global crops and student outputs of all crops, as lists of
    ``[batch, dim]`` views (lightly's inputs), the student's global views first."""
    teacher = [rng.standard_normal((batch, dim)) * 0.05 for _ in range(n_global)]
    student = [t * 20 + rng.standard_normal((batch, dim)) for t in teacher]
    student += [rng.standard_normal((batch, dim)) for _ in range(n_local)]
    return student, teacher


@pytest.mark.parametrize(
    ("batch", "dim", "n_global", "n_local", "temps"),
    [
        (64, 1024, 2, 4, {}),
        (128, 256, 2, 2, {"student_temp": 0.2, "teacher_temp": 0.07}),
        (96, 512, 2, 0, {}),
        (64, 256, 1, 3, {}),
    ],
    ids=["64x1024-2+4", "128x256-2+2-temps", "96x512-2+0", "64x256-1+3"],
)
def test_dino_loss(rng, x64, batch, dim, n_global, n_local, temps):
    lightly = _lightly_loss("dino_loss")
    student, teacher = _dino_outputs(rng, batch, dim, n_global, n_local)
    center = 0.02 * rng.standard_normal(dim)
    # lightly makes a float32 tensor of the teacher temperature (`torch.tensor(0.04)`):
    # the same number, rounded to float32, is ours.
    teacher_temp = float(np.float32(temps.get("teacher_temp", 0.04)))
    student_temp = temps.get("student_temp", 0.1)
    module = lightly.DINOLoss(output_dim=dim, student_temp=student_temp).double()
    module.center = torch.tensor(center.reshape(1, 1, dim))
    ts, tt = [_t(v) for v in student], [_t(v) for v in teacher]
    theirs = module(tt, ts, teacher_temp=temps.get("teacher_temp"))
    theirs.backward()

    s, t = np.stack(student, axis=-2), np.stack(teacher, axis=-2)  # [batch, views, dim]
    kw = {"student_temp": student_temp, "teacher_temp": teacher_temp}
    value, grads = jax.value_and_grad(
        lambda a, b: jnp.mean(jl.dino_loss(a, b, center, **kw)), (0, 1)
    )(s, t)
    _close(value, theirs.item(), "value")
    want_s = np.stack([v.grad.numpy() for v in ts], axis=-2)
    want_t = np.stack([v.grad.numpy() for v in tt], axis=-2)
    _close(grads[0], want_s, "jax.grad w.r.t. student_logits")
    _close(grads[1], want_t, "jax.grad w.r.t. teacher_logits (lightly does not detach it)")
    closed = jl.closed_form.dino_loss(s, t, center, **kw)
    _close(np.asarray(closed[0]) / batch, want_s, "closed form w.r.t. student_logits")
    _close(np.asarray(closed[1]) / batch, want_t, "closed form w.r.t. teacher_logits")

    # lightly updates its centre inside forward; ours is the explicit next centre
    new_center = jl.dino_center_update(center, t, momentum=0.9)
    _close(new_center, module.center.detach().numpy().reshape(dim), "centre update")


def test_dino_center_update_momentum(rng, x64):
    """Several steps of lightly's update with a non-default momentum, against ours chained."""
    lightly = _lightly_loss("dino_loss")
    dim = 128
    module = lightly.DINOLoss(output_dim=dim, center_momentum=0.7).double()
    center = np.zeros(dim)
    for _ in range(3):
        student, teacher = _dino_outputs(rng, 32, dim, 2, 2)
        module([_t(v) for v in teacher], [_t(v) for v in student])
        center = jl.dino_center_update(center, np.stack(teacher, axis=-2), momentum=0.7)
    _close(center, module.center.numpy().reshape(dim), "centre after three steps")


def test_dino_stop_gradient_teacher(rng, x64):
    """The paper's set-up: the teacher detached. Same student gradient, no teacher's."""
    lightly = _lightly_loss("dino_loss")
    student, teacher = _dino_outputs(rng, 64, 256, 2, 2)
    module = lightly.DINOLoss(output_dim=256).double()
    ts = [_t(v) for v in student]
    module([_t(v).detach() for v in teacher], ts).backward()
    center = np.zeros(256)
    grads = jax.grad(
        lambda a, b: jnp.mean(
            jl.dino_loss(a, jax.lax.stop_gradient(b), center, teacher_temp=float(np.float32(0.04)))
        ),
        (0, 1),
    )(np.stack(student, axis=-2), np.stack(teacher, axis=-2))
    _close(grads[0], np.stack([v.grad.numpy() for v in ts], axis=-2), "student")
    assert not np.any(np.asarray(grads[1]))


def test_dino_needs_a_pair(x64):
    with pytest.raises(ValueError, match="dino_loss: `teacher_logits` has 1 view"):
        jl.dino_loss(np.zeros((4, 1, 8)), np.zeros((4, 1, 8)), np.zeros(8))
