"""A stock feed: rows of SKU and quantity (and policy) that change existing inventory items.

An ERP knows stock by SKU and nothing of product keys. Its file, read with a mapping that has
no `key` (docs/hybrid-sources.md), is matched to the catalog by SKU: it changes quantities and
policies of the items found, never creates or archives anything, and rejects a SKU the catalog
does not have.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from catalog_pipelines.content import inventory_content
from catalog_pipelines.diff import INVENTORY_OPS, Counts, Plan, plan_import
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.ownership import GUIDE, reject_rows


def plan_stock_feed(
    batch: ParsedBatch,
    stored: dict[str, pl.DataFrame],
    *,
    source: str,
    owns: frozenset[str],
) -> tuple[Plan, ParsedBatch]:
    """The plan of a stock feed, and the batch without the rows of unknown SKUs (rejected).
    Run `ownership.screen` first: rows of SKUs another source owns are gone by then."""
    si = stored["inventory"]
    v = batch.variants.with_row_index("_i").join(
        si.rename(
            {
                "id": "old_id",
                "content_hash": "old_hash",
                "quantity": "old_quantity",
                "policy": "old_policy",
                "source": "old_source",
            }
        ),
        on="sku",
        how="left",
    )
    unknown = v.filter(pl.col("old_id").is_null())
    if unknown.height:
        batch = reject_rows(
            batch,
            {
                ("variants", r["_i"]): [
                    f"sku: {r['sku']!r} is not in the catalog; a stock feed (a mapping without"
                    f" `key`) changes the stock of existing SKUs and creates nothing ({GUIDE})"
                ]
                for r in unknown.iter_rows(named=True)
            },
        )
        v = v.filter(pl.col("old_id").is_not_null())
    owns_inventory = "inventory" in owns
    given = v.with_columns(
        pl.coalesce("inventory_quantity", "old_quantity").alias("quantity"),
        pl.coalesce("inventory_policy", "old_policy").alias("policy"),
    ).with_columns(inventory_content().alias("content_hash"))
    changed = pl.col("content_hash") != pl.col("old_hash")
    ignored = 0
    if owns_inventory:
        changed = changed | pl.col("old_source").ne_missing(pl.lit(source))
        updates = given.filter(changed)
    else:
        ignored = int(given.select(changed.sum()).item() or 0)
        updates = given.clear()
    ops = updates.select(
        pl.col("old_id").alias("id"),
        pl.lit("update").alias("op"),
        "row_number",
        "sku",
        "product_id",
        "price_id",
        "quantity",
        "policy",
        "content_hash",
    ).cast(INVENTORY_OPS)  # type: ignore[arg-type]
    empty = batch.products.clear()
    base = plan_import(
        empty,
        batch.variants.clear(),
        stored["products"],
        stored["prices"],
        si,
        source=source,
        owns=owns,
        full=False,
    )
    warnings = []
    if not owns_inventory:
        warnings.append(
            f"source {source!r} does not own inventory: the stock in this feed was not applied"
        )
    plan = replace(
        base,
        inventory=ops,
        inventory_counts=Counts(updated=ops.height, unchanged=given.height - ops.height),
        ignored_not_owned=ignored,
        warnings=warnings,
        claims_inventory=owns_inventory,
    )
    return plan, batch
