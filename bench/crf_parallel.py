"""``python -m bench.crf_parallel``: the CRF's sequential scan vs its parallel-in-time method.

For each number of tags ``K`` and length ``T`` (batch 64, float32): the jitted
value-and-grad of ``crf_loss(...).mean()`` w.r.t. emissions and transitions, with
``method="sequential"`` and ``method="parallel"``, compiled ahead of time, one warm-up
call each, then ``--rounds`` rounds that time each method once, in alternating order
(sequential first in even rounds, parallel first in odd ones) so that load drifts hit both.
Reported: the fastest round of each method, the band (fastest and slowest round) and the
per-round ratio parallel / sequential (its band over rounds), plus XLA's planned
temporary buffers (``memory_analysis()``). A method whose planned buffers exceed
``--max-gib`` is not run (``skipped``), and a configuration whose first call takes longer
than ``--slow-s`` gets only ``--slow-rounds`` rounds.

Writes ``bench/results/crf_parallel_<backend>.json`` and ``.md``; the ``"auto"`` rule of
:func:`jaxlosses.crf_log_partition` cites the CPU table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
GiB = 2**30
METHODS = ("sequential", "parallel")


def _timed(fn: Any, args: tuple[Any, ...]) -> float:
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def bench_config(k: int, t: int, batch: int, rounds: int, a: argparse.Namespace) -> dict:
    import jax.numpy as jnp
    import numpy as np

    import jaxlosses as jl
    from jaxlosses import _crf

    rng = np.random.default_rng(0)
    e = jnp.asarray(rng.standard_normal((batch, t, k)), jnp.float32)
    tr = jnp.asarray(rng.standard_normal((k, k)), jnp.float32)
    tags = jnp.asarray(rng.integers(0, k, (batch, t)), jnp.int32)
    lengths = rng.integers(t // 2 + 1, t + 1, batch)  # variable lengths, as in training
    mask = jnp.asarray(np.arange(t) < lengths[:, None])
    row: dict[str, Any] = {"K": k, "T": t, "batch": batch, "entries": t * batch * k * k}
    ch = _crf.chain(e, tr, mask, None, None, "bench")
    row["auto"] = _crf.resolve_method("auto", ch, "bench")

    def loss(e: Any, tr: Any, tags: Any, mask: Any, method: str) -> Any:
        return jl.crf_loss(e, tags, tr, mask=mask, method=method).mean()

    return time_methods(loss, (e, tr, tags, mask), (0, 1), row, rounds, a)


def time_methods(
    loss: Any,
    args: tuple[Any, ...],
    argnums: tuple[int, ...],
    row: dict[str, Any],
    rounds: int,
    a: argparse.Namespace,
) -> dict[str, Any]:
    """Times ``value_and_grad(loss)`` for each method in alternating rounds, into ``row``.

    ``loss(*args, method=...)``; the gradient is w.r.t. ``argnums``. Adds each method's
    planned temporary bytes, its round times (or why it was skipped), the fastest-round
    ratio parallel / sequential and the band of the per-round ratios.
    """
    import jax

    compiled: dict[str, Any] = {}
    for method in METHODS:

        def one(*xs: Any, method: str = method) -> Any:
            return loss(*xs, method=method)

        c = jax.jit(jax.value_and_grad(one, argnums=argnums)).lower(*args).compile()
        mem = c.memory_analysis()
        temp = None if mem is None else int(mem.temp_size_in_bytes)
        row[f"{method}_temp_bytes"] = temp
        if temp is not None and temp > a.max_gib * GiB:
            row[f"{method}_skipped"] = f"planned {temp / GiB:.1f} GiB > {a.max_gib} GiB"
            continue
        compiled[method] = c
    first = {m: _timed(c, args) for m, c in compiled.items()}  # warm-up
    if max(first.values()) > a.slow_s:
        rounds = a.slow_rounds
    times: dict[str, list[float]] = {m: [] for m in compiled}
    for r in range(rounds):
        order = list(compiled) if r % 2 == 0 else list(reversed(compiled))
        for m in order:
            times[m].append(_timed(compiled[m], args))
    row["rounds"] = rounds
    for m, ts in times.items():
        row[f"{m}_s"] = ts
    if len(times) == 2:
        ratios = [p / s for p, s in zip(times["parallel"], times["sequential"])]
        row["ratio_best"] = min(times["parallel"]) / min(times["sequential"])
        row["ratio_band"] = [min(ratios), max(ratios)]
    return row


def _ms(ts: list[float]) -> str:
    return f"{1e3 * min(ts):.1f} [{1e3 * min(ts):.1f}, {1e3 * max(ts):.1f}]"


CRF_TEXT = (
    "CRF: sequential vs parallel-in-time",
    "Value-and-grad of `crf_loss(...).mean()` w.r.t. emissions and transitions, float32, "
    "batch {batch}, variable lengths in (T/2, T].",
)


def markdown(res: dict) -> str:
    """The table of a run: one row per size, the sizes in ``res["size_keys"]`` order."""
    title, what = res.get("text", CRF_TEXT)
    keys = res.get("size_keys", ["K", "T"])
    lines = [
        f"# {title} (backend {res['backend']})",
        "",
        f"`{res['command']}` — {res['machine']}; jax {res['jax']}. "
        + what.format(batch=res["batch"])
        + " Times in ms: fastest round [fastest, slowest]; ratio = parallel / sequential "
        "(< 1: parallel faster), of the fastest rounds [band of per-round ratios]. Rounds "
        "alternate the order of the methods. Temp: XLA's planned temporary buffers.",
        "",
        "| " + " | ".join(keys) + " | rounds | sequential ms | parallel ms | ratio "
        "| temp seq / par (MiB) | auto |",
        "|" + "---|" * (len(keys) + 6),
    ]
    for r in res["rows"]:
        seq = _ms(r["sequential_s"]) if "sequential_s" in r else r.get("sequential_skipped", "")
        par = _ms(r["parallel_s"]) if "parallel_s" in r else r.get("parallel_skipped", "-")
        ratio = (
            f"{r['ratio_best']:.2f} [{r['ratio_band'][0]:.2f}, {r['ratio_band'][1]:.2f}]"
            if "ratio_best" in r
            else "-"
        )
        mem = "/".join(
            "?" if r[f"{m}_temp_bytes"] is None else f"{r[f'{m}_temp_bytes'] / 2**20:.0f}"
            for m in METHODS
        )
        sizes = " | ".join(str(r[k]) for k in keys)
        lines.append(f"| {sizes} | {r['rounds']} | {seq} | {par} | {ratio} | {mem} | {r['auto']} |")
    wins = [r for r in res["rows"] if r.get("ratio_best", 2.0) < 1.0]
    lines += [
        "",
        "Crossover: "
        + (
            ", ".join(
                " ".join(f"{k}={r[k]}" for k in keys) + f" ({r['ratio_best']:.2f})" for r in wins
            )
            if wins
            else "none — the parallel method is slower at every measured size on this backend."
        ),
        "",
    ]
    return "\n".join(lines)


def parser(doc: str, sizes: str, default_sizes: list[int]) -> argparse.ArgumentParser:
    """The command line shared by the parallel-in-time benchmarks."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument(f"--{sizes}", type=int, nargs="+", default=default_sizes)
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 128, 512, 2048])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--slow-s", type=float, default=2.0, help="a slower first call gets ...")
    p.add_argument("--slow-rounds", type=int, default=3, help="... this many rounds")
    p.add_argument("--max-gib", type=float, default=3.0, help="skip methods planning more")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p


def run(a: argparse.Namespace, name: str, sizes: list[int], config: Any, **text: Any) -> None:
    """Runs ``config(size, T, batch, rounds, a)`` over the grid; writes ``<name>_<backend>``."""
    import jax

    backend = jax.default_backend()
    t0 = time.perf_counter()
    rows = []
    for size in sizes:
        for t in a.lengths:
            row = config(size, t, a.batch, a.rounds, a)
            print(json.dumps(row), flush=True)
            rows.append(row)
    res = {
        "backend": backend,
        "command": " ".join([f"python -m bench.{name}", *sys.argv[1:]]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax": jax.__version__,
        "batch": a.batch,
        "rows": rows,
        "total_s": time.perf_counter() - t0,
        **text,
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{name}_{backend}.json").write_text(json.dumps(res, indent=1))
    (a.out / f"{name}_{backend}.md").write_text(markdown(res))
    print(markdown(res))
    print(f"wrote {a.out}/{name}_{backend}.json/.md in {res['total_s']:.0f} s")


def main() -> None:
    a = parser(__doc__, "tags", [2, 10, 50]).parse_args()
    run(a, "crf_parallel", a.tags, bench_config)


if __name__ == "__main__":
    main()
