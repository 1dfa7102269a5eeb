"""The proof record of one loss (:class:`Entry`), its examples (:class:`Case`) and its
conformance peers (:class:`Peer`)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: Properties the math guarantees for any valid input (``Entry.properties``).
NONNEG = "nonnegative"  # the loss is >= 0
SHIFT = "shift_invariant"  # unchanged when a constant is added to the first argument
NEG_INF = "neg_inf_where"  # entries of the first argument masked by ``where`` may be -inf


@dataclasses.dataclass(frozen=True)
class Case:
    """One example: positional args, keyword args and how to vmap them."""

    label: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    in_axes: int | tuple[int | None, ...] | None = 0
    kw_axes: Mapping[str, int | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Peer:
    """The same loss in another library, for conformance tests and the docs.

    Attributes:
      path: the importable dotted path of the peer's function
        (``"optax.losses.softmax_cross_entropy"``, ``"torch.nn.functional.nll_loss"``).
      note: how its conventions differ, in a few words (shown in the docs).
      kwargs: keywords the peer needs to compute the same thing as this loss's defaults
        (``{"reduction": "none"}``); an example's own keywords, renamed, take precedence.
      rename: this loss's keyword -> the peer's keyword, where the names differ.
      sum_axis: the peer returns element-wise terms that this loss sums over this axis.
      tested_by: where the arguments do not map through ``kwargs``/``rename``/``sum_axis``
        (transposed, time-major, a module to build), the hand-written test that compares
        the peer (``"tests/test_torch_conformance.py::test_ctc_loss"``); the
        record-driven conformance test (``tests/test_conformance.py``) then skips it.
      skip_cases: sampled examples (by ``Case.label``) the peer cannot take or computes
        differently by a documented convention -> why; they are not compared with it.

    The record-driven test passes an example's positional arguments unchanged and its
    keywords renamed; an example whose keywords the peer's signature does not take is
    not compared with that peer.
    """

    path: str
    note: str = ""
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    rename: Mapping[str, str] = dataclasses.field(default_factory=dict)
    sum_axis: int | None = None
    tested_by: str = ""
    skip_cases: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def library(self) -> str:
        """The top-level package: ``optax``, ``torch``, ``torchvision``, ``torchcrf``."""
        return self.path.split(".")[0]

    def load(self) -> Callable[..., Any]:
        """Imports and returns the peer's function (raises ImportError if absent)."""
        module, _, attr = self.path.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError:
            owner, _, cls = module.rpartition(".")  # e.g. torchcrf.CRF.forward
            return getattr(getattr(importlib.import_module(owner), cls), attr)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Entry:
    """Everything about proving one loss right; the loss itself is found by its name.

    Attributes:
      name: the public name: the loss is ``jaxlosses.<name>``, its closed form
        ``jaxlosses.closed_form.<name>``, its run-time checks are declared beside it.
      reference: an independent NumPy/SciPy implementation with the loss's signature.
      sample: ``rng -> [Case]`` valid float64 examples, batched along axis 0.
      stress: ``() -> [Case]`` extreme or masked inputs in float32 (finite value/grad).
      argnums: the differentiated (learned) inputs.
      smooth: twice differentiable at sampled points (else piecewise: order-1 checks).
      class_args: positional args whose last axis is the ``axis`` the loss reduces
        over (empty when the loss is element-wise or has no ``axis``).
      where_slices: a class mask equals slicing the classes away.
      peers: the same loss in optax, PyTorch, ... (:class:`Peer`); the conformance tests
        compare values and gradients with each.
      accepts: generated bad-input variants that are in fact valid for this loss,
        as ``"<arg>:<variant>"`` (variants: ``int``/``float`` swap the dtype kind,
        ``expand`` appends an axis of size 1, ``trunc`` drops the last entry of the
        last axis). Every other variant must raise at trace time (``tests/test_validation.py``).
      properties: what the math guarantees for any valid input, checked by the
        property tests: :data:`NONNEG`, :data:`SHIFT`, :data:`NEG_INF`.
      free_args: positional args that may hold any real value; the property tests
        scale them up to 1e4.
      family: filled in from the catalogue module (``FAMILY``) the entry is declared in.
    """

    name: str
    reference: Callable[..., Any]
    sample: Callable[[np.random.Generator], list[Case]]
    stress: Callable[[], list[Case]] | None = None
    argnums: tuple[int, ...] = (0,)
    smooth: bool = True
    class_args: tuple[int, ...] = ()
    where_slices: bool = False
    peers: tuple[Peer, ...] = ()
    accepts: frozenset[str] = frozenset()
    properties: frozenset[str] = frozenset()
    free_args: tuple[int, ...] = (0,)
    family: str = ""

    @property
    def fn(self) -> Callable[..., Any]:
        """The loss, ``jaxlosses.<name>``."""
        import jaxlosses

        return getattr(jaxlosses, self.name)

    @property
    def grad(self) -> Callable[..., Any]:
        """Its closed-form gradient, ``jaxlosses.closed_form.<name>``."""
        from jaxlosses import closed_form

        return getattr(closed_form, self.name)

    @property
    def checks(self) -> tuple[Any, ...]:
        """The run-time value checks declared beside the loss (:func:`jaxlosses.checked`)."""
        from jaxlosses._checks import registered_checks

        return registered_checks(self.fn)

    @property
    def inputs(self) -> str:
        """The array arguments, comma-separated; with several learned inputs, those starred."""
        params = [
            p.name
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and (p.default is p.empty or p.default is None)
            and p.name not in ("axis", "where")
        ]
        if len(self.argnums) > 1:
            params = [f"{n}*" if i in self.argnums else n for i, n in enumerate(params)]
        return ", ".join(params)

    @property
    def coupling(self) -> Any:
        """How the loss couples the examples of a batch (declared beside it), or None."""
        from jaxlosses._coupling import batch_coupling

        return batch_coupling(self.fn)

    def peer(self, library: str) -> Peer | None:
        """The peer from ``library`` (``"optax"``, ``"torch"``, ...), if any."""
        return next((p for p in self.peers if p.library == library), None)

    @property
    def optax(self) -> str | None:
        """The name of optax's function of the same semantics, if any."""
        p = self.peer("optax")
        return p.path.rpartition(".")[2] if p else None
