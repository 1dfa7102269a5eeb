"""Shared internals: input conversion, the dtype policy, axis and mask handling.

The dtype policy (one rule for every function in the package):

* floating inputs are computed in at least float32 (bf16/f16 are upcast);
* the result has the floating dtype of the *first* argument (the prediction),
  so ``bf16`` logits give a ``bf16`` loss whatever the dtype of the labels;
* integer predictions are rejected with a ``TypeError``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

Axis = int | tuple[int, ...]
#: A mesh axis name, or several, as ``jax.lax`` collectives take them.
AxisName = str | tuple[str, ...]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def is_array(x: Any) -> bool:
    """Arrays (jax or NumPy) are data; Python scalars and other objects are hyperparameters."""
    return isinstance(x, jax.Array | np.ndarray)


def _of_kind(x: ArrayLike, kind: type, fn: str, message: str) -> jax.Array:
    """Converts ``x`` to an array; a TypeError ``fn: message`` unless its dtype is a ``kind``."""
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, kind):
        raise TypeError(f"{fn}: " + message.format(dtype=arr.dtype, shape=arr.shape))
    return arr


def real(x: ArrayLike, name: str, fn: str) -> jax.Array:
    """Converts a secondary input (targets, weights, a mask) to an array; complex is refused.

    Casting complex to real would drop the imaginary part without a word, so a complex
    input is a TypeError naming the argument, in every argument of every loss.
    """
    arr = jnp.asarray(x)
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(
            f"{fn}: `{name}` is complex ({arr.dtype} with shape {arr.shape}), but losses take "
            f"real inputs: pass `jnp.real({name})` or `jnp.abs({name})`, whichever you mean."
        )
    return arr


def finite_number(value: Any, name: str, fn: str) -> None:
    """A hyperparameter given as a Python (or NumPy) number must be a finite real.

    Checked at trace time; an array hyperparameter (possibly traced) passes unchecked.
    """
    if isinstance(value, numbers.Number) and not (
        isinstance(value, numbers.Real) and math.isfinite(float(value))
    ):
        raise ValueError(f"{fn}: `{name}` must be a finite real number, got {value!r}.")


def floating(x: ArrayLike, name: str, fn: str) -> jax.Array:
    """Converts ``x`` to an array and checks that it has a floating dtype."""
    return _of_kind(
        x,
        jnp.floating,
        fn,
        f"`{name}` must have a floating dtype, got {{dtype}} with shape {{shape}}. "
        f"Cast it first, e.g. `{name}.astype(jnp.float32)`.",
    )


def integer(x: ArrayLike, name: str, fn: str) -> jax.Array:
    """Converts ``x`` to an integer array at least as wide as int32.

    Labels compared with a class count (``labels < K``, ``arange(K) == labels``) must not be
    compared in their own dtype: uint8 labels against K = 300 would wrap. uint32 becomes
    int64 with x64 enabled, else int32, where a label of 2**31 or more turns negative and
    so stays out of range.
    """
    arr = _of_kind(
        x,
        jnp.integer,
        fn,
        f"`{name}` must hold integer class indices, got dtype {{dtype}} with shape {{shape}}. "
        "For one-hot or soft labels use the soft-label variant; "
        f"to convert, `{name}.astype(jnp.int32)`.",
    )
    wide = jax.dtypes.canonicalize_dtype(jnp.promote_types(arr.dtype, jnp.int32))
    return arr if arr.dtype == wide else arr.astype(wide)


def hyperparameter(
    value: Any,
    name: str,
    fn: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    why: str = "",
) -> Any:
    """Checks a hyperparameter's domain at trace time and returns it unchanged.

    A concrete value (a Python or NumPy number or a concrete array, also under ``jit``
    when the value is closed over) outside ``[low, high]`` (``open_*``: the end excluded)
    or NaN raises a ``ValueError`` naming the loss, the argument, the value and the
    domain. A traced value (a learned temperature, an argument of a jitted function) is
    not known until run time and passes through.
    """
    if value is None or isinstance(value, jax.core.Tracer):
        return value
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return value  # not a number: the loss's own conversion reports it
    bad = np.isnan(v)
    if low is not None:
        bad |= (v <= low) if open_low else (v < low)
    if high is not None:
        bad |= (v >= high) if open_high else (v > high)
    if bad.any():
        lo = "(-inf" if low is None else ("(" if open_low else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if open_high else "]")
        shown = v.item() if v.ndim == 0 else v[bad].ravel()[:3].tolist()
        raise ValueError(
            f"{fn}: `{name}`={shown!r} is outside its domain {lo}, {hi}"
            + (f"; {why}" if why else ".")
        )
    return value


def positive_temperature(temperature: Any, fn: str) -> Any:
    """A softmax temperature, checked ``> 0`` by :func:`hyperparameter`."""
    return hyperparameter(
        temperature, "temperature", fn, low=0.0, open_low=True,
        why="the logits are divided by it (1 is no scaling, below 1 sharpens)",
    )  # fmt: skip


def compute_dtype(dtype: DTypeLike) -> np.dtype:
    """The dtype to compute in: at least float32."""
    return np.dtype(jnp.promote_types(dtype, jnp.float32))


def upcast(x: jax.Array) -> jax.Array:
    """Upcasts a floating array to at least float32."""
    return x.astype(compute_dtype(x.dtype))


def as_compute(x: ArrayLike, like: jax.Array) -> jax.Array:
    """Converts a secondary input to the compute dtype of ``like``."""
    return jnp.asarray(x).astype(like.dtype)


@contextlib.contextmanager
def errors_named(inner: str, outer: str) -> Iterator[None]:
    """Re-raises input errors of ``inner`` (a function ``outer`` delegates to) as ``outer``'s."""
    try:
        yield
    except (TypeError, ValueError) as e:
        msg = str(e)
        if not msg.startswith(f"{inner}:"):
            raise
        raise type(e)(f"{outer}:{msg[len(inner) + 1 :]}") from None


