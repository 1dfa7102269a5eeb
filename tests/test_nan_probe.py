"""Honest propagation of NaN and ±inf, probed over every catalogue entry (issue 12).

The rule (README, "Numerical guarantees"): a NaN at a position that takes part in an
example's loss makes that example's loss NaN; +inf or -inf there gives the limit of the
loss (finite where the loss converges, ±inf or NaN where it diverges), never a plausible
finite number; positions masked by ``where`` are left out and never leak.

Which outputs a position "takes part in" is decided independently of the code paths under
test: by the Jacobian of the loss at the clean example (``jax.jacrev``, float64), so a
position whose derivative is exactly 0 there (an inactive hinge, a weight-0 class) is
not probed. The limit at ±inf is read off the loss at ±1e6 and ±1e9 times the scale of
the coordinate: converged (equal to 1e-6) means a finite limit the ±inf input must give
(or NaN); otherwise the loss diverges and a finite value at ±inf is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlosses.catalogue import CATALOGUE, Case

NAMES = list(CATALOGUE)
PROBES = 6  # participating positions probed per argument


def _float_slots(case: Case) -> list[tuple[str, Any]]:
    slots: list[tuple[str, Any]] = []
    for i, a in enumerate(case.args):
        if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
            slots.append(("pos", i))
    for k, v in case.kwargs.items():
        if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
            slots.append(("kw", k))
    return slots


def _substituted(fn: Callable[..., Any], case: Case, slot: tuple[str, Any]) -> Callable:
    kind, key = slot

    def f(x: jax.Array) -> jax.Array:
        args, kw = list(case.args), dict(case.kwargs)
        if kind == "pos":
            args[key] = x
        else:
            kw[key] = x
        return jnp.asarray(fn(*args, **kw), jnp.float64)

    return f


def probe(fn: Callable[..., Any], case: Case, seed: int = 0) -> list[str]:
    """Every NaN/±inf dishonesty found in ``fn`` on ``case``, as readable lines."""
    rng = np.random.default_rng(seed)
    problems = []
    for slot in _float_slots(case):
        kind, key = slot
        x0 = np.asarray(case.args[key] if kind == "pos" else case.kwargs[key], np.float64)
        f = _substituted(fn, case, slot)
        fj = jax.jit(f)
        clean = np.asarray(fj(x0))
        jac = np.asarray(jax.jit(jax.jacrev(f))(x0)).reshape(clean.size, x0.size)
        takes_part = np.flatnonzero(np.any(jac != 0, axis=0) & np.isfinite(x0.ravel()))
        picks = rng.choice(takes_part, size=min(PROBES, takes_part.size), replace=False)
        label = f"`{key}`" if kind == "kw" else f"argument {key}"

        def at(p: int, v: float, x0: np.ndarray = x0, fj: Callable = fj) -> np.ndarray:
            x = x0.copy().ravel()
            x[p] = v
            return np.asarray(fj(x.reshape(x0.shape))).ravel()

        for p in picks:
            deps = np.flatnonzero(jac[:, p] != 0)
            out = at(p, np.nan)[deps]
            if np.isfinite(out).any():
                k = deps[np.isfinite(out)][:3].tolist()
                problems.append(
                    f"NaN at {label}[{p}]: outputs {k} finite {out[np.isfinite(out)][:3]}"
                )
            scale = max(1.0, abs(float(x0.ravel()[p])))
            for sign in (1.0, -1.0):
                a, b = at(p, sign * 1e6 * scale)[deps], at(p, sign * 1e9 * scale)[deps]
                c = at(p, sign * np.inf)[deps]
                if not (np.isfinite(a).all() and np.isfinite(b).all()):
                    continue  # outside the domain far out: no limit to compare with
                converged = np.abs(a - b) <= 1e-6 * np.abs(b) + 1e-9
                wrong = ~converged & np.isfinite(c)  # diverges, yet a finite value
                wrong |= converged & np.isinf(c)
                wrong |= converged & np.isfinite(c) & (np.abs(c - b) > 1e-6 * (np.abs(b) + 1.0))
                if wrong.any():
                    k = np.flatnonzero(wrong)[:3]
                    problems.append(
                        f"{'+' if sign > 0 else '-'}inf at {label}[{p}]: outputs "
                        f"{deps[k].tolist()} give {c[k]}, but {a[k]} at 1e6 and {b[k]} at 1e9"
                    )
    return problems


def masked_leaks(fn: Callable[..., Any], case: Case) -> list[str]:
    """NaN at the positions of the first argument that ``where`` masks out must change
    neither the value nor the gradient (which is 0 there)."""
    where = case.kwargs.get("where")
    x0 = case.args[0]
    if where is None or not isinstance(x0, np.ndarray):
        return []
    where = np.asarray(where, bool)
    try:  # a class mask, or a per-example mask over the leading axes
        mask = np.broadcast_to(where, x0.shape)
    except ValueError:
        try:
            mask = np.broadcast_to(
                where.reshape(where.shape + (1,) * (x0.ndim - where.ndim)), x0.shape
            )
        except ValueError:
            return []
    if mask.all():
        return []
    f = _substituted(fn, case, ("pos", 0))

    def value_and_grad(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return f(x), jax.grad(lambda z: jnp.sum(f(z)))(x)

    vg = jax.jit(value_and_grad)
    v0, g0 = (np.asarray(t) for t in vg(jnp.asarray(x0, jnp.float64)))
    v1, g1 = (np.asarray(t) for t in vg(jnp.asarray(np.where(mask, x0, np.nan), jnp.float64)))
    problems = []
    if not np.array_equal(v0, v1, equal_nan=True):
        problems.append(
            f"NaN at masked positions changes the value: {v0.ravel()[:3]} -> {v1.ravel()[:3]}"
        )
    if not (np.all(g1[~mask] == 0) and np.array_equal(g0[mask], g1[mask], equal_nan=True)):
        problems.append("NaN at masked positions leaks into the gradient")
    return problems


def _x64_case(entry: Any, which: Callable[[Case], bool]) -> Case | None:
    cases = [c for c in entry.sample(np.random.default_rng(0)) if which(c)]
    return cases[0] if cases else None


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf_inputs_are_never_laundered(name, x64):
    entry = CATALOGUE[name]
    case = _x64_case(entry, lambda c: True)
    assert case is not None
    problems = probe(entry.fn, case)
    masked = _x64_case(entry, lambda c: c.kwargs.get("where") is not None)
    if masked is not None:
        problems += masked_leaks(entry.fn, masked)
    assert not problems, f"{name} [{case.label}]:\n  " + "\n  ".join(problems)


def test_the_probe_catches_laundering(x64):
    """Deliberately dishonest losses: the probe must flag each (so it is able to fail)."""
    case = Case("toy", (np.array([[0.5, -1.0, 2.0], [1.0, 0.0, 3.0]]),))

    def honest(x: jax.Array) -> jax.Array:
        return jnp.sum(x**2, axis=-1)

    def nan_to_zero(x: jax.Array) -> jax.Array:  # a NaN reads as 0
        return jnp.sum(jnp.where(jnp.isnan(x), 0.0, x) ** 2, axis=-1)

    def inf_to_zero(x: jax.Array) -> jax.Array:  # a diverging input reads as 0
        return jnp.sum(jnp.where(jnp.isfinite(x), x, 0.0) ** 2, axis=-1)

    def wrong_limit(x: jax.Array) -> jax.Array:  # tanh → 1 at +inf, but says 0 there
        return jnp.sum(jnp.where(jnp.isinf(x), 0.0, jnp.tanh(x)), axis=-1)

    assert probe(honest, case) == []
    assert any(p.startswith("NaN at") for p in probe(nan_to_zero, case))
    assert any("inf at" in p for p in probe(inf_to_zero, case))
    assert any("inf at" in p for p in probe(wrong_limit, case))

    masked = Case("toy", case.args, {"where": np.array([[True, False, True], [True, True, True]])})

    def leaky(x: jax.Array, where: Any) -> jax.Array:  # the mask applied after the sum
        return jnp.where(jnp.all(where, axis=-1), jnp.sum(x, axis=-1), jnp.sum(x, axis=-1) * 0)

    def tight(x: jax.Array, where: Any) -> jax.Array:
        return jnp.sum(jnp.where(where, x, 0.0) ** 2, axis=-1)

    assert masked_leaks(tight, masked) == []
    assert masked_leaks(leaky, masked)


@pytest.mark.parametrize("custom_vjp", [True, False])
def test_nan_hidden_state_of_a_masked_token_reaches_no_gradient(custom_vjp, x64):
    """Padding tokens often hold garbage: with ``where`` they must not reach dL/dweight
    either (a NaN there once made the whole weight gradient NaN through 0 * NaN)."""
    import jaxlosses as jl

    rng = np.random.default_rng(1)
    h = rng.standard_normal((6, 4))
    w, y = rng.standard_normal((4, 5)), rng.integers(0, 5, 6)
    where = np.array([True, False, True, True, False, True])

    def total(h: jax.Array, w: jax.Array) -> jax.Array:
        kw = {"where": where, "custom_vjp": custom_vjp, "chunk_size": 4}
        return jnp.sum(jl.linear_softmax_cross_entropy(h, w, y, **kw))

    clean = jax.grad(total, argnums=(0, 1))(h, w)
    dirty = jax.grad(total, argnums=(0, 1))(np.where(where[:, None], h, np.nan), w)
    np.testing.assert_array_equal(np.asarray(dirty[1]), np.asarray(clean[1]))
    np.testing.assert_array_equal(np.asarray(dirty[0]), np.asarray(clean[0]))
    assert float(total(np.where(where[:, None], h, np.nan), w)) == float(total(h, w))
