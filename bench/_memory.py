"""Per-device planned memory of a compiled program (XLA's ``memory_analysis()``), as a
table row; shared by the multi-device benches."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

MIB = 2**20
RESULTS = Path(__file__).resolve().parent / "results"


def compiled_memory(name: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Compiles (does not run) ``jax.jit(fn)`` on ``args`` and returns its per-device MiB."""
    t0 = time.perf_counter()
    ma = jax.jit(fn).lower(*args).compile().memory_analysis()
    row = {
        "method": name,
        "argument_mib": ma.argument_size_in_bytes / MIB,
        "output_mib": ma.output_size_in_bytes / MIB,
        "temp_mib": ma.temp_size_in_bytes / MIB,
        "temp_plus_argument_mib": (ma.temp_size_in_bytes + ma.argument_size_in_bytes) / MIB,
        "compile_s": time.perf_counter() - t0,
    }
    print(row, flush=True)
    return row


def write_table(
    stem: str, title: str, about: Sequence[str], meta: dict[str, Any], rows: list
) -> None:
    """Writes ``bench/results/STEM.json`` and ``STEM.md`` (a Markdown table of ``rows``)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [
        f"# {title}",
        "",
        *about,
        "",
        "| method | argument | output | temp | temp + argument |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['method']} | {r['argument_mib']:.1f} | {r['output_mib']:.1f} | "
            f"{r['temp_mib']:.1f} | {r['temp_plus_argument_mib']:.1f} |"
            for r in rows
        ),
        "",
        f"jax {jax.__version__}; `python -m bench.{stem.removesuffix('_cpu')}`.",
        "",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))
