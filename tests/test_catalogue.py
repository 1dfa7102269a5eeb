"""The registry-driven harness: every catalogue entry against the verification checklist
(value vs reference, closed form, finite differences, stress, jit/vmap, ``where``, ``axis``)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses
from jaxlosses import closed_form
from jaxlosses.catalogue import CATALOGUE, FAMILIES, MODULES
from jaxlosses.verify import _program_store, program_directory, rel_error, verify_entry

NAMES = list(CATALOGUE)
WHERE = [n for n, e in CATALOGUE.items() if e.where_slices]
AXIS = [
    n for n, e in CATALOGUE.items() if e.class_args and "axis" in inspect.signature(e.fn).parameters
]


def _public_functions() -> set[str]:
    return {
        name
        for name, obj in vars(jaxlosses).items()
        if not name.startswith("_") and inspect.isfunction(obj)
    }


def test_every_public_loss_is_catalogued():
    losses = _public_functions() - jaxlosses.NOT_LOSSES
    missing = sorted(losses - set(CATALOGUE))
    assert not missing, f"public losses without a catalogue entry: {missing}"
    assert not sorted(set(CATALOGUE) - _public_functions()), "catalogue names not exported"


def test_every_entry_has_its_closed_form():
    assert set(closed_form.__all__) == set(CATALOGUE)
    for name in CATALOGUE:
        assert callable(getattr(closed_form, name)), name


def _signature(fn) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_loss_and_closed_form_share_one_signature(name):
    """``closed_form.NAME`` takes the loss's own arguments: names, kinds and defaults."""
    entry = CATALOGUE[name]
    assert _signature(entry.grad) == _signature(entry.fn)


def test_catalogue_modules_mirror_the_loss_modules():
    """``jaxlosses.catalogue.X`` proves the losses of ``jaxlosses._X``, and only those."""
    for module in MODULES:
        short = module.__name__.rpartition(".")[2]
        for entry in module.ENTRIES:
            assert entry.fn.__module__ == f"jaxlosses._{short}", (entry.name, short)
            assert CATALOGUE[entry.name].family == module.FAMILY
    assert tuple(dict.fromkeys(e.family for e in CATALOGUE.values())) == FAMILIES


def test_import_needs_neither_scipy_nor_the_catalogue():
    """``import jaxlosses`` and checked mode load no SciPy and no proof records."""
    code = (
        "import sys, jax.numpy as jnp, jaxlosses as jl\n"
        "jl.checked(jl.softmax_cross_entropy_with_integer_labels)(jnp.zeros((2, 3)), jnp.array([0, 1]))\n"
        "bad = sorted(m for m in sys.modules if m == 'scipy' or m.startswith(('scipy.', 'jaxlosses.catalogue')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_not_losses_are_real_exports():
    assert jaxlosses.NOT_LOSSES.issubset(_public_functions())


@pytest.mark.parametrize("name", NAMES)
def test_verify_entry(name):
    """Value vs reference, autodiff vs closed form, FD, check_grads, stress, jit, vmap.

    With the suite's compilation cache on (tests/conftest.py), the checks' programs are
    kept where `python -m jaxlosses verify` keeps them, as that command does
    (tests/test_verify_engine.py: the same report either way).
    """
    cache = jax.config.jax_compilation_cache_dir
    with _program_store(program_directory(cache) if cache else None):
        report = verify_entry(CATALOGUE[name])
    assert report.passed, "\n".join(report.failures)
    assert report.autodiff_error <= 1e-9


def _first_case(name):
    return CATALOGUE[name].sample(np.random.default_rng(1))[0]


@pytest.mark.parametrize("name", WHERE)
def test_where_equals_slicing(name, x64):
    """Masking the last classes gives the loss (and gradient) of the sliced inputs."""
    entry, case = CATALOGUE[name], _first_case(name)
    k = np.shape(case.args[entry.class_args[0]])[-1] - 2
    args = [a % k if isinstance(a, np.ndarray) and a.dtype.kind == "i" else a for a in case.args]
    sliced = [a[..., :k] if i in entry.class_args else a for i, a in enumerate(args)]
    mask = np.broadcast_to(np.arange(k + 2) < k, np.shape(case.args[entry.class_args[0]]))
    masked = entry.fn(*args, **case.kwargs, where=mask)
    np.testing.assert_allclose(masked, entry.fn(*sliced, **case.kwargs), rtol=1e-12, atol=1e-12)
    g_masked = jax.tree.leaves(entry.grad(*args, **case.kwargs, where=mask))[0]
    g_sliced = jax.tree.leaves(entry.grad(*sliced, **case.kwargs))[0]
    np.testing.assert_allclose(g_masked[..., :k], g_sliced, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(g_masked[..., k:], 0.0)


@pytest.mark.parametrize("name", AXIS)
def test_axis_equals_moveaxis(name, x64):
    entry, case = CATALOGUE[name], _first_case(name)
    moved = [np.moveaxis(a, -1, 0) if i in entry.class_args else a for i, a in enumerate(case.args)]
    expected = entry.fn(*case.args, **case.kwargs)
    np.testing.assert_allclose(
        entry.fn(*moved, **case.kwargs, axis=0), expected, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_in_dtype_out(name, dtype):
    """Low-precision inputs give the same dtype out, close to the float64 reference."""
    entry, case = CATALOGUE[name], _first_case(name)
    args = [
        jnp.asarray(a, dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        for a in case.args
    ]
    out = entry.fn(*args, **case.kwargs)
    assert out.dtype == dtype
    # The reference sees the same rounded inputs, so only the computation's error counts.
    ref_args = [np.asarray(a, np.float64) if isinstance(a, jax.Array) else a for a in args]
    expected = entry.reference(*ref_args, **case.kwargs)
    tol = {jnp.bfloat16: 1e-2, jnp.float16: 2e-3, jnp.float32: 1e-5}[dtype]
    assert rel_error(out, expected) <= tol
