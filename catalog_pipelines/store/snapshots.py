"""Database side of row fingerprints (catalog_pipelines/fingerprints.py): each source's last
snapshot, which of its products changed since, and the catalog rows a partial import needs.

A snapshot is only a cache. It is trusted for a product only while no event names the product,
its prices or its stock items after the snapshot's watermark (the event log's sequence is
gap-free for readers: store/events.py). Anything this module cannot map back to one product
(a source changed, a stock item moved, too many events) makes the whole import take the full
path instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
import sqlalchemy as sa

from catalog_pipelines.fingerprints import (
    SNAPSHOT_SCHEMA,
    VALID,
    Known,
    Skipped,
    SnapshotRows,
    as_snapshot,
    by_range,
    valid_fingerprints,
    valid_row,
)
from catalog_pipelines.read_ahead import mapped_ahead
from catalog_pipelines.spill import Held, Spill, hold
from catalog_pipelines.store.events import head_sequence
from catalog_pipelines.store.sources import WHERE_INPUT_LIVES

# Past this many events since the snapshot, re-reading everything is cheaper than sorting out
# which products they touched.
MAX_EVENTS_SINCE = 50_000
# Keys per stored chunk and per key range (sql/0014, 0015): a reader or writer holds about
# one range's keys at a time.
CHUNK_ROWS = 1_000_000

_LOAD = sa.text(
    "SELECT run_id, salt, watermark, own_from, own_to, key_ranges FROM import_snapshots"
    " WHERE account_id = :account AND source = :source"
)
_RANGE_CHUNKS = (  # psycopg's own, for a binary fetch
    "SELECT data FROM import_snapshot_chunks WHERE account_id = %(account)s"
    " AND source = %(source)s AND key_range = %(range)s ORDER BY chunk"
)
_DROP_CHUNKS = sa.text(
    "DELETE FROM import_snapshot_chunks WHERE account_id = :account AND source = :source"
)
_SAVE_CHUNK = sa.text(
    "INSERT INTO import_snapshot_chunks (account_id, source, chunk, key_range, products, data)"
    " VALUES (:account, :source, :chunk, :range, :products, :data)"
)
_RUN_OF = sa.text(
    "SELECT run_id FROM import_snapshots WHERE account_id = :account AND source = :source"
)
# Every event after the watermark but the snapshot's own run's, which hold the range
# (own_from, own_to]: two index ranges (one query each: an OR of them let the planner scan the
# account's events), never a scan of the million events an initial import wrote. `moved`: a
# stock item changed product or price, which moves a SKU between products: not one product's
# business. `relocated`: a source was redefined in where its input lives only (the file's
# path, the feed's URL), which changes no product and no rule.
_FLAGS = (
    "(e.object_type = 'inventory_item' AND e.data IS NOT NULL"
    " AND (e.data -> 'previous_attributes')::jsonb ?| array['product', 'price']) AS moved,"
    # CASE, not AND: only a source's update is taken apart, and only as the objects it holds
    " CASE WHEN e.type = 'source.updated'"
    "  AND json_typeof(e.data -> 'previous_attributes') = 'object'"
    "  AND json_typeof(e.data #> '{object,config}') = 'object'"
    "  AND coalesce(json_typeof(e.data #> '{previous_attributes,config}'), 'object') = 'object'"
    " THEN (e.data -> 'previous_attributes')::jsonb - 'config' = '{}'::jsonb"
    "  AND coalesce((e.data #> '{previous_attributes,config}')::jsonb, '{}')"
    "   - CAST(:where AS text[]) = (e.data #> '{object,config}')::jsonb - CAST(:where AS text[])"
    " ELSE false END AS relocated"
)
_SINCE = sa.text(
    "SELECT object_type, object_id, type, moved, relocated FROM ("  # noqa: S608 - constant fragments
    f" SELECT e.object_type, e.object_id, e.type, e.run_id, {_FLAGS}"
    " FROM events e WHERE e.account_id = :account"
    "  AND e.sequence > :after AND e.sequence <= :own_from"
    " UNION ALL"
    f" SELECT e.object_type, e.object_id, e.type, e.run_id, {_FLAGS}"
    " FROM events e WHERE e.account_id = :account AND e.sequence > :own_to"
    ") since WHERE run_id IS DISTINCT FROM :run LIMIT :cap"
)
_PRODUCT_OF = {
    "price": sa.text(
        "SELECT DISTINCT product_id FROM prices WHERE account_id = :account AND id = ANY(:ids)"
    ),
    "inventory_item": sa.text(
        "SELECT DISTINCT product_id FROM inventory_items"
        " WHERE account_id = :account AND id = ANY(:ids)"
    ),
}
_SAVE = sa.text(
    "INSERT INTO import_snapshots (account_id, source, run_id, salt, watermark, own_from,"
    " own_to, products, key_ranges)"
    " VALUES (:account, :source, :run, :salt, :watermark, :own_from, :own_to, :products,"
    " :ranges)"
    " ON CONFLICT (account_id, source) DO UPDATE SET run_id = excluded.run_id,"
    " salt = excluded.salt, watermark = excluded.watermark, own_from = excluded.own_from,"
    " own_to = excluded.own_to, products = excluded.products,"
    " key_ranges = excluded.key_ranges, updated = now()"
)
_TOUCH = sa.text(
    "UPDATE import_snapshots SET run_id = :run, watermark = :watermark, own_from = :own_from,"
    " own_to = :own_to, updated = now() WHERE account_id = :account AND source = :source"
)
_ACTIVE_OF_SOURCE = sa.text(
    "SELECT count(*) FROM products WHERE account_id = :account AND source = :source AND active"
)


@dataclass(frozen=True)
class Since:
    """Where a snapshot's view of the event log ends: after `watermark`, except its own run's
    events, (own_from, own_to]."""

    watermark: int
    run_id: str
    own_from: int
    own_to: int


@dataclass(frozen=True)
class Touched:
    """Products changed since a watermark, or why the changes cannot be pinned to products."""

    product_ids: frozenset[str]
    unpinned: str | None = None


def touched_since(conn: sa.Connection, account_id: str, since: Since) -> Touched:
    rows = conn.execute(
        _SINCE,
        {
            "account": account_id,
            "after": since.watermark,
            "own_from": max(since.own_from, since.watermark),
            "own_to": max(since.own_to, since.watermark),
            "run": since.run_id,
            "cap": MAX_EVENTS_SINCE + 1,
            "where": sorted(WHERE_INPUT_LIVES),
        },
    ).all()
    if len(rows) > MAX_EVENTS_SINCE:
        return Touched(frozenset(), f"more than {MAX_EVENTS_SINCE} events since")
    products: set[str] = set()
    by_type: dict[str, set[str]] = {"price": set(), "inventory_item": set()}
    for r in rows:
        if r.object_type == "product":
            products.add(r.object_id)
        elif r.object_type in by_type and r.type.endswith(".updated") and not r.moved:
            by_type[r.object_type].add(r.object_id)
        elif r.relocated:  # the salt leaves where an input lives out (skip_unchanged._rules)
            continue
        else:  # a source, a new or deleted price or stock item, a moved SKU
            return Touched(frozenset(), f"{r.type} {r.object_id}")
    for object_type, ids in by_type.items():
        if ids:
            found = conn.execute(
                _PRODUCT_OF[object_type], {"account": account_id, "ids": sorted(ids)}
            ).scalars()
            products.update(found)
    return Touched(frozenset(products))


def load_known(conn: sa.Connection, account_id: str, source: str) -> Known | None:
    """The source's snapshot, with the products changed since marked not valid, or None when
    there is none or it cannot be trusted at all. Read a key range at a time; with several
    ranges each goes to disk, so only one is in memory."""
    row = conn.execute(_LOAD, {"account": account_id, "source": source}).first()
    if row is None:
        return None
    since = Since(row.watermark, row.run_id, row.own_from, row.own_to)
    touched = touched_since(conn, account_id, since)
    if touched.unpinned is not None:
        return None
    spill = Spill() if row.key_ranges > 1 else None

    def flagged(chunks: list[bytes]) -> tuple[int, np.ndarray, Held]:
        """A range's row count, still-valid fingerprints and rows (flagged VALID), held."""
        frame = _parsed(chunks).with_columns(valid_row(touched.product_ids).alias(VALID))
        return frame.height, valid_fingerprints(frame), hold(frame, spill)

    ranges: list[Held | None] = []
    prints: list[np.ndarray] = []
    previous = 0
    # Fetched here, in order; parsed and spilled two ranges at a time in threads (a 10M-row
    # snapshot took 2.8 s on one core, and the file is not being read yet).
    fetched = (_fetch_range(conn, account_id, source, r) for r in range(row.key_ranges))
    for height, valid, held in mapped_ahead(flagged, fetched, name="snapshot"):
        previous += height
        prints.append(valid)
        ranges.append(held)
    return Known(
        salt=row.salt,
        since=since,
        ranges=ranges,
        previous_count=previous,
        valid_count=sum(p.size for p in prints),
        valid_fingerprints=prints,
        touched=touched.product_ids,
    )


