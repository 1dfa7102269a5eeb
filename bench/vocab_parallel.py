"""Per-device memory of the vocabulary-parallel fused cross-entropy (8 simulated devices).

``python -m bench.vocab_parallel`` compiles (does not run) the value-and-grad of the mean
loss w.r.t. ``hidden`` and ``weight`` at N=8192, D=512, V=32768, float32, on a
(2 data x 4 model) mesh of 8 simulated CPU devices, two ways:

* ``vocab_parallel``: :func:`jaxlosses.parallel.vocab_parallel_cross_entropy`, the weight
  split along V over "model", the tokens over "data";
* the same on a (1 x 8) mesh (every device holds all the tokens, V/8 classes);
* ``replicated``: :func:`jaxlosses.parallel.sharded_mean` with the whole weight on every
  device (``replicated=(1,)``), the tokens over all 8 devices.

and writes the per-device figures of XLA's ``memory_analysis()`` (argument, output and
temporary bytes) to ``bench/results/vocab_parallel_cpu.{json,md}``. These are the buffer
sizes XLA plans for one device's program, not a measured RSS.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()


import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

import jaxlosses as jl
from jaxlosses.parallel import sharded_mean, vocab_parallel_cross_entropy

from ._memory import compiled_memory, write_table

N, D, V = 8192, 512, 32768


def main() -> None:
    devices = np.array(jax.devices()[:8])
    h = jax.ShapeDtypeStruct((N, D), jnp.float32)
    w = jax.ShapeDtypeStruct((D, V), jnp.float32)
    y = jnp.zeros(N, jnp.int32)
    mesh2 = Mesh(devices.reshape(2, 4), ("data", "model"))
    mesh1 = Mesh(devices, ("data",))
    vp = vocab_parallel_cross_entropy(mesh2)
    vp8 = vocab_parallel_cross_entropy(Mesh(devices.reshape(1, 8), ("data", "model")))
    rep = sharded_mean(jl.linear_softmax_cross_entropy, mesh1, replicated=(1,))
    methods = {
        "vocab_parallel (2 data x 4 model)": lambda hh, ww: jnp.mean(vp(hh, ww, y)),
        "vocab_parallel (1 data x 8 model)": lambda hh, ww: jnp.mean(vp8(hh, ww, y)),
        "replicated weight (8 data)": lambda hh, ww: rep(hh, ww, y),
    }
    rows = [
        compiled_memory(name, jax.value_and_grad(f, (0, 1)), h, w) for name, f in methods.items()
    ]
    meta = {"N": N, "D": D, "V": V, "dtype": "float32", "devices": 8, "jax": jax.__version__}
    about = [
        "value-and-grad of the mean w.r.t. hidden and weight, float32, 8 simulated CPU",
        "devices, XLA `memory_analysis()` of the compiled per-device program (MiB).",
    ]
    title = f"Vocabulary-parallel fused cross-entropy: per-device memory (N={N}, D={D}, V={V})"
    write_table("vocab_parallel_cpu", title, about, meta, rows)


if __name__ == "__main__":
    main()
