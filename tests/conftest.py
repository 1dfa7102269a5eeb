"""Strict JAX configuration for the whole suite, and shared fixtures."""

from __future__ import annotations

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "standard")


@pytest.fixture
def x64():
    """Run the test body with 64-bit floats enabled (references are computed in float64)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
