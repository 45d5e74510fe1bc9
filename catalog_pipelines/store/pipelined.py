"""One statement run for many parameter rows in one round trip.

psycopg 3 runs `executemany` in pipeline mode: every row's statement is sent before the
first result is read, so a batch of single-row writes (a revert's thousands of updates and
events) waits on the network once, not once a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa


def execute_many(
    conn: sa.Connection,
    statement: sa.TextClause,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: bool = False,
) -> list[Any]:
    """Run `statement` (named `:params`) once per row, in order, inside `conn`'s transaction.
    With `returning`, the first column of each statement's one result row, in row order; a
    statement that returns no row raises LookupError, as `scalar_one` would."""
    if not rows:
        return []
    sql = str(statement.compile(dialect=conn.dialect))  # :name -> %(name)s, as psycopg binds
    out: list[Any] = []
    with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.executemany(sql, rows, returning=returning)
        if returning:
            while True:
                row = cur.fetchone()
                if row is None:
                    raise LookupError(f"row {len(out) + 1} of {len(rows)} matched nothing")
                out.append(row[0])
                if not cur.nextset():
                    break
    return out