def canonical_axis(axis: int, ndim: int, name: str, fn: str) -> int:
    """Normalises ``axis`` into ``[0, ndim)`` or raises a ValueError naming it."""
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(
            f"{fn}: `axis` must be an int, got {axis!r} of type {type(axis).__name__}."
        ) from None
    if -ndim <= ax < ndim:
        return ax % ndim
    raise ValueError(
        f"{fn}: `axis`={axis} is out of range for `{name}` with {ndim} dimension(s); "
        f"pass an axis in [{-ndim}, {ndim - 1}]."
    )


def ordered_axes(axis: Axis, ndim: int, name: str, fn: str) -> tuple[int, ...]:
    """Normalises an int or a tuple of ints into non-negative axes, in the order given.

    The order is the flattening order of several class axes (as optax): with
    ``axis=(3, 2)`` the flat class index is ``i3 * shape[2] + i2``.
    """
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = tuple(canonical_axis(a, ndim, name, fn) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: `axis`={axis} repeats an axis.")
    return out


def canonical_axes(axis: Axis, ndim: int, name: str, fn: str) -> tuple[int, ...]:
    """Normalises an int or a tuple of ints into sorted non-negative axes."""
    return tuple(sorted(ordered_axes(axis, ndim, name, fn)))


def check_same_shape(a: jax.Array, b: jax.Array, names: tuple[str, str], fn: str) -> None:
    """Raises a ValueError unless two inputs have the same shape (or ``b`` is a scalar)."""
    if a.shape != b.shape and b.ndim != 0:
        raise ValueError(
            f"{fn}: `{names[0]}` has shape {a.shape} but `{names[1]}` has shape {b.shape}; "
            "they must be equal (no implicit broadcasting, which would silently compute "
            "an outer difference). Reshape one of them, e.g. with `jnp.squeeze` or "
            "`[..., None]`."
        )


def check_equal_shapes(arrays: dict[str, jax.Array], fn: str) -> None:
    """Raises a ValueError unless every named input has the same shape (no broadcasting)."""
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"`{k}` {s}" for k, s in shapes.items())
        raise ValueError(
            f"{fn}: {listed} must have the same shape [..., dim] (one row per example); "
            "broadcasting is not applied here, reshape or tile explicitly."
        )


def broadcast_or_raise(x: jax.Array, shape: tuple[int, ...], message: str) -> jax.Array:
    """``jnp.broadcast_to(x, shape)``, raising a ValueError with ``message`` instead of jnp's."""
    try:
        return jnp.broadcast_to(x, shape)
    except ValueError:
        raise ValueError(message) from None


