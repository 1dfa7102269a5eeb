"""Vocabulary-parallel fused cross-entropy on 8 simulated CPU devices.

``linear_softmax_cross_entropy(..., vocab_axis_name=...)`` inside ``jax.shard_map`` (the
weight split along its classes) and its wrapper
:func:`jaxlosses.parallel.vocab_parallel_cross_entropy` must equal the one-device call in
float64, values and gradients w.r.t. ``hidden``, ``weight``, ``bias`` and the class
``weights``, with label smoothing, z-loss, masks, a padded last chunk, both
differentiation paths and both kinds of cotangent (a mean: the fast summed ``dL/dW``; a
per-token weighting: the second pass), on a (2 data x 4 model) and a (1 x 8) mesh built
by ``jax.make_mesh`` (Explicit axes) and by hand. The one-device reference is itself
checked against NumPy in the catalogue; one case here is also checked against the
materialised optax loss. The compiled sharded program must hold no array with the global
``V`` beyond the ``[D, V]`` weight argument itself (the replicated-weight program, which
does build ``[chunk, V]`` logits, shows the check can fail).

As in ``tests/test_parallel.py`` the device count is fixed before JAX initialises, so this
file runs itself as a script in a child process and the tests assert on what it prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _devices import run_json
from _session import once

N_DEV = 8
N, D, V = 48, 6, 40  # V = 40 is no other size in the program: the HLO check can find it
TOL = 1e-12


def _err(a: Any, b: Any) -> float:
    import jax

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    worst = 0.0
    for x, y in zip(la, lb):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape, (x.shape, y.shape)
        same_nan = np.isnan(x) == np.isnan(y)
        if not same_nan.all():
            return float("inf")
        ok = ~np.isnan(x)
        worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]), initial=0.0)))
    return worst


def _shapes_with(text: str, size: int) -> set[str]:
    """The tensor shapes in an HLO / StableHLO text that have a dimension ``size``."""
    found = set()
    for dims in re.findall(r"tensor<([0-9x]+)x[a-z]+[0-9]*>", text):
        if str(size) in dims.split("x"):
            found.add(dims)
    for dims in re.findall(r"[fsupb][0-9]+\[([0-9,]+)\]", text):
        if str(size) in dims.split(","):
            found.add(dims.replace(",", "x"))
    return found


def _worker() -> dict[str, Any]:
    import functools

    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "standard")
    import jax.numpy as jnp
    import optax
    from jax.sharding import AxisType, Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxlosses as jl
    from jaxlosses.parallel import sharded_mean, vocab_parallel_cross_entropy

    out: dict[str, Any] = {"devices": jax.device_count()}
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.standard_normal((N, D)))
    w = jnp.asarray(rng.standard_normal((D, V)))
    b = jnp.asarray(rng.standard_normal(V))
    cw = jnp.asarray(rng.uniform(0.2, 3.0, V))
    y = jnp.asarray(rng.integers(0, V, N), jnp.int32)
    y = y.at[:3].set(jnp.array([0, V - 1, V // 2], jnp.int32))  # both ends of the blocks
    mask = rng.random(N) < 0.7
    mask[:6] = False  # a run of masked tokens at the start
    mask[6:8] = True  # unmasked: they get the out-of-range labels below
    m = jnp.asarray(mask)
    ct = jnp.asarray(rng.uniform(0.1, 2.0, N))  # a per-token weighting (non-uniform)

    meshes = {
        "make_2x4": jax.make_mesh((2, 4), ("data", "model")),
        "hand_2x4": Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model")),
        "make_1x8": jax.make_mesh((1, 8), ("data", "model")),
        "hand_1x8": Mesh(np.array(jax.devices()).reshape(1, 8), ("data", "model")),
    }
    configs = {
        "plain": {},
        "full": dict(bias=b, weights=cw, where=m, label_smoothing=0.1, z_loss=1e-2, chunk_size=5),
        "smooth_where": dict(where=m, label_smoothing=0.2, chunk_size=4),
        "autodiff": dict(
            bias=b,
            weights=cw,
            where=m,
            label_smoothing=0.1,
            z_loss=1e-2,
            chunk_size=5,
            custom_vjp=False,
        ),
    }
    argnums = {"plain": (0, 1), "smooth_where": (0, 1)}

    def reductions(kw):
        mm = kw.get("where")
        return {
            "mean": lambda x: jl.masked_mean(x, where=mm),  # uniform cotangent: fast path
            "weighted": lambda x: jnp.sum(jnp.where(m, x, 0.0) * ct),  # the second pass
        }

    def call(loss, kw, hh, ww, bb, cc):
        kw = dict(kw)
        if "bias" in kw:
            kw["bias"] = bb
        if "weights" in kw:
            kw["weights"] = cc
        return loss(hh, ww, y, **kw)

    wants: dict[tuple[str, str], Any] = {}
    for mname, mesh in meshes.items():
        vp = vocab_parallel_cross_entropy(mesh)
        for cname in MATRIX[mname]:
            kw = configs[cname]
            nums = argnums.get(cname, (0, 1, 2, 3))
            for rname, red in reductions(kw).items():

                def one(hh, ww, bb, cc, kw=kw, red=red):
                    return red(call(jl.linear_softmax_cross_entropy, kw, hh, ww, bb, cc))

                def par(hh, ww, bb, cc, kw=kw, red=red, vp=vp):
                    return red(call(vp, kw, hh, ww, bb, cc))

                if (cname, rname) not in wants:
                    wants[cname, rname] = jax.jit(jax.value_and_grad(one, nums))(h, w, b, cw)
                want = wants[cname, rname]
                got = jax.jit(jax.value_and_grad(par, nums))(h, w, b, cw)
                out[f"{mname}/{cname}/{rname}/value"] = _err(got[0], want[0])
                out[f"{mname}/{cname}/{rname}/grad"] = _err(got[1], want[1])
        # per-token values, eagerly (no jit)
        kw = configs["full"]
        out[f"{mname}/per_token"] = _err(
            call(vp, kw, h, w, b, cw), call(jl.linear_softmax_cross_entropy, kw, h, w, b, cw)
        )

    # An independent reference for one case: optax on the materialised logits.
    mesh = meshes["make_2x4"]
    vp = vocab_parallel_cross_entropy(mesh)
    out["optax"] = _err(
        vp(h, w, y, bias=b),
        optax.losses.softmax_cross_entropy_with_integer_labels(h @ w + b[None, :], y),
    )
    # A token batch shape [B, T, D], split over "data" along B.
    h3, y3, m3 = h.reshape(8, 6, D), y.reshape(8, 6), m.reshape(8, 6)
    got = jax.jit(
        jax.value_and_grad(lambda hh, ww: jnp.sum(vp(hh, ww, y3, where=m3, z_loss=1e-3)), (0, 1))
    )(h3, w)
    want = jax.value_and_grad(
        lambda hh, ww: jnp.sum(jl.linear_softmax_cross_entropy(hh, ww, y3, where=m3, z_loss=1e-3)),
        (0, 1),
    )(h3, w)
    out["batch_shape"] = max(_err(got[0], want[0]), _err(got[1], want[1]))
    # Inputs already placed (weight split along V) and a jax.set_mesh context.
    hp = jax.device_put(h, NamedSharding(mesh, P("data")))
    wp = jax.device_put(w, NamedSharding(mesh, P(None, "model")))
    yp = jax.device_put(y, NamedSharding(mesh, P("data")))
    f = jax.value_and_grad(lambda hh, ww: jnp.mean(vp(hh, ww, yp, label_smoothing=0.1)), (0, 1))
    want = jax.value_and_grad(
        lambda hh, ww: jnp.mean(jl.linear_softmax_cross_entropy(hh, ww, y, label_smoothing=0.1)),
        (0, 1),
    )(h, w)
    got = jax.jit(f)(hp, wp)
    out["placed"] = max(_err(got[0], want[0]), _err(got[1], want[1]))
    out["placed_grad_sharding"] = str(jax.typeof(got[1][1]).sharding.spec)
    with jax.set_mesh(mesh):
        got = f(hp, wp)
    out["set_mesh"] = max(_err(got[0], want[0]), _err(got[1], want[1]))
    # Auto axes.
    auto = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    va = vocab_parallel_cross_entropy(auto)
    got = jax.jit(jax.value_and_grad(lambda hh, ww: jnp.mean(va(hh, ww, y)), (0, 1)))(h, w)
    want = jax.value_and_grad(
        lambda hh, ww: jnp.mean(jl.linear_softmax_cross_entropy(hh, ww, y)), (0, 1)
    )(h, w)
    out["auto"] = max(_err(got[0], want[0]), _err(got[1], want[1]))

    # The keyword used directly in a user's own shard_map (a third, replicated axis too).
    mesh3 = Mesh(np.array(jax.devices()).reshape(2, 2, 2), ("data", "model", "pipe"))

    def local(hh, ww, bb, yy, mm):
        return jl.linear_softmax_cross_entropy(
            hh, ww, yy, bias=bb, where=mm, z_loss=1e-2, chunk_size=4, vocab_axis_name="model"
        )

    sm = jax.shard_map(
        local,
        mesh=mesh3,
        in_specs=(P("data"), P(None, "model"), P("model"), P("data"), P("data")),
        out_specs=P("data"),
    )
    got = jax.jit(
        jax.value_and_grad(lambda hh, ww, bb: jnp.sum(sm(hh, ww, bb, y, m) * ct), (0, 1, 2))
    )(h, w, b)
    want = jax.value_and_grad(
        lambda hh, ww, bb: jnp.sum(
            jl.linear_softmax_cross_entropy(hh, ww, y, bias=bb, where=m, z_loss=1e-2, chunk_size=4)
            * ct
        ),
        (0, 1, 2),
    )(h, w, b)
    out["own_shard_map"] = max(_err(got[0], want[0]), _err(got[1], want[1]))

    # Out-of-range labels: NaN on an unmasked token, 0 on a masked one, as on one device.
    bad = y.at[6].set(V).at[7].set(-1).at[0].set(V + 5)  # token 0 is masked
    out["bad_labels"] = _err(
        vp(h, w, bad, where=m), jl.linear_softmax_cross_entropy(h, w, bad, where=m)
    )
    out["bad_labels_nan"] = int(jnp.sum(jnp.isnan(vp(h, w, bad, where=m))))
    # float32 in, float32 out.
    out["dtype"] = str(vp(h.astype(jnp.float32), w.astype(jnp.float32), y).dtype)

    # No [*, V] array in the sharded program but the [D, V] weight argument (and its
    # gradient); the replicated-weight program (sharded_mean) has [chunk, V] logits.
    def grad_fn(loss):
        return jax.jit(jax.value_and_grad(lambda hh, ww: jnp.mean(loss(hh, ww, y)), (0, 1)))

    vp_lowered = grad_fn(functools.partial(vp, chunk_size=4)).lower(h, w)
    rep = sharded_mean(
        functools.partial(jl.linear_softmax_cross_entropy, chunk_size=4),
        meshes["hand_2x4"],
        replicated=(1,),
    )
    rep_lowered = jax.jit(jax.value_and_grad(lambda hh, ww: rep(hh, ww, y), (0, 1))).lower(h, w)
    out["vp_lowered_V_shapes"] = sorted(_shapes_with(vp_lowered.as_text(), V))
    out["vp_compiled_V_shapes"] = sorted(_shapes_with(vp_lowered.compile().as_text(), V))
    out["rep_lowered_V_shapes"] = sorted(_shapes_with(rep_lowered.as_text(), V))
    out["rep_compiled_V_shapes"] = sorted(_shapes_with(rep_lowered.compile().as_text(), V))

    # Errors name the fix.
    try:
        vp(h, w[:, :38], y)
        out["indivisible_V"] = ""
    except ValueError as e:
        out["indivisible_V"] = str(e)
    try:
        vp(h[:47], w, y[:47])
        out["indivisible_N"] = ""
    except ValueError as e:
        out["indivisible_N"] = str(e)
    try:
        vocab_parallel_cross_entropy(mesh, vocab_axis="vocab")
        out["bad_axis"] = ""
    except ValueError as e:
        out["bad_axis"] = str(e)
    return out


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return once(
        "test_vocab_parallel",
        tmp_path_factory,
        lambda: run_json(Path(__file__).resolve(), N_DEV, timeout=600),
    )


MESHES = ["make_2x4", "hand_2x4", "make_1x8", "hand_1x8"]
CONFIGS = ["plain", "full", "smooth_where", "autodiff"]
# Every configuration on the Explicit 2 x 4 mesh; the others (compiling is most of the
# time on a 2-core machine) with everything switched on, both differentiation paths.
MATRIX = {
    "make_2x4": CONFIGS,
    "hand_2x4": ["full", "autodiff"],
    "make_1x8": ["full", "autodiff"],
    "hand_1x8": ["plain", "full"],
}
CASES = [(m, c) for m in MESHES for c in MATRIX[m]]


def test_eight_devices(child):
    assert child["devices"] == N_DEV


@pytest.mark.parametrize(("mesh", "config"), CASES)
@pytest.mark.parametrize("reduction", ["mean", "weighted"])
def test_equals_one_device(child, mesh, config, reduction):
    """Values and gradients (hidden, weight, bias, class weights) in float64."""
    assert child[f"{mesh}/{config}/{reduction}/value"] <= TOL
    assert child[f"{mesh}/{config}/{reduction}/grad"] <= TOL


@pytest.mark.parametrize("mesh", MESHES)
def test_per_token_values_eagerly(child, mesh):
    assert child[f"{mesh}/per_token"] <= TOL


def test_against_optax(child):
    assert child["optax"] <= TOL


@pytest.mark.parametrize("case", ["batch_shape", "placed", "set_mesh", "auto", "own_shard_map"])
def test_other_entry_points(child, case):
    assert child[case] <= TOL


def test_weight_gradient_stays_split(child):
    assert child["placed_grad_sharding"] in ("P(None, 'model')", "PartitionSpec(None, 'model')")


def test_out_of_range_labels(child):
    assert child["bad_labels"] <= TOL  # NaN where the one-device loss has NaN
    assert child["bad_labels_nan"] == 2  # tokens 6 and 7; token 0 is masked


def test_dtype(child):
    assert child["dtype"] == "float32"


def test_no_global_vocabulary_array(child):
    """Only the [D, V] weight argument (and its gradient) carries the global V."""
    assert set(child["vp_lowered_V_shapes"]) <= {f"{D}x{V}"}
    assert child["vp_compiled_V_shapes"] == []  # per-device program: [D, V/n] blocks only
    # The check can fail: the replicated-weight program builds [chunk, V] logits.
    assert f"4x{V}" in child["rep_compiled_V_shapes"]


def test_errors_name_the_fix(child):
    assert "divisible" in child["indivisible_V"] and "Pad the vocabulary" in child["indivisible_V"]
    assert "divisible" in child["indivisible_N"] and "where=" in child["indivisible_N"]
    assert "not an axis" in child["bad_axis"]


if __name__ == "__main__":
    print(json.dumps(_worker()))
