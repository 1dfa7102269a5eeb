"""vmap / shard_map / pmap wrappers on 8 simulated CPU devices.

The device count must be fixed before JAX initialises, and the rest of the suite runs in
one process with one device, so the multi-device checks run in a child process: this
file executed as a script (``python tests/test_parallel.py``) with
``--xla_force_host_platform_device_count=8``. The child computes every comparison in
float64 and prints the measured errors as JSON; the tests below assert on them. The
references are written directly (a masked mean by hand, an optax step on one device);
none calls :mod:`jaxlosses.parallel`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _devices import run_json
from _session import once

N_DEV = 8
B, K, D = 32, 5, 3  # global batch (4 per device), classes, features


def _err(a: Any, b: Any) -> float:
    import jax

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    worst = 0.0
    for x, y in zip(la, lb):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape, (x.shape, y.shape)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return float("inf")
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)))
    return worst


def _worker() -> dict[str, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import jax.numpy as jnp
    import optax
    from jax.sharding import Mesh

    import jaxlosses as jl
    from jaxlosses.parallel import pmap_mean, sharded_mean

    out: dict[str, Any] = {"devices": jax.device_count()}
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.standard_normal((B, K)) * 2)
    labels = jnp.asarray(rng.integers(0, K, B), jnp.int32)
    mesh = Mesh(np.array(jax.devices()), ("data",))

    # Uneven masks: shard 0 fully masked, shard 1 one valid entry, the rest random.
    mask = rng.random(B) < 0.6
    mask[0:4] = False
    mask[4:8] = [False, True, False, False]
    mask = jnp.asarray(mask)
    weights = jnp.asarray(rng.uniform(0.1, 3.0, B))

    def ref_mean(lg, m=None, w=None):  # the single-device definition, written out
        losses = jax.nn.logsumexp(lg, axis=-1) - jnp.take_along_axis(lg, labels[:, None], -1)[:, 0]
        ww = jnp.ones(B) if w is None else w
        ww = ww if m is None else jnp.where(m, ww, 0.0)
        den = jnp.sum(ww)
        return jnp.where(den > 0, jnp.sum(ww * losses) / jnp.where(den > 0, den, 1.0), 0.0)

    ce = jl.softmax_cross_entropy_with_integer_labels
    sharded = sharded_mean(ce, mesh)
    for name, kw in {
        "plain": {},
        "uneven_mask": {"m": mask},
        "weights": {"w": weights},
        "mask_and_weights": {"m": mask, "w": weights},
    }.items():
        skw = {"where": kw.get("m"), "weights": kw.get("w")}
        val = jax.jit(lambda lg, skw=skw: sharded(lg, labels, **skw))(logits)
        grad = jax.jit(jax.grad(lambda lg, skw=skw: sharded(lg, labels, **skw)))(logits)
        out[f"value_{name}"] = _err(val, ref_mean(logits, **kw))
        out[f"grad_{name}"] = _err(grad, jax.grad(lambda lg, kw=kw: ref_mean(lg, **kw))(logits))
    # A mean of per-shard means would differ: prove the test would catch it.
    per_shard = [
        float(ref_mean(logits.at[:].set(logits), m=mask & (jnp.arange(B) // 4 == s)))
        for s in range(1, N_DEV)
    ]
    out["mean_of_means_gap"] = abs(np.mean(per_shard) - float(ref_mean(logits, m=mask)))

    # All-masked global batch: 0 with a zero, finite gradient.
    none = jnp.zeros(B, bool)
    out["all_masked_value"] = float(sharded(logits, labels, where=none))
    g = jax.grad(lambda lg: sharded(lg, labels, where=none))(logits)
    out["all_masked_grad_max"] = float(jnp.max(jnp.abs(g))) if bool(jnp.isfinite(g).all()) else 1e9

    # A 2-D mesh (data x model): the batch is split over "data" only.
    mesh2 = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    s2 = sharded_mean(ce, mesh2)
    out["mesh2d_value"] = _err(s2(logits, labels, where=mask), ref_mean(logits, m=mask))
    out["mesh2d_grad"] = _err(
        jax.grad(lambda lg: s2(lg, labels, where=mask))(logits),
        jax.grad(lambda lg: ref_mean(lg, m=mask))(logits),
    )

    # forward_where: the mask also reaches the loss (its example mask), same mean.
    fw = sharded_mean(ce, mesh, forward_where=True)
    out["forward_where"] = _err(fw(logits, labels, where=mask), ref_mean(logits, m=mask))

    # An indivisible batch is refused with a ValueError naming the fix.
    try:
        sharded(logits[:30], labels[:30])
        out["indivisible_error"] = ""
    except ValueError as e:
        out["indivisible_error"] = str(e)

    # Data-parallel optax steps: params replicated, batch sharded, vs one device.
    x = jnp.asarray(rng.standard_normal((B, D)))
    params0 = {"w": jnp.asarray(rng.standard_normal((D, K))), "b": jnp.zeros(K)}

    def model_loss(p, xb, yb):
        return ce(xb @ p["w"] + p["b"][None, :], yb)

    def single_loss(p, m):
        losses = model_loss(p, x, labels)
        return jnp.sum(jnp.where(m, losses, 0.0)) / jnp.maximum(jnp.sum(m), 1)

    dp_loss = sharded_mean(model_loss, mesh, replicated=(0,))
    for opt_name, opt in {"sgd": optax.sgd(0.3), "adam": optax.adam(0.05)}.items():

        @jax.jit
        def dp_step(p, s, m, opt=opt):
            v, gr = jax.value_and_grad(lambda q: dp_loss(q, x, labels, where=m))(p)
            up, s = opt.update(gr, s, p)
            return optax.apply_updates(p, up), s, v

        @jax.jit
        def one_step(p, s, m, opt=opt):
            v, gr = jax.value_and_grad(single_loss)(p, m)
            up, s = opt.update(gr, s, p)
            return optax.apply_updates(p, up), s, v

        pa, sa, pb, sb = params0, opt.init(params0), params0, opt.init(params0)
        worst = 0.0
        for _ in range(3):
            pa, sa, va = dp_step(pa, sa, mask)
            pb, sb, vb = one_step(pb, sb, mask)
            worst = max(worst, _err(pa, pb), _err(va, vb))
        out[f"optax_{opt_name}"] = worst
        out[f"optax_{opt_name}_moved"] = _err(pa, params0)

    # pmap: the value is the global mean on every device; psum of the grads is exact.
    pm = pmap_mean(ce, "batch")
    lg8, lab8, m8 = logits.reshape(N_DEV, 4, K), labels.reshape(N_DEV, 4), mask.reshape(N_DEV, 4)
    vals, grads = jax.pmap(
        lambda lg, lab, m: (
            pm(lg, lab, where=m),
            jax.grad(lambda q: pm(q, lab, where=m))(lg),
        ),
        axis_name="batch",
    )(lg8, lab8, m8)
    want = ref_mean(logits, m=mask)
    out["pmap_value"] = max(_err(v, want) for v in vals)
    # The gradient of a per-device input (the logits shard) is that device's rows of the
    # global gradient; replicated parameters need the psum of the shares (below).
    g_ref = jax.grad(lambda lg: ref_mean(lg, m=mask))(logits).reshape(N_DEV, 4, K)
    out["pmap_grad"] = _err(grads, g_ref)

    params8 = jax.tree.map(lambda a: jnp.broadcast_to(a, (N_DEV, *a.shape)), params0)
    x8 = x.reshape(N_DEV, 4, D)
    pml = pmap_mean(model_loss, "batch")
    pgrads = jax.pmap(
        lambda p, xb, yb, m: jax.lax.psum(jax.grad(lambda q: pml(q, xb, yb, where=m))(p), "batch"),
        axis_name="batch",
    )(params8, x8, lab8, m8)
    g_single = jax.grad(single_loss)(params0, mask)
    out["pmap_param_grad"] = max(
        _err(jax.tree.map(lambda a, d=d: a[d], pgrads), g_single) for d in range(N_DEV)
    )

    # --- every kind of mesh a user has: jax.make_mesh (Explicit axes, the default),
    # Auto axes, a jax.set_mesh context, inputs already placed with NamedSharding.
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    def ce_mean(x, y):  # the single-device reference, written out
        return jnp.mean(jax.nn.logsumexp(x, -1) - jnp.take_along_axis(x, y[:, None], -1)[:, 0])

    ref_v, ref_g = jax.value_and_grad(ce_mean)(logits, labels)
    explicit = jax.make_mesh((N_DEV,), ("data",))
    auto = jax.make_mesh((N_DEV,), ("data",), axis_types=(AxisType.Auto,))
    explicit2d = jax.make_mesh((4, 2), ("data", "model"))
    placed = tuple(jax.device_put(a, NamedSharding(explicit, P("data"))) for a in (logits, labels))
    ce = jl.softmax_cross_entropy_with_integer_labels
    mesh_cases = {
        "explicit_eager": (explicit, (logits, labels), lambda f: jax.value_and_grad(f)),
        "explicit_jit": (explicit, (logits, labels), lambda f: jax.jit(jax.value_and_grad(f))),
        "auto_jit": (auto, (logits, labels), lambda f: jax.jit(jax.value_and_grad(f))),
        "explicit2d_jit": (explicit2d, (logits, labels), lambda f: jax.jit(jax.value_and_grad(f))),
        "placed_jit": (explicit, placed, lambda f: jax.jit(jax.value_and_grad(f))),
    }
    for label, (m, args, transform) in mesh_cases.items():
        v, g = transform(sharded_mean(ce, m))(*args)
        out[f"mesh_{label}"] = max(_err(v, ref_v), _err(g, ref_g))
    with jax.set_mesh(explicit):
        v, g = jax.value_and_grad(sharded_mean(ce, explicit))(*placed)
        out["mesh_set_mesh_eager"] = max(_err(v, ref_v), _err(g, ref_g))
        v, g = jax.jit(jax.value_and_grad(sharded_mean(ce, explicit)))(logits, labels)
        out["mesh_set_mesh_jit"] = max(_err(v, ref_v), _err(g, ref_g))
    # vmap outside: a batch of 3 independent global batches
    stacked = jnp.stack([logits, 2 * logits, -logits])
    got = jax.vmap(lambda x: sharded_mean(ce, explicit)(x, labels))(stacked)
    out["mesh_vmap_outside"] = _err(got, jax.vmap(lambda x: ce_mean(x, labels))(stacked))
    return out


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return once(
        "test_parallel",
        tmp_path_factory,
        lambda: run_json(Path(__file__).resolve(), N_DEV, timeout=300),
    )


TOL = 1e-12


def test_eight_devices(child):
    assert child["devices"] == N_DEV


@pytest.mark.parametrize("case", ["plain", "uneven_mask", "weights", "mask_and_weights"])
def test_sharded_equals_single_device(child, case):
    assert child[f"value_{case}"] <= TOL
    assert child[f"grad_{case}"] <= TOL


def test_uneven_masks_need_the_exact_reduction(child):
    """The uneven-mask case is one where averaging per-shard means would be wrong."""
    assert child["mean_of_means_gap"] > 1e-3
    assert child["value_uneven_mask"] <= TOL


def test_all_masked_global_batch(child):
    assert child["all_masked_value"] == 0.0
    assert child["all_masked_grad_max"] == 0.0


def test_two_dimensional_mesh_and_forward_where(child):
    assert child["mesh2d_value"] <= TOL
    assert child["mesh2d_grad"] <= TOL
    assert child["forward_where"] <= TOL


def test_indivisible_batch_is_refused(child):
    assert "cannot be split" in child["indivisible_error"]
    assert "replicated=" in child["indivisible_error"]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_data_parallel_optax_step(child, opt):
    assert child[f"optax_{opt}_moved"] > 1e-3  # the steps did something
    assert child[f"optax_{opt}"] <= 1e-12


@pytest.mark.parametrize(
    "case",
    [
        "explicit_eager",
        "explicit_jit",
        "auto_jit",
        "explicit2d_jit",
        "placed_jit",
        "set_mesh_eager",
        "set_mesh_jit",
        "vmap_outside",
    ],
)
def test_every_kind_of_mesh(child, case):
    """jax.make_mesh's Explicit axes (the default), Auto axes, set_mesh, placed inputs."""
    assert child[f"mesh_{case}"] <= TOL


