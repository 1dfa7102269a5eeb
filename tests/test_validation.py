"""Trace-time validation, for every catalogue entry, from one generator of bad inputs.

From each entry's first sampled example we derive bad variants: the dtype kind of
each array argument swapped (float <-> int), a complex array in place of a real one, an extra trailing axis of size 1, the
last axis one shorter, predictions ``[N]`` against targets ``[N, 1]``, an ``axis``
out of range and a ``where`` that does not broadcast. Each must raise a
``TypeError``/``ValueError`` at trace time whose message starts with the loss's
name, names the argument and shows the shape or dtype it saw, unless the entry
lists the variant in ``Entry.accepts`` (then it must work). Tracing with
:func:`jax.eval_shape` keeps this free of compilation.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pytest

from jaxlosses.catalogue import CATALOGUE, Entry

NAMES = list(CATALOGUE)
HINTS = ("expected", "pass", "cast", "reshape", "use", "need", "must", "give", "equal")


def _f32(x: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(np.float32)
    return x


def _example(entry: Entry) -> tuple[list[Any], dict[str, Any]]:
    case = entry.sample(np.random.default_rng(0))[0]
    return [_f32(a) for a in case.args], {k: _f32(v) for k, v in case.kwargs.items()}


def _trace(entry: Entry, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``jax.eval_shape`` of the loss: runs every trace-time check, compiles nothing."""
    dyn = {i: a for i, a in enumerate(args) if isinstance(a, np.ndarray)}
    kdyn = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}

    def call(d: dict[int, Any], kd: dict[str, Any]) -> Any:
        full = [d.get(i, a) for i, a in enumerate(args)]
        return entry.fn(*full, **{**kwargs, **kd})

    return jax.eval_shape(call, dyn, kdyn)


Variant = tuple[str, type[Exception], list[Any], dict[str, Any], str]


def _variants(entry: Entry) -> Iterator[Variant]:
    """``(token, expected error, args, kwargs, what the message must show)``."""
    args, kwargs = _example(entry)
    names = list(inspect.signature(entry.fn).parameters)
    for i, a in enumerate(args):
        if not isinstance(a, np.ndarray):
            continue
        arg = names[i]
        swapped = a.astype(np.int32) if a.dtype.kind == "f" else a.astype(np.float32)
        kind = "int" if a.dtype.kind == "f" else "float"
        yield f"{arg}:{kind}", TypeError, _put(args, i, swapped), kwargs, str(swapped.dtype)
        if a.dtype.kind == "f":  # complex in place of real: the imaginary part must not vanish
            cplx = a.astype(np.complex64) + 1j
            yield f"{arg}:complex", TypeError, _put(args, i, cplx), kwargs, str(cplx.dtype)
        if a.ndim == 0:
            continue
        yield f"{arg}:expand", ValueError, _put(args, i, a[..., None]), kwargs, str((*a.shape, 1))
        if a.shape[-1] > 1:
            short = a[..., :-1]
            yield f"{arg}:trunc", ValueError, _put(args, i, short), kwargs, str(short.shape)
    first, second = args[0], args[1] if len(args) > 1 else None
    if (
        isinstance(second, np.ndarray)
        and second.shape == first.shape
        and first.ndim >= 1
        and first.shape[-1] > 1
    ):
        # Predictions [N] against targets [N, 1]: must not broadcast into [N, N].
        col = _put(_put(args, 0, first[..., 0]), 1, second[..., :1])
        yield f"{names[1]}:column", ValueError, col, kwargs, str(second[..., :1].shape)
    params = inspect.signature(entry.fn).parameters
    if "axis" in params:
        ndim = np.ndim(args[0])
        yield "axis:range", ValueError, args, {**kwargs, "axis": ndim + 2}, str(ndim + 2)
    if "where" in params:
        bad = np.ones((7,), bool)
        yield "where:broadcast", ValueError, args, {**kwargs, "where": bad}, "(7,)"


def _put(args: list[Any], i: int, value: Any) -> list[Any]:
    out = list(args)
    out[i] = value
    return out


