"""Every Python block of README.md runs, in order, as a reader would paste them.

The blocks run as one script in a child process with 8 simulated CPU devices (the
multi-device section needs them; the device count is fixed before JAX initialises), so
the front page cannot rot: an API change that breaks an example fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_the_blocks_are_found():
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 6
    assert any("sharded_mean(" in b for b in blocks)


def test_readme_python_blocks_run(tmp_path):
    pytest.importorskip("flax", reason="the README's Flax block needs the examples extra")
    script = "\n\n".join(python_blocks((ROOT / "README.md").read_text()))
    path = tmp_path / "readme_blocks.py"
    path.write_text(script)
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "labels" in proc.stdout  # the checked-mode block printed the eager error
    assert "caught under jit" in proc.stdout
