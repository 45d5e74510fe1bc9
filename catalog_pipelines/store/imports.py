"""Database side of an import: read stored hashes, stage the plan with COPY, apply it in SQL.

Only the rows that change are ever sent to the server (docs/maintainers.md: a no-op must not write).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa

from catalog_pipelines.diff import (
    HASH_UPGRADES,
    INVENTORY_OPS,
    PRICE_OPS,
    PRODUCT_OPS,
    STORED_INVENTORY,
    STORED_PRICES,
    STORED_PRODUCTS,
    Plan,
)
from catalog_pipelines.normalized import Reject
from catalog_pipelines.store import bulk, stored_reach
from catalog_pipelines.store.events import EVENT_LOG_LOCK, head_sequence
from catalog_pipelines.text_safety import escape_unstorable

log = logging.getLogger(__name__)
_SQL_DIR = Path(__file__).parent / "sql"
_BIND = re.compile(r"(?<![:\w]):(\w+)")

# Stored keys and hashes stream back through `COPY (...) TO STDOUT` as CSV bytes that Polars
# parses at once: no Python object per row, and no server-built text (an aggregated string
# cost several copies of itself in the client: ~1.5 KB of transient memory per stored row).
STORED_QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "products": (
        "SELECT id, external_id, content_hash, active, default_price, source"
        " FROM products WHERE account_id = %s",
        STORED_PRODUCTS,
    ),
    "prices": (
        "SELECT id, variant_key, product_id, currency || ':' || unit_amount, content_hash,"
        " active, source FROM prices WHERE account_id = %s AND replaced_by IS NULL",
        STORED_PRICES,
    ),
    "inventory": (
        "SELECT id, sku, content_hash, quantity, policy, product_id, price_id, source"
        " FROM inventory_items WHERE account_id = %s",
        STORED_INVENTORY,
    ),
}

# Created once per transaction and emptied before each apply: a first import applies its plan
# in parts (plan_parts.py), all in one transaction.
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_products (id text PRIMARY KEY, external_id text,"
    " op text, row_number bigint, content jsonb, content_hash text, default_price text,"
    " set_content boolean, active boolean) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS stage_prices (id text PRIMARY KEY, op text,"
    " row_number bigint, product_id text, variant_key text, content jsonb, content_hash text,"
    " replaced_by text, active boolean) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS stage_inventory (id text PRIMARY KEY, op text,"
    " row_number bigint, sku text, product_id text, price_id text, quantity bigint, policy text,"
    " content_hash text) ON COMMIT DROP",
    # the staged rows as they were, locked: the old side of each event's previous_attributes
    "CREATE TEMP TABLE IF NOT EXISTS prev_products (LIKE products, PRIMARY KEY (id)) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS prev_prices (LIKE prices, PRIMARY KEY (id)) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS prev_inventory (LIKE inventory_items, PRIMARY KEY (id))"
    " ON COMMIT DROP",
    "TRUNCATE stage_products, stage_prices, stage_inventory, prev_products, prev_prices,"
    " prev_inventory",
)


@cache
def named_statements(file: str) -> list[tuple[str, str]]:
    """(name, sql) pairs of one of store/sql's files, in file order."""
    out = []
    for chunk in (_SQL_DIR / file).read_text(encoding="utf-8").split("\n-- ;\n"):
        m = re.search(r"^-- name: (\w+)$", chunk, flags=re.MULTILINE)
        if not m:
            continue
        body = "\n".join(
            line for line in chunk.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        out.append((m.group(1), body))
    return out


_NOW = sa.text("SELECT now()")


def transaction_now(conn: sa.Connection) -> datetime:
    """The transaction's now(): the default of every created and updated column."""
    return conn.execute(_NOW).scalar_one()


def driver(conn: sa.Connection) -> psycopg.Connection[Any]:
    return conn.connection.driver_connection  # type: ignore[return-value]


# Up to this many staged changes, every statement of the apply is an index probe per changed
# object. The planner is told so: right after a bulk import the catalog's statistics still
# describe the tables before it (autovacuum analyzes a minute later, and the app's role may not
# ANALYZE tables it does not own), and with them it picked scans of the whole account for ten
# keys, or for none (minutes, at a million rows).
PROBE_LIMIT = 100_000
_PROBES_ON = (
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;"
    " SET LOCAL enable_mergejoin = off"
)
_PROBES_OFF = "RESET enable_seqscan; RESET enable_hashjoin; RESET enable_mergejoin"


@contextmanager
def index_probes(cur: psycopg.Cursor[Any], enabled: bool = True) -> Iterator[None]:
    """Plan the block's statements as index probes (see PROBE_LIMIT), then plan freely again."""
    if not enabled:
        yield
        return
    cur.execute(_PROBES_ON)
    yield  # on an error the transaction rolls back, and SET LOCAL with it
    cur.execute(_PROBES_OFF)


def lock_source(conn: sa.Connection, account_id: str, source: str) -> None:
    """Imports of one source run one at a time; other sources are not blocked."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7413))"),
        {"k": f"{account_id}/{source}"},
    )


def read_stored(conn: sa.Connection, account_id: str) -> dict[str, pl.DataFrame]:
    """The account's stored keys and hashes, as Polars frames."""
    return {
        name: copy_out(conn, f"COPY ({query}) TO STDOUT (FORMAT csv)", (account_id,), schema)
        for name, (query, schema) in STORED_QUERIES.items()
    }


# A range and an order, not `EXISTS (... WHERE account_id = :a)`: for an account that holds
# half of a table, the planner expected a match in the first rows of a sequential scan, which
# read every row of the accounts stored before it (0.26 s with a million; now under 1 ms).
_HOLDS_ANYTHING = sa.text(
    "SELECT (SELECT 1 FROM products WHERE account_id >= :a AND account_id <= :a"
    "        ORDER BY account_id LIMIT 1) IS NOT NULL"
    " OR (SELECT 1 FROM inventory_items WHERE account_id >= :a AND account_id <= :a"
    "     ORDER BY account_id LIMIT 1) IS NOT NULL"
)


def holds_nothing(conn: sa.Connection, account_id: str) -> bool:
    """Whether the account stores no product (so no price) and no stock item."""
    return not conn.execute(_HOLDS_ANYTHING, {"a": account_id}).scalar_one()


def copy_out(
    conn: sa.Connection,
    statement: str,
    params: tuple[Any, ...] | dict[str, Any],
    schema: dict[str, Any],
) -> pl.DataFrame:
    buf = io.BytesIO()
    with driver(conn).cursor() as cur, cur.copy(statement, params) as copy:
        for chunk in copy:
            buf.write(chunk)
    if not buf.tell():
        return pl.DataFrame(schema=schema)
    buf.seek(0)
    df = pl.read_csv(
        buf,
        has_header=False,
        new_columns=list(schema),
        schema_overrides={k: pl.Utf8 for k in schema},
        infer_schema=False,
    )
    del buf
    if "active" in schema:
        df = df.with_columns(pl.col("active") == "t")
    return df.cast(schema)  # type: ignore[arg-type]


_WANTED_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS wanted_keys (kind text, value text) ON COMMIT DROP",
    # what read_stored_for.sql found by SKU, by variant and by key, with the columns it reads
    "CREATE TEMP TABLE IF NOT EXISTS found_inventory ON COMMIT DROP AS SELECT id, sku,"
    " content_hash, quantity, policy, product_id, price_id, source FROM inventory_items"
    " WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS found_prices ON COMMIT DROP AS SELECT id, variant_key,"
    " product_id, currency || ':' || unit_amount AS amount, content_hash, active, source"
    " FROM prices WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS found_product_prices ON COMMIT DROP AS SELECT * FROM"
    " found_prices WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS found_products ON COMMIT DROP AS SELECT id, external_id,"
    " content_hash, active, default_price, source FROM products WITH NO DATA",
    "TRUNCATE wanted_keys, found_inventory, found_prices, found_product_prices, found_products",
)


