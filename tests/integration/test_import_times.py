"""An import stamps everything it writes with one time: its transaction's.

Creates leave their created and updated columns to the server's default, now(), when the
run's time is the transaction's (store/bulk.py); a run whose time is another is written with
that time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from catalog_pipelines import importer
from catalog_pipelines.importer import ImportOptions, import_batch
from tests.support.batches import batch

_TIMES = sa.text(
    "SELECT created, updated FROM products WHERE account_id = :a"
    " UNION ALL SELECT created, updated FROM prices WHERE account_id = :a"
    " UNION ALL SELECT created, updated FROM inventory_items WHERE account_id = :a"
    " UNION ALL SELECT created, created FROM inventory_adjustments WHERE account_id = :a"
    " UNION ALL SELECT created, created FROM events WHERE account_id = :a AND run_id = :run"
)
_RUN = sa.text("SELECT started, finished FROM import_runs WHERE id = :run")


def _products(names: list[str]) -> list[dict[str, object]]:
    return [{"external_id": f"P{i}", "name": n} for i, n in enumerate(names)]


def _stamps(engine: sa.Engine, account: str, run: str) -> set[datetime]:
    with engine.connect() as conn:
        return {t for row in conn.execute(_TIMES, {"a": account, "run": run}) for t in row}


def test_a_first_import_writes_one_time_within_its_run(engine: sa.Engine, account: str) -> None:
    report = import_batch(engine, batch(_products(["a", "b", "c"])), ImportOptions("s", account))
    assert report.events == 9
    stamps = _stamps(engine, account, report.run_id)
    assert len(stamps) == 1
    with engine.connect() as conn:
        started, finished = conn.execute(_RUN, {"run": report.run_id}).one()
    assert started <= stamps.pop() <= finished


def test_a_run_at_another_time_is_written_at_that_time(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's time is not the transaction's: creates send it instead of the default."""
    then = datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    monkeypatch.setattr(importer, "_run_time", lambda conn: then)
    report = import_batch(engine, batch(_products(["a", "b"])), ImportOptions("s", account))
    assert report.events == 6
    assert _stamps(engine, account, report.run_id) == {then}


def test_updates_and_creates_of_a_re_import_share_its_time(engine: sa.Engine, account: str) -> None:
    first = import_batch(engine, batch(_products(["a", "b"])), ImportOptions("s", account))
    second = import_batch(engine, batch(_products(["a", "B", "c"])), ImportOptions("s", account))
    assert second.events == 4  # P1 renamed; P2, its price and its stock created
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT external_id, created, updated FROM products WHERE account_id = :a"
                " ORDER BY external_id"
            ),
            {"a": account},
        ).all()
        (event_time,) = {
            r.created
            for r in conn.execute(
                sa.text("SELECT created FROM events WHERE run_id = :run"), {"run": second.run_id}
            )
        }
    (first_time,) = _stamps(engine, account, first.run_id) - {event_time}
    assert [(r.external_id, r.created, r.updated) for r in rows] == [
        ("P0", first_time, first_time),
        ("P1", first_time, event_time),
        ("P2", event_time, event_time),
    ]