def test_pmap_mean(child):
    assert child["pmap_value"] <= TOL
    assert child["pmap_grad"] <= TOL
    assert child["pmap_param_grad"] <= TOL


# --- per_example runs in the suite's own single-device process --------------------------


def test_per_example_matches_batched(x64):
    import jax.numpy as jnp

    import jaxlosses as jl
    from jaxlosses.parallel import per_example

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, K)), rng.integers(0, K, 4)

    def one(logits, label):  # one example, written out
        return jnp.log(jnp.sum(jnp.exp(logits))) - logits[label]

    got = per_example(one)(jnp.asarray(x), jnp.asarray(y))
    expected = np.log(np.exp(x).sum(-1)) - x[np.arange(4), y]
    np.testing.assert_allclose(got, expected, rtol=1e-13)

    # broadcast a shared argument (in_axes=None) and map a keyword (kw_axes)
    def scaled(logits, scale, *, label):
        return jl.softmax_cross_entropy_with_integer_labels(scale * logits, label)

    got = per_example(scaled, in_axes=(0, None), kw_axes={"label": 0})(
        jnp.asarray(x), jnp.asarray(2.0), label=jnp.asarray(y, jnp.int32)
    )
    expected = np.log(np.exp(2 * x).sum(-1)) - 2 * x[np.arange(4), y]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


if __name__ == "__main__":
    print(json.dumps(_worker()))