# A re-import whose keys name at least this many products, and this share of the account's,
# reads all of the account's keys and hashes (stored_reach.py): probing each key costs about
# 36 µs, the whole read about 3 µs a product of the account.
WHOLE_READ_MIN_PRODUCTS = PROBE_LIMIT
WHOLE_READ_SHARE = 0.25
_ACCOUNT_PRODUCTS = "SELECT count(*) FROM products WHERE account_id = %s"


def reads_whole_account(conn: sa.Connection, account_id: str, wanted: dict[str, pl.Series]) -> bool:
    """Whether `wanted` names enough of the account's products that reading all of them beats
    probing each key (WHOLE_READ_SHARE)."""
    named = stored_reach.products_named(wanted)
    if named < WHOLE_READ_MIN_PRODUCTS:
        return False
    with driver(conn).cursor() as cur:
        count = cur.execute(_ACCOUNT_PRODUCTS, (account_id,)).fetchone()
    return count is not None and named >= WHOLE_READ_SHARE * count[0]


def read_stored_for(
    conn: sa.Connection, account_id: str, wanted: dict[str, pl.Series]
) -> dict[str, pl.DataFrame]:
    """`read_stored`, limited to what `wanted` leads to: {"external_id" | "product_id" |
    "variant_key" | "sku": values}. An import that skipped its unchanged products reads only
    the rows its other products can touch."""
    if reads_whole_account(conn, account_id, wanted):
        started = time.perf_counter()
        out = stored_reach.reached(read_stored(conn, account_id), wanted, consume=True)
        log.debug("stored, all of the account's: %.3fs", time.perf_counter() - started)
        return out
    with driver(conn).cursor() as cur:
        for ddl in _WANTED_DDL:
            cur.execute(ddl)
        frames = [
            pl.DataFrame({"value": values.cast(pl.Utf8).drop_nulls().unique()}).select(
                pl.lit(kind).alias("kind"), "value"
            )
            for kind, values in wanted.items()
        ]
        bulk.copy_frame(cur, "wanted_keys", pl.concat(frames))
        cur.execute("ANALYZE wanted_keys")
    out = {}
    with driver(conn).cursor() as cur, index_probes(cur):
        for name, query in named_statements("read_stored_for.sql"):
            started = time.perf_counter()
            if name.startswith("found_"):  # fills the temp table of that name
                rows = cur.execute(query, {"a": account_id}).rowcount
            else:
                statement = f"COPY ({query}) TO STDOUT (FORMAT csv)"  # constant SQL, bound ids
                out[name] = copy_out(conn, statement, {"a": account_id}, STORED_QUERIES[name][1])
                rows = len(out[name])
            log.debug("stored %s: %.3fs, %d rows", name, time.perf_counter() - started, rows)
    return out


