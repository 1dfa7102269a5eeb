"""Command line: ``python -m jaxlosses verify`` and ``python -m jaxlosses list``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import TextIO

_DESCRIPTION = """\
Verify that every loss in the catalogue is right: its value matches an independent
NumPy/SciPy reference, jax.grad equals its closed-form derivative, finite differences
agree in forward and reverse mode, and extreme or masked inputs stay finite.
"""


def _fmt(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return f"{x:.1e}"


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |\n")
        if n == 0:
            out.write("|" + "|".join("-" * (w + 2) for w in widths) + "|\n")


def _select(names: Sequence[str] | None) -> list[str]:
    from .catalogue import CATALOGUE

    if not names:
        return list(CATALOGUE)
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        raise SystemExit(
            f"unknown loss {', '.join(unknown)}; `python -m jaxlosses list` shows the catalogue"
        )
    return list(names)


def _verify(args: argparse.Namespace) -> int:
    from .catalogue import CATALOGUE
    from .verify import verify_entry

    names = _select(args.loss)
    header = [
        "loss",
        "cases",
        "value vs ref",
        "grad vs closed form",
        "finite diff",
        "check_grads",
        "stress",
        "jit",
        "vmap",
        "time",
        "result",
    ]
    rows = [header]
    reports = []
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        if not args.quiet:
            print(f"[{i:>3}/{len(names)}] {name} ...", end="", file=sys.stderr, flush=True)
        report = verify_entry(CATALOGUE[name], seed=args.seed)
        reports.append(report)
        if not args.quiet:
            status = "ok" if report.passed else "FAILED"
            print(f" {status} ({report.seconds:.1f}s)", file=sys.stderr, flush=True)
        order = max(c.check_grads_order for c in report.cases)
        rows.append(
            [
                name,
                str(len(report.cases)),
                _fmt(report.value_error),
                _fmt(report.autodiff_error),
                _fmt(report.fd_error),
                f"order {order} "
                + ("ok" if all(c.check_grads_ok for c in report.cases) else "FAIL"),
                f"{report.stress_cases} ok"
                if all(c.stress_ok for c in report.cases)
                else f"{report.stress_cases} FAIL",
                _fmt(report.jit_error),
                _fmt(report.vmap_error),
                f"{report.seconds:.1f}s",
                "PASS" if report.passed else "FAIL",
            ]
        )
    elapsed = time.perf_counter() - start
    _table(rows, sys.stdout)
    failed = [r for r in reports if not r.passed]
    for r in failed:
        print(f"\n{r.name} FAILED:", file=sys.stdout)
        for f in r.failures:
            print(f"  - {f}", file=sys.stdout)
    worst = max((r.autodiff_error for r in reports), default=0.0)
    print(
        f"\n{len(reports) - len(failed)}/{len(reports)} losses passed in {elapsed:.1f}s; "
        f"worst autodiff-vs-closed-form relative error {worst:.1e} (float64)."
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "passed": not failed,
                    "seconds": round(elapsed, 2),
                    "losses": [r.as_dict() for r in reports],
                },
                fh,
                indent=2,
            )
        print(f"wrote {args.json}")
    return 1 if failed else 0


def _list(args: argparse.Namespace) -> int:
    import inspect

    from . import closed_form
    from .catalogue import CATALOGUE

    rows = [["loss", "family", "inputs", "closed form", "reference", "optax", "torch"]]
    for name, e in CATALOGUE.items():
        params = [
            p.name
            for p in inspect.signature(e.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        learned = ", ".join(params[i] for i in e.argnums if i < len(params))
        rows.append(
            [
                name,
                e.family,
                ", ".join(params) + (f" (learned: {learned})" if len(e.argnums) > 1 else ""),
                "yes" if hasattr(closed_form, name) else "no",
                (e.reference.__doc__ or "NumPy/SciPy").strip().splitlines()[0]
                if e.reference.__doc__
                else "NumPy/SciPy",
                e.optax or "",
                e.torch or "",
            ]
        )
    _table(rows, sys.stdout)
    print(f"\n{len(CATALOGUE)} losses")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaxlosses",
        description="jaxlosses: loss functions for JAX with proven closed-form gradients.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="prove every loss right (see `verify --help`)",
                       description=_DESCRIPTION)  # fmt: skip
    v.add_argument("--loss", nargs="+", metavar="NAME", help="only these losses")
    v.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    v.add_argument("--seed", type=int, default=0, help="seed of the sampled examples")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    v.set_defaults(func=_verify)
    ls = sub.add_parser("list", help="the catalogue as a table")
    ls.set_defaults(func=_list)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
