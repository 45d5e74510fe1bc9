"""`store.pipelined.execute_many`: many rows of one statement in one round trip, in order."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog_pipelines.store.pipelined import execute_many


def test_rows_run_in_order_and_return_their_values(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE t (n int PRIMARY KEY, label text) ON COMMIT DROP"))
        execute_many(
            conn,
            sa.text("INSERT INTO t VALUES (:n, :label)"),
            [{"n": n, "label": f"{n}%"} for n in range(5)],
        )
        doubled = execute_many(
            conn,
            sa.text("UPDATE t SET label = label || '!' WHERE n = :n RETURNING n * 2"),
            [{"n": 3}, {"n": 1}],
            returning=True,
        )
        assert doubled == [6, 2]
        labels = conn.execute(sa.text("SELECT label FROM t ORDER BY n")).scalars().all()
    assert labels == ["0%", "1%!", "2%", "3%!", "4%"]


def test_a_row_that_matches_nothing_raises_and_the_transaction_rolls_back(
    engine: sa.Engine,
) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE kept (n int PRIMARY KEY)"))
        conn.commit()
        with pytest.raises(LookupError, match="row 2 of 2"), conn.begin():
            execute_many(
                conn,
                sa.text("INSERT INTO kept VALUES (:n) ON CONFLICT DO NOTHING RETURNING n"),
                [{"n": 1}, {"n": 1}],
                returning=True,
            )
        assert conn.execute(sa.text("SELECT count(*) FROM kept")).scalar_one() == 0
        conn.execute(sa.text("DROP TABLE kept"))
        conn.commit()