class LookupKeyTaken(Exception):
    """A SKU the plan gives a price is the lookup key of a price the plan leaves alone: an
    archived price keeps its SKU. Nothing is written."""

    def __init__(self, lookup_key: str) -> None:
        super().__init__(f"the lookup key {lookup_key!r} is taken")
        self.lookup_key = lookup_key


_TAKEN_KEY = re.compile(r"\(account_id, lookup_key\)=\([^,]*, (.*)\) already exists")


def _taken_lookup_key(error: Exception) -> str | None:
    """The key of a unique violation on prices' lookup keys, else None."""
    err = getattr(error, "orig", error)
    if not isinstance(err, psycopg.errors.UniqueViolation):
        return None
    if err.diag.constraint_name != "prices_lookup_key":
        return None
    m = _TAKEN_KEY.search(err.diag.message_detail or "")
    return m.group(1) if m else None


class OwnerChanged(Exception):
    """Another source took an object this import was about to write, after the import read
    the catalog (two sources importing at once). Nothing is written; a re-run rejects it."""


# An object of the plan, locked now, whose group another source owns: only possible when that
# source took it after this import read the catalog (ownership.py rejects it otherwise).
_TAKEN = sa.text(
    "SELECT p.id, o.name FROM ("
    " SELECT id, source, 'content' AS grp FROM prev_products WHERE :content"
    " UNION ALL SELECT id, source, 'pricing' FROM prev_prices WHERE :pricing"
    " UNION ALL SELECT id, source, 'inventory' FROM prev_inventory WHERE :inventory"
    ") p JOIN sources o ON o.account_id = :account AND o.name = p.source AND o.name <> :source"
    " WHERE p.grp = ANY(o.owns) LIMIT 1"
)


