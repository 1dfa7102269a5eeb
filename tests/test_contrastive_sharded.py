"""CLIP, SigLIP (gathered and ring), SupCon, GE2E and NT-Xent across 8 simulated devices, several
examples per device, against the global batch on one device (float64, 1e-12).

``tests/test_sharded_catalogue.py`` already runs every record under ``sharded_mean``
with one example per device; here each device holds 4, so the positives sit at non-zero
offsets inside each device's block, and SigLIP's ring (``ring=True``) is compared too:
per-device values, ``jax.grad`` of every learned input through ``shard_map`` (the ring's
custom_vjp), its closed form, and the shapes it builds: no intermediate of the ring's
forward and backward pass has the global batch as a dimension (the gathered version does,
which shows the check can fail). The comparisons run in a child process with 8 devices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _devices import run_json
from _session import once

N_DEV, PER_DEV, DIM = 8, 4, 6
TOL = 1e-12


def _shapes(jaxpr: Any) -> list[tuple[int, ...]]:
    """Every intermediate shape inside the ``shard_map`` bodies of a jaxpr (recursively)."""
    import jax.extend.core

    out: list[tuple[int, ...]] = []

    def walk(jx: Any, inside: bool) -> None:
        for eqn in jx.eqns:
            if inside:
                out.extend(tuple(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape"))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub, inside or eqn.primitive.name == "shard_map")

    walk(jaxpr.jaxpr, False)
    return out


def _worker() -> dict[str, Any]:
    import functools

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import PartitionSpec as P

    import jaxlosses as jl
    from jaxlosses.parallel import sharded_mean

    batch = N_DEV * PER_DEV
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, DIM)))
    y = x + jnp.asarray(rng.standard_normal((batch, DIM)))
    labels = jnp.asarray(rng.integers(0, 5, batch))
    s, b = jnp.asarray(3.0), jnp.asarray(-2.0)
    speakers = jnp.asarray(rng.standard_normal((2 * N_DEV, 3, DIM)))  # [speakers, utts, dim]
    mesh = jax.make_mesh((N_DEV,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    out: dict[str, Any] = {}

    def err(a: Any, want: Any) -> float:
        worst = 0.0
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(want)):
            scale = max(1.0, float(jnp.max(jnp.abs(v))))
            worst = max(worst, float(jnp.max(jnp.abs(u - v))) / scale)
        return worst

    def per_device(fn, args, specs, out_specs=None):
        out_specs = P("data") if out_specs is None else out_specs
        return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=out_specs))(*args)

    towers = (P("data"), P("data"), P(), P())
    cases = {
        "clip": (jl.clip_loss, (x, y, s), towers[:3], {}),
        "clip_normalize": (jl.clip_loss, (x, y, s), towers[:3], {"normalize": True}),
        "clip_logits": (jl.clip_loss, (x @ y.T, None, s), (P("data"), None, P()), {}),
        "siglip": (jl.siglip_loss, (x, y, s, b), towers, {}),
        "siglip_ring": (jl.siglip_loss, (x, y, s, b), towers, {"ring": True}),
        "siglip_ring_normalize": (
            jl.siglip_loss,
            (x, y, s, b),
            towers,
            {"ring": True, "normalize": True},
        ),
        "supcon": (jl.supervised_contrastive_loss, (x, labels), (P("data"), P("data")), {}),
        "ge2e": (jl.ge2e_loss, (speakers, s, b), (P("data"), P(), P()), {}),
        "ge2e_contrast": (
            jl.ge2e_loss,
            (speakers, s, b),
            (P("data"), P(), P()),
            {"method": "contrast"},
        ),
    }
    for name, (loss, args, specs, kw) in cases.items():
        one_kw = {k: v for k, v in kw.items() if k != "ring"}
        n_learned = sum(a is not None and a.dtype.kind == "f" for a in args)
        dyn = [a for a in args if a is not None]
        dyn_specs = tuple(sp for a, sp in zip(args, specs) if a is not None)

        def full(*d, args=args):
            it = iter(d)
            return [None if a is None else next(it) for a in args]

        def local(*d, loss=loss, kw=kw, full=full):
            return loss(*full(*d), **kw, axis_name="data")

        want = loss(*args, **one_kw)
        got = per_device(local, dyn, dyn_specs)
        row: dict[str, float] = {"value": err(got, want)}

        # jax.grad of the global sum, through shard_map (replicated scale: summed shares)
        def sharded_total(*d, local=local, dyn_specs=dyn_specs):
            sm = jax.shard_map(local, mesh=mesh, in_specs=dyn_specs, out_specs=P("data"))
            return jnp.sum(sm(*d))

        def one_total(*d, loss=loss, one_kw=one_kw, full=full):
            return jnp.sum(loss(*full(*d), **one_kw))

        idx = tuple(i for i, a in enumerate(dyn) if a.dtype.kind == "f")
        g8 = jax.jit(jax.grad(sharded_total, idx))(*dyn)
        g1 = jax.grad(one_total, idx)(*dyn)
        row["grad"] = err(g8, g1)

        # the closed form with axis_name: the global gradient (scale: on every device)
        cf = getattr(jl.closed_form, loss.__name__)
        rep = [sp == P() for a, sp in zip(args, specs) if a is not None]
        cf_specs = tuple(P() if rep[i] else P("data") for i in idx)
        if loss is jl.clip_loss and args[1] is None:
            cf_specs = (P("data"), P())  # logits, scale (the texts' entry is None)

        def cf_local(*d, cf=cf, kw=kw, full=full, n=n_learned):
            g = cf(*full(*d), **kw, axis_name="data")
            g = g if isinstance(g, tuple) else (g,)
            return tuple(v for v in g if v is not None)[:n]

        got_cf = per_device(cf_local, dyn, dyn_specs, out_specs=cf_specs)
        want_cf = cf(*args, **one_kw)
        want_cf = tuple(v for v in (want_cf if isinstance(want_cf, tuple) else (want_cf,)))
        row["closed_form"] = err(got_cf, tuple(v for v in want_cf if v is not None))
        out[name] = row

    # NT-Xent: one scalar, the global batch's on every device (out_specs=P())
    def ntxent_local(xs, ls):
        return jl.ntxent(xs, ls, 0.5, axis_name="data")

    nt = jax.shard_map(ntxent_local, mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P())
    nt_cf = jax.shard_map(
        lambda xs, ls: jl.closed_form.ntxent(xs, ls, 0.5, axis_name="data"),
        mesh=mesh,
        in_specs=(P("data"), P("data")),
        out_specs=P("data"),
    )
    want_g = jax.grad(lambda v: jl.ntxent(v, labels, 0.5))(x)
    out["ntxent"] = {
        "value": err(jax.jit(nt)(x, labels), jl.ntxent(x, labels, 0.5)),
        "grad": err(jax.jit(jax.grad(lambda v: nt(v, labels)))(x), want_g),
        "closed_form": err(jax.jit(nt_cf)(x, labels), want_g),
    }

    # under sharded_mean (it passes axis_name; ring=True as a call keyword)
    for name, kw in (("sharded_mean_siglip_ring", {"ring": True}), ("sharded_mean_siglip", {})):
        mean = sharded_mean(jl.siglip_loss, mesh, replicated=(2, 3))
        v8, g8 = jax.jit(
            jax.value_and_grad(lambda *a, kw=kw, mean=mean: mean(*a, **kw), (0, 1, 2, 3))
        )(x, y, s, b)
        v1, g1 = jax.value_and_grad(lambda *a: jnp.mean(jl.siglip_loss(*a)), (0, 1, 2, 3))(
            x, y, s, b
        )
        out[name] = {"value": err(v8, v1), "grad": err(g8, g1)}

    # under pmap the ring's shares of the scale and bias gradients are per device, as
    # JAX gives them for the gathered loss (the user psums replicated parameters)
    def pmap_run(ring, grad):
        def local(xs, ys, sc, bi):
            return jl.siglip_loss(xs, ys, sc, bi, axis_name="d", ring=ring)

        fn = jax.grad(lambda *a: local(*a).sum(), (0, 1, 2, 3)) if grad else local
        shard = x.reshape(N_DEV, PER_DEV, DIM), y.reshape(N_DEV, PER_DEV, DIM)
        return jax.pmap(fn, axis_name="d")(*shard, *(jnp.broadcast_to(a, (N_DEV,)) for a in (s, b)))

    ring_g = pmap_run(True, grad=True)
    g_one = jax.grad(lambda sc, bi: jnp.sum(jl.siglip_loss(x, y, sc, bi)), (0, 1))(s, b)
    out["pmap_siglip_ring"] = {
        "value": err(pmap_run(True, grad=False).reshape(-1), jl.siglip_loss(x, y, s, b)),
        "grad": max(
            err(ring_g, pmap_run(False, grad=True)),
            err([jnp.sum(ring_g[2]), jnp.sum(ring_g[3])], list(g_one)),
        ),
    }

    # what the ring builds: nothing with the global batch as a dimension, forward or back
    def siglip_total(ring):
        local = functools.partial(jl.siglip_loss, axis_name="data", ring=ring)
        sm = jax.shard_map(local, mesh=mesh, in_specs=towers, out_specs=P("data"))
        return lambda *a: jnp.sum(sm(*a))

    for ring in (True, False):
        jx = jax.make_jaxpr(jax.grad(siglip_total(ring), (0, 1, 2, 3)))(x, y, s, b)
        shapes = _shapes(jx)
        out[f"shapes_ring_{ring}"] = {
            "with_global_batch": sum(batch in sh for sh in shapes),
            "largest": max(int(np.prod(sh)) for sh in shapes),
            "count": len(shapes),
        }
    return out


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return once(
        "test_contrastive_sharded",
        tmp_path_factory,
        lambda: run_json(Path(__file__).resolve(), N_DEV, timeout=600),
    )


@pytest.mark.parametrize(
    "name",
    [
        "clip",
        "clip_normalize",
        "clip_logits",
        "siglip",
        "siglip_ring",
        "siglip_ring_normalize",
        "supcon",
        "ge2e",
        "ge2e_contrast",
        "ntxent",
        "sharded_mean_siglip_ring",
        "sharded_mean_siglip",
        "pmap_siglip_ring",
    ],
)
def test_eight_devices_equal_one(child, name):
    res = child[name]
    assert res["value"] <= TOL and res["grad"] <= TOL, res
    assert res.get("closed_form", 0.0) <= TOL, res


def test_the_ring_never_holds_the_global_batch(child):
    ring, gathered = child["shapes_ring_True"], child["shapes_ring_False"]
    assert ring["count"] > 0 and gathered["with_global_batch"] > 0, (ring, gathered)
    assert ring["with_global_batch"] == 0, ring
    assert ring["largest"] <= PER_DEV * max(PER_DEV, DIM), ring  # one block, one chunk


def test_ring_and_logits_misuse_is_refused():
    import jax.numpy as jnp

    import jaxlosses as jl

    x = jnp.ones((4, 3))
    with pytest.raises(ValueError, match=r"siglip_loss: `ring=True`.*axis_name"):
        jl.siglip_loss(x, x, ring=True)  # outside shard_map: nothing to pass around
    with pytest.raises(ValueError, match=r"clip_loss: .*logits matrix.*\(4, 3\)"):
        jl.clip_loss(x)  # not square: not a logits matrix


if __name__ == "__main__":
    print(json.dumps(_worker()))


def test_a_partial_of_a_coupled_loss_is_still_coupled():
    # Binding a hyperparameter must not hide the coupling from sharded_mean: it would
    # then split the batch without gathering (or refusing), a silently local loss.
    import functools

    import jax
    import numpy as np
    from jax.sharding import Mesh

    import jaxlosses as jl
    from jaxlosses._coupling import batch_coupling
    from jaxlosses.parallel import sharded_mean

    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    with pytest.raises(ValueError, match="ntxent couples the examples"):
        sharded_mean(functools.partial(jl.ntxent, temperature=0.5), mesh)
    bound = functools.partial(jl.siglip_loss, normalize=True)
    assert batch_coupling(bound) is batch_coupling(jl.siglip_loss) is not None
