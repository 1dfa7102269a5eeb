"""Work done once per test session, however many pytest-xdist workers ask for it.

A module-scoped fixture runs once per worker that runs one of the module's tests, and
again each time a worker comes back to the module after tests of another one (xdist
hands out tests in chunks). The multi-device children and the site build cost minutes;
:func:`once` keeps their result in the session's shared temporary directory, behind a
file lock, so the first caller computes it and every other caller reads it.
(``xdist_group`` with ``--dist loadgroup`` would pin a module to one worker, but it has
no effect with pytest 9.2 and xdist 3.8.)
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this session shared by its xdist workers (the session's own without)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once(name: str, tmp_path_factory: pytest.TempPathFactory, compute: Callable[[], Any]) -> Any:
    """``compute()`` (JSON-able) for the first caller of the session; its result for the rest.

    A ``compute`` that raises stores nothing: the next caller tries again (and fails the
    same way, in its own test).
    """
    root = shared_dir(tmp_path_factory)
    out = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return json.loads(out.read_text())
        result = compute()
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(out)
        return result
