"""Run-time value checks for :func:`jaxlosses.checked` (the opt-in checked mode).

Shape and dtype mistakes are caught at trace time by every loss. Mistakes in the
*values* (a label out of range, probabilities that do not sum to 1, a negative
variance, a NaN, a CRF mask with holes) are only visible at run time; each
:class:`Check` here states one such precondition as a boolean array built with
``jax.numpy``, so it can run under ``jax.jit`` through
:mod:`jax.experimental.checkify`.

A check reads the loss's arguments by name (``inspect.signature(...).bind``), and
knows how to break its own precondition (:meth:`Check.corrupt`), which lets the
test harness prove, for every catalogue entry, that checked mode rejects each bad
input it promises to reject.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._core import is_array

Bound = Mapping[str, Any]
Predicate = tuple[jax.Array, str, dict[str, jax.Array]]

__all__ = [
    "Check",
    "in_set",
    "labels_in_range",
    "no_nan",
    "nonnegative",
    "normalisable",
    "prefix_mask",
    "simplex",
    "unit_interval",
]


def _axes(b: Bound, axis: int | str, ndim: int) -> tuple[int, ...]:
    """The class axes, non-negative: an int, or the loss's ``axis`` argument (int or tuple)."""
    value = b.get(axis, -1) if isinstance(axis, str) else axis
    values = value if isinstance(value, tuple) else (value,)
    try:
        return tuple(sorted({int(a) % ndim for a in values})) if ndim else ()
    except TypeError:
        return (ndim - 1,)


def _used(b: Bound, name: str) -> jax.Array | None:
    """Where argument ``name`` takes part in the loss: False where ``where`` (or a CRF
    ``mask``) excludes it, broadcast to its shape; None when nothing is excluded.

    A mask of the argument's shape excludes elements; a mask of a leading part of its
    shape (one flag per example or per token) excludes whole trailing blocks. Anything
    else is not read as a mask of this argument (nothing excluded: conservative).
    """
    shape = np.shape(b[name])
    for key in ("where", "mask"):
        m = b.get(key)
        if m is None or not is_array(m) or key == name:
            continue
        ms = np.shape(m)
        if ms == shape or (0 < len(ms) < len(shape) and shape[: len(ms)] == ms):
            keep = jnp.asarray(m).astype(bool)
            return jnp.broadcast_to(keep.reshape(ms + (1,) * (len(shape) - len(ms))), shape)
    return None


def _unless_unused(ok: jax.Array, used: jax.Array | None) -> jax.Array:
    return ok if used is None else ok | ~used


def _set_first(x: Any, value: Any) -> np.ndarray:
    out = np.array(x, copy=True)
    out.reshape(-1)[0] = value
    return out


@dataclasses.dataclass(frozen=True)
class Check:
    """One run-time precondition of a loss.

    Attributes:
      arg: the argument it reads (by name).
      what: the precondition, in words (used in messages and docs).
      predicates: ``bound_args -> [(ok, message, fmt)]``; ``ok`` is a boolean array that
        must be all true; ``message`` may name ``fmt`` values in braces.
      corrupt: ``bound_args -> bound_args`` breaking the precondition (for tests), or
        ``None`` when the argument is absent and cannot be broken.
    """

    arg: str
    what: str
    predicates: Callable[[Bound], list[Predicate]]
    corrupt: Callable[[Bound], dict[str, Any] | None]


def _present(b: Bound, name: str) -> bool:
    return b.get(name) is not None and is_array(b[name])


def labels_in_range(
    labels: str,
    source: str,
    *,
    axis: int | str = "axis",
    ignore: Callable[[Bound], jax.Array | None] | None = None,
) -> Check:
    """Integer ``labels`` lie in ``[0, K)``, ``K = source.shape[axis]``.

    ``axis`` is an int or the name of the loss's ``axis`` argument; ``ignore``
    returns a mask of labels that are not used (masked or padded) and so may hold
    anything.
    """

    def k_of(b: Bound) -> int:  # a tuple of class axes flattens into one
        shape = np.shape(b[source])
        return math.prod(int(shape[a]) for a in _axes(b, axis, len(shape)))

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, labels):
            return []
        y = jnp.asarray(b[labels])
        k = k_of(b)
        ok = (y >= 0) & (y < k)
        skip = ignore(b) if ignore is not None else None
        if skip is not None:
            ok = ok | jnp.broadcast_to(jnp.asarray(skip, bool), ok.shape)
        return [
            (
                ok,
                f"`{labels}` must hold class indices in [0, {k}) (the size of `{source}`'s "
                f"class axis); found values from {{lo}} to {{hi}}.",
                {"lo": jnp.min(y), "hi": jnp.max(y)},
            )
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, labels):
            return None
        return {**b, labels: _set_first(b[labels], k_of(b))}

    return Check(labels, "class indices in [0, K)", predicates, corrupt)


