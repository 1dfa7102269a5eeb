"""``python -m bench [--quick]``: jaxlosses vs optax (and torch), fused CE, compile times.

Sections:

1. **catalogue** — for every catalogue entry with ``entry.optax`` set: the jitted value
   (mean of the per-example loss) and value-and-grad w.r.t. the first argument, warmed
   up, median of repeats, for jaxlosses and optax, and the ratio jaxlosses / optax
   (< 1 is faster). Inputs are the entry's first sampled case tiled along the batch axis,
   in float32. Compile times (lower + compile) are recorded too.
2. **fused** — ``linear_softmax_cross_entropy`` vs the materialised
   ``optax.losses.softmax_cross_entropy_with_integer_labels(hidden @ weight, labels)``
   (and torch's ``F.linear_cross_entropy`` when torch has it), value-and-grad of the mean
   w.r.t. hidden and weight in float32, each method in its **own process** so its peak
   RSS (``resource.getrusage``) is its own; plus the matrix-product floor, 3 × one
   jitted ``[N, D] @ [D, V]`` product, and a bare process holding inputs and gradients.

Writes ``bench/results/<backend>.json``, ``<backend>.md`` and ``<backend>.png`` (the plot
needs matplotlib; without it the PNG is skipped with a message). Benchmarks are never
timed assertions in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
GiB = 2**30


# --- timing helpers -----------------------------------------------------------------------


def _median_time(fn: Any, args: tuple[Any, ...], repeats: int) -> float:
    return _median_times(fn, args, repeats)[0]


def _median_times(fn: Any, args: tuple[Any, ...], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median process CPU seconds of ``fn(*args)`` after a warm-up.

    CPU time (all threads of this process) is reported beside wall time because on a shared
    machine another process's load inflates wall time far more than it inflates CPU time.
    """
    import jax

    jax.block_until_ready(fn(*args))  # warm-up (after compilation)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def _alternating_medians(fns: dict[str, Any], args: tuple[Any, ...], repeats: int) -> dict:
    """Median seconds of each function, calls interleaved (A B A B ...) so drifts in machine
    load hit every function alike."""
    import jax

    for f in fns.values():
        jax.block_until_ready(f(*args))  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _compile_time(fn: Any, args: tuple[Any, ...]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - t0


# --- 1. catalogue vs optax -----------------------------------------------------------------


def _tile(case: Any, reps: int) -> tuple[list[Any], dict[str, Any]]:
    import numpy as np

    axes = case.in_axes
    args = []
    for i, a in enumerate(case.args):
        ax = axes if isinstance(axes, int) or axes is None else axes[i]
        if isinstance(a, np.ndarray) and a.ndim >= 1 and ax == 0:
            a = np.concatenate([a] * reps, axis=0)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            a = a.astype(np.float32)
        args.append(a)
    kwargs = {}
    for k, v in case.kwargs.items():
        if isinstance(v, np.ndarray) and case.kw_axes.get(k) == 0:
            v = np.concatenate([v] * reps, axis=0)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = v.astype(np.float32)
        kwargs[k] = v
    return args, kwargs


def _optax_fn(name: str) -> Any:
    import optax

    return getattr(optax.losses, name, None) or getattr(optax, name, None)


def bench_catalogue(quick: bool) -> list[dict[str, Any]]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxlosses.catalogue import CATALOGUE

    reps = 8192 if quick else 32768  # rows: sampled batch (3) x reps
    repeats = 15 if quick else 41
    rows = []
    for name, entry in CATALOGUE.items():
        if not entry.optax:
            continue
        row: dict[str, Any] = {"name": name, "optax": entry.optax}
        ofn = _optax_fn(entry.optax)
        if ofn is None:
            row["skipped"] = f"optax has no {entry.optax}"
            rows.append(row)
            continue
        case = entry.sample(np.random.default_rng(0))[0]
        args, kwargs = _tile(case, reps)
        jargs = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        row["shape"] = list(np.shape(args[0]))
        try:
            compiled: dict[str, Any] = {}
            for lib, f in (("jaxlosses", entry.fn), ("optax", ofn)):

                def value(*a: Any, f: Any = f, kw: Any = kwargs) -> Any:
                    return jnp.mean(f(*a, **kw))

                vj = jax.jit(value)
                gj = jax.jit(jax.value_and_grad(value))
                compiled[f"{lib}_value_s"], t_cv = _compile_time(vj, jargs)
                compiled[f"{lib}_vag_s"], t_cg = _compile_time(gj, jargs)
                row[f"{lib}_compile_s"] = t_cv + t_cg
            for kind in ("value", "vag"):
                pair = {k: f for k, f in compiled.items() if k.endswith(f"_{kind}_s")}
                row.update(_alternating_medians(pair, jargs, repeats))
            row["ratio_value"] = row["jaxlosses_value_s"] / row["optax_value_s"]
            row["ratio_vag"] = row["jaxlosses_vag_s"] / row["optax_vag_s"]
        except Exception as e:  # an optax signature mismatch: report, do not crash
            row["skipped"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        rows.append(row)
        print(
            f"  {name:45s} value x{row.get('ratio_value', float('nan')):.2f}  "
            f"v&g x{row.get('ratio_vag', float('nan')):.2f}  {row.get('skipped', '')}",
            flush=True,
        )
    return rows


# --- 2. fused cross-entropy, one process per method ---------------------------------------


def _peak_rss_bytes() -> int:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


def fused_worker(method: str, n: int, d: int, v: int, repeats: int) -> dict[str, Any]:
    """Runs in a child process; prints one JSON line."""
    out: dict[str, Any] = {"method": method, "N": n, "D": d, "V": v}
    if method == "torch":
        import torch
        import torch.nn.functional as F

        torch.manual_seed(0)
        th = (torch.randn(n, d) / d**0.5).requires_grad_()
        tw = (torch.randn(v, d) / d**0.5).requires_grad_()  # torch stores [V, D]
        ty = torch.randint(0, v, (n,))
        lce = getattr(F, "linear_cross_entropy", None)
        if lce is None:
            return {**out, "skipped": "torch has no F.linear_cross_entropy"}
        opts = getattr(F, "LinearCrossEntropyOptions", None) or getattr(
            torch.nn, "LinearCrossEntropyOptions", None
        )
        kw = {"options": opts()} if opts is not None else {}

        def step() -> None:
            th.grad = tw.grad = None
            lce(th, tw, ty, **kw).backward()

        step()
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            step()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        return {
            **out,
            "seconds": statistics.median(walls),
            "cpu_seconds": statistics.median(cpus),
            "peak_rss": _peak_rss_bytes(),
        }

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jaxlosses._fused import linear_softmax_cross_entropy

    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.standard_normal((n, d), np.float32) / np.sqrt(d))
    w = jnp.asarray(rng.standard_normal((d, v), np.float32) / np.sqrt(d))
    y = jnp.asarray(rng.integers(0, v, n), jnp.int32)
    out["backend"] = jax.default_backend()
    if method == "baseline":  # the inputs and their gradients, nothing else
        gh, gw = jnp.ones_like(h), jnp.ones_like(w)
        jax.block_until_ready((gh, gw))
        return {**out, "peak_rss": _peak_rss_bytes()}
    if method == "matmul":
        f = jax.jit(lambda h, w: h @ w)
    elif method == "optax":

        def loss(h: Any, w: Any) -> Any:
            return jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(h @ w, y))

        f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    else:

        def loss(h: Any, w: Any) -> Any:
            return jnp.mean(linear_softmax_cross_entropy(h, w, y))

        f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    compiled, out["compile_s"] = _compile_time(f, (h, w))
    mem = compiled.memory_analysis()
    if mem is not None:  # what XLA plans to allocate: known even if the run cannot fit
        out["xla_bytes"] = sum(
            getattr(mem, k, 0)
            for k in ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
        )
        print(json.dumps(out), flush=True)
    out["seconds"], out["cpu_seconds"] = _median_times(compiled, (h, w), repeats)
    return {**out, "peak_rss": _peak_rss_bytes()}


