"""mkdocs hook: tables generated from the catalogue, so the docs cannot drift from it.

A page may contain ``<!-- catalogue: FAMILY -->`` (one family's losses: inputs, the
closed-form gradient in one line, the optax and PyTorch equivalents),
``<!-- catalogue: families -->`` (every family with its losses, linked to its page), or
``<!-- cli-help: ARGS -->`` / ``<!-- cli-run: ARGS -->`` (the command line's output for
those arguments, as the ``jaxlosses`` console script prints it). On a family page the
family's table is followed by a plot of each loss and its slope along one input, drawn
at build time from the catalogue (``docs/plots.py``; ``families/plots/<slug>.svg``,
cached in ``build/plot-cache``). Family page names are
:func:`slug` of the family (``FAMILY`` of the catalogue module, one of
``jaxlosses.catalogue.FAMILIES``).

MathJax is served by the site itself, so math renders with no network: the npm package
pinned in ``docs/package.json`` / ``docs/package-lock.json`` is installed into
``build/npm/node_modules`` (``npm ci`` on a copy of those two files, which the build runs
itself when that folder is missing or holds another version; ``python docs/hooks.py``
does just that) and its files are added to the site under ``javascripts/mathjax/`` with
its licence (Apache-2.0).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / "build" / "npm"  # outside docs/, so no page search meets node_modules
NODE_MODULES = NPM / "node_modules"
MATHJAX_URI = "javascripts/mathjax"  # where the site serves MathJax (see mkdocs.yml)
MATHJAX_ENTRY = "tex-mml-chtml.js"  # the one combined component the pages load
PLOT_URI = "families/plots"  # the family pages' plots, one SVG per family


def on_config(config: Any, **kwargs: Any) -> Any:
    """Document this checkout, not an installed copy (mkdocs restores ``sys.path`` after
    loading a hook, so the path is added here rather than at import)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import jaxlosses

    if Path(jaxlosses.__file__).resolve().parent != ROOT / "jaxlosses":
        raise RuntimeError(f"the docs build imported jaxlosses from {jaxlosses.__file__}")
    return config


