"""The stored rows each part of a large re-import leads to, found on the server.

A re-import that changes most of an account's products used to read all of the account's keys
and hashes into the client, ~200 MB a table for a million rows, to find each part's rows among
them (stored_reach.py): its memory grew with the account. Here every part's keys go to the
server, which finds the rows of all parts at once with hash joins (read_stored_parts.sql), and
the client reads one part's rows at a time. What no part leads to is read last: the rows a full
import archives among. tests/integration/test_stored_parts.py holds the parts to those
stored_reach finds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa

from catalog_pipelines.store import bulk
from catalog_pipelines.store.imports import STORED_QUERIES, copy_out, driver, named_statements

log = logging.getLogger(__name__)

NO_PART = -1  # the part number of the keys no part has
_TABLES = {"products": "part_products", "prices": "part_prices", "inventory": "part_inventory"}
_COLUMNS = {
    "products": "id, external_id, content_hash, active, default_price, source",
    "prices": "id, variant_key, product_id, amount, content_hash, active, source",
    "inventory": "id, sku, content_hash, quantity, policy, product_id, price_id, source",
}
_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS part_keys (part int, kind text, value text) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS part_products ON COMMIT DROP AS SELECT 0 AS part, id,"
    " external_id, content_hash, active, default_price, source FROM products WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS part_prices ON COMMIT DROP AS SELECT 0 AS part, id,"
    " variant_key, product_id, currency || ':' || unit_amount AS amount, content_hash, active,"
    " source FROM prices WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS part_inventory ON COMMIT DROP AS SELECT 0 AS part, id, sku,"
    " content_hash, quantity, policy, product_id, price_id, source FROM inventory_items"
    " WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS part_skipped (product_id text) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS part_left (part int, product_id text, price_id text)"
    " ON COMMIT DROP",
    "TRUNCATE part_keys, part_products, part_prices, part_inventory, part_skipped, part_left",
)
# Built after the rows are in: each part's rows are read by part.
_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS {table}_part ON {table} (part)" for table in _TABLES.values()
)


@contextmanager
def _hash_joins(cur: psycopg.Cursor[Any]) -> Iterator[None]:
    """Join the block's large sets by hashing, whatever the statistics say: right after a bulk
    import they still describe the tables before it, and a nested loop over a table thought
    empty reads it once a key (an EXISTS over two sets of 500,000 ran for minutes)."""
    cur.execute("SET LOCAL enable_nestloop = off")
    yield  # on an error the transaction rolls back, and SET LOCAL with it
    cur.execute("RESET enable_nestloop")


def _statements(table: str, name: str) -> dict[str, str]:
    """The statements on one table of found rows; table and column names are constants."""
    query = STORED_QUERIES[name][0]
    columns = _COLUMNS[name]
    not_in_a_part = f"NOT EXISTS (SELECT 1 FROM {table} t WHERE t.part >= 0 AND t.id = s.id)"  # noqa: S608 - constant fragments
    return {
        "overlap": f"SELECT 1 FROM {table} WHERE part >= 0"  # noqa: S608 - constant fragments
        " GROUP BY id HAVING min(part) < max(part)",
        # another source wrote a row found, or (`whole`) any row of the account
        "others": f"SELECT 1 FROM {table} WHERE source IS NOT NULL AND source <> %s",  # noqa: S608 - constant fragments
        "others_whole": f"SELECT 1 FROM ({query}) s"  # noqa: S608 - constant fragments
        " WHERE source IS NOT NULL AND source <> %s",
        "skipped": f"SELECT 1 FROM {table} t JOIN part_skipped k"  # noqa: S608 - constant fragments
        f" ON k.product_id = t.{'id' if name == 'products' else 'product_id'}",
        "part": f"COPY (SELECT {columns} FROM {table} WHERE part = %s)"  # noqa: S608 - constant fragments
        " TO STDOUT (FORMAT csv)",
        # the rows of the keys of no part that no part leads to, or (`whole`) of the account
        "rest": f"COPY (SELECT DISTINCT {columns} FROM {table} s"  # noqa: S608 - constant fragments
        f" WHERE s.part = %s AND {not_in_a_part}) TO STDOUT (FORMAT csv)",
        "rest_whole": f"COPY (SELECT * FROM ({query}) s"  # noqa: S608 - constant fragments
        f" WHERE {not_in_a_part}) TO STDOUT (FORMAT csv)",
    }


_SQL = {name: _statements(table, name) for name, table in _TABLES.items()}


def _key_frame(part: int, keys: dict[str, pl.Series]) -> pl.DataFrame:
    frames = [
        pl.DataFrame({"value": values.cast(pl.Utf8).drop_nulls().unique()}).select(
            pl.lit(part, dtype=pl.Int32).alias("part"), pl.lit(kind).alias("kind"), "value"
        )
        for kind, values in keys.items()
    ]
    return pl.concat(frames)


class Found:
    """The stored rows of each part, and of the keys of no part, in temp tables of the import's
    transaction. `whole`: the rest is every row of the account no part leads to (the import
    diffs against all of them), not only those of the keys of no part."""

    def __init__(
        self,
        conn: sa.Connection,
        account_id: str,
        parts: list[dict[str, pl.Series]],
        others: dict[str, pl.Series] | None,
    ) -> None:
        self._conn = conn
        self._account = account_id
        self.count = len(parts)
        self.whole = others is None
        started = time.perf_counter()
        with driver(conn).cursor() as cur:
            for ddl in _DDL:
                cur.execute(ddl)
            keyed = [(NO_PART, others or {}), *enumerate(parts)]
            for part, keys in keyed:  # a part's keys at a time: never all of them in a frame
                if keys:
                    bulk.copy_frame(cur, "part_keys", _key_frame(part, keys))
            cur.execute("ANALYZE part_keys")
            log.debug("stored parts, keys: %.3fs", time.perf_counter() - started)
            with _hash_joins(cur):
                for name, query in named_statements("read_stored_parts.sql"):
                    at = time.perf_counter()
                    rows = cur.execute(query, {"a": account_id}).rowcount
                    log.debug(
                        "stored parts, %s: %.3fs, %d rows", name, time.perf_counter() - at, rows
                    )
            at = time.perf_counter()
            for index in _INDEXES:
                cur.execute(index)
            cur.execute("ANALYZE part_products, part_prices, part_inventory")
            log.debug("stored parts, indexes: %.3fs", time.perf_counter() - at)
        log.debug("stored parts found: %.3fs", time.perf_counter() - started)

    def _exists(self, kind: str, params: tuple[Any, ...] = ()) -> bool:
        """Whether the `kind` statement of any of the tables returns a row."""
        with driver(self._conn).cursor() as cur, _hash_joins(cur):
            for statements in _SQL.values():
                row = cur.execute(f"SELECT EXISTS ({statements[kind]})", params).fetchone()
                if row and row[0]:
                    return True
        return False

    def overlap(self) -> bool:
        """Whether two parts lead to the same stored row."""
        return self._exists("overlap")

    def written_by_others(self, source: str) -> bool:
        """Whether another source wrote any of the rows the import diffs against
        (ownership.screens of them). With `whole`, that is any row of the account."""
        if self.whole:
            return self._exists("others_whole", (self._account, source))
        return self._exists("others", (source,))

    def any_product_in(self, product_ids: Iterable[pl.Series]) -> bool:
        """Whether any of these products is among the rows found, or what they belong to. On
        the server: the skipped products of a large file can be millions, and on disk."""
        with driver(self._conn).cursor() as cur:
            for ids in product_ids:
                bulk.copy_frame(cur, "part_skipped", ids.rename("product_id").to_frame())
            cur.execute("ANALYZE part_skipped")
        return self._exists("skipped")

    def part(self, number: int) -> dict[str, pl.DataFrame]:
        """The stored rows part `number` leads to, as read_stored returns them."""
        return {
            name: copy_out(self._conn, _SQL[name]["part"], (number,), STORED_QUERIES[name][1])
            for name in _TABLES
        }

    def rest(self) -> dict[str, pl.DataFrame]:
        """The rows the import diffs against that no part leads to."""
        kind, params = ("rest_whole", self._account) if self.whole else ("rest", NO_PART)
        with driver(self._conn).cursor() as cur, _hash_joins(cur):
            return {
                name: copy_out(self._conn, _SQL[name][kind], (params,), STORED_QUERIES[name][1])
                for name in _TABLES
            }
