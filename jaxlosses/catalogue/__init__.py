"""The catalogue: one proof record per public loss.

One module here per loss module of the package (``jaxlosses.catalogue.margin`` proves
``jaxlosses._margin``); each declares its ``FAMILY`` and its ``ENTRIES``. An
:class:`Entry` holds everything about proving one loss: an independent reference written
directly in NumPy/SciPy (never by calling the package), a sampler of valid float64
examples, float32 stress inputs, the generated bad inputs that are in fact valid, the
properties the math guarantees and the peers in other libraries. The loss
(``jaxlosses.NAME``), its closed form (``jaxlosses.closed_form.NAME``) and its run-time
checks (declared beside the loss) are found from the name. Tests, the
``python -m jaxlosses verify`` command, the benchmarks and the docs iterate over
:data:`CATALOGUE`. The loss package never imports this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import ModuleType

from . import (
    classification,
    contrastive,
    ctc,
    distillation,
    divergence,
    embedding,
    fenchel_young,
    focal,
    fused,
    fused_distillation,
    gan,
    likelihood,
    margin,
    preference,
    proxy,
    ranking,
    regression,
    segmentation,
    self_supervised,
    structured,
)
from ._entry import NEG_INF, NONNEG, SHIFT, Case, Entry, Peer

__all__ = [
    "CATALOGUE",
    "FAMILIES",
    "MODULES",
    "NEG_INF",
    "NONNEG",
    "SHIFT",
    "Case",
    "Entry",
    "Peer",
]

#: The catalogue modules in presentation order (one per loss module).
MODULES: tuple[ModuleType, ...] = (
    classification,
    fused,
    likelihood,
    regression,
    divergence,
    distillation,
    fused_distillation,
    margin,
    fenchel_young,
    structured,
    ctc,
    focal,
    embedding,
    proxy,
    contrastive,
    self_supervised,
    ranking,
    segmentation,
    gan,
    preference,
)

#: name -> :class:`Entry`, in presentation order.
CATALOGUE: Mapping[str, Entry] = {
    e.name: dataclasses.replace(e, family=m.FAMILY) for m in MODULES for e in m.ENTRIES
}

#: The family names, in presentation order: the one vocabulary of the README, the CLI and
#: the docs (a family's docs page is ``docs/families/<slug>.md``).
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(m.FAMILY for m in MODULES))

assert len(CATALOGUE) == sum(len(m.ENTRIES) for m in MODULES), "duplicate catalogue names"