def _fetch_range(conn: sa.Connection, account_id: str, source: str, key_range: int) -> list[bytes]:
    """The stored chunks of one key range of the snapshot (about CHUNK_ROWS keys, ~15 MB).
    Binary: as text, bytea comes hex-encoded, twice its size, and the chunks of a 10M-row
    snapshot took 1.6 s to fetch instead of 0.3 s."""
    where = {"account": account_id, "source": source, "range": key_range}
    raw = conn.connection.driver_connection  # same transaction as `conn`
    with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
        return [data for (data,) in cur.execute(_RANGE_CHUNKS, where)]


def _parsed(chunks: list[bytes]) -> pl.DataFrame:
    """The rows of a key range's chunks."""
    frames = [pl.DataFrame(schema=SNAPSHOT_SCHEMA)]
    frames.extend(as_snapshot(pl.read_ipc(io.BytesIO(data))) for data in chunks)
    return pl.concat(frames)


def still_valid(
    conn: sa.Connection,
    account_id: str,
    source: str,
    *,
    since: Since,
    skipped: Skipped,
) -> bool:
    """Checked under the source's lock, before anything is written: no run of the source
    replaced the snapshot, and nothing changed a skipped product, since it was read."""
    run = conn.execute(_RUN_OF, {"account": account_id, "source": source}).scalar()
    if run != since.run_id:
        return False
    touched = touched_since(conn, account_id, since)
    if touched.unpinned is not None:
        return False
    return not skipped.any_product_in(pl.Series(sorted(touched.product_ids), dtype=pl.Utf8))


