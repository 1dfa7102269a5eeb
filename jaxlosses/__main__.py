"""Command line: ``python -m jaxlosses verify`` and ``python -m jaxlosses list``.

Also installed as the ``jaxlosses`` console script.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .catalogue import Entry
    from .verify import Report

_DESCRIPTION = """\
Verify that losses of the catalogue are right, in float64, on sampled inputs:

  value vs ref         relative error of the value against an independent NumPy/SciPy
                       (or brute-force) reference
  grad vs closed form  relative error of jax.grad against jaxlosses.closed_form.NAME
  finite diff          central differences against the closed form
  check_grads          jax.test_util.check_grads, forward and reverse mode
  stress               float32 extremes and masks give finite values and gradients
  jit, vmap            jit vs eager and vmap vs batched agree

One row per loss; the exit status is 1 when any loss fails.
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


def _usage_error(message: str) -> SystemExit:
    """A usage error: the message on stderr and exit status 2 (as argparse does)."""
    print(f"{_prog_name()}: error: {message}", file=sys.stderr)
    return SystemExit(2)


def _suggest(word: str, known: Sequence[str]) -> str:
    """`` (did you mean X?)`` from close spellings, prefixes and substrings."""
    import difflib

    w = word.lower()
    found = [k for k in known if k.lower().startswith(w) or w in k.lower()]
    found += difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    found = list(dict.fromkeys(found))[:3]
    return f" (did you mean {' or '.join(found)}?)" if found else ""


def _select(names: Sequence[str] | None, families: Sequence[str] | None = None) -> list[str]:
    from .catalogue import CATALOGUE, FAMILIES

    if families:
        for f in families:
            if not any(k.lower().startswith(f.lower()) for k in FAMILIES):
                raise _usage_error(
                    f"unknown family {f!r}{_suggest(f, FAMILIES)}; families: {', '.join(FAMILIES)}"
                )
    if not names:
        return [n for n, e in CATALOGUE.items() if _in_families(e, families)]
    for n in names:
        if n not in CATALOGUE:
            raise _usage_error(
                f"unknown loss {n!r}{_suggest(n, list(CATALOGUE))}; "
                "`jaxlosses list` shows the catalogue"
            )
    return list(names)


def _clock(seconds: float) -> str:
    m, sec = divmod(round(seconds), 60)
    return f"{m}:{sec:02d}"


class _Progress:
    """Progress on stderr: a redrawn bar on a terminal, one line per loss otherwise (logs)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool = True) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.failed = 0
        self.finished = 0
        self.began = time.perf_counter()

    def timing(self) -> str:
        """Elapsed time and, from the mean time per loss so far, an estimate of what is left."""
        elapsed = time.perf_counter() - self.began
        text = f"{_clock(elapsed)} elapsed"
        if self.finished:
            left = elapsed / self.finished * (self.total - self.finished)
            text += f", ~{_clock(left)} left"
        return text

    def start(self, i: int, name: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            width = 30
            filled = width * (i - 1) // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            fails = f", {self.failed} failed" if self.failed else ""
            line = f"[{bar}] {i - 1}/{self.total}{fails}  {self.timing()}  {name}"
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(f"[{i:>3}/{self.total}] {name} ...")
        self.stream.flush()

    def done(self, passed: bool, seconds: float, name: str | None = None) -> None:
        """One loss finished; ``name`` when losses finish out of order (parallel workers),
        without a :meth:`start` line before."""
        self.failed += not passed
        self.finished += 1
        if not self.enabled:
            return
        if name is not None and self.tty:
            self.start(self.finished + 1, f"(last: {name})")
        elif name is not None:
            self.stream.write(f"[{self.finished:>3}/{self.total}] {name} ...")
        if not self.tty:
            result = "ok" if passed else "FAILED"
            self.stream.write(f" {result} ({seconds:.1f}s; {self.timing()})\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _default_jobs() -> int:
    """One worker process per CPU this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _timings_file(cache: str | None) -> str | None:
    return os.path.join(cache, "jaxlosses-verify-seconds.json") if cache else None