def _floats(b: Bound, name: str) -> jax.Array:
    x = jnp.asarray(b[name])
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def unit_interval(name: str, *, when: Callable[[Bound], bool] | None = None) -> Check:
    """Values in ``[0, 1]`` (probabilities, binary or soft labels)."""

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name) or (when is not None and not when(b)):
            return []
        x, used = _floats(b, name), _used(b, name)
        shown = x if used is None else jnp.where(used, x, 0.5)
        return [
            (
                _unless_unused((x >= 0) & (x <= 1), used),
                f"`{name}` must lie in [0, 1]; found values from {{lo}} to {{hi}}.",
                {"lo": jnp.min(shown), "hi": jnp.max(shown)},
            )
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name) or (when is not None and not when(b)):
            return None
        return {**b, name: _set_first(b[name], 1.5)}

    return Check(name, "values in [0, 1]", predicates, corrupt)


def simplex(name: str, *, axis: int | str = "axis") -> Check:
    """Probabilities: values in ``[0, 1]`` summing to 1 along the class axis."""
    base = unit_interval(name)

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        x, used = _floats(b, name), _used(b, name)
        tol = 1e-2 if jnp.finfo(jnp.asarray(b[name]).dtype).bits <= 16 else 1e-4
        axes = _axes(b, axis, x.ndim)
        if used is None:
            total = jnp.sum(x, axis=axes)
            ok = jnp.abs(total - 1.0) <= tol
            shown = total
        else:  # masked classes are left out; a row with no class left is not used
            total = jnp.sum(jnp.where(used, x, 0.0), axis=axes)
            any_used = jnp.any(used, axis=axes)
            ok = (jnp.abs(total - 1.0) <= tol) | ~any_used
            shown = jnp.where(any_used, total, 1.0)
        return [
            *base.predicates(b),
            (
                ok,
                f"`{name}` must sum to 1 along the class axis; found sums from {{lo}} to {{hi}}.",
                {"lo": jnp.min(shown), "hi": jnp.max(shown)},
            ),
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name):
            return None
        return {**b, name: np.asarray(b[name]) * 0.5}

    return Check(name, "a probability distribution along the class axis", predicates, corrupt)


def nonnegative(name: str) -> Check:
    """Values ``>= 0`` (variances, counts, relevance labels)."""

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        x, used = jnp.asarray(b[name]), _used(b, name)
        shown = x if used is None else jnp.where(used, x, jnp.zeros((), x.dtype))
        return [
            (
                _unless_unused(x >= 0, used),
                f"`{name}` must be >= 0; found a minimum of {{lo}}.",
                {"lo": jnp.min(shown)},
            )
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name):
            return None
        return {**b, name: _set_first(b[name], -1)}

    return Check(name, "values >= 0", predicates, corrupt)


def in_set(name: str, values: tuple[float, ...]) -> Check:
    """Values drawn from a small set, e.g. ``{-1, 1}`` targets or ``{0, 1}`` paddings."""
    plain = "{" + ", ".join(f"{v:g}" for v in values) + "}"
    shown = plain.replace("{", "{{").replace("}", "}}")  # escaped for checkify's format

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        x = jnp.asarray(b[name])
        ok = jnp.zeros(x.shape, bool)
        for v in values:
            ok = ok | (x == v)
        return [(_unless_unused(ok, _used(b, name)), f"`{name}` must take values in {shown}.", {})]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name):
            return None
        return {**b, name: _set_first(b[name], max(values) + 2)}

    return Check(name, f"values in {plain}", predicates, corrupt)


def prefix_mask(name: str, shape_of: str) -> Check:
    """A boolean ``[..., T]`` mask that is True on a prefix and False after it."""

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        m = jnp.asarray(b[name]).astype(bool)
        ok = ~(~m[..., :-1] & m[..., 1:])  # no False followed by a True
        return [
            (
                ok,
                f"`{name}` must be True on a prefix of each sequence and False after it "
                "(right padding); it has a False before a True.",
                {},
            )
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        shape = np.shape(b[shape_of])[:-1]
        if shape[-1] < 3:
            return None
        m = np.ones(shape, bool)
        m[..., 1] = False
        return {**b, name: m}

    return Check(name, "a prefix (right-padding) mask", predicates, corrupt)


def no_nan(b: Bound) -> list[Predicate]:
    """No NaN in any floating array argument (``±inf`` is allowed: masked logits)."""
    out: list[Predicate] = []
    for name, x in b.items():
        if isinstance(x, float) and math.isnan(x):  # a NaN hyperparameter
            out.append((jnp.asarray(False), f"`{name}` is NaN.", {}))
        elif is_array(x) and jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating):
            nan = _unless_unused(~jnp.isnan(jnp.asarray(x)), _used(b, name))  # masked: fine
            n = jnp.sum(~nan)
            out.append((n == 0, f"`{name}` contains {{n}} NaN value(s).", {"n": n}))
    return out