def _names_argument(msg: str, arg: str, error: type[Exception]) -> bool:
    """A dtype error names the argument; a shape mismatch may name either side of it."""
    if error is TypeError:
        return f"`{arg}`" in msg
    return msg.count("`") >= 2


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_at_trace_time(name):
    entry = CATALOGUE[name]
    problems = []
    for token, error, args, kwargs, shown in _variants(entry):
        arg = token.split(":")[0]
        try:
            _trace(entry, args, kwargs)
        except (TypeError, ValueError) as e:
            msg = str(e)
            if token in entry.accepts:
                problems.append(f"{token}: listed as valid but raised {e!r}")
            elif not isinstance(e, error):
                problems.append(f"{token}: raised {type(e).__name__}, want {error.__name__}")
            elif not msg.startswith(f"{name}:"):
                problems.append(f"{token}: message does not start with the loss name: {msg}")
            elif shown not in msg or not _names_argument(msg, arg, error):
                problems.append(f"{token}: message should name `{arg}` and show {shown}: {msg}")
            elif not any(h in msg.lower() for h in HINTS):
                problems.append(f"{token}: message gives no fix: {msg}")
        else:
            if token not in entry.accepts:
                problems.append(f"{token}: accepted silently (want {error.__name__})")
    assert not problems, "\n".join(problems)


def test_accepted_variants_exist():
    """Every ``accepts`` token names a variant the generator makes (no stale entries)."""
    for name, entry in CATALOGUE.items():
        made = {v[0] for v in _variants(entry)}
        assert entry.accepts <= made, (name, sorted(entry.accepts - made))


@functools.cache
def _int_label_losses() -> list[str]:
    return [
        n
        for n, e in CATALOGUE.items()
        if any(isinstance(a, np.ndarray) and a.dtype.kind == "i" for a in _example(e)[0])
    ]


def test_integer_label_losses_reject_float_labels():
    """A summary of the rule: class indices must be integers, for every such loss."""
    assert len(_int_label_losses()) >= 15


# --- hyperparameters given as Python values are checked at trace time ------------------

_X, _Y = np.zeros((2, 3), np.float32), np.array([0, 1], np.int32)
_POS = np.ones((2, 3), np.float32)
_BAD_HYPERPARAMETERS = [
    ("multi_margin_loss", "p", lambda jl: jl.multi_margin_loss(_X, _Y, p=3)),
    ("multi_margin_loss", "p", lambda jl: jl.multi_margin_loss(_X, _Y, p=True)),
    ("multi_margin_loss", "margin", lambda jl: jl.multi_margin_loss(_X, _Y, margin=float("nan"))),
    ("multi_margin_loss", "weights", lambda jl: jl.multi_margin_loss(_X, _Y, weights=np.ones(4))),
    ("multilabel_margin_loss", "labels", lambda jl: jl.multilabel_margin_loss(_X, _POS)),
    ("multilabel_soft_margin_loss", "weights",
     lambda jl: jl.multilabel_soft_margin_loss(_X, _POS, weights=np.ones(2))),
    ("cosine_embedding_loss", "margin",
     lambda jl: jl.cosine_embedding_loss(_X, _X, np.ones(2), margin=float("inf"))),
    ("cosine_embedding_loss", "targets",
     lambda jl: jl.cosine_embedding_loss(_X, _X, np.ones((2, 3)))),
    ("hinge_embedding_loss", "margin",
     lambda jl: jl.hinge_embedding_loss(_X, _POS, margin=float("nan"))),
    ("pinball_loss", "quantiles", lambda jl: jl.pinball_loss(_X, _X, quantiles=1.0)),
    ("pinball_loss", "quantiles", lambda jl: jl.pinball_loss(_X, _X[:, 0], quantiles=(0.1, 0.0, 0.5))),
    ("pinball_loss", "quantiles", lambda jl: jl.pinball_loss(_X, _X[:, 0], quantiles=np.array([0.5, 0.5]))),
    ("pinball_loss", "targets", lambda jl: jl.pinball_loss(_X, _X[:1], quantiles=(0.1, 0.2, 0.5))),
    ("tweedie_deviance", "power", lambda jl: jl.tweedie_deviance(_POS, _POS, power=0.5)),
    ("tweedie_deviance", "power", lambda jl: jl.tweedie_deviance(_POS, _POS, power=np.float32(1.5) * np.ones(1))),
    ("asymmetric_loss", "gamma_neg", lambda jl: jl.asymmetric_loss(_X, _POS, gamma_neg=-1.0)),
    ("asymmetric_loss", "gamma_pos", lambda jl: jl.asymmetric_loss(_X, _POS, gamma_pos=float("nan"))),
    ("asymmetric_loss", "clip", lambda jl: jl.asymmetric_loss(_X, _POS, clip=1.0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "arg", "call"),
    _BAD_HYPERPARAMETERS,
    ids=[f"{n}-{a}-{i}" for i, (n, a, _) in enumerate(_BAD_HYPERPARAMETERS)],
)
def test_bad_python_hyperparameters_raise_at_trace_time(name, arg, call):
    import jaxlosses

    with pytest.raises((TypeError, ValueError)) as info:
        jax.eval_shape(lambda: call(jaxlosses))
    msg = str(info.value)
    assert msg.startswith(f"{name}:") and f"`{arg}`" in msg, msg
