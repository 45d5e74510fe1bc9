"""The create path of an import: rows and their `*.created` events built in Polars and COPYed
straight into the catalog tables.

Creates dominate an initial import, and COPY is PostgreSQL's cheapest way in. A created event
carries no JSON of its own (it used to repeat the whole object, doubling the bytes an initial
import sends and stores): `event_data(e)` in sql/0009 builds its `data` from the row, or from
the row's frozen old state once the row has changed. The golden payload test
(tests/integration/test_event_payloads_golden.py) holds that output to what these events
carried when they stored the JSON, key order included.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import datetime
from queue import Queue
from typing import Any

import polars as pl
import psycopg
from psycopg.abc import Buffer
from psycopg.copy import LibpqWriter

from catalog_pipelines.content import canonical_kv
from catalog_pipelines.diff import new_ids


def _json_str(expr: pl.Expr) -> pl.Expr:
    """A string expression as a JSON string literal (quotes and escapes by Polars' encoder)."""
    return pl.struct(expr.alias("s")).struct.json_encode().str.slice(5).str.head(-1)


def kv_json_object(expr: pl.Expr) -> pl.Expr:
    """[{key, value}, ...] -> '{"key":"value",...}', keys sorted, null values dropped."""
    pairs = canonical_kv(expr).list.eval(
        pl.concat_str(
            [
                _json_str(pl.element().struct.field("key")),
                pl.lit(":"),
                _json_str(pl.element().struct.field("value")),
            ]
        )
    )
    return pl.concat_str([pl.lit("{"), pairs.list.join(","), pl.lit("}")])


def _event_frame(df: pl.DataFrame, object_type: str, ctx: dict[str, Any]) -> pl.DataFrame:
    """Lean `*.created` events: no `data`. The object is the row just COPYed, at version 1;
    `event_data(e)` (sql/0009) builds `{"object": ...}` from it when the event is read.

    Write them before anything changes those rows: the trigger that freezes a row's old state
    for its lean event can only find events that exist (apply_plan COPYs them right after the
    rows' updates, which touch only rows that existed before the import)."""
    return df.select(
        new_ids("evt", df.height).alias("id"),
        pl.lit(ctx["account"]).alias("account_id"),
        pl.lit(f"{object_type}.created").alias("type"),
        pl.lit(object_type).alias("object_type"),
        pl.col("id").alias("object_id"),
        pl.lit(1).alias("object_version"),
        # `request` is left to its column default, the same {"id": null, ...} an import's
        # other events get
        pl.lit(ctx["source"]).alias("source"),
        pl.lit(ctx["run_id"]).alias("run_id"),
        *_stamps(ctx, "created"),
    )


def _stamps(ctx: dict[str, Any], *columns: str) -> list[pl.Expr]:
    """The run's time in these columns, or nothing when it is the transaction's: their
    default, now(), then fills them on the server (parsing a timestamp from each row's text
    was about a tenth of a first import's server time)."""
    if ctx["now_is_default"]:
        return []
    return [pl.lit(ctx["now_iso"]).alias(c) for c in columns]


def product_rows(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    images = pl.struct(pl.col("images").alias("s")).struct.json_encode().str.slice(5).str.head(-1)
    return df.select(
        "id",
        pl.lit(ctx["account"]).alias("account_id"),
        pl.lit(ctx["source"]).alias("source"),
        "external_id",
        "active",
        "name",
        "description",
        images.alias("images"),
        kv_json_object(pl.col("metadata")).alias("metadata"),
        "url",
        "shippable",
        "tax_code",
        "unit_label",
        "default_price",
        pl.lit(1).alias("version"),
        "content_hash",
        *_stamps(ctx, "created", "updated"),
    )


def product_events(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return _event_frame(df, "product", ctx)


def price_rows(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return df.select(
        "id",
        pl.lit(ctx["account"]).alias("account_id"),
        "product_id",
        pl.lit(ctx["source"]).alias("source"),
        "variant_key",
        "lookup_key",
        "active",
        "currency",
        "unit_amount",
        "nickname",
        kv_json_object(pl.col("metadata")).alias("metadata"),
        pl.lit(1).alias("version"),
        "content_hash",
        *_stamps(ctx, "created", "updated"),
    )


def price_events(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return _event_frame(df, "price", ctx)


def inventory_rows(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return df.select(
        "id",
        pl.lit(ctx["account"]).alias("account_id"),
        "sku",
        "product_id",
        "price_id",
        pl.lit(ctx["source"]).alias("source"),
        "quantity",
        "policy",
        pl.lit(1).alias("version"),
        "content_hash",
        *_stamps(ctx, "created", "updated"),
    )


def inventory_ledger(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    """A new SKU's starting quantity, recorded as such (docs/ownership.md)."""
    return df.select(
        pl.lit(ctx["account"]).alias("account_id"),
        pl.col("id").alias("inventory_item_id"),
        pl.lit("initial").alias("kind"),
        pl.col("quantity").alias("delta"),
        pl.col("quantity").alias("quantity_after"),
        pl.lit("import").alias("reason"),
        pl.lit(ctx["source"]).alias("source"),
        pl.lit(ctx["run_id"]).alias("run_id"),
        *_stamps(ctx, "created"),
    )


def inventory_events(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return _event_frame(df, "inventory_item", ctx)


# Creates are built and sent in slices, so a million-row import never holds every row's
# JSON and CSV text at once (BENCHMARKS.md: at most 2 GiB for a million rows), and so the
# server parses one slice while the next is built: with slices of 50,000 a first import's
# part (37,400 products) was one slice, built whole while the server waited.
CHUNK_ROWS = 10_000


def copy_chunked(
    cur: psycopg.Cursor[Any],
    table: str,
    df: pl.DataFrame,
    build: Callable[[pl.DataFrame, dict[str, Any]], pl.DataFrame],
    ctx: dict[str, Any],
) -> int:
    """COPY build(slice) for each slice of `df` through one COPY statement, so PostgreSQL
    parses one slice while Polars builds the next; returns the rows sent."""
    if df.height == 0:
        return 0
    first = build(df.slice(0, CHUNK_ROWS), ctx)
    with cur.copy(_copy_sql(table, first.columns), writer=SendingThread(cur)) as copy:
        copy.write(_csv(first))
        for start in range(CHUNK_ROWS, df.height, CHUNK_ROWS):
            copy.write(_csv(build(df.slice(start, CHUNK_ROWS), ctx)))
    return df.height


class SendingThread(LibpqWriter):
    """Sends COPY data from a thread, so Polars builds the next slice while the server parses
    this one (the default writer sends on the caller's thread: the server waited on the
    client for about a third of a first import). One slice waits at most: psycopg's own
    queued writer buffers up to 128 MiB."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue: Queue[Buffer | None] = Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None  # started by the first write

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:  # after an error, only drain, so write() never blocks
                try:
                    super().write(data)
                except BaseException as e:
                    self._error = e

    def write(self, data: Buffer) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._send, name="copy-send", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        super().finish(exc or self._error)  # ends the COPY either way
        if self._error is not None and exc is None:
            raise self._error


def _copy_sql(table: str, columns: list[str]) -> str:
    # table and columns are ours (the catalog tables, the builders' column names), never input
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"


def _csv(df: pl.DataFrame) -> memoryview:
    buf = io.BytesIO()
    df.write_csv(buf, include_header=False, null_value="")
    return buf.getbuffer()


def copy_frame(cur: psycopg.Cursor[Any], table: str, df: pl.DataFrame) -> None:
    """COPY a frame whose columns are named as the table's, a slice's CSV at a time (the CSV of
    a million staged products at once took about 0.8 GB)."""
    copy_chunked(cur, table, df, _as_is, {})


def _as_is(df: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
    return df


def context(
    account: str, source: str, run_id: str, now: datetime, *, now_is_default: bool = False
) -> dict[str, Any]:
    """`now_is_default`: `now` is the transaction's now(), which the tables' created and
    updated columns default to, so the COPYs leave those columns out."""
    return {
        "account": account,
        "source": source,
        "run_id": run_id,
        "now_iso": now.isoformat(),
        "now_is_default": now_is_default,
        "request": json.dumps({"id": None, "idempotency_key": None}),
    }