def _pinned(package: str) -> str:
    lock = json.loads((ROOT / "docs" / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _installed(package: str) -> str | None:
    meta = NODE_MODULES / package / "package.json"
    return str(json.loads(meta.read_text())["version"]) if meta.is_file() else None


def mathjax_dir() -> Path:
    """The pinned MathJax's ``es5`` folder, installing it with ``npm ci`` if needed (under
    a lock: parallel test workers build the site at the same time)."""
    import fcntl

    NPM.mkdir(parents=True, exist_ok=True)
    with (NPM / "install.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if _installed("mathjax") != _pinned("mathjax"):
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(
                    "the docs serve MathJax from the npm registry's package, which needs "
                    "npm: install Node.js and npm, then rerun the build"
                )
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(ROOT / "docs" / name, NPM / name)
            cmd = [npm, "ci", "--no-audit", "--no-fund", "--silent"]
            subprocess.run(cmd, cwd=NPM, check=True)
    return NODE_MODULES / "mathjax" / "es5"


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Add MathJax to the site: the component the pages load, the extensions, fonts and
    menu it loads on demand (not the other combined components), and its licence."""
    from mkdocs.structure.files import File

    es5 = mathjax_dir()
    unused = {p.name for p in es5.glob("*.js")} - {MATHJAX_ENTRY}
    for path in sorted(es5.rglob("*")):
        rel = path.relative_to(es5).as_posix()
        if path.is_file() and rel not in unused:
            files.append(File.generated(config, f"{MATHJAX_URI}/{rel}", abs_src_path=str(path)))
    licence = str(es5.parent / "LICENSE")
    files.append(File.generated(config, f"{MATHJAX_URI}/LICENSE", abs_src_path=licence))

    from jaxlosses.catalogue import CATALOGUE, FAMILIES

    plots = _load_plots()
    for family in FAMILIES:
        entries = [e for e in CATALOGUE.values() if e.family == family]
        svg = plots.family_svg(entries, cache=ROOT / "build" / "plot-cache")
        files.append(File.generated(config, f"{PLOT_URI}/{slug(family)}.svg", content=svg))
    return files


def _load_plots() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "jaxlosses_docs_plots", Path(__file__).with_name("plots.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plot(family: str, page_uri: str) -> str:
    """The family's plot, linked relative to the page (only family pages have one)."""
    if not page_uri.startswith("families/"):
        return ""
    return (
        f"\n\n![{family}: each loss and its slope along one input]"
        f"(plots/{slug(family)}.svg)\n\n"
        "Each loss of the table along one entry of its first input (named under its "
        "panel: the entry the loss is most sensitive to), the other inputs held at an "
        "example from the catalogue, with its slope `d loss / d x` (dashed). Drawn at "
        "build time from the catalogue's NumPy references."
    )


_MARKER = re.compile(r"<!-- catalogue: (?P<what>[^>]+?) -->")
_CLI = re.compile(r"<!-- cli-(?P<kind>help|run): (?P<args>[^>]+?) -->")


def slug(family: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-")


def _first_line(fn: Any) -> str:
    """The docstring's first line, with reStructuredText roles as code spans."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    line = doc.splitlines()[0] if doc else ""
    return re.sub(r":(?:func|class|mod|data):`~?([^`]+)`", r"`\1`", line)


def _peer_cell(peer: Any) -> str:
    if peer is None:
        return ""
    return f"`{peer.path}`" + (f" ({peer.note})" if peer.note else "")


def _family_table(family: str) -> str:
    from jaxlosses import closed_form
    from jaxlosses.catalogue import CATALOGUE

    entries = [e for e in CATALOGUE.values() if e.family == family]
    if not entries:
        raise ValueError(f"no catalogue family {family!r}")
    rows = [
        "| loss | inputs | closed-form gradient | optax / Rax | PyTorch |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        grad = _first_line(getattr(closed_form, e.name)).replace("|", "\\|")
        optax, torch = (_peer_cell(e.peer(lib)) for lib in ("optax", "torch"))
        if not optax:  # rax: the other JAX library of peers
            optax = _peer_cell(e.peer("rax"))
        if not torch:  # torchvision, pytorch-crf: PyTorch-ecosystem peers
            torch = ", ".join(
                _peer_cell(p) for p in e.peers if p.library not in ("optax", "torch", "rax")
            )
        rows.append(
            f"| [`{e.name}`](#jaxlosses.{e.name}) | `{e.inputs}` | {grad} | {optax} | {torch} |"
        )
    return "\n".join(rows) + (
        "\n\nStarred inputs are learned jointly: the closed form is a tuple of gradients, "
        "one per starred input."
        if any(len(e.argnums) > 1 for e in entries)
        else ""
    )


def _families_table() -> str:
    from jaxlosses.catalogue import CATALOGUE

    families: dict[str, list[str]] = {}
    for e in CATALOGUE.values():
        families.setdefault(e.family, []).append(e.name)
    rows = ["| family | losses |", "|---|---|"]
    for family, names in families.items():
        rows.append(f"| [{family}]({slug(family)}.md) | {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(rows)


def _cli_output(args: list[str]) -> str:
    import contextlib
    import io
    import os

    from jaxlosses.__main__ import build_parser

    out = io.StringIO()
    # A fixed width, so the page does not depend on the terminal that builds the docs.
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"
    try:
        with contextlib.redirect_stdout(out):
            try:
                parsed = build_parser("jaxlosses").parse_args(args)
                parsed.func(parsed)
            except SystemExit:  # --help exits
                pass
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "```text\n" + out.getvalue().rstrip() + "\n```"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        what = match.group("what").strip()
        if what == "families":
            return _families_table()
        return _family_table(what) + _plot(what, page.file.src_uri)

    markdown = _MARKER.sub(replace, markdown)
    return _CLI.sub(lambda m: _cli_output(m.group("args").split()), markdown)


if __name__ == "__main__":  # install the pinned front-end packages (CI does this first)
    print(mathjax_dir())
