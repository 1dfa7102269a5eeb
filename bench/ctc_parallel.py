"""``python -m bench.ctc_parallel``: CTC's sequential scan vs its parallel-in-time method.

For each padded label length ``N`` (``S = 2N + 2`` lattice states) and number of frames
``T`` (batch 64 by default, 32 classes, float32, frame lengths in ``(T/2, T]`` and label
lengths in ``(N/2, N]``): the jitted value-and-grad of ``ctc_loss(...).mean()`` w.r.t. the
logits with ``method="sequential"`` and ``method="parallel"``, timed as in
:mod:`bench.crf_parallel` (alternating rounds, fastest round and band, XLA's planned
temporary buffers, methods planning more than ``--max-gib`` not run).

Writes ``bench/results/ctc_parallel_<backend>.json`` and ``.md``; the ``"auto"`` rule of
:func:`jaxlosses.ctc_loss` cites the CPU table.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.crf_parallel import parser, run, time_methods

CLASSES = 32


def bench_config(n: int, t: int, batch: int, rounds: int, a: argparse.Namespace) -> dict:
    import jax.numpy as jnp
    import numpy as np

    import jaxlosses as jl
    from jaxlosses._ctc import _ctc_inputs

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, t, CLASSES)), jnp.float32)
    frames = rng.integers(t // 2 + 1, t + 1, batch)
    pad = jnp.asarray(np.arange(t) >= frames[:, None], jnp.float32)
    labels = jnp.asarray(rng.integers(1, CLASSES, (batch, n)), jnp.int32)
    lengths = rng.integers(n // 2 + 1, n + 1, batch)
    lpad = jnp.asarray(np.arange(n) >= lengths[:, None], jnp.float32)
    s = 2 * n + 2
    row: dict[str, Any] = {"N": n, "S": s, "T": t, "batch": batch, "entries": t * batch * s * s}
    row["auto"] = _ctc_inputs(x, pad, labels, lpad, 0, -1e5, "bench")[8]

    def loss(x: Any, pad: Any, labels: Any, lpad: Any, method: str) -> Any:
        return jl.ctc_loss(x, pad, labels, lpad, method=method).mean()

    return time_methods(loss, (x, pad, labels, lpad), (0,), row, rounds, a)


def main() -> None:
    a = parser(__doc__, "labels", [2, 8, 32]).parse_args()
    text = (
        "CTC: sequential vs parallel-in-time",
        "Value-and-grad of `ctc_loss(...).mean()` w.r.t. the logits, float32, batch "
        f"{{batch}}, {CLASSES} classes, frame lengths in (T/2, T], label lengths in "
        "(N/2, N]; S = 2N + 2 lattice states.",
    )
    run(a, "ctc_parallel", a.labels, bench_config, text=text, size_keys=["N", "S", "T"])


if __name__ == "__main__":
    main()
