"""An import with nothing stored to diff against, planned and written a part at a time.

That is a first import into an empty account, or a re-import that skipped every product it had
seen (fingerprints.py) and only adds new ones. The plan of a whole file holds every new row a
second time, with its ids and hashes (about 0.9 GB for a million products). With nothing
stored, no product's plan depends on another's: there is nothing to archive, retire, replace or
move, so the batch can be planned and written a part at a time, in the import's one
transaction, and only two parts' plans exist at once (the one being written, and the next,
planned meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import polars as pl

from catalog_pipelines.diff import Plan
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.read_ahead import ReadAhead

PART_PRODUCTS = 100_000  # products planned and written at once


def wanted(batch: ParsedBatch, stored: dict[str, pl.DataFrame]) -> bool:
    """Whether to plan in parts: a batch larger than a part, and `stored` (what the import read
    of the catalog to diff against) holds no product, price or stock item."""
    return batch.products.height > PART_PRODUCTS and all(f.height == 0 for f in stored.values())


@dataclass(frozen=True)
class Parts:
    """What an import plans and writes a part at a time: (products, variants) of each part,
    how many parts, and what to take of each part's plan before it goes (the importer keeps
    a part's product ids only without it)."""

    split: Iterator[tuple[pl.DataFrame, pl.DataFrame]]
    count: int
    after_part: Callable[[Plan], None] | None = None


def of_batch(batch: ParsedBatch) -> Parts:
    return Parts(split(batch), -(-batch.products.height // PART_PRODUCTS))


def split(batch: ParsedBatch) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(products, their variants) of each part, in the batch's order. A variant whose product
    is not in the batch is in no part; the plan of the whole batch drops it too."""
    for start in range(0, batch.products.height, PART_PRODUCTS):
        products = batch.products.slice(start, PART_PRODUCTS)
        keys = products["external_id"].implode()
        yield products, batch.variants.filter(pl.col("product_external_id").is_in(keys))


def planned_ahead(
    split: Iterator[tuple[pl.DataFrame, pl.DataFrame]],
    plan: Callable[[pl.DataFrame, pl.DataFrame], Plan],
) -> ReadAhead[Plan]:
    """`plan` of each part, in order. The next part is read and planned in a thread while the
    caller writes this one (read_ahead.py), so the server does not sit idle while the client
    plans. At most two parts' plans exist at once."""
    return ReadAhead((plan(*part) for part in split), name="plan-ahead")


def _without_rows(plan: Plan) -> Plan:
    return replace(
        plan,
        products=plan.products.clear(),
        prices=plan.prices.clear(),
        inventory=plan.inventory.clear(),
        product_creates=plan.product_creates.clear(),
        price_creates=plan.price_creates.clear(),
        inventory_creates=plan.inventory_creates.clear(),
        product_hash_upgrades=plan.product_hash_upgrades.clear(),
        price_hash_upgrades=plan.price_hash_upgrades.clear(),
        events_not_held=plan.events,
    )


def combine(total: Plan | None, part: Plan) -> Plan:
    """`part` added to the parts before it, as the run's report and snapshot read a plan: its
    counts, warnings, events and product ids, not its rows (written already, or never in a dry
    run). The log head is the first part's: the run's own events start there."""
    summary = _without_rows(part)
    if total is None:
        return summary
    return replace(
        total,
        product_counts=total.product_counts + summary.product_counts,
        price_counts=total.price_counts + summary.price_counts,
        inventory_counts=total.inventory_counts + summary.inventory_counts,
        ignored_not_owned=total.ignored_not_owned + summary.ignored_not_owned,
        active_products_of_source=total.active_products_of_source
        + summary.active_products_of_source,
        warnings=list(dict.fromkeys(total.warnings + summary.warnings)),
        product_ids=pl.concat([total.product_ids, summary.product_ids]),
        ignored_products=pl.concat([total.ignored_products, summary.ignored_products]),
        events_not_held=total.events_not_held + summary.events_not_held,
    )
