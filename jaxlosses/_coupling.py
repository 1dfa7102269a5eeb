"""Which losses couple the examples of a batch (declared beside each such loss).

Most losses are per-example: example ``i``'s loss depends on example ``i`` only, so a
batch split across devices gives the same losses and, with
:func:`jaxlosses.parallel.sharded_mean`, the same mean. A loss that *couples* examples
(in-batch negatives, batch-level class weights, a mean over the batch) would silently
change meaning when each device sees only its shard; its module declares that here, and
``sharded_mean`` refuses it with an error that says what to do instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["Coupling", "batch_coupling", "register_batch_coupled"]


@dataclasses.dataclass(frozen=True)
class Coupling:
    """How a loss couples the examples of a batch.

    Attributes:
      what: the coupling, in words ("in-batch negatives", "batch-level class weights").
      instead: what to do across devices instead, when there is a per-example form.
      gathers: the loss's keyword (``"axis_name"``) that makes it gather the other
        devices' examples inside ``shard_map``, so that it is exact across devices; then
        :func:`jaxlosses.parallel.sharded_mean` passes its batch axis there instead of
        refusing the loss.
    """

    what: str
    instead: str = ""
    gathers: str = ""


_COUPLED: dict[Callable[..., Any], Coupling] = {}


def register_batch_coupled(
    loss_fn: Callable[..., Any], what: str, *, instead: str = "", gathers: str = ""
) -> None:
    """Declares that ``loss_fn`` couples the examples of a batch (``what``: how)."""
    _COUPLED[loss_fn] = Coupling(what, instead, gathers)


def batch_coupling(loss_fn: Callable[..., Any]) -> Coupling | None:
    """The declared coupling of ``loss_fn``, or ``None`` for per-example losses.

    A ``functools.partial`` of a coupled loss (hyperparameters bound) couples as the
    loss does.
    """
    return _COUPLED.get(unwrap_partial(loss_fn))


def unwrap_partial(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function under any ``functools.partial`` layers (hyperparameters bound)."""
    import functools

    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def varying_like(x: Any, ref: Any) -> Any:
    """``x`` typed as varying over the same manual mesh axes as ``ref`` (values unchanged).

    Inside :func:`jax.shard_map`, a ``lax.scan`` carry that starts as a constant (zeros,
    ``log 0``) but is updated from per-device inputs changes type between iterations,
    which ``scan`` refuses; adding a zero taken from ``ref`` gives the initial carry the
    inputs' type. Outside ``shard_map`` (nothing varies) it returns ``x`` itself, so the
    loss's hot path gains no work.
    """
    import jax
    import jax.numpy as jnp

    def varying(v: Any) -> frozenset[str] | None:
        kind = getattr(jax.typeof(v), "manual_axis_type", None)
        return None if kind is None else frozenset(kind.varying)

    need, have = varying(ref), varying(x)
    if need is not None and have is not None and need <= have:
        return x
    return x + jnp.zeros_like(ref, shape=(), dtype=jnp.result_type(x))
