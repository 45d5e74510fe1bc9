"""Imports of one source run one at a time; different sources run in parallel (docs/import-semantics.md)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.store.imports import lock_source
from tests.support.batches import batch


def test_same_source_waits_other_source_does_not(engine: sa.Engine, account: str) -> None:
    done: dict[str, float] = {}

    def run(source: str, prefix: str) -> None:
        products = [{"external_id": f"{prefix}{i}", "name": f"{prefix}{i}"} for i in range(5)]
        import_batch(engine, batch(products), ImportOptions(source=source, account_id=account))
        done[source] = time.monotonic()

    with engine.connect() as holder:
        trans = holder.begin()
        lock_source(holder, account, "a")  # as if an import of source "a" were in progress
        same = threading.Thread(target=run, args=("a", "A"))
        other = threading.Thread(target=run, args=("b", "B"))
        same.start()
        other.start()
        other.join(timeout=30)
        assert "b" in done, "an import of another source was blocked"
        time.sleep(0.5)
        assert "a" not in done, "an import of the same source did not wait"
        released = time.monotonic()
        trans.rollback()
    same.join(timeout=30)
    assert done["a"] >= released
