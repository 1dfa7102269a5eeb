"""Catalogue entry types and shared example samplers (see :mod:`jaxlosses.catalogue`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import special

B, K = 3, 5  # batch size and number of classes of the sampled examples


@dataclasses.dataclass(frozen=True)
class Case:
    """One example: positional args, keyword args and how to vmap them."""

    label: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    in_axes: int | tuple[int | None, ...] | None = 0
    kw_axes: Mapping[str, int | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A loss with everything needed to prove it right.

    Attributes:
      name: the public name (``jaxlosses.<name>`` and ``jaxlosses.closed_form.<name>``).
      family: a heading for tables and docs.
      fn: the loss.
      grad: the closed-form gradient of the summed loss w.r.t. ``argnums``.
      reference: an independent NumPy/SciPy implementation with the loss's signature.
      sample: ``rng -> [Case]`` valid float64 examples, batched along axis 0.
      stress: ``() -> [Case]`` extreme or masked inputs in float32 (finite value/grad).
      argnums: the differentiated (learned) inputs.
      smooth: twice differentiable at sampled points (else piecewise: order-1 checks).
      class_args: positional args whose last axis is the ``axis`` the loss reduces
        over (empty when the loss is element-wise or has no ``axis``).
      where_slices: a class mask equals slicing the classes away.
      optax: the optax function of the same name and semantics, if any.
      torch: the PyTorch function whose math this follows, if any.
      accepts: generated bad-input variants that are in fact valid for this loss,
        as ``"<arg>:<variant>"`` (variants: ``int``/``float`` swap the dtype kind,
        ``expand`` appends an axis of size 1, ``trunc`` drops the last entry of the
        last axis). Every other variant must raise at trace time (``tests/test_validation.py``).
      checks: run-time value checks of :func:`jaxlosses.checked` (:mod:`jaxlosses._checks`).
      properties: what the math guarantees for any valid input, checked by the
        property tests: ``"nonnegative"``; ``"shift_invariant"`` (unchanged when a
        constant is added to the first argument); ``"neg_inf_where"`` (entries of the
        first argument masked by ``where`` may be ``-inf``).
      free_args: positional args that may hold any real value; the property tests
        scale them up to 1e4.
    """

    name: str
    family: str
    fn: Callable[..., Any]
    grad: Callable[..., Any]
    reference: Callable[..., Any]
    sample: Callable[[np.random.Generator], list[Case]]
    stress: Callable[[], list[Case]] | None = None
    argnums: tuple[int, ...] = (0,)
    smooth: bool = True
    class_args: tuple[int, ...] = ()
    where_slices: bool = False
    optax: str | None = None
    torch: str | None = None
    accepts: frozenset[str] = frozenset()
    checks: tuple[Any, ...] = ()
    properties: frozenset[str] = frozenset()
    free_args: tuple[int, ...] = (0,)


# --- shared samplers ---------------------------------------------------------------------


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


def simplex(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return special.softmax(rng.standard_normal(shape), axis=-1)


def ints(rng: np.random.Generator, n: int, k: int = K) -> np.ndarray:
    return rng.integers(0, k, size=n).astype(np.int32)


def huge_logits() -> np.ndarray:
    return np.array(
        [[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4, -1e4, -1e4, -1e4, 1e4], [5e3, 5e3, -5e3, 1.0, 1e4]],
        np.float32,
    )


def masked_logits() -> tuple[np.ndarray, np.ndarray]:
    """Logits with ``-inf`` on masked classes, including a fully masked row."""
    x = np.array(
        [[1.0, -np.inf, 2.0, -np.inf, 0.5], [-np.inf] * 5, [1e4, -1e4, -np.inf, 0.0, 2.0]],
        np.float32,
    )
    return x, np.isfinite(x)
