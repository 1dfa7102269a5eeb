"""Running a script in a child process with simulated CPU devices.

JAX fixes the device count when it initialises, and the suite runs in processes with one
device; the multi-device tests run a script in a child with
``--xla_force_host_platform_device_count`` and read what it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def device_env(n_devices: int) -> dict[str, str]:
    """The environment for a child JAX process with ``n_devices`` CPU devices."""
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={n_devices}"
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    env["JAX_PLATFORMS"] = "cpu"
    # The child imports the jaxlosses under test (a worktree's), not whichever checkout
    # an editable install points at: the script's own directory comes first on its path.
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # The suite's persistent compilation cache (tests/conftest.py), for the child too.
    import jax

    cache = getattr(jax.config, "jax_compilation_cache_dir", None)
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def run_json(script: Path, n_devices: int, timeout: int) -> dict[str, Any]:
    """Runs ``python script`` with ``n_devices`` devices; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=device_env(n_devices),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
