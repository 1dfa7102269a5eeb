"""Flax NNX + optax training with jaxlosses losses converges (examples/flax_nnx_training.py).

The example file is the single source of the training code: these tests import it and
assert on the numbers it returns, so the README's example cannot rot. The data-parallel
run needs 8 simulated CPU devices, which must be configured before JAX initialises, so
it runs the example as a script in a child process (as tests/test_parallel.py does).

Needs the ``examples`` extra (flax); skipped without it unless
``JAXLOSSES_REQUIRE_EXTRAS=1`` (set by ``.ci/run``), where a missing extra is a failure.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "flax_nnx_training.py"

if os.environ.get("JAXLOSSES_REQUIRE_EXTRAS"):
    importlib.import_module("flax")
else:
    pytest.importorskip("flax", reason="the Flax examples need the `examples` extra")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flax_nnx_training", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def classifier(example: ModuleType) -> dict[str, Any]:
    return example.train_classifier()


@pytest.fixture(scope="module")
def regressor(example: ModuleType) -> dict[str, Any]:
    return example.train_heteroscedastic()


@pytest.fixture(scope="module")
def data_parallel() -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--devices", "8", "--only", "data_parallel", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["data_parallel"]


def test_classifier_converges(classifier):
    print("classifier:", classifier)
    assert classifier["final_loss"] < 0.1 * classifier["first_loss"]
    assert classifier["test_accuracy"] >= 0.95


def test_heteroscedastic_regressor_recovers_the_noise_scale(regressor):
    print("heteroscedastic:", regressor)
    fitted, true = np.array(regressor["fitted_sigma"]), np.array(regressor["true_sigma"])
    # sqrt of the predicted variance matches the noise the data was made with ...
    assert regressor["max_sigma_rel_error"] < 0.15
    assert np.all(np.diff(fitted) > 0)  # ... and grows with x like the truth
    # while one shared variance (what least squares assumes) would be far off at the ends.
    assert abs(regressor["pooled_sigma"] - true[0]) / true[0] > 1.0
    assert regressor["max_mean_abs_error"] < 0.1
    assert regressor["final_loss"] < regressor["first_loss"] - 1.0


def test_data_parallel_step_equals_single_device(data_parallel):
    print("data parallel:", data_parallel)
    assert data_parallel["devices"] == 8
    assert "'data'" in data_parallel["batch_sharding"]  # the batch really was split
    # float32, 200 Adam steps: the same trajectory up to rounding.
    assert data_parallel["max_loss_diff_vs_single_device"] < 1e-5
    assert data_parallel["max_param_diff_vs_single_device"] < 1e-4
    assert data_parallel["test_accuracy"] >= 0.95
