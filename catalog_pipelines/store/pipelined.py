"""One statement run for many parameter rows in one round trip.

psycopg 3 runs `executemany` in pipeline mode: every row's statement is sent before the
first result is read, so a batch of single-row writes (a revert's events and stock ledger
rows) waits on the network once, not once a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa


def execute_many(
    conn: sa.Connection, statement: sa.TextClause, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run `statement` (named `:params`) once per row, in order, inside `conn`'s transaction."""
    if not rows:
        return
    sql = str(statement.compile(dialect=conn.dialect))  # :name -> %(name)s, as psycopg binds
    with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.executemany(sql, rows)
