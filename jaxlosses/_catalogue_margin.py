"""Catalogue entries for the margin losses (assembled into :data:`jaxlosses.catalogue.CATALOGUE`)."""

from __future__ import annotations

from ._entry import Entry

ENTRIES: list[Entry] = []
