"""Strict JAX configuration for the whole suite, and shared fixtures."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "standard")

# JAX's persistent compilation cache, shared with `python -m jaxlosses verify` (the same
# default directory and $JAXLOSSES_CACHE_DIR): compiling is most of the suite's time, and a
# second run (or a run after `verify`) reads the compiled programs back. The tests are the
# same either way; JAXLOSSES_CACHE_DIR=off compiles everything afresh.
_CACHE = os.environ.get("JAXLOSSES_CACHE_DIR") or os.path.join(
    os.path.expanduser("~"), ".cache", "jaxlosses", "jax"
)
if _CACHE.lower() not in ("off", "0", "none"):
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled (references are computed in float64)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# Hypothesis profiles: "ci" (the default) is small and reproducible; run the long
# search with `--hypothesis-profile=thorough`.
settings.register_profile(
    "ci",
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile(
    "thorough",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.load_profile("ci")
