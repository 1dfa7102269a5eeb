"""Per-device memory of the global-negative contrastive losses (8 simulated devices).

``python -m bench.contrastive_parallel`` compiles (does not run) the value-and-grad of the
mean loss w.r.t. both towers (and the learned scale and bias) at a global batch of
B=4096 pairs, D=256, float32:

* on one device, the whole batch (the ``[B, B]`` similarity matrix on that device);
* under :func:`jaxlosses.parallel.sharded_mean` on 8 simulated CPU devices, each holding
  B/8 pairs: the losses gather the other devices' texts (``[B/8, B]`` logits per device),
  and SigLIP's ring (``ring=True``) passes one device's chunk at a time (``[B/8, B/8]``).

The values and gradients are the global batch's in every case (tested in
``tests/test_contrastive_sharded.py``); this shows what each device has to hold. It writes
XLA's per-device ``memory_analysis()`` to ``bench/results/contrastive_parallel_cpu.{json,md}``.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import jax
import jax.numpy as jnp
from jax.sharding import AxisType

import jaxlosses as jl
from jaxlosses.parallel import sharded_mean

from ._memory import compiled_memory, write_table

B, D = 4096, 256


def main() -> None:
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    x = jax.ShapeDtypeStruct((B, D), jnp.float32)
    s = jax.ShapeDtypeStruct((), jnp.float32)
    labels = jnp.zeros(B, jnp.int32)
    rows = []
    for name, loss, learned in (
        ("clip_loss", jl.clip_loss, 3),
        ("siglip_loss", jl.siglip_loss, 4),
        ("siglip_loss ring=True", functools.partial(jl.siglip_loss, ring=True), 4),
    ):
        args = (x, x, s, s)[:learned]
        if "ring" not in name:  # the ring needs devices: its one-device row is siglip_loss's
            one = jax.value_and_grad(
                lambda *a, loss=loss: jnp.mean(loss(*a)), tuple(range(learned))
            )
            rows.append(compiled_memory(f"{name}, one device (B={B})", one, *args))
        mean = sharded_mean(loss, mesh, replicated=tuple(range(2, learned)))
        sharded = jax.value_and_grad(lambda *a, mean=mean: mean(*a), tuple(range(learned)))
        rows.append(compiled_memory(f"{name}, 8 devices (B/8 each)", sharded, x, x, *args[2:]))

    def supcon(e):
        return jnp.mean(jl.supervised_contrastive_loss(e, labels))

    rows.append(
        compiled_memory("supervised_contrastive_loss, one device", jax.value_and_grad(supcon), x)
    )
    mean = sharded_mean(jl.supervised_contrastive_loss, mesh)
    rows.append(
        compiled_memory(
            "supervised_contrastive_loss, 8 devices",
            jax.value_and_grad(lambda e: mean(e, labels)),
            x,
        )
    )
    meta = {"B": B, "D": D, "dtype": "float32", "devices": 8, "jax": jax.__version__}
    about = [
        "value-and-grad of the mean loss w.r.t. every learned input, float32; XLA",
        "`memory_analysis()` of the compiled program of one device (MiB). Sharded rows: the",
        "global batch split over 8 simulated CPU devices, exact global negatives.",
    ]
    title = f"Global-negative contrastive losses: per-device memory (B={B}, D={D})"
    write_table("contrastive_parallel_cpu", title, about, meta, rows)


if __name__ == "__main__":
    main()