def normalisable(name: str, *, axis: int | str = "axis") -> Check:
    """Non-negative values with a positive sum along the class axis (the loss divides by it)."""

    def predicates(b: Bound) -> list[Predicate]:
        if not _present(b, name):
            return []
        x = _floats(b, name)
        total = jnp.sum(x, axis=_axes(b, axis, x.ndim))
        return [
            (x >= 0, f"`{name}` must be >= 0; found a minimum of {{lo}}.", {"lo": jnp.min(x)}),
            (
                total > 0,
                f"`{name}` must have a positive sum along the class axis (it is "
                "renormalised); found a minimum sum of {lo}.",
                {"lo": jnp.min(total)},
            ),
        ]

    def corrupt(b: Bound) -> dict[str, Any] | None:
        if not _present(b, name):
            return None
        return {**b, name: _set_first(b[name], -0.5)}

    return Check(
        name, "non-negative, with a positive sum along the class axis", predicates, corrupt
    )


# --- what a loss declares beside its definition ----------------------------------------

_REGISTERED: dict[Callable[..., Any], tuple[Check, ...]] = {}


def register_checks(loss_fn: Callable[..., Any], *checks: Check) -> None:
    """Declares the run-time value checks of ``loss_fn`` (read by :func:`jaxlosses.checked`).

    Each loss module calls this beside its losses, so the checks are facts about the
    loss, found without importing the catalogue.
    """
    _REGISTERED[loss_fn] = tuple(checks)


def registered_checks(loss_fn: Callable[..., Any]) -> tuple[Check, ...]:
    """The checks declared for ``loss_fn`` (empty for other functions)."""
    return _REGISTERED.get(loss_fn, ())


def unused_where(labels: str) -> Callable[[Bound], Any]:
    """Labels whose ``where`` entry is False (a per-example mask) are not used."""

    def ignore(b: Bound) -> Any:
        w = b.get("where")
        if w is None:
            return None
        shape, ws = np.shape(b[labels]), np.shape(w)
        keep = jnp.asarray(w).astype(bool)
        if ws == shape:
            return ~keep
        if len(ws) > len(shape) and ws[: len(shape)] == shape:  # a mask of the logits
            return ~jnp.any(keep, axis=tuple(range(len(shape), len(ws))))  # a fully masked row
        return None

    return ignore


def unused_mask(b: Bound) -> Any:
    """Tags at positions a CRF ``mask`` excludes are not used."""
    m = b.get("mask")
    return None if m is None else ~(m.astype(bool))


def padded_labels(b: Bound) -> Any:
    """CTC labels at padded positions are not used."""
    return b["label_paddings"] != 0


def class_labels(labels: str = "labels", source: str = "logits") -> Check:
    """Integer class labels in ``[0, K)`` along ``axis``, except examples ``where`` drops."""
    return labels_in_range(labels, source, ignore=unused_where(labels))


def crf_checks(*, tags: bool = True) -> tuple[Check, ...]:
    """A prefix ``mask`` and, with ``tags``, tags in ``[0, K)`` at unmasked positions."""
    mask = prefix_mask("mask", "emissions")
    if not tags:
        return (mask,)
    return (labels_in_range("tags", "emissions", axis=-1, ignore=unused_mask), mask)


def probabilities_unless(flag: str, *, classes: bool = True) -> Check:
    """Unless the loss's ``flag`` (apply_softmax...) is set, ``predictions`` are
    probabilities: in ``[0, 1]`` and, with ``classes``, summing to 1 over the last (class)
    axis when it has more than one class (what the loss itself checks outside ``jit``)."""
    interval = unit_interval("predictions", when=lambda b: b.get(flag) is False)
    distribution = simplex("predictions", axis=-1)

    def applies(b: Bound) -> bool:
        return b.get(flag) is False and _present(b, "predictions")

    def predicates(b: Bound) -> list[Predicate]:
        if not applies(b):
            return []
        several = classes and np.shape(b["predictions"])[-1:] > (1,)
        return (distribution if several else interval).predicates(b)

    def corrupt(b: Bound) -> dict[str, Any] | None:
        return interval.corrupt(b) if applies(b) else None

    return Check(
        "predictions", "probabilities (unless the activation is applied)", predicates, corrupt
    )
