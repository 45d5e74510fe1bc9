"""Whether a large re-import's products are let go once they wait on disk
(plan_parts.spill_products): by the time the account's stored rows are read, no one may hold
them, or they would sit in memory beside those rows."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from catalog_pipelines import plan_parts, skip_unchanged
from catalog_pipelines.normalized import ParsedBatch


def alive_at_stored_read(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each batch whose products are spilled from now on: whether its products frame was
    still referenced when the stored rows were read next (the list fills as imports run)."""
    spilled: list[weakref.ref[Any]] = []
    alive: list[bool] = []
    # every read of stored rows (on the server a part at a time, or in the client) asks first
    # which keys they are of
    real_spill, real_keys = plan_parts.spill_products, skip_unchanged.stored_keys

    def spill(batch: ParsedBatch) -> Any:
        spilled.append(weakref.ref(batch.products))
        return real_spill(batch)

    def stored_keys(*args: Any) -> Any:
        gc.collect()
        alive.extend(ref() is not None for ref in spilled)
        spilled.clear()
        return real_keys(*args)

    monkeypatch.setattr(plan_parts, "spill_products", spill)
    monkeypatch.setattr(skip_unchanged, "stored_keys", stored_keys)
    return alive
