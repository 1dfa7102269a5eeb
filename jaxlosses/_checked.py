"""Checked mode: :func:`checked` wraps a loss with its run-time value checks."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from ._checks import Check, Predicate, no_nan, registered_checks
from ._core import is_array

__all__ = ["check_errors", "checked", "registered_checks", "value_problems"]


def value_problems(
    loss_fn: Callable[..., Any], bound: dict[str, Any], checks: Sequence[Check]
) -> list[Predicate]:
    """Every predicate of ``checks`` plus the NaN check, on named arguments ``bound``."""
    del loss_fn
    preds: list[Predicate] = no_nan(bound)  # first: a NaN fails the other checks too
    for c in checks:
        preds.extend(c.predicates(bound))
    return preds


class CheckedModeError(checkify.JaxRuntimeError):
    """A failed check raised from inside a compiled computation (by a host callback)."""


def _throw_now(err: checkify.Error) -> None:
    try:
        err.throw()
    except checkify.JaxRuntimeError as e:
        raise CheckedModeError(str(e)) from None  # no chained checkify frames


def _not_a_failed_check(record: logging.LogRecord) -> bool:
    """JAX logs a failing debug callback with its traceback before re-raising it; a failed
    check is an expected error, and the exception that reaches the user carries its
    message (on its last line), so that log record is dropped."""
    return not (record.exc_info and isinstance(record.exc_info[1], CheckedModeError))


logging.getLogger("jax._src.debugging").addFilter(_not_a_failed_check)


def checked(
    loss_fn: Callable[..., Any], *, checks: Sequence[Check] | None = None
) -> Callable[..., Any]:
    """Wraps a loss so that invalid *values* raise instead of giving a wrong number.

    Shape and dtype mistakes always raise at trace time. Value mistakes (a label
    outside ``[0, K)``, probabilities outside ``[0, 1]`` or not summing to 1, a
    negative variance, a NaN input, a CRF mask with holes) cannot be seen while
    tracing; the wrapped loss tests them with :func:`jax.experimental.checkify.check`
    before computing the loss. What each loss checks is declared beside the loss
    (``register_checks`` in its module); every floating input is
    also checked for NaN (``±inf`` is allowed: it masks logits).

    Arguments are checked however they are passed (arrays, lists, tuples, Python
    numbers); positions that ``where`` (or a CRF ``mask``) excludes are not checked,
    since they never reach the loss (a padded label of -100, a NaN in a masked token).

    Outside ``jit`` a failed check raises
    :class:`jax.experimental.checkify.JaxRuntimeError` (a ``ValueError``) at once, with
    a one-line message: the loss, the argument, what it must be and the values found.
    Under ``jax.jit``, ``jax.grad`` or ``jax.vmap`` the checks are compiled into the
    computation and a failure raises :class:`jax.errors.JaxRuntimeError` when the
    computation runs; XLA prefixes the host traceback, and the same one-line message is
    its last line (nothing is logged before it). The checks cost a few reductions over
    the inputs and never change the loss or its gradient.

    Args:
      loss_fn: a loss from this package, or any function of arrays.
      checks: the checks to run (see :mod:`jaxlosses._checks`); by default those
        declared for ``loss_fn`` beside it (none for other functions).

    Returns:
      A function with ``loss_fn``'s signature and result.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> ce = jl.checked(jl.softmax_cross_entropy_with_integer_labels)
      >>> logits = jnp.zeros((2, 3))
      >>> ce(logits, jnp.array([0, 2])).round(4).tolist()
      [1.0986, 1.0986]
      >>> ce(logits, jnp.array([0, 3]))
      Traceback (most recent call last):
        ...
      jax._src.checkify.JaxRuntimeError: softmax_cross_entropy_with_integer_labels: `labels` must hold class indices in [0, 3) ...
      >>> jax.jit(ce)(logits, jnp.array([1, 1])).shape
      (2,)
    """
    chosen = tuple(registered_checks(loss_fn) if checks is None else checks)

    @functools.wraps(loss_fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        err = check_errors(loss_fn, args, kwargs, chosen)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(err)):
            jax.debug.callback(_throw_now, err)  # raises when the computation runs
        else:
            err.throw()
        return loss_fn(*args, **kwargs)

    return wrapped


def check_errors(
    loss_fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    checks: Sequence[Check],
) -> checkify.Error:
    """The :class:`checkify.Error` of ``checks`` (and the NaN check) on one call's inputs."""
    bound = inspect.signature(loss_fn).bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    checked_args = {c.arg for c in checks}
    for k, v in values.items():  # data passed as a list, tuple or Python number
        if isinstance(v, list) or (
            k in checked_args and isinstance(v, tuple | int | float | np.number)
        ):
            values[k] = np.asarray(v)
    dynamic = {k: v for k, v in values.items() if is_array(v)}
    name = getattr(loss_fn, "__name__", "loss")

    def body(dyn: dict[str, Any]) -> None:
        for ok, msg, fmt in value_problems(loss_fn, {**values, **dyn}, checks):
            # (mypy cannot tell that `fmt` never holds checkify's own `debug` keyword.)
            checkify.check(jnp.all(ok), f"{name}: {msg}", **fmt)  # type: ignore[arg-type]

    err, _ = checkify.checkify(body)(dynamic)
    return err