def mask_for(
    where: ArrayLike | None, shape: tuple[int, ...], axes: tuple[int, ...], fn: str
) -> jax.Array | None:
    """Broadcasts ``where`` to ``shape``.

    ``where`` may have the full shape, or the shape with the reduced ``axes``
    removed (a per-example mask), as in optax.
    """
    if where is None:
        return None
    w = real(where, "where", fn)
    if w.dtype != jnp.bool_:
        w = w != 0
    if w.ndim == len(shape) - len(axes) and w.ndim != len(shape):
        w = jnp.expand_dims(w, axes)
    try:
        return jnp.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"{fn}: `where` with shape {jnp.shape(where)} does not broadcast to the "
            f"input shape {shape}. Pass a boolean mask of shape {shape} or of the batch "
            f"shape {tuple(d for i, d in enumerate(shape) if i not in axes)}."
        ) from None


def gather_last(x: jax.Array, idx: jax.Array) -> jax.Array:
    """``x[..., idx]`` per example: the entry of the last axis at integer ``idx`` (``x.shape[:-1]``)."""
    return jnp.take_along_axis(x, idx[..., None], axis=-1)[..., 0]


def safe_log(x: jax.Array) -> jax.Array:
    """``log(x)`` for ``x > 0`` and 0 elsewhere, with a finite gradient (double where)."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), 0.0)


def xlogx(x: jax.Array) -> jax.Array:
    """``x * log(x)`` with the convention ``0 log 0 = 0`` and finite gradients."""
    return x * safe_log(x)


def safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` where ``den != 0`` and 0 elsewhere, with finite gradients."""
    nz = den != 0
    return jnp.where(nz, num / jnp.where(nz, den, 1.0), 0.0)


def unbroadcast(g: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Sums a broadcast gradient back down to ``shape``."""
    shape = tuple(shape)
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    keep = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if keep:
        g = g.sum(axis=keep, keepdims=True)
    return g


def targets_or_zeros(
    predictions: jax.Array, targets: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array]:
    """The residual ``predictions - targets`` (targets default to zero), upcast."""
    p = upcast(predictions)
    if targets is None:
        return p, jnp.zeros_like(p)
    t = real(targets, "targets", fn)
    check_same_shape(predictions, t, ("predictions", "targets"), fn)
    return p, jnp.broadcast_to(t.astype(p.dtype), p.shape)


def fill_docstrings(*fns: Callable[..., object], **parts: str) -> None:
    """Fills each ``{part}`` line of the functions' docstrings (``{name}`` in a part: the function's).

    For docstring paragraphs shared by several losses of a module; the docs read the runtime
    docstrings (``docs/griffe_runtime_docstrings.py``).
    """
    for f in fns:
        doc = f.__doc__ or ""
        for key, text in parts.items():
            doc = doc.replace("{" + key + "}", text.replace("{name}", f.__name__))
        f.__doc__ = doc


# --- (prediction, label) parsers shared by loss families ----------------------------------


def numeric(x: ArrayLike, name: str, fn: str) -> jax.Array:
    """:func:`real`, and a TypeError naming the argument unless it is numeric or boolean."""
    arr = real(x, name, fn)
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        raise TypeError(f"{fn}: `{name}` must be numeric, got dtype {arr.dtype}.")
    return arr


def binary_inputs(
    first: ArrayLike, second: ArrayLike, names: tuple[str, str], fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Validates an element-wise (prediction, target) pair; returns (orig, x, y) upcast."""
    arr = floating(first, names[0], fn)
    tgt = numeric(second, names[1], fn)
    check_same_shape(arr, tgt, names, fn)
    x = upcast(arr)
    return arr, x, jnp.broadcast_to(tgt.astype(x.dtype), x.shape)


class ClassScores(NamedTuple):
    """Validated ``(scores, integer labels)`` with the class axis moved last."""

    arr: jax.Array  # the scores as given (their dtype is the output dtype)
    x: jax.Array  # the scores upcast, classes last
    y: jax.Array  # the labels, clamped into range
    valid: jax.Array  # the class mask, classes last (all True without `where`)
    in_range: jax.Array  # the label is in [0, C)
    ax: int  # the class axis of `arr`

    def classes_back(self, g: jax.Array) -> jax.Array:
        """A classes-last array (a gradient) back on the scores' class axis, in their dtype."""
        return jnp.moveaxis(g, -1, self.ax).astype(self.arr.dtype)