def _load_timings(cache: str | None) -> dict[str, float]:
    path = _timings_file(cache)
    try:
        with open(path or "") as fh:
            return {str(k): float(v) for k, v in json.load(fh).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _save_timings(reports: Mapping[str, object], cache: str | None) -> None:
    """How long each loss took, beside the compilation cache: the next parallel run starts
    the slowest losses first, so no worker is left with a long one at the end."""
    path = _timings_file(cache)
    if not path:
        return
    timings = _load_timings(cache)
    timings.update(
        {name: round(float(getattr(r, "seconds", 0.0)), 2) for name, r in reports.items()}
    )
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            json.dump(timings, fh, indent=0, sort_keys=True)
    except OSError:
        pass  # a read-only cache: the order is only an optimisation


def _verify_in_workers(
    names: Sequence[str], seed: int, jobs: int, cache: str | None
) -> Iterator[Report]:
    """Yields each loss's report as it finishes, from ``jobs`` worker processes.

    The checks are independent per loss and almost all of their time is compiling, which
    runs on one core; separate processes (started fresh: JAX must not be forked) use them
    all. Each worker shares the persistent compilation cache.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from .verify import _verify_one, _worker_init

    timings = _load_timings(cache)
    order = sorted(names, key=lambda n: -timings.get(n, math.inf))  # unknown ones first
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_worker_init, initargs=(cache,)
    ) as pool:
        pending = {pool.submit(_verify_one, name, seed) for name in order}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _use_compilation_cache(args: argparse.Namespace) -> str | None:
    """JAX's persistent compilation cache: ``--cache-dir``, else one the user set up
    already, else ``$JAXLOSSES_CACHE_DIR`` or ``~/.cache/jaxlosses/jax``; ``None`` with
    ``--no-cache`` (then the worker processes compile afresh too).

    Every check is compiled code and compiling is most of a cold run; the cache keeps
    the compiled programs between runs (same JAX, same machine), so the proof is the same
    and only faster.
    """
    import jax

    if args.no_cache:
        return None
    configured = getattr(jax.config, "jax_compilation_cache_dir", None)
    if configured and not args.cache_dir:
        return str(configured)
    default = os.path.join(os.path.expanduser("~"), ".cache", "jaxlosses", "jax")
    path = args.cache_dir or os.environ.get("JAXLOSSES_CACHE_DIR") or default
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(path)


def _verify(args: argparse.Namespace) -> int:
    from .catalogue import CATALOGUE
    from .verify import _program_store, program_directory, verify_entry

    cache = _use_compilation_cache(args)

    names = _select(args.loss, args.family)
    jobs = min(args.jobs or _default_jobs(), len(names)) or 1
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
    progress = _Progress(len(names), sys.stderr, enabled=not args.quiet)
    by_name = {}
    if jobs == 1:
        with _program_store(program_directory(cache) if cache else None):
            for i, name in enumerate(names, 1):
                progress.start(i, name)
                by_name[name] = verify_entry(CATALOGUE[name], seed=args.seed)
                progress.done(by_name[name].passed, by_name[name].seconds)
    else:
        for report in _verify_in_workers(names, args.seed, jobs, cache):
            by_name[report.name] = report
            progress.done(report.passed, report.seconds, name=report.name)
    _save_timings(by_name, cache)
    for name in names:
        report = by_name[name]
        reports.append(report)
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
    progress.close()
    _table(rows, sys.stdout)
    failed = [r for r in reports if not r.passed]
    for r in failed:
        print(f"\n{r.name} FAILED:", file=sys.stdout)
        for f in r.failures:
            print(f"  - {f}", file=sys.stdout)
    noted = [
        (r.name, c.label, n) for r in reports for c in r.cases for n in c.notes if "stress" in n
    ]
    if noted:
        print("\nNotes (closed form vs float64 jax.grad at float32 stress inputs):")
        for name, label, note in noted:
            print(f"  - {name} [{label}] {note}")
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


def _reference_kind(entry: Entry) -> str:
    """A short description of how the entry's independent reference is computed."""
    doc = (entry.reference.__doc__ or "").strip()
    if doc:
        return doc.splitlines()[0]
    if entry.reference.__module__.endswith("catalogue.structured"):
        return "brute force over all tag sequences (NumPy)"
    return "NumPy/SciPy"


def _closed_form_of(entry: Entry) -> str:
    """The learned inputs the closed form differentiates (``jaxlosses.closed_form.NAME``)."""
    names = list(inspect.signature(entry.fn).parameters)
    return ", ".join(names[i] for i in entry.argnums)


def _checks_of(entry: Entry) -> str:
    """The arguments whose values checked mode tests (besides NaN in every input)."""
    return ", ".join(dict.fromkeys(c.arg for c in entry.checks)) or "-"


def _peers_of(entry: Entry) -> str:
    return ", ".join(p.path + (f" ({p.note})" if p.note else "") for p in entry.peers)


def _in_families(entry: Entry, families: Sequence[str] | None) -> bool:
    """Case-insensitive; a prefix is enough (``structured`` for ``structured (linear-chain CRF)``)."""
    return not families or any(entry.family.lower().startswith(f) for f in families)


def _list(args: argparse.Namespace) -> int:
    from .catalogue import CATALOGUE

    if args.family:
        _select(None, args.family)  # an unknown family is a usage error (exit 2)
    entries = [e for e in CATALOGUE.values() if _in_families(e, args.family)]
    records = [
        {
            "loss": e.name,
            "family": e.family,
            "inputs": e.inputs,
            "closed form": _closed_form_of(e),
            "checked": _checks_of(e),
            "reference": _reference_kind(e),
            "peers": _peers_of(e),
        }
        for e in entries
    ]
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    columns = ["loss", "family", "inputs", "closed form", "checked"]
    if args.wide:
        columns += ["reference", "peers"]
    _table([columns, *([r[c] for c in columns] for r in records)], sys.stdout)
    print(
        f"\n{len(records)} losses. closed form: the inputs jaxlosses.closed_form.NAME "
        "differentiates (starred in `inputs` when there are several); checked: the arguments "
        "whose values jaxlosses.checked tests, besides NaN in every input."
    )
    return 0


_EPILOG = """\
examples:
  {prog} list                          the catalogue as a table
  {prog} list --family regression      one family (see the `family` column)
  {prog} verify                        check every loss (several minutes on a laptop)
  {prog} verify --loss crf_loss huber_loss --json report.json

Exit status: 0 when every checked loss passes, 1 when one fails, 2 on a usage error.
Documentation: see the project's README and docs/ (mkdocs).
"""


def _prog_name() -> str:
    """``jaxlosses`` when run as the console script, ``python -m jaxlosses`` otherwise."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py") or not argv0:
        return "python -m jaxlosses"
    return os.path.basename(argv0) or "jaxlosses"


def _add_family_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--family", nargs="+", metavar="FAMILY", type=str.lower, help=help_text)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    from . import __version__

    prog = prog or _prog_name()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="jaxlosses: loss functions for JAX, each with a closed-form gradient\n"
        "that is checked against jax.grad, finite differences and an independent reference.",
        epilog=_EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser(
        "verify",
        help="prove losses right: value, closed-form gradient, finite differences",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("--loss", nargs="+", metavar="NAME", help="only these losses (default: all)")
    _add_family_option(v, "only these families (a prefix is enough; `list` shows them)")
    v.add_argument("--json", metavar="PATH", help="also write the full report as JSON to PATH")
    v.add_argument("--seed", type=int, default=0, help="seed of the sampled examples (default 0)")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")
    v.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=None,
        help="JAX's persistent compilation cache for the checks, and in it the checks' "
        "own executables (default: $JAXLOSSES_CACHE_DIR or ~/.cache/jaxlosses/jax); "
        "compiling and tracing are most of the cold run, so later runs are several times "
        "faster",
    )
    v.add_argument(
        "--no-cache", action="store_true", help="compile everything afresh (no persistent cache)"
    )
    v.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes checking losses side by side (default: one per CPU, at most "
        "8; 1 checks them one after another in this process)",
    )
    v.set_defaults(func=_verify)
    ls = sub.add_parser(
        "list",
        help="the catalogue as a table (loss, family, inputs, closed form, checked)",
        description="Show every loss of the catalogue: its family, its array inputs, the "
        "inputs its closed-form gradient (jaxlosses.closed_form.NAME) differentiates and the "
        "arguments whose values checked mode (jaxlosses.checked) tests.",
    )
    _add_family_option(ls, "only these families (a prefix is enough: `structured`)")
    ls.add_argument(
        "--wide",
        action="store_true",
        help="add how the independent reference is computed and the peers (optax, torch, ...)",
    )
    ls.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    ls.set_defaults(func=_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jaxlosses`` and of the ``jaxlosses`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