def apply_plan(
    conn: sa.Connection,
    plan: Plan,
    *,
    account_id: str,
    source: str,
    run_id: str,
    now: datetime,
    owns: frozenset[str] | None = None,
) -> int:
    """Write every change of the plan, its versions and its events. Returns events written.

    Creates are COPYed (store/bulk.py); updates and archives go through the stage tables and
    the named statements of apply_import.sql. The order keeps constraints satisfied (a
    replaced price is retired before its successor takes the variant) and puts each kind's
    events after the log lock, products first.
    """
    ctx = bulk.context(account_id, source, run_id, now, now_is_default=now == transaction_now(conn))
    params = {
        "account": account_id,
        "source": source,
        "run_id": run_id,
        "now": now,
        "event_lock": EVENT_LOG_LOCK,
        "request": ctx["request"],
        "claim_inventory": plan.claims_inventory,
    }
    statements = dict(named_statements("apply_import.sql"))
    cur = driver(conn).cursor()

    def run(name: str, object_type: str | None = None) -> int:
        sql = statements[name]
        bound = {k: params.get(k, object_type) for k in set(_BIND.findall(sql))}
        started = time.perf_counter()
        n = conn.execute(sa.text(sql), bound).rowcount
        log.debug(
            "%s %s: %.3fs, %d rows", name, object_type or "", time.perf_counter() - started, n
        )
        return n

    def copy(table: str, df: pl.DataFrame, build: Any = None) -> int:
        started = time.perf_counter()
        if build is None:
            bulk.copy_frame(cur, table, df)
        else:
            bulk.copy_chunked(cur, table, df, build, ctx)
        log.debug("copy %s: %.3fs, %d rows", table, time.perf_counter() - started, df.height)
        return df.height

    with cur:
        for ddl in _STAGE_DDL:
            cur.execute(ddl)
        # staged in id order, which every statement below probes the catalog in: neighbouring
        # ids share index pages (and heap pages, ids being time-ordered)
        copy("stage_products", plan.products.select(list(PRODUCT_OPS)).sort("id"))
        copy("stage_prices", plan.prices.select(list(PRICE_OPS)).sort("id"))
        copy("stage_inventory", plan.inventory.select(list(INVENTORY_OPS)).sort("id"))
        cur.execute("ANALYZE stage_products; ANALYZE stage_prices; ANALYZE stage_inventory")
        staged = plan.products.height + plan.prices.height + plan.inventory.height
        with index_probes(cur, enabled=staged <= PROBE_LIMIT):
            for name in ("prev_products", "prev_prices", "prev_inventory"):
                run(name)
            if owns is not None:  # the objects are locked now: is any of them another's?
                taken = conn.execute(
                    _TAKEN,
                    {
                        "account": account_id,
                        "source": source,
                        **{g: g in owns for g in ("content", "pricing", "inventory")},
                    },
                ).first()
                if taken is not None:
                    raise OwnerChanged(
                        f"source {taken.name!r} took {taken.id} while this import of {source!r}"
                        " ran; nothing was written. Run the import again: its rows that touch"
                        f" {taken.name!r}'s objects will be rejected (docs/hybrid-sources.md)"
                    )
            copy("products", plan.product_creates, bulk.product_rows)
            run("update_products")
            run("archive_products")
            run("free_lookup_keys")
            run("retire_prices")
            try:
                copy("prices", plan.price_creates, bulk.price_rows)
                run("update_prices")
            except (psycopg.errors.UniqueViolation, sa.exc.IntegrityError) as e:
                if (key := _taken_lookup_key(e)) is None:
                    raise
                raise LookupKeyTaken(key) from e
            run("archive_prices")
            copy("inventory_items", plan.inventory_creates, bulk.inventory_rows)
            run("update_inventory")
            copy("inventory_adjustments", plan.inventory_creates, bulk.inventory_ledger)
            run("ledger")
            run("lock_event_log")
            plan.log_head_before_events = head_sequence(conn)
            events = 0
            for object_type, creates, build in (
                ("product", plan.product_creates, bulk.product_events),
                ("price", plan.price_creates, bulk.price_events),
                ("inventory_item", plan.inventory_creates, bulk.inventory_events),
            ):
                events += copy("events", creates, build)
                events += run("events", object_type)
    upgrade_hashes(conn, plan, account_id=account_id)
    return events


_UPGRADE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_hash_upgrades (id text, old_hash text, content_hash text)"
    " ON COMMIT DROP"
)
# Only the hash column: no version, no event, `updated` untouched. The old value is checked so
# that a hash another writer changed meanwhile is left alone.
_UPGRADE = {
    "products": sa.text(
        "UPDATE products t SET content_hash = s.content_hash FROM stage_hash_upgrades s"
        " WHERE (t.account_id = :account) IS TRUE AND t.id = s.id AND t.content_hash = s.old_hash"
    ),
    "prices": sa.text(
        "UPDATE prices t SET content_hash = s.content_hash FROM stage_hash_upgrades s"
        " WHERE (t.account_id = :account) IS TRUE AND t.id = s.id AND t.content_hash = s.old_hash"
    ),
}


