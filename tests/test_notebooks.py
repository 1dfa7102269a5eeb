"""The notebooks in notebooks/ execute top to bottom, and are stored without outputs.

Each notebook runs in a fresh IPython kernel started from *this* interpreter (a kernel
spec written to a temporary JUPYTER_PATH, so neither a user-level ``python3`` kernel
nor a missing ``ipykernel install`` can pick the wrong environment), with the
repository root on ``PYTHONPATH`` and matplotlib's inline backend (Agg rendering to PNG
outputs, no display). A cell that raises fails the test with the cell's traceback. Run
times are printed (``-s``).

Needs the ``examples`` extra (nbclient, nbformat, ipykernel, matplotlib); skipped
without it unless ``JAXLOSSES_REQUIRE_EXTRAS=1`` (set by ``.ci/run``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# All notebooks together take about a minute on two idle cores (see the printed times);
# the limits are far above that so a busy CI machine does not make them flaky, and only
# catch a notebook that hangs or has grown out of proportion.
CELL_TIMEOUT_S = 300
NOTEBOOK_LIMIT_S = 240

_EXTRAS = ("nbclient", "nbformat", "ipykernel", "matplotlib")
if os.environ.get("JAXLOSSES_REQUIRE_EXTRAS"):
    for _name in _EXTRAS:
        importlib.import_module(_name)
else:
    for _name in _EXTRAS:
        pytest.importorskip(_name, reason="the notebooks need the `examples` extra")


def test_there_are_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) >= 5, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path):
    """Outputs stay out of git: clear them with ``python notebooks/strip_outputs.py``."""
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} of {path.name} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} of {path.name} was run"
    assert "widgets" not in nb["metadata"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``python3`` kernel spec that runs this interpreter, in a private JUPYTER_PATH."""
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec_dir = jupyter_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxlosses tests)",
        "language": "python",
        "env": {
            # IPython's inline backend: figures are drawn by Agg (no display needed)
            # and kept as PNG outputs, so the test sees that every plot rendered.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            # These notebooks are dominated by XLA compile time of small functions; skipping
            # LLVM's optimisation passes makes compilation ~25% faster, and the tiny
            # models run about as fast unoptimised.
            "XLA_FLAGS": " ".join(
                filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"])
            ),
            # Jupyter's own DeprecationWarning about its future path layout; the kernel
            # does not care which layout is used.
            "JUPYTER_PLATFORM_DIRS": "1",
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return jupyter_path


def _execute(path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, float]:
    """Runs the notebook in a fresh kernel; a cell that raises raises CellExecutionError."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # see kernel_dir
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def _text(nb: Any) -> str:
    return "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch):
    nb, seconds = _execute(path, kernel_dir, monkeypatch)
    print(f"{path.name}: {seconds:.1f}s")
    images = sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    if "benchmark" not in path.stem or (ROOT / "bench" / "results" / "cpu.json").is_file():
        assert images >= 1, "every notebook draws at least one plot"
    assert "Traceback" not in _text(nb)
    warnings = [
        out["text"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr" and "Warning" in out.get("text", "")
    ]
    assert not warnings, "a notebook should run without warnings"
    assert seconds < NOTEBOOK_LIMIT_S


@pytest.mark.parametrize(
    "results",
    [
        {},
        {"catalogue": [{"name": "x", "ratio_value": 1.0}], "fused_summary": "?", "fused": 3},
        {"fused_summary": [{"method": "fused", "V": 8, "seconds": 1.0}]},
    ],
    ids=["empty", "missing-fields", "one-field"],
)
def test_benchmark_notebook_skips_missing_results(
    results: dict[str, Any], tmp_path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """The benchmark results file changes as the suite grows: plots are skipped, not broken."""
    path = next(p for p in NOTEBOOKS if "benchmark" in p.stem)
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(results))
    monkeypatch.setenv("JAXLOSSES_BENCH_RESULTS", str(results_file))
    nb, _ = _execute(path, kernel_dir, monkeypatch)
    assert "skipped" in _text(nb)
