"""`store.pipelined.execute_many`: many rows of one statement in one round trip, in order."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_pipelines.store.pipelined import execute_many


def test_rows_run_in_order(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE t (n int PRIMARY KEY, label text) ON COMMIT DROP"))
        execute_many(
            conn,
            sa.text("INSERT INTO t VALUES (:n, :label)"),
            [{"n": n, "label": f"{n}%"} for n in range(5)],
        )
        execute_many(
            conn,
            sa.text("UPDATE t SET label = label || :mark WHERE n = :n"),
            [{"n": 3, "mark": "!"}, {"n": 1, "mark": "!"}, {"n": 3, "mark": "?"}],
        )
        labels = conn.execute(sa.text("SELECT label FROM t ORDER BY n")).scalars().all()
    assert labels == ["0%", "1%!", "2%", "3%!?", "4%"]  # the two updates of 3, in order
