"""Root pytest configuration: names available to the docstring examples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["jnp"] = jnp
    doctest_namespace["jax"] = jax
    doctest_namespace["np"] = np
