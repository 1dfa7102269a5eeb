"""Every Python block of README.md and of the docs pages runs, as a reader would paste them.

Rules (shared with ``tests/test_contributing.py``):

* README.md: every ```` ```python ```` block runs, in order, as one script.
* docs/: on each page, every Python block without a ``title="PATH"`` runs, in order, as
  one script. A titled block is a verbatim excerpt of ``PATH`` (checked by
  ``tests/test_contributing.py``); a block made of ``--8<-- "FILE:SECTION"`` lines includes
  a marked section of ``FILE`` at build time. A page that includes sections of a file
  runs in that file's namespace (its blocks continue the file's code), and the included
  files run in their own tests (``examples/`` in ``tests/test_flax_training.py``).

Each script runs in a child process with 8 simulated CPU devices (the multi-device
examples need them; the count is fixed before JAX initialises), so the front page and
the docs cannot rot: an API change that breaks an example fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
_INCLUDE = re.compile(r'^--8<-- "(?P<file>[^":]+)(?::\w+)?"$', re.MULTILINE)


def script_of(page: Path) -> str:
    """The page's runnable Python, preceded by the files it includes (as modules' code)."""
    text = page.read_text()
    blocks, included = [], []
    for m in _FENCE.finditer(text):
        if 'title="' in m.group("info"):
            continue
        code = m.group("code")
        files = _INCLUDE.findall(code)
        if files:
            included += [f for f in files if f not in included]
        else:
            blocks.append(code)
    prelude = [
        f"exec(compile(open({str(ROOT / f)!r}).read(), {f!r}, 'exec'), globals())" for f in included
    ]
    return "\n\n".join([*prelude, *blocks])


PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if script_of(p).strip())]


def test_the_blocks_are_found():
    readme = script_of(ROOT / "README.md")
    assert "sharded_mean(" in readme and "verify.check(" in readme
    assert len(PAGES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path):
    script = script_of(page)
    if "flax" in script:
        pytest.importorskip("flax", reason="this page's Flax example needs the examples extra")
    path = tmp_path / "blocks.py"
    # `__name__` is not "__main__": an included example file does not run its main().
    path.write_text(f"__name__ = 'docs_snippets'\n{script}\n")
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert proc.returncode == 0, f"{page.relative_to(ROOT)}:\n{proc.stderr[-4000:]}"


def test_readme_checked_mode_block_raises_as_it_says(tmp_path):
    script = script_of(ROOT / "README.md")
    start = script.index("ce = jl.checked(")
    path = tmp_path / "checked.py"
    path.write_text("import jax, jax.numpy as jnp\nimport jaxlosses as jl\n" + script[start:])
    proc = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    eager, jitted = proc.stdout.strip().splitlines()[-2:]
    assert "`labels` must hold class indices" in eager
    assert "`labels` must hold class indices" in jitted and jitted.endswith("(`check` failed)")
    assert "callback failed" not in proc.stderr, proc.stderr[-2000:]
