"""optax's own test-suite, run on jaxlosses, for every loss the two libraries share (issue 12).

optax ships its tests beside its losses (``optax/losses/_classification_test.py`` and
siblings). For each of those modules, the public functions that jaxlosses also exports
(``softmax_cross_entropy``, ``ctc_loss``, ``dice_loss``, ...) are replaced by jaxlosses'
for the run, and optax's test cases run unchanged with :mod:`unittest`. The failures must
be exactly the differences documented in ``DIFFERENCES`` (a documented difference that
starts passing fails too, so the list cannot go stale).
"""

from __future__ import annotations

import importlib
import unittest

import pytest

import jaxlosses as jl

pytest.importorskip("absl.testing.absltest", reason="optax's tests use absl-py")

MODULES = [
    "_classification",
    "_regression",
    "_ranking",
    "_segmentation",
    "_self_supervised",
    "_fenchel_young",
    "_smoothing",
]

# test id (TestCase class.method) -> why jaxlosses differs on purpose.
DIFFERENCES = {
    "GeneralizedKLDivergenceTest.test_deprecated_alias": (
        "optax warns that convex_kl_divergence is deprecated; jaxlosses keeps it as a "
        "documented alias of generalized_kl_divergence and does not warn"
    ),
    "DiceLossTest.test_probability_validation": (
        "the same ValueError, worded differently: jaxlosses' message names the argument, "
        "the range of values found and the fix (apply_softmax=True), not optax's phrase"
    ),
}


def _shared(module) -> list[str]:
    return [
        name
        for name in dir(module)
        if not name.startswith("_")
        and callable(getattr(module, name))
        and getattr(getattr(module, name), "__module__", "") == module.__name__
        and hasattr(jl, name)
    ]


@pytest.mark.parametrize("name", MODULES)
def test_optax_tests_pass_on_jaxlosses(name, monkeypatch):
    try:
        source = importlib.import_module(f"optax.losses.{name}")
        tests = importlib.import_module(f"optax.losses.{name}_test")
    except ImportError as e:
        pytest.skip(f"this optax does not ship optax.losses.{name}_test ({e})")
    shared = _shared(source)
    assert shared, f"optax.losses.{name} shares no loss with jaxlosses"
    for loss in shared:
        monkeypatch.setattr(source, loss, getattr(jl, loss))
    assert all(getattr(source, loss) is getattr(jl, loss) for loss in shared)

    result = unittest.TestResult()
    suite = unittest.defaultTestLoader.loadTestsFromModule(tests)
    suite.run(result)
    assert result.testsRun > 0

    failed = {}
    for case, trace in result.failures + result.errors:
        failed[f"{type(case).__name__}.{case._testMethodName}"] = trace
    expected = {t for t in DIFFERENCES if t.split(".")[0] in dir(tests)}
    unexpected = {t: tb for t, tb in failed.items() if t not in DIFFERENCES}
    assert not unexpected, "\n\n".join(f"{t}:\n{tb[-2500:]}" for t, tb in unexpected.items())
    assert set(failed) == expected, (
        f"documented differences that now pass (drop them from DIFFERENCES): "
        f"{sorted(expected - set(failed))}"
    )