def _run_child(
    method: str, n: int, d: int, v: int, repeats: int, mem_cap: int | None
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench", "--fused-worker", method, str(n), str(d), str(v)]
    cmd += ["--repeats", str(repeats)]
    if mem_cap:
        cmd += ["--mem-cap", str(mem_cap)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        why = f"exit {proc.returncode}: {tail[0][:200]}"
        if mem_cap:
            why += f" (run under a {mem_cap / GiB:.0f} GiB address-space cap)"
        partial = json.loads(lines[-1]) if lines else {}  # e.g. XLA's planned allocation
        return {**partial, "method": method, "N": n, "D": d, "V": v, "failed": why, "wall_s": wall}
    res = json.loads(lines[-1])
    res["wall_s"] = wall
    return res


def bench_fused(
    quick: bool, with_torch: bool, sizes: list[int] | None = None
) -> list[dict[str, Any]]:
    """Each method in its own process; the timed methods in alternating rounds
    (matmul, fused, optax, torch, matmul, fused, ...) so that a change in machine load
    during the run hits them alike. A method's row is its round with the (lower) median time
    (and the highest peak RSS over its rounds)."""
    n, d = 8192, 512
    sizes = sizes or ([32768] if quick else [32768, 262144])
    rows = []
    for v in sizes:
        big = v > 65536
        rounds = 1 if big else 2 if quick else 3
        repeats = 1 if big else 2 if quick else 3
        timed = ["matmul", "fused", "optax"] + (["torch"] if with_torch else [])
        rows.append(_run_child("baseline", n, d, v, repeats, None))
        print(f"  V={v:6d} {'baseline':9s} {_fmt_fused(rows[-1])}", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in timed}
        for rnd in range(rounds):
            for method in timed:
                # The materialised path at V=262144 needs > 20 GiB: cap it so it fails
                # cleanly instead of exhausting a shared machine.
                cap = 16 * GiB if (method == "optax" and big) else None
                r = _run_child(method, n, d, v, repeats, cap)
                runs[method].append(r)
                print(f"  V={v:6d} {method:9s} round {rnd + 1}: {_fmt_fused(r)}", flush=True)
        for rs in runs.values():
            ok = sorted((r for r in rs if "seconds" in r), key=lambda r: r["seconds"])
            if not ok:
                rows.append(rs[-1])
                continue
            row = dict(ok[(len(ok) - 1) // 2])
            row["peak_rss"] = max(r["peak_rss"] for r in ok)
            row["rounds_s"] = [r["seconds"] for r in rs if "seconds" in r]
            row["rounds_cpu_s"] = [r["cpu_seconds"] for r in rs if "cpu_seconds" in r]
            rows.append(row)
    return rows


def _fmt_fused(r: dict[str, Any]) -> str:
    if "failed" in r or "skipped" in r:
        return r.get("failed") or r["skipped"]
    s = f"peak RSS {r['peak_rss'] / GiB:.2f} GiB"
    if "seconds" in r:
        s += f", {r['seconds']:.3f} s (CPU {r.get('cpu_seconds', float('nan')):.3f} s)"
    return s


def summarise_fused(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for v in sorted({r["V"] for r in rows}):
        by = {r["method"]: r for r in rows if r["V"] == v}
        floor = 3 * by["matmul"]["seconds"] if "seconds" in by.get("matmul", {}) else None
        ref = by.get("optax", {})
        for method in ("fused", "optax", "torch"):
            r = by.get(method)
            if r is None:
                continue
            row: dict[str, Any] = {"V": v, "method": method}
            if "xla_bytes" in r:
                row["xla_gib"] = r["xla_bytes"] / GiB
            if "seconds" in r:
                row["seconds"] = r["seconds"]
                row["cpu_seconds"] = r.get("cpu_seconds")
                row["peak_rss_gib"] = r["peak_rss"] / GiB
                if floor:
                    row["floor_fraction"] = r["seconds"] / floor
                if "seconds" in ref:
                    row["time_vs_optax"] = r["seconds"] / ref["seconds"]
                    row["rss_vs_optax"] = r["peak_rss"] / ref["peak_rss"]
                    if r.get("cpu_seconds") and ref.get("cpu_seconds"):
                        row["cpu_vs_optax"] = r["cpu_seconds"] / ref["cpu_seconds"]
            else:
                row["note"] = r.get("failed") or r.get("skipped")
            out.append(row)
        if "baseline" in by and "peak_rss" in by["baseline"]:
            out.append(
                {"V": v, "method": "baseline", "peak_rss_gib": by["baseline"]["peak_rss"] / GiB}
            )
        if floor:
            mm = by["matmul"]
            out.append(
                {
                    "V": v,
                    "method": "matmul floor (3x)",
                    "seconds": floor,
                    "cpu_seconds": 3 * mm["cpu_seconds"] if mm.get("cpu_seconds") else None,
                }
            )
    return out


# --- reporting -----------------------------------------------------------------------------


def _f(x: Any, spec: str) -> str:
    return format(x, spec) if isinstance(x, int | float) else "–"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# Benchmarks on `{res['backend']}` ({res['device']})",
        "",
        f"{res['when']}, {res['platform']}, jax {res['jax']}, optax {res['optax']}, "
        f"mode {'--quick' if res['quick'] else 'full'}. Wall-clock medians on a shared "
        "machine: expect noise of 10-20 % between runs.",
        "",
    ]
    if res.get("fused"):
        lines += [
            "## Fused linear + softmax cross-entropy (N=8192, D=512, float32, value-and-grad)",
            "",
            "| V | method | time (s) | CPU (s) | peak RSS (GiB) | XLA buffers (GiB) "
            "| time / optax | CPU / optax | RSS / optax | time / matmul floor |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["fused_summary"]:
            lines.append(
                f"| {r['V']} | {r['method']} | {_f(r.get('seconds'), '.3f')} | "
                f"{_f(r.get('cpu_seconds'), '.2f')} | {_f(r.get('peak_rss_gib'), '.2f')} | "
                f"{_f(r.get('xla_gib'), '.2f')} | {_f(r.get('time_vs_optax'), '.2f')} | "
                f"{_f(r.get('cpu_vs_optax'), '.2f')} | {_f(r.get('rss_vs_optax'), '.2f')} | "
                f"{_f(r.get('floor_fraction'), '.2f')} |"
                + (f" {r['note']}" if r.get("note") else "")
            )
        lines += [
            "",
            "Time: median wall-clock seconds of one jitted value-and-grad (the (lower) median round of "
            "processes run in alternating order); CPU: process CPU seconds (all threads) of the "
            "same calls, less sensitive to other load on the machine. XLA buffers: arguments + "
            "outputs + temporaries of the compiled program (`memory_analysis()`), known even "
            "when the run itself cannot fit. Peak RSS: the whole process, including the JAX "
            "runtime and the inputs (see `baseline`).",
            "",
        ]
    if res.get("catalogue"):
        rows = [r for r in res["catalogue"] if "ratio_vag" in r]
        lines += [
            "## Catalogue losses shared with optax (jitted mean; ratio < 1: jaxlosses faster)",
            "",
            "| loss | shape | value ratio | v&g ratio | jaxlosses v&g (ms) | optax v&g (ms) "
            "| compile jaxlosses / optax (s) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in res["catalogue"]:
            if "skipped" in r:
                lines.append(f"| {r['name']} | – | – | – | – | – | skipped: {r['skipped']} |")
                continue
            lines.append(
                f"| {r['name']} | {r['shape']} | {r['ratio_value']:.2f} | {r['ratio_vag']:.2f} | "
                f"{1e3 * r['jaxlosses_vag_s']:.3f} | {1e3 * r['optax_vag_s']:.3f} | "
                f"{r['jaxlosses_compile_s']:.2f} / {r['optax_compile_s']:.2f} |"
            )
        if rows:
            med_v = statistics.median(r["ratio_value"] for r in rows)
            med_g = statistics.median(r["ratio_vag"] for r in rows)
            slow = [r["name"] for r in rows if max(r["ratio_value"], r["ratio_vag"]) > 1.10]
            lines += [
                "",
                f"Median ratio: value {med_v:.2f}, value-and-grad {med_g:.2f} over "
                f"{len(rows)} losses. Slower than optax by more than 10 % in either column: "
                f"{', '.join(slow) if slow else 'none'}.",
            ]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> str:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return "matplotlib is not installed: PNG skipped (pip install matplotlib)"
    rows = [r for r in res.get("catalogue", []) if "ratio_vag" in r]
    fig, axes = plt.subplots(1, 2, figsize=(14, max(4, 0.3 * len(rows))))
    if rows:
        names = [r["name"] for r in rows]
        ys = range(len(rows))
        axes[0].barh([y - 0.2 for y in ys], [r["ratio_value"] for r in rows], 0.4, label="value")
        axes[0].barh([y + 0.2 for y in ys], [r["ratio_vag"] for r in rows], 0.4, label="v&g")
        axes[0].set_yticks(list(ys), names, fontsize=7)
        axes[0].axvline(1.0, color="k", lw=0.8)
        axes[0].set_xlabel("time jaxlosses / optax")
        axes[0].legend()
    fused = [r for r in res.get("fused_summary", []) if "peak_rss_gib" in r and "seconds" in r]
    for r in fused:
        axes[1].scatter(r["peak_rss_gib"], r["seconds"])
        axes[1].annotate(f"{r['method']} V={r['V']}", (r["peak_rss_gib"], r["seconds"]))
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("peak RSS (GiB)")
    axes[1].set_ylabel("value-and-grad time (s)")
    axes[1].set_title("fused CE, N=8192, D=512")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return f"wrote {path}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (<15 min)")
    p.add_argument("--skip-catalogue", action="store_true")
    p.add_argument("--skip-fused", action="store_true")
    p.add_argument(
        "--vocab",
        type=int,
        nargs="+",
        metavar="V",
        help="fused CE vocabulary sizes (default: 32768 with --quick, else 32768 262144)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--fused-worker", nargs=4, metavar=("METHOD", "N", "D", "V"), help="internal")
    p.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument("--mem-cap", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.fused_worker:
        if a.mem_cap:
            resource.setrlimit(resource.RLIMIT_AS, (a.mem_cap, a.mem_cap))
        m, n, d, v = a.fused_worker
        print(json.dumps(fused_worker(m, int(n), int(d), int(v), a.repeats)))
        return 0

    import jax
    import optax

    try:
        import torch  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
    backend = jax.default_backend()
    res: dict[str, Any] = {
        "backend": backend,
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "platform": f"{platform.machine()} {os.cpu_count()} cpus",
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "quick": a.quick,
        "torch": with_torch,
    }
    t0 = time.perf_counter()
    if not a.skip_fused:
        print("fused cross-entropy (one process per method):", flush=True)
        res["fused"] = bench_fused(a.quick, with_torch and backend == "cpu", a.vocab)
        res["fused_summary"] = summarise_fused(res["fused"])
    if not a.skip_catalogue:
        print("catalogue vs optax:", flush=True)
        res["catalogue"] = bench_catalogue(a.quick)
    res["total_s"] = time.perf_counter() - t0
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{backend}.json").write_text(json.dumps(res, indent=1))
    (a.out / f"{backend}.md").write_text(markdown(res))
    print(plot(res, a.out / f"{backend}.png"))
    print(f"wrote {a.out / backend}.json/.md in {res['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
