"""An import's use of fingerprints (fingerprints.py): ask the reader to skip the products the
source's last import left unchanged, read only the catalog rows the rest can touch, count the
skipped products as unchanged, and leave the next snapshot.

Skipping never changes an outcome. Whenever it could (a skipped product's SKU or variant is
claimed by a processed row, the snapshot was replaced or a skipped product changed meanwhile),
`SkipUnusable` sends the import back to the full path before anything is written.
CATALOG_IMPORT_SKIP_UNCHANGED=0 turns skipping off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from catalog_pipelines.connectors.registry import SKIPPING
from catalog_pipelines.fingerprints import (
    Skipped,
    SkipRequest,
    SnapshotRows,
    salt,
    snapshot_frames,
)
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.store import imports as store
from catalog_pipelines.store import snapshots
from catalog_pipelines.store.events import head_sequence
from catalog_pipelines.store.sources import WHERE_INPUT_LIVES, list_sources
from catalog_pipelines.validation import stripe_limit_problems

if TYPE_CHECKING:
    from catalog_pipelines.diff import Plan
    from catalog_pipelines.importer import ImportOptions

ENV = "CATALOG_IMPORT_SKIP_UNCHANGED"


class SkipUnusable(Exception):
    """Skipping could change this import's outcome: run it again on the full path."""


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _rules(conn: sa.Connection, options: ImportOptions, **read: Any) -> dict[str, Any]:
    """What an outcome depends on besides the rows: how the file is read, the import's mode,
    and every source of the account: its kind, ownership, mapping and config, but not where
    its input lives (a source pointed at this month's file keeps last month's snapshot)."""
    sources = sorted(
        (
            s.name,
            s.kind,
            sorted(s.owns),
            s.active,
            s.mapping,
            {k: v for k, v in s.config.items() if k not in WHERE_INPUT_LIVES},
        )
        for s in list_sources(conn, options.account_id)
    )
    return {"read": read, "mode": options.mode, "source": options.source, "sources": sources}


def request(
    conn: sa.Connection,
    options: ImportOptions,
    fmt: str,
    *,
    use_snapshot: bool = True,
    chunks: Callable[[ParsedBatch], None] | None = None,
    **read: Any,
) -> SkipRequest | None:
    """The reader's SkipRequest, or None when this import cannot skip. `chunks`: see
    SkipRequest."""
    if fmt not in SKIPPING or not enabled():
        return None
    watermark = head_sequence(conn)  # read first: the next snapshot is valid from here
    known = snapshots.load_known(conn, options.account_id, options.source) if use_snapshot else None
    return SkipRequest(known, watermark, {"fmt": fmt, **_rules(conn, options, **read)}, chunks)


def read_stored(
    conn: sa.Connection,
    options: ImportOptions,
    batch: ParsedBatch,
    wanted: dict[str, pl.Series] | None,
) -> dict[str, pl.DataFrame]:
    """The stored rows the import diffs against: all of the account's, or, when products were
    skipped, those the processed rows, the keys gone from the file and the products changed
    since the snapshot lead to (`wanted`, stored_keys of the batch). Raises SkipUnusable when
    a skipped product is among them."""
    if wanted is None:
        return store.read_stored(conn, options.account_id)
    stored = store.read_stored_for(conn, options.account_id, wanted)
    check_none_skipped(batch, stored)
    return stored


def check_none_skipped(batch: ParsedBatch, stored: dict[str, pl.DataFrame]) -> None:
    """Raise SkipUnusable when a skipped product is among `stored`, or what its rows belong to:
    a processed row names a SKU or variant of a product the batch no longer holds."""
    read_ids = pl.concat(
        [
            stored["products"]["id"],
            stored["prices"]["product_id"],
            stored["inventory"]["product_id"],
        ]
    )
    if skipped_products(batch).any_product_in(read_ids):
        raise SkipUnusable(SKIPPED_READ)


SKIPPED_READ = "a processed row names a SKU or variant of a skipped product"


def skipped_products(batch: ParsedBatch) -> Skipped:
    return batch.fingerprints.skipped if batch.fingerprints is not None else Skipped()


def stored_keys(
    conn: sa.Connection, options: ImportOptions, batch: ParsedBatch
) -> dict[str, pl.Series] | None:
    """The keys whose stored rows the import diffs against (store.read_stored_for), or None
    when it diffs against all of the account's. Raises SkipUnusable when the batch's skipped
    products cannot be trusted any more."""
    prints = batch.fingerprints
    if prints is None or prints.known is None or not prints.skipping:
        return None
    known = prints.known
    if (prints.rules["mode"], prints.rules["source"]) != (options.mode, options.source):
        raise SkipUnusable("the batch was read for another mode or source")
    if not snapshots.still_valid(
        conn,
        options.account_id,
        options.source,
        since=known.since,
        skipped=prints.skipped,
    ):
        raise SkipUnusable("the snapshot changed while the file was read")
    return {
        "external_id": pl.concat([prints.processed_keys, prints.gone]),
        "product_id": pl.Series(sorted(known.touched), dtype=pl.Utf8),
        "variant_key": batch.variants["variant_key"],
        "sku": batch.variants["sku"],
    }


def count_skipped(
    conn: sa.Connection, plan: Plan, batch: ParsedBatch, options: ImportOptions
) -> None:
    """Add the skipped products to the plan's counts, as the full path would count them."""
    prints = batch.fingerprints
    if prints is None or not prints.skipping:
        return
    skipped = prints.skipped
    plan.product_counts.unchanged += skipped.height
    plan.price_counts.unchanged += skipped.prices
    plan.inventory_counts.unchanged += skipped.items
    if plan.product_counts.archived:
        # the mass-archive guard's denominator: every active product of the source, not only
        # those read (a count of the account's products, so only when it matters)
        plan.active_products_of_source = snapshots.active_products_of_source(
            conn, options.account_id, options.source
        )


def save_snapshot(
    conn: sa.Connection,
    options: ImportOptions,
    run_id: str,
    batch: ParsedBatch,
    plan: Plan,
    snapshot: SnapshotRows | None = None,
    limit_problems: pl.DataFrame | None = None,
) -> None:
    """Leave this run's snapshot, under the rules as they are now (the run may have created
    its source). `snapshot`: its rows a part at a time, when the caller took them so;
    `limit_problems`: stripe_limit_problems of the batch, when it no longer holds its
    products."""
    prints = batch.fingerprints
    if prints is None:
        return
    rules = {**prints.rules, **_rules(conn, options, **prints.rules["read"])}
    new_salt = salt(**prints.salt_parts, **rules)
    where: dict[str, Any] = {
        "account_id": options.account_id,
        "source": options.source,
        "run_id": run_id,
    }
    if (
        new_salt == prints.salt
        and not prints.processed_keys.len()
        and prints.known is not None
        and prints.skipped.height == prints.known.previous_count
    ):
        # every product of the last file, and only those, skipped: the prints are the same,
        # only the point in the event log they are valid from moves
        snapshots.touch(
            conn, **where, watermark=prints.watermark, own_from=plan.log_head_before_events
        )
        return
    snapshots.save(
        conn,
        **where,
        salt=new_salt,
        watermark=prints.watermark,
        own_from=plan.log_head_before_events,
        snapshot=snapshot
        if snapshot is not None
        else snapshot_frames(
            prints,
            plan.product_ids,
            batch.variants,
            rejected_rows=[r.row_number for r in batch.rejects],
            ignored_products=plan.ignored_products,
            limit_problems=limit_problems
            if limit_problems is not None
            else stripe_limit_problems(batch),
        ),
    )
