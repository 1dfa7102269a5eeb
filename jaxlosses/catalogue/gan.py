"""Proof records of the GAN losses (:mod:`jaxlosses._gan`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, Case, Entry
from ._shared import B, K, huge_logits, normal

FAMILY = "GAN"


def _ref_gan_discriminator(r, f):
    return -special.log_expit(r) - np.log1p(-special.expit(f))


def _ref_gan_generator(f, *, non_saturating=True):
    return -special.log_expit(f) if non_saturating else np.log1p(-special.expit(f))


def _sample_gan(rng: np.random.Generator) -> list[Case]:
    return [Case("logits", (normal(rng, B, K, scale=3.0), normal(rng, B, K, scale=3.0)))]


def _sample_gan_generator(rng: np.random.Generator) -> list[Case]:
    f = normal(rng, B, K, scale=3.0)
    return [Case("non-saturating", (f,)), Case("minimax", (f,), {"non_saturating": False})]


def _stress_gan() -> list[Case]:
    return [Case("huge logits", (huge_logits(), -huge_logits()))]


def _stress_gan_generator() -> list[Case]:
    return [
        Case("huge logits", (huge_logits(),)),
        Case("huge logits, minimax", (huge_logits(),), {"non_saturating": False}),
    ]


ENTRIES: list[Entry] = [
    Entry(name="gan_discriminator_loss", reference=_ref_gan_discriminator, sample=_sample_gan,
          stress=_stress_gan, argnums=(0, 1), properties=frozenset({NONNEG}), free_args=(0, 1)),
    Entry(name="gan_generator_loss", reference=_ref_gan_generator, sample=_sample_gan_generator,
          stress=_stress_gan_generator,
          accepts=frozenset({"fake_logits:expand", "fake_logits:trunc"})),
]  # fmt: skip