def class_scores(
    scores: ArrayLike, labels: ArrayLike, axis: int, where: ArrayLike | None, fn: str
) -> ClassScores:
    """Validates (scores, integer labels) with the class axis moved last (see ClassScores)."""
    arr = floating(scores, "scores", fn)
    lab = integer(labels, "labels", fn)
    ax = canonical_axis(axis, arr.ndim, "scores", fn)
    batch_shape = arr.shape[:ax] + arr.shape[ax + 1 :]
    if lab.shape != batch_shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `scores` {arr.shape} with class axis "
            f"{axis} needs labels of shape {batch_shape} (one integer class per example). "
            "For one-hot labels pass `labels.argmax(-1)`; to drop a trailing singleton, "
            "`labels[..., 0]`."
        )
    mask = mask_for(where, arr.shape, (ax,), fn)
    x = jnp.moveaxis(upcast(arr), ax, -1)
    valid = jnp.ones(x.shape, bool) if mask is None else jnp.moveaxis(mask, ax, -1)
    k = x.shape[-1]
    in_range = (lab >= 0) & (lab < k)
    return ClassScores(arr, x, jnp.where(in_range, lab, 0), valid, in_range, ax)


def labelled_embeddings(
    embeddings: ArrayLike, labels: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array]:
    """Validates embeddings ``[batch, dim]`` with one integer label per row."""
    e0 = floating(embeddings, "embeddings", fn)
    lab = integer(labels, "labels", fn)
    if e0.ndim != 2 or lab.shape != e0.shape[:1]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {e0.shape} and `labels` {lab.shape}; expected "
            "embeddings [batch, dim] and one integer label per row, [batch]."
        )
    return e0, lab


