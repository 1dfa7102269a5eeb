"""Property-based tests (hypothesis), driven by the catalogue's samplers.

For every entry, hypothesis draws a seed for the entry's own sampler, a magnitude
(up to 1e4) for the arguments that may hold any real value (``Entry.free_args``),
and, for losses with a class mask, a random ``where`` with ``-inf`` logits on the
masked classes and one fully masked row. Every example must give finite values and
gradients in the input's dtype, equal eager and jitted results, and the properties
the entry declares (``Entry.properties``): non-negativity, invariance to a constant
shift of the logits, zero on fully masked rows; Huber and smooth-L1 must equal
their quadratic branch inside ``delta``/``beta``.

The default (CI) profile keeps shapes and the dtype fixed per entry so that each
entry compiles once; ``--hypothesis-profile=thorough`` also draws the example,
the batch size and the dtype (float32, bfloat16, float16).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import jaxlosses as jl
from jaxlosses.catalogue import CATALOGUE, NEG_INF, NONNEG, SHIFT, Case, Entry

NAMES = list(CATALOGUE)
DTYPES = (jnp.float32, jnp.bfloat16, jnp.float16)
# float16 tops out at 65504: squared residuals of inputs near 1e2 already overflow it.
MAGNITUDE_CAP = {jnp.float32: 1e4, jnp.bfloat16: 1e4, jnp.float16: 10.0}
# Flags under which the first argument holds probabilities, not logits: not scaled.
_PROBABILITY_FLAGS = ("apply_softmax", "apply_sigmoid", "log_input")


def _thorough() -> bool:
    return settings().max_examples >= 100


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray)


# --- compiled runners: one per (entry, example, shapes, dtypes) -----------------------

_RUNNERS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _runner(entry: Entry, idx: int, args: list[Any], kwargs: dict[str, Any]) -> Callable:
    """``jit((pos_arrays, kw_arrays) -> (per-example loss, grads))``, cached."""
    pos = tuple(i for i, a in enumerate(args) if _is_array(a))
    kws = tuple(sorted(k for k, v in kwargs.items() if _is_array(v)))
    static_pos = {i: a for i, a in enumerate(args) if not _is_array(a)}
    static_kw = {k: v for k, v in kwargs.items() if not _is_array(v)}
    key = (entry.name, idx, pos, kws)
    if key not in _RUNNERS:

        def run(p: dict[int, Any], k: dict[str, Any]) -> Any:
            full = [p[i] if i in p else static_pos[i] for i in range(len(args))]

            def summed(*d: Any) -> Any:
                ff = list(full)
                for i, v in zip(entry.argnums, d):
                    ff[i] = v
                out = entry.fn(*ff, **static_kw, **k)
                return jnp.sum(out.astype(jnp.float32)), out

            nums = tuple(range(len(entry.argnums)))
            (_, out), grads = jax.value_and_grad(summed, nums, has_aux=True)(
                *(full[i] for i in entry.argnums)
            )
            return out, grads

        _RUNNERS[key] = jax.jit(run)
    fn = _RUNNERS[key]
    return lambda a, kw: fn(
        {i: a[i] for i in pos}, {k: kw[k] for k in kws}
    )  # same array positions for every example of this key


# --- drawing examples ---------------------------------------------------------------


def _mask_classes(
    entry: Entry, rng: np.random.Generator, args: list[Any], kwargs: dict[str, Any]
) -> np.ndarray | None:
    """A random class mask (row 0 fully masked) applied consistently to the inputs."""
    x = args[0]
    params = inspect.signature(entry.fn).parameters
    if (
        "where" not in params
        or "where" in kwargs
        or kwargs.get("axis", -1) != -1
        or not (entry.where_slices or NEG_INF in entry.properties)
        or np.ndim(x) < 2
    ):
        return None
    mask = rng.random(x.shape) < 0.7
    mask[0] = False
    for a in args[1:]:
        if _is_array(a) and a.dtype.kind == "i" and a.shape == x.shape[:-1]:
            rows = np.indices(a.shape)
            mask[(*rows, a)] = True  # the true class stays visible...
            mask[0] = False  # ...except on the fully masked row
    for i, a in enumerate(args):
        if not (_is_array(a) and a.dtype.kind == "f" and a.shape == x.shape):
            continue
        if i == 0 and NEG_INF in entry.properties:
            args[0] = np.where(mask, a, -np.inf)
        elif np.allclose(a.sum(-1), 1.0) and (a >= 0).all():  # a distribution: renormalise
            kept = np.where(mask, a, 0.0)
            s = kept.sum(-1, keepdims=True)
            args[i] = np.where(s > 0, kept / np.where(s > 0, s, 1.0), 0.0)
        elif i > 0 and np.allclose(special.logsumexp(a, axis=-1), 0.0):  # log-distribution
            lse = special.logsumexp(np.where(mask, a, -np.inf), axis=-1, keepdims=True)
            args[i] = np.where(np.isfinite(lse), a - np.where(np.isfinite(lse), lse, 0.0), a)
    kwargs["where"] = mask
    return mask


def _resize_batch(case: Case, rng: np.random.Generator, n: int) -> Case:
    """The example with ``n`` rows resampled along the batch axis (when it has one)."""
    if case.in_axes != 0:
        return case
    rows = rng.integers(0, np.shape(case.args[0])[0], n)

    def take(a: Any) -> Any:
        return a[rows] if _is_array(a) and a.ndim >= 1 else a

    kwargs = {k: take(v) if case.kw_axes.get(k) == 0 else v for k, v in case.kwargs.items()}
    return Case(case.label, tuple(take(a) for a in case.args), kwargs, 0, case.kw_axes)


@st.composite
def _examples(draw: st.DrawFn, entry: Entry) -> dict[str, Any]:
    thorough = _thorough()
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cases = entry.sample(rng)
    idx = draw(st.integers(0, len(cases) - 1)) if thorough else 0
    dtype = draw(st.sampled_from(DTYPES)) if thorough else jnp.float32
    case = cases[idx]
    if thorough:
        case = _resize_batch(case, rng, draw(st.sampled_from([1, 2, 7])))
    magnitude = draw(st.sampled_from([1.0, 10.0, 1e2, 1e3, 1e4]))
    magnitude = min(magnitude, MAGNITUDE_CAP[dtype])
    args, kwargs = list(case.args), dict(case.kwargs)
    if not any(kwargs.get(f) is False for f in _PROBABILITY_FLAGS):
        for i in entry.free_args:
            if _is_array(args[i]) and args[i].dtype.kind == "f":
                args[i] = args[i] * magnitude
    mask = _mask_classes(entry, rng, args, kwargs) if draw(st.booleans()) else None
    args = [a.astype(dtype) if _is_array(a) and a.dtype.kind == "f" else a for a in args]
    kwargs = {
        k: v.astype(np.float32) if _is_array(v) and v.dtype.kind == "f" else v
        for k, v in kwargs.items()
    }
    shift = draw(st.floats(-10.0, 10.0, allow_nan=False, width=32))
    return dict(
        idx=idx, args=args, kwargs=kwargs, mask=mask, magnitude=magnitude, shift=shift, dtype=dtype
    )


# --- the properties -------------------------------------------------------------------


def _eps(dtype: Any) -> float:
    return float(jnp.finfo(dtype).eps)


def _quadratic_inside(
    entry: Entry, args: list[Any], kwargs: dict[str, Any], out: np.ndarray, dtype: Any
) -> None:
    """Huber: ½ r² for |r| <= delta; smooth L1: ½ r² / beta for |r| < beta."""
    if entry.name not in ("huber_loss", "smooth_l1_loss") or len(args) < 2:
        return
    r = np.asarray(args[0], np.float64) - np.asarray(args[1], np.float64)
    if entry.name == "huber_loss":
        width = float(kwargs.get("delta", 1.0))
        inside, quad = np.abs(r) <= width, 0.5 * r**2
    else:
        width = float(kwargs.get("beta", 1.0))
        inside, quad = np.abs(r) < width, 0.5 * r**2 / width
    np.testing.assert_allclose(
        np.asarray(out, np.float64)[inside], quad[inside], rtol=2 * _eps(dtype), atol=1e-30
    )


def _check_example(entry: Entry, ex: dict[str, Any]) -> None:
    args, kwargs, dtype = ex["args"], ex["kwargs"], ex["dtype"]
    run = _runner(entry, ex["idx"], args, kwargs)
    out, grads = run(args, kwargs)
    out = np.asarray(out.astype(jnp.float32)) if out.dtype == jnp.bfloat16 else out
    assert run(args, kwargs)[0].dtype == dtype, "the loss changed the input's dtype"
    assert np.isfinite(np.asarray(out, np.float64)).all(), f"non-finite loss {out}"
    for i, g in zip(entry.argnums, jax.tree.leaves(grads)):
        assert g.dtype == np.asarray(args[i]).dtype, f"gradient {i} changed dtype"
        assert np.isfinite(np.asarray(g, np.float64)).all(), f"non-finite gradient {i}"
    out64 = np.asarray(out, np.float64)
    scale = max(1.0, float(np.abs(out64).max(initial=0.0)))
    low = dtype != jnp.float32
    tol = 2e-2 if low else 1e-4

    # XLA fuses and reassociates under jit: equal up to rounding, relative to max(1, |loss|).
    eager = np.asarray(entry.fn(*args, **kwargs), np.float64)
    same_inf = np.isinf(eager) & (eager == out64)
    diff = np.where(same_inf, 0.0, np.abs(out64 - eager)).max(initial=0.0)
    assert diff <= tol * scale, f"jit differs from eager by {diff:.2e} (scale {scale:.2e})"

    if NONNEG in entry.properties:
        assert out64.min(initial=0.0) >= -tol * scale, f"negative loss {out64.min()}"
    mask = ex["mask"]
    # (cosine_distance keeps optax's 1 - similarity: 1 on an empty row.)
    if (
        mask is not None
        and entry.name != "cosine_distance"
        and out64.ndim >= 1
        and out64.shape[0] == mask.shape[0]
    ):
        np.testing.assert_array_equal(out64[0], 0.0, err_msg="fully masked row")
    if SHIFT in entry.properties and not kwargs.get("z_loss"):  # lse² is not shift-invariant
        c = ex["shift"]
        moved = list(args)
        moved[0] = (np.asarray(args[0], np.float32) + np.float32(c)).astype(dtype)
        shifted = np.asarray(run(moved, kwargs)[0], np.float64)
        x = np.asarray(args[0], np.float64)
        big = float(np.abs(np.where(np.isfinite(x), x, 0.0)).max(initial=0.0)) + abs(c)
        atol = 8 * _eps(dtype) * big * int(np.prod(np.shape(x)[1:]))
        np.testing.assert_allclose(shifted, out64, rtol=tol, atol=atol + tol)
    _quadratic_inside(entry, args, kwargs, np.asarray(out), dtype)


@pytest.mark.parametrize("name", NAMES)
def test_properties(name):
    entry = CATALOGUE[name]

    @given(ex=_examples(entry))
    def check(ex: dict[str, Any]) -> None:
        _check_example(entry, ex)

    check()


# --- documented unchecked behaviour ---------------------------------------------------

LABELLED = [
    n for n, e in CATALOGUE.items() if any(c.what.startswith("class indices") for c in e.checks)
]


@pytest.mark.parametrize("name", LABELLED)
def test_out_of_range_label_gives_nan_for_its_example_only(name):
    """What the docstrings promise when ``checked`` is not used."""
    entry = CATALOGUE[name]
    check = next(c for c in entry.checks if c.what.startswith("class indices"))
    assert "Unchecked, a" in (entry.fn.__doc__ or ""), "undocumented unchecked behaviour"
    case = entry.sample(np.random.default_rng(0))[0]
    args = [a.astype(np.float32) if _is_array(a) and a.dtype.kind == "f" else a for a in case.args]
    kwargs = dict(case.kwargs)
    pos = list(inspect.signature(entry.fn).parameters).index(check.arg)
    bad = np.array(args[pos], copy=True)
    bad.reshape(-1)[0] = -1
    out, grads = _runner(entry, 0, args, kwargs)(_put(args, pos, bad), kwargs)
    out = np.asarray(out).reshape(-1)
    assert np.isnan(out[0]) and np.isfinite(out[1:]).all(), out
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def _put(args: list[Any], i: int, value: Any) -> list[Any]:
    out = list(args)
    out[i] = value
    return out


def test_dice_accepts_bfloat16_probabilities():
    """Regression (found by the thorough profile): rounding softmax outputs to bf16 moves
    their sum off 1 by more than 1e-5, which ``apply_softmax=False`` used to reject."""
    p = jax.nn.softmax(jnp.asarray(np.random.default_rng(3).normal(size=(2, 4, 3))), -1)
    p16 = p.astype(jnp.bfloat16)
    assert float(jnp.abs(p16.astype(jnp.float32).sum(-1) - 1).max()) > 1e-5
    t = jax.nn.one_hot(jnp.array([[0, 1, 2, 1], [1, 2, 2, 0]]), 3)
    out = jl.dice_loss(p16, t, apply_softmax=False)
    assert out.dtype == jnp.bfloat16 and bool(jnp.isfinite(out).all())


def test_softmax_focal_gamma_zero_with_a_dominant_target_logit():
    """Regression (found by the thorough profile): when the target logit beats every other
    by more than ~88, ``1 - p_t`` underflowed to 0 in float32, and ``gamma=0`` gave
    ``exp(0 * log 0) = NaN`` instead of the cross-entropy's 0."""
    x = jnp.array([[-118.9, 164.7, 7.2, 316.8, -207.4], [0.5, -1.0, 2.0, 0.0, 1.0]], jnp.float32)
    y = jnp.array([3, 2])
    ce = optax.softmax_cross_entropy_with_integer_labels(x, y)
    for gamma in (0.0, 2.0):
        out = jl.softmax_focal_loss(x, y, gamma=gamma)
        grad = jax.grad(lambda x, g=gamma: jnp.sum(jl.softmax_focal_loss(x, y, gamma=g)))(x)
        assert bool(jnp.isfinite(out).all()) and bool(jnp.isfinite(grad).all())
        assert float(jnp.abs(out[0])) == 0.0  # the true value, ~exp(-152), rounds to 0
    np.testing.assert_allclose(jl.softmax_focal_loss(x, y, gamma=0.0), ce, rtol=1e-6)
