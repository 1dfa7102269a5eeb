"""``python -m bench.realistic``: the losses shared with optax, at the shapes users train at.

The catalogue table of ``python -m bench`` tiles each entry's small sampled example; this
one builds the inputs a user of each family meets (an LM head over a 32k vocabulary,
ImageNet with label smoothing, detection focal loss over 80 classes and 65k anchors,
SimCLR batches of 1024 and 4096, segmentation volumes, speech CTC, triplets, regression
over 2^20 outputs) and times ``jax.jit(jax.value_and_grad(mean loss))`` w.r.t. the first
argument, float32, for jaxlosses and for optax with the same arguments.

Each side is compiled ahead of time (compile time recorded), warmed up, then timed in
alternating rounds (jaxlosses first in even rounds, optax first in odd ones), ``repeats``
calls a round; the table gives the median over rounds of each round's median and the band
(lowest and highest round median) of the ratio jaxlosses / optax, so a change in machine
load shows as a wide band rather than as a verdict. Writes
``bench/results/realistic_<backend>.json`` and ``.md``; never a timed assertion in the tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


_NO_PEER = "not run: optax builds the [B, B, D] broadcast (8 GiB here) for the cosines"


def _cases(rng: Any) -> list[tuple[str, str, tuple[Any, ...], dict[str, Any], str]]:
    """``(loss, what, args, kwargs, why the peer is not run or "")``: NumPy float32 inputs
    at realistic shapes."""
    import numpy as np

    f32 = np.float32

    def normal(*shape: int, scale: float = 1.0) -> Any:
        return (scale * rng.standard_normal(shape)).astype(f32)

    def one_hot(labels: Any, k: int) -> Any:
        return np.eye(k, dtype=f32)[labels]

    n_lm, v_lm = 4096, 32000
    imagenet = rng.integers(0, 1000, 256)
    smoothed = one_hot(imagenet, 1000) * 0.9 + 0.1 / 1000
    teacher = normal(n_lm, v_lm, scale=2.0)
    teacher = np.exp(teacher - teacher.max(-1, keepdims=True))
    teacher = (teacher / teacher.sum(-1, keepdims=True)).astype(f32)
    student = normal(n_lm, v_lm, scale=2.0)
    student = (student - np.log(np.exp(student).sum(-1, keepdims=True))).astype(f32)
    seg = rng.integers(0, 4, (8, 128 * 128))
    t_ctc, n_labels = 200, 50
    ctc_labels = rng.integers(1, 32, (32, n_labels)).astype(np.int32)
    label_pad = (np.arange(n_labels) >= rng.integers(20, n_labels, (32, 1))).astype(f32)
    logit_pad = (np.arange(t_ctc) >= rng.integers(150, t_ctc, (32, 1))).astype(f32)
    return [
        (
            "softmax_cross_entropy_with_integer_labels",
            "LM head, 4096 tokens x 32000 vocab",
            (normal(n_lm, v_lm, scale=2.0), rng.integers(0, v_lm, n_lm).astype(np.int32)),
            {},
            "",
        ),
        (
            "softmax_cross_entropy",
            "ImageNet 256 x 1000, smoothed targets (0.1)",
            (normal(256, 1000, scale=2.0), smoothed.astype(f32)),
            {},
            "",
        ),
        (
            "sigmoid_binary_cross_entropy",
            "multi-label 4096 x 512",
            (normal(4096, 512), (rng.random((4096, 512)) < 0.05).astype(f32)),
            {},
            "",
        ),
        (
            "sigmoid_focal_loss",
            "detection 65536 anchors x 80 classes",
            (normal(65536, 80), (rng.random((65536, 80)) < 0.01).astype(f32)),
            {"alpha": 0.25, "gamma": 2.0},
            "",
        ),
        (
            "kl_divergence",
            "distillation 4096 tokens x 32000 vocab",
            (student, teacher),
            {},
            "",
        ),
        (
            "ntxent",
            "SimCLR 1024 views x 256 (512 pairs)",
            (normal(1024, 256), np.repeat(np.arange(512), 2).astype(np.int32)),
            {"temperature": 0.1},
            "",
        ),
        (
            "ntxent",
            "SimCLR 4096 views x 128 (2048 pairs)",
            (normal(4096, 128), np.repeat(np.arange(2048), 2).astype(np.int32)),
            {"temperature": 0.1},
            _NO_PEER,
        ),
        (
            "dice_loss",
            "segmentation 8 x 128x128 pixels x 4 classes",
            (normal(8, 128 * 128, 4), one_hot(seg, 4)),
            {},
            "",
        ),
        (
            "ctc_loss",
            "speech 32 x 200 frames x 32 tokens, <= 50 labels",
            (normal(32, t_ctc, 32), logit_pad, ctc_labels, label_pad),
            {},
            "",
        ),
        (
            "triplet_margin_loss",
            "65536 triplets x 128",
            (normal(65536, 128), normal(65536, 128), normal(65536, 128)),
            {},
            "",
        ),
        (
            "huber_loss",
            "regression, 2^20 outputs",
            (normal(1024, 1024), normal(1024, 1024)),
            {"delta": 1.0},
            "",
        ),
    ]


def _peer(name: str) -> Callable[..., Any]:
    import optax

    return getattr(optax.losses, name)


def _round_medians(
    fns: dict[str, Any], args: tuple[Any, ...], rounds: int, repeats: int
) -> dict[str, list[float]]:
    """Per-round median seconds of each function, the order alternating between rounds."""
    import jax

    for f in fns.values():
        jax.block_until_ready(f(*args))  # warm-up
    out: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fns[k](*args))
                times.append(time.perf_counter() - t0)
            out[k].append(statistics.median(times))
    return out


def time_pair(
    sides: dict[str, Callable[[], Any]], slowest: str, rounds: int, budget: float
) -> dict[str, Any]:
    """Times zero-argument calls in alternating rounds, ``budget`` seconds in all.

    ``repeats`` per round follows from one call of ``slowest``; returns ``repeats``,
    ``rounds``, ``<side>_s`` (median over rounds of each round's median) and, for two sides,
    ``ratio`` (first / second, median over rounds) with its band ``ratio_low``/``ratio_high``.
    """
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(sides[slowest]())
    one = time.perf_counter() - t0
    repeats = int(min(25, max(3, budget / max(one, 1e-6) / (2 * rounds))))
    per_round = _round_medians(sides, (), rounds, repeats)
    out: dict[str, Any] = {"repeats": repeats, "rounds": rounds}
    out.update({f"{k}_s": statistics.median(v) for k, v in per_round.items()})
    if len(sides) == 2:
        first, second = per_round.values()
        ratios = [a / b for a, b in zip(first, second)]
        out.update(ratio=statistics.median(ratios), ratio_low=min(ratios), ratio_high=max(ratios))
    return out


def slower_line(rows: list[dict[str, Any]], peer: str) -> str:
    """The table's last line: the losses slower than ``peer`` by over 10 % in every round."""
    slower = [r for r in rows if r.get("ratio_low", 0.0) > 1.10]
    return (
        f"Ratio < 1: jaxlosses faster. Slower than {peer} by more than 10 % in every round: "
        + (", ".join(f"{r['loss']} ({r['shape']})" for r in slower) or "none")
        + "."
    )


def arguments(prog: str, doc: str) -> argparse.ArgumentParser:
    """The command line of the realistic-shape benchmarks."""
    p = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument(
        "--budget", type=float, default=4.0, help="seconds of timed calls per loss (default 4)"
    )
    p.add_argument("--loss", nargs="+", help="only these losses")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return p


def bench(rounds: int, budget: float, only: list[str] | None = None) -> list[dict[str, Any]]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxlosses as jl

    rows = []
    for name, what, args, kwargs, no_peer in _cases(np.random.default_rng(0)):
        if only and name not in only:
            continue
        jargs = tuple(jnp.asarray(a) for a in args)
        row: dict[str, Any] = {"loss": name, "shape": what, "dims": [list(a.shape) for a in args]}
        libs = [("jaxlosses", getattr(jl, name))] + ([] if no_peer else [("optax", _peer(name))])
        compiled = {}
        for lib, fn in libs:

            def mean(*a: Any, fn: Any = fn, kw: Any = kwargs) -> Any:
                return jnp.mean(fn(*a, **kw))

            t0 = time.perf_counter()
            compiled[lib] = jax.jit(jax.value_and_grad(mean)).lower(*jargs).compile()
            row[f"{lib}_compile_s"] = time.perf_counter() - t0
        sides = {lib: (lambda c=c, a=jargs: c(*a)) for lib, c in compiled.items()}
        row.update(time_pair(sides, "jaxlosses" if no_peer else "optax", rounds, budget))
        if no_peer:
            row["peer"] = no_peer
            print(f"  {name:42s} {what:48s} {1e3 * row['jaxlosses_s']:.1f} ms; {no_peer}")
            rows.append(row)
            continue
        # Values agree (the conformance tests prove it; here it guards the inputs).
        v_ours, v_peer = (float(compiled[k](*jargs)[0]) for k in ("jaxlosses", "optax"))
        row["value_rel_diff"] = abs(v_ours - v_peer) / max(abs(v_peer), 1e-30)
        rows.append(row)
        print_row(name, what, row)
    return rows


def print_row(name: str, what: str, row: dict[str, Any]) -> None:
    """One line of progress: the loss, its inputs, the ratio and its band."""
    print(
        f"  {name:42s} {what:48s} x{row['ratio']:.2f} "
        f"[{row['ratio_low']:.2f}, {row['ratio_high']:.2f}]",
        flush=True,
    )


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# Realistic shapes on `{res['backend']}`",
        "",
        f"{res['date']}, {res['machine']}, jax {res['jax']}, optax {res['optax']}; "
        f"`python -m bench.realistic{res['flags']}`. Value-and-grad of the mean loss w.r.t. "
        "the first argument, float32, jitted; median over alternating rounds of each round's "
        "median; the band is the lowest and highest round's ratio (a shared machine: wide "
        "bands mean load, not code).",
        "",
        "| loss | inputs | jaxlosses (ms) | optax (ms) | ratio | band | compile jaxlosses / "
        "optax (s) | values differ by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        if "peer" in r:
            lines.append(
                f"| {r['loss']} | {r['shape']} | {1e3 * r['jaxlosses_s']:.2f} | – | – | – | "
                f"{r['jaxlosses_compile_s']:.2f} / – | {r['peer']} |"
            )
            continue
        lines.append(
            f"| {r['loss']} | {r['shape']} | {1e3 * r['jaxlosses_s']:.2f} | "
            f"{1e3 * r['optax_s']:.2f} | {r['ratio']:.2f} | {r['ratio_low']:.2f}-"
            f"{r['ratio_high']:.2f} | {r['jaxlosses_compile_s']:.2f} / "
            f"{r['optax_compile_s']:.2f} | {r['value_rel_diff']:.1e} |"
        )
    lines += ["", slower_line(res["rows"], "optax")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    a = arguments("python -m bench.realistic", __doc__).parse_args(argv)
    import jax
    import optax

    backend = jax.default_backend()
    print(
        f"realistic shapes on {backend}: {a.rounds} rounds, ~{a.budget:.0f} s per loss", flush=True
    )
    rows = bench(a.rounds, a.budget, a.loss)
    flags = "" if a.rounds == 5 and a.budget == 4.0 else f" --rounds {a.rounds} --budget {a.budget}"
    res = {
        "backend": backend,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {len(jax.devices())} device(s), python {sys.version.split()[0]}",
        "jax": jax.__version__,
        "optax": optax.__version__,
        "flags": flags,
        "rows": rows,
    }
    if a.loss:  # a partial run is printed, not written over the committed table
        print(markdown(res))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"realistic_{backend}.json").write_text(json.dumps(res, indent=1) + "\n")
    (a.out / f"realistic_{backend}.md").write_text(markdown(res))
    print(f"wrote {a.out / f'realistic_{backend}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
