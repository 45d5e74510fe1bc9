"""store/bulk.copy_chunked sends its slices from a thread (SendingThread): every slice lands,
in order, and a row the server refuses fails the COPY with the server's error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from catalog_pipelines.store import bulk


def _ledger(n: int, *, bad_at: int | None = None) -> pl.DataFrame:
    # inventory_adjustments: quantity_after must be >= 0
    return pl.DataFrame(
        {
            "id": [f"inv_{i:06d}" for i in range(n)],
            "quantity": [-1 if i == bad_at else i for i in range(n)],
        }
    )


def _copy(engine: sa.Engine, account: str, df: pl.DataFrame) -> list[Any]:
    ctx = bulk.context(account, "erp", "run_copy", datetime.now(UTC))
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        bulk.copy_chunked(cur, "inventory_adjustments", df, bulk.inventory_ledger, ctx)
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT inventory_item_id, quantity_after FROM inventory_adjustments"
                    " WHERE account_id = :a ORDER BY id"
                ),
                {"a": account},
            )
        )


def _stored(engine: sa.Engine, account: str) -> int:
    with engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM inventory_adjustments WHERE account_id = :a"),
            {"a": account},
        ).scalar_one()
    return int(n)


def test_every_slice_lands_in_order(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    rows = _copy(engine, account, _ledger(10))
    assert [(r.inventory_item_id, r.quantity_after) for r in rows] == [
        (f"inv_{i:06d}", i) for i in range(10)
    ]


def test_a_refused_row_fails_the_copy_and_writes_nothing(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    with pytest.raises(psycopg.errors.CheckViolation, match="quantity_after"):
        _copy(engine, account, _ledger(10, bad_at=7))
    assert _stored(engine, account) == 0


def test_a_slice_that_cannot_be_built_fails_the_copy_and_writes_nothing(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    built = []

    def build(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
        built.append(df.height)
        if len(built) == 3:  # two slices are on their way to the server by now
            raise RuntimeError("the third slice cannot be built")
        return bulk.inventory_ledger(df, ctx)

    ctx = bulk.context(account, "erp", "run_copy", datetime.now(UTC))
    with pytest.raises(RuntimeError, match="third slice"), engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        bulk.copy_chunked(cur, "inventory_adjustments", _ledger(10), build, ctx)
    assert _stored(engine, account) == 0


def test_a_frame_copied_as_is_lands_whole_across_slices(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copy_frame (the stage tables, the wanted keys) slices the same way: no row lost or
    repeated, nulls kept, in order."""
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    df = pl.DataFrame(
        {
            "id": [f"k{i}" for i in range(10)],
            "note": [None if i % 4 == 0 else f"n,{i}" for i in range(10)],
        }
    )
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute("CREATE TEMP TABLE sliced (id text PRIMARY KEY, note text) ON COMMIT DROP")
        bulk.copy_frame(cur, "sliced", df)
        rows = cur.execute("SELECT id, note FROM sliced ORDER BY id").fetchall()
    assert rows == sorted(zip(df["id"], df["note"], strict=True))