def same_label_pairs(labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(same, positives)`` ``[B, B]``: equal labels, and equal labels off the diagonal."""
    same = labels[:, None] == labels[None, :]
    return same, same & ~jnp.eye(labels.shape[0], dtype=bool)


def one_label_per_embedding(labels: jax.Array, embeddings: jax.Array, fn: str) -> None:
    """Raises a ValueError unless ``labels`` has the embeddings' shape without ``dim``."""
    if labels.shape != embeddings.shape[:-1]:
        raise ValueError(
            f"{fn}: `labels` has shape {labels.shape}; expected one integer class index per "
            f"embedding, shape {embeddings.shape[:-1]}."
        )


def hidden_and_weight(hidden: ArrayLike, weight: ArrayLike, fn: str) -> tuple[jax.Array, jax.Array]:
    """Validates a fused output layer's ``hidden [..., D]`` and ``weight [D, V]``."""
    h = floating(hidden, "hidden", fn)
    w = floating(weight, "weight", fn)
    if h.ndim < 1 or w.ndim != 2 or w.shape[0] != h.shape[-1]:
        raise ValueError(
            f"{fn}: `hidden` has shape {h.shape} and `weight` has shape {w.shape}; expected "
            "hidden [..., D] and weight [D, V] (logits = hidden @ weight). If your weight is "
            "stored [V, D] (an embedding table), pass `weight.T`."
        )
    return h, w


def unit(v: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """``(v / ‖v‖, ‖v‖)`` along ``axis`` (keepdims); a zero vector maps to 0 with a 0 gradient.

    Only an exact zero is floored: a NaN norm is not "zero" (``sq > 0`` would read it so
    and turn a NaN embedding into a plausible zero vector), so NaN stays NaN.
    """
    sq = jnp.sum(v * v, axis=axis, keepdims=True)
    pos = sq != 0
    n = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)
    return jnp.where(pos, v / jnp.where(pos, n, 1.0), 0.0), n


def unit_backward(g: jax.Array, u: jax.Array, n: jax.Array, axis: int = -1) -> jax.Array:
    """Pulls ``g = ∂L/∂u`` back through ``u = v/‖v‖``: ``(g - u ⟨u, g⟩) / ‖v‖`` (0 at ``v = 0``)."""
    pos = n != 0  # NaN norms stay NaN (see unit)
    out = (g - u * jnp.sum(u * g, axis=axis, keepdims=True)) / jnp.where(pos, n, 1.0)
    return jnp.where(pos, out, 0.0)


# --- class-axis input handling (cross-entropy, focal and margin families) -----------------


def soft_inputs(
    logits: ArrayLike, labels: ArrayLike, axis: Axis, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array | None]:
    """Validates (logits, soft labels); returns (original, x, y, axes, mask)."""
    arr = floating(logits, "logits", fn)
    lab = floating(labels, "labels", fn)
    if lab.shape != arr.shape:
        check_same_shape(arr, lab, ("logits", "labels"), fn)
        lab = jnp.broadcast_to(lab, arr.shape)
    axes = canonical_axes(axis, arr.ndim, "logits", fn)
    x = upcast(arr)
    return arr, x, lab.astype(x.dtype), axes, mask_for(where, arr.shape, axes, fn)


def classes_last(
    x: jax.Array, axis: Axis, mask: jax.Array | None, name: str, fn: str
) -> tuple[jax.Array, jax.Array | None]:
    """Moves the class axis (or axes, flattened in the order given) to the end."""
    axes = ordered_axes(axis, x.ndim, name, fn)
    batch = tuple(i for i in range(x.ndim) if i not in axes)
    perm = batch + axes
    k = math.prod(x.shape[a] for a in axes)
    new_shape = (*tuple(x.shape[b] for b in batch), k)
    x = jnp.transpose(x, perm).reshape(new_shape)
    if mask is not None:
        mask = jnp.transpose(mask, perm).reshape(new_shape)
    return x, mask


def restore_classes(g: jax.Array, shape: tuple[int, ...], axis: Axis) -> jax.Array:
    """Inverse of :func:`classes_last` for a gradient of the original ``shape``."""
    axes = ordered_axes(axis, len(shape), "logits", "")
    batch = tuple(i for i in range(len(shape)) if i not in axes)
    perm = batch + axes
    g = g.reshape(tuple(shape[p] for p in perm))
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return jnp.transpose(g, inv)


def integer_inputs(
    logits: ArrayLike, labels: ArrayLike, axis: Axis, where: ArrayLike | None, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None, jax.Array]:
    """Validates (logits, integer labels); classes last; returns (orig, x, y, mask, in_range)."""
    arr = floating(logits, "logits", fn)
    lab = integer(labels, "labels", fn)
    axes = canonical_axes(axis, arr.ndim, "logits", fn)
    batch_shape = tuple(d for i, d in enumerate(arr.shape) if i not in axes)
    if lab.shape != batch_shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `logits` {arr.shape} with class "
            f"axis {axis} needs labels of shape {batch_shape}. For one-hot labels use "
            "softmax_cross_entropy; to drop a trailing singleton, `labels[..., 0]`."
        )
    mask = mask_for(where, arr.shape, axes, fn)
    x, mask = classes_last(upcast(arr), axis, mask, "logits", fn)
    k = x.shape[-1]
    in_range = (lab >= 0) & (lab < k)
    return arr, x, jnp.where(in_range, lab, 0), mask, in_range


# --- closed forms -------------------------------------------------------------------------


def closed_form_of(
    loss: Callable[_P, Any], inputs: Callable[..., tuple[Any, ...]]
) -> Callable[[Callable[..., _R]], Callable[_P, _R]]:
    """Decorator: the decorated ``derivative`` becomes the closed form of ``loss``.

    ``inputs`` is the parser the loss itself calls: it takes the loss's arguments by
    name, plus ``fn`` (the loss's name, for error messages), validates them and returns
    a tuple. The closed form has the loss's parameters (same positional and keyword-only
    parameters, same defaults), binds its arguments exactly as the loss does, parses
    them with ``inputs`` and returns ``derivative(*parsed)``. So the body of a closed
    form is the derivative only, and its parameters cannot drift from the loss's. It is
    named ``_<loss>_grad`` and keeps ``derivative``'s docstring and return annotation.
    """
    signature = inspect.signature(loss)
    name = loss.__name__

    def decorate(derivative: Callable[..., _R]) -> Callable[_P, _R]:
        def closed_form(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:  # as Python's own message, with the function named
                raise TypeError(f"closed_form.{name}(): {e}") from None
            bound.apply_defaults()
            return derivative(*inputs(**bound.arguments, fn=name))

        returns = inspect.signature(derivative).return_annotation
        closed_form.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        closed_form.__name__ = closed_form.__qualname__ = f"_{name}_grad"
        closed_form.__doc__ = derivative.__doc__
        closed_form.__module__ = derivative.__module__
        return closed_form

    return decorate