def upgrade_hashes(conn: sa.Connection, plan: Plan, *, account_id: str) -> int:
    """Rewrite stored content hashes of an older version whose content the import found
    unchanged (content.py), so the next import compares them natively. Returns rows."""
    frames = {"products": plan.product_hash_upgrades, "prices": plan.price_hash_upgrades}
    if not any(f.height for f in frames.values()):
        return 0
    n = 0
    with driver(conn).cursor() as cur:
        cur.execute(_UPGRADE_STAGE)
        for table, frame in frames.items():
            if not frame.height:
                continue
            cur.execute("TRUNCATE stage_hash_upgrades")
            bulk.copy_frame(cur, "stage_hash_upgrades", frame.select(list(HASH_UPGRADES)))
            n += conn.execute(_UPGRADE[table], {"account": account_id}).rowcount
    log.debug("upgraded %d stored content hashes", n)
    return n


_INSERT_RUN = sa.text(
    "INSERT INTO import_runs (id, account_id, source, mode, dry_run, status, input, rows_read,"
    " rows_valid, rows_rejected, summary, unmapped_columns, error, started, events_after,"
    " events_through)"
    " VALUES (:id, :account, :source, :mode, :dry_run, :status, :input, :rows_read, :rows_valid,"
    " :rows_rejected, CAST(:summary AS jsonb), CAST(:unmapped AS jsonb), :error, :started,"
    " :events_after, :events_through)"
    # the run's row exists already when it was started as `running` (store/run_log.py)
    " ON CONFLICT (id) DO UPDATE SET status = excluded.status, rows_read = excluded.rows_read,"
    " rows_valid = excluded.rows_valid, rows_rejected = excluded.rows_rejected,"
    " summary = excluded.summary, unmapped_columns = excluded.unmapped_columns,"
    " error = excluded.error, events_after = excluded.events_after,"
    " events_through = excluded.events_through, finished = now()"
)


def record_run(
    conn: sa.Connection,
    *,
    run_id: str,
    account_id: str,
    source: str,
    mode: str,
    dry_run: bool,
    status: str,
    input_name: str,
    summary: dict[str, Any],
    unmapped_columns: list[str],
    rejects: list[Reject],
    started: datetime,
    error: str | None = None,
    events: tuple[int, int] | None = None,
) -> None:
    """The run and its rejected rows, so `rejects export RUN_ID` can give them back. `events`:
    the (after, through] range of sequences its events hold, for an applied run."""
    conn.execute(
        _INSERT_RUN,
        {
            "id": run_id,
            "account": account_id,
            "source": source,
            "mode": mode,
            "dry_run": dry_run,
            "status": status,
            "input": escape_unstorable(input_name),
            "rows_read": summary["rows_read"],
            "rows_valid": summary["rows_valid"],
            "rows_rejected": summary["rows_rejected"],
            "summary": json.dumps(escape_unstorable(summary)),
            "unmapped": json.dumps(escape_unstorable(unmapped_columns)),
            "error": error,
            "started": started,
            "events_after": events[0] if events else None,
            "events_through": events[1] if events else None,
        },
    )
    if rejects:
        with (
            driver(conn).cursor() as cur,
            cur.copy("COPY rejected_rows (run_id, row_number, raw, reasons) FROM STDIN") as copy,
        ):
            for r in rejects:
                copy.write_row(
                    (
                        run_id,
                        r.row_number,
                        json.dumps(escape_unstorable(r.raw), default=str),
                        json.dumps(escape_unstorable(r.reasons)),
                    )
                )


def previous_unmapped_columns(
    conn: sa.Connection, account_id: str, source: str
) -> list[str] | None:
    """The unmapped columns of the source's last applied run (for schema-drift checks)."""
    row = conn.execute(
        sa.text(
            "SELECT unmapped_columns FROM import_runs WHERE account_id = :a AND source = :s"
            " AND status = 'applied' AND NOT dry_run ORDER BY started DESC LIMIT 1"
        ),
        {"a": account_id, "s": source},
    ).first()
    return list(row.unmapped_columns) if row else None


def stored_objects(
    conn: sa.Connection, account_id: str, object_type: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Current Stripe-shaped state of some objects, for per-field before/after previews."""
    queries = {
        "product": "SELECT id, product_object(p) AS obj FROM products p",
        "price": "SELECT id, price_object(p) AS obj FROM prices p",
        "inventory_item": "SELECT id, inventory_item_object(p) AS obj FROM inventory_items p",
    }
    if not ids:
        return {}
    rows = conn.execute(
        sa.text(queries[object_type] + " WHERE account_id = :a AND id = ANY(:ids)"),
        {"a": account_id, "ids": ids},
    )
    return {r.id: r.obj for r in rows}
