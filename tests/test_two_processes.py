"""The README's multi-host recipe, run by two processes on this machine.

Two child processes call ``jax.distributed.initialize`` on localhost (two CPU devices
each, Gloo collectives), build one 4-device mesh, feed their half of the global batch
with ``jax.make_array_from_process_local_data`` and take three data-parallel Adam steps
through :func:`jaxlosses.parallel.sharded_mean`. The test compares the losses and the
trained weights with the same steps written directly in one process (a masked mean of
the cross-entropy by hand, no jaxlosses).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

B, D, K, STEPS = 16, 5, 3, 3


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(B, D)), rng.integers(0, K, B), np.arange(B) < 13


def _worker(process_id: int, port: int) -> dict[str, list]:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
    )
    import optax
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxlosses as jl
    from jaxlosses.parallel import sharded_mean

    assert jax.device_count() == 4 and jax.local_device_count() == 2
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    x, y, valid = _data()

    def model_loss(params, x, y):
        return jl.softmax_cross_entropy_with_integer_labels(
            x @ params["w"] + params["b"][None, :], y
        )

    loss = sharded_mean(model_loss, mesh, replicated=(0,))
    opt = optax.adam(0.1)

    @jax.jit
    def train_step(params, opt_state, x, y, valid):
        value, grads = jax.value_and_grad(loss)(params, x, y, where=valid)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    mine = slice(process_id * B // 2, (process_id + 1) * B // 2)  # this process's half
    batch = NamedSharding(mesh, P("data"))
    gx, gy, gv = (jax.make_array_from_process_local_data(batch, a[mine]) for a in (x, y, valid))
    everywhere = NamedSharding(mesh, P())
    params = {
        k: jax.make_array_from_process_local_data(everywhere, np.zeros(s))
        for k, s in (("w", (D, K)), ("b", (K,)))
    }
    opt_state = opt.init(params)
    values = []
    for _ in range(STEPS):
        params, opt_state, value = train_step(params, opt_state, gx, gy, gv)
        values.append(float(value))
    w = multihost_utils.process_allgather(params["w"], tiled=True)
    jax.distributed.shutdown()
    return {"values": values, "w": np.asarray(w).tolist()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _single_process_reference(x64) -> tuple[list[float], np.ndarray]:
    import jax
    import jax.numpy as jnp
    import optax

    x, y, valid = (jnp.asarray(a) for a in _data())

    def mean_loss(params):
        logits = x @ params["w"] + params["b"][None, :]
        ce = jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, y[:, None], -1)[:, 0]
        return jnp.sum(jnp.where(valid, ce, 0.0)) / jnp.sum(valid)

    opt = optax.adam(0.1)
    params = {"w": jnp.zeros((D, K)), "b": jnp.zeros(K)}
    state = opt.init(params)
    values = []
    for _ in range(STEPS):
        value, grads = jax.value_and_grad(mean_loss)(params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        values.append(float(value))
    return values, np.asarray(params["w"])


def test_two_processes_train_like_one(x64):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(i), str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-4000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    values, w = _single_process_reference(x64)
    for got in outputs:
        np.testing.assert_allclose(got["values"], values, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(got["w"]), w, rtol=1e-10, atol=1e-12)
    assert values[-1] < values[0] - 0.1  # the steps trained something


if __name__ == "__main__":
    print(json.dumps(_worker(int(sys.argv[1]), int(sys.argv[2]))))
else:
    pytest.importorskip("optax")