def save(
    conn: sa.Connection,
    *,
    account_id: str,
    source: str,
    run_id: str,
    salt: str,
    watermark: int,
    own_from: int,
    snapshot: SnapshotRows,
) -> None:
    """Replace the source's snapshot. Call it holding the event log's lock, after this run's
    own events (its events are then exactly those in (own_from, head]). The keys are split
    in a key range per CHUNK_ROWS of them, and stored in chunks as `snapshot`'s frames come
    (a first import in pieces keeps them on disk)."""
    where = {"account": account_id, "source": source}
    ranges = max(1, -(-snapshot.count // CHUNK_ROWS))
    conn.execute(_DROP_CHUNKS, where)
    chunk, products = 0, 0
    for key_range, rows in _chunks(snapshot, ranges):
        buf = io.BytesIO()
        rows.select(list(SNAPSHOT_SCHEMA)).write_ipc(buf, compression="zstd")
        params = {"chunk": chunk, "range": key_range, "products": rows.height}
        conn.execute(_SAVE_CHUNK, {**where, **params, "data": buf.getvalue()})
        chunk, products = chunk + 1, products + rows.height
    conn.execute(
        _SAVE,
        {
            "account": account_id,
            "source": source,
            "run": run_id,
            "salt": salt,
            "watermark": watermark,
            "own_from": own_from,
            "own_to": head_sequence(conn),
            "products": products,
            "ranges": ranges,
        },
    )


def _chunks(snapshot: SnapshotRows, ranges: int) -> Iterator[tuple[int, pl.DataFrame]]:
    """(key range, rows) of each chunk to store: at most CHUNK_ROWS keys, and, but for each
    range's last, at least CHUNK_ROWS / ranges, so a snapshot that comes in many small frames
    (a first import's parts) is not stored in many small chunks. Holds about CHUNK_ROWS keys."""
    least = max(1, CHUNK_ROWS // ranges)
    pending: list[list[pl.DataFrame]] = [[] for _ in range(ranges)]
    for frame in snapshot.frames:
        for piece in frame.iter_slices(CHUNK_ROWS):
            for key_range, part in enumerate(by_range(piece, ranges)):
                held = sum(p.height for p in pending[key_range])
                if held + part.height > CHUNK_ROWS:
                    yield key_range, pl.concat(pending[key_range])
                    pending[key_range], held = [], 0
                if part.height:
                    pending[key_range].append(part)
                if held + part.height >= least:
                    yield key_range, pl.concat(pending[key_range])
                    pending[key_range] = []
    for key_range, parts in enumerate(pending):
        if parts:
            yield key_range, pl.concat(parts)


def touch(
    conn: sa.Connection,
    *,
    account_id: str,
    source: str,
    run_id: str,
    watermark: int,
    own_from: int,
) -> None:
    """Keep the source's snapshot as it is, valid from a later point (a run that skipped
    every product): `save` without rewriting the prints."""
    conn.execute(
        _TOUCH,
        {
            "account": account_id,
            "source": source,
            "run": run_id,
            "watermark": watermark,
            "own_from": own_from,
            "own_to": head_sequence(conn),
        },
    )


def active_products_of_source(conn: sa.Connection, account_id: str, source: str) -> int:
    return int(
        conn.execute(_ACTIVE_OF_SOURCE, {"account": account_id, "source": source}).scalar_one()
    )
