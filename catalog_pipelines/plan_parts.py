"""An import planned and written a part at a time, in the import's one transaction.

The plan of a whole file holds every changed row a second time, with its ids, hashes and JSON
(about 1.5 GB for a million changed products). When no product's plan depends on another
part's, the batch can be planned and written a part at a time, and only two parts' plans exist
at once (the one being written, and the next, planned meanwhile):

- with nothing stored to diff against (a first import into an empty account, or a re-import
  that skipped every product it had seen and only adds new ones), there is nothing to
  archive, retire, replace or move;
- a re-import whose parts lead to disjoint stored rows (stored_reach.py): no variant or SKU
  moves between two parts' products. Each part is planned against its own stored rows, and a
  last part against the rest (what a full import archives). When two parts share a stored
  row, the batch is planned whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import polars as pl

from catalog_pipelines.diff import Plan
from catalog_pipelines.frames import rows_where
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.spill import Held, Spill
from catalog_pipelines.store.stored_reach import reached_masks
from catalog_pipelines.validation import stripe_limit_problems

# Products planned and written at once, and at most about as many variants: a shop's product
# has several, and a part of 50,000 Shopify products with four variants each took 700 MB more
# to write than one of 12,500. Two parts' plans exist at a time: with 100,000, a re-import of
# 990,000 changed products of a million peaked at 1,037 MiB while it wrote them, with 50,000
# at 850 MiB, in the same time.
PART_PRODUCTS = 50_000

Stored = dict[str, pl.DataFrame]  # products, prices, inventory: as read_stored returns them
# A part: its products, their variants, and the stored rows its plan may read
Part = tuple[pl.DataFrame, pl.DataFrame, Stored]


# what a part's variants look stored rows up by (`_keys`)
KEY_COLUMNS = ("product_external_id", "variant_key", "sku")


def wanted(batch: ParsedBatch) -> bool:
    """Whether a batch is worth planning in parts: it is larger than one."""
    return len(bounds(batch.products, batch.variants)) > 1


def bounds(products: pl.DataFrame, variants: pl.DataFrame | None) -> list[tuple[int, int]]:
    """(offset, length) of each part of `products`: PART_PRODUCTS products, fewer when their
    `variants` would pass PART_PRODUCTS (a part always has a product)."""
    if variants is None or products.height == 0:
        return [(s, PART_PRODUCTS) for s in range(0, products.height, PART_PRODUCTS)]
    per_product = (
        products.select("external_id")
        .join(
            variants.group_by("product_external_id").len(),
            left_on="external_id",
            right_on="product_external_id",
            how="left",
            maintain_order="left",
        )["len"]
        .fill_null(0)
        .to_numpy()
    )
    before = np.concatenate([[0], np.cumsum(per_product)])  # variants before each product
    out: list[tuple[int, int]] = []
    start = 0
    while start < products.height:
        fits = int(np.searchsorted(before, before[start] + PART_PRODUCTS, side="right")) - 1
        end = min(start + PART_PRODUCTS, max(fits, start + 1), products.height)
        out.append((start, end - start))
        start = end
    return out


@dataclass(frozen=True)
class Parts:
    """What an import plans and writes a part at a time: each part, how many parts, the
    batch's products in all parts, and what to take of each part's plan before it goes (the
    importer keeps a part's product ids only without it). `batch`, when set, is the batch
    without its products, which the parts read back from disk: the importer keeps that one,
    and `limit_problems`, its products' stripe_limit_problems, for the snapshot."""

    split: Iterator[Part]
    count: int
    products: int
    after_part: Callable[[Plan], None] | None = None
    batch: ParsedBatch | None = None
    limit_problems: pl.DataFrame | None = None


@dataclass(frozen=True)
class Spilled:
    """A large batch's products on disk, a part's worth to a file, with what the import needs
    of them in memory: each part's keys, and what stripe_limit_problems finds in them. A
    million changed products are ~450 MB in memory (descriptions mostly)."""

    held: list[Held]
    keys: list[pl.Series]
    limit_problems: pl.DataFrame
    # each part's variants on disk too, when the batch holds only their keys (KEY_COLUMNS;
    # its other columns null): a feed's two million variants took ~260 MB, their keys ~50 MB
    variants: list[Held] | None = None

    @property
    def products(self) -> int:
        return sum(k.len() for k in self.keys)


def spill_products(batch: ParsedBatch) -> tuple[ParsedBatch, Spilled]:
    """`batch` without its products, and the products, on disk in parts."""
    held: list[Held] = []
    keys: list[pl.Series] = []
    keep_in_parts(Spill(), batch.products, held, keys, batch.variants)
    spilled = Spilled(held, keys, stripe_limit_problems(batch))
    return replace(batch, products=batch.products.clear()), spilled


def keep_in_parts(
    spill: Spill,
    products: pl.DataFrame,
    held: list[Held],
    keys: list[pl.Series],
    variants: pl.DataFrame | None = None,
) -> None:
    """Write `products` to disk a part at a time (`bounds`), adding each part's file to `held`
    and its keys to `keys` (Spilled's)."""
    for start, length in bounds(products, variants):
        part = products.slice(start, length)
        held.append(spill.keep(part))
        keys.append(part["external_id"])


def restore(batch: ParsedBatch, spilled: Spilled) -> ParsedBatch:
    """`batch` with its spilled products (and variants) read back, for a plan of the whole
    batch."""
    products = pl.concat([h.frame() for h in spilled.held])
    if spilled.variants is None:
        return replace(batch, products=products)
    variants = pl.concat([h.frame() for h in spilled.variants])
    return replace(batch, products=products, variants=variants)


def of_batch(
    batch: ParsedBatch, stored: Stored | LedTo, spilled: Spilled | None = None
) -> Parts | None:
    """`batch` in parts, or None when two of its parts lead to the same stored row.
    `spilled`: its products, when spill_products took them out of it; `stored`: the account's
    stored rows, or, with `spilled`, what each part leads to among them (of_found)."""
    if isinstance(stored, LedTo):
        assert spilled is not None, "a part's stored rows are found for spilled products"
        return _in_parts(batch, spilled, stored)
    if spilled is None and all(f.height == 0 for f in stored.values()):
        count = len(bounds(batch.products, batch.variants))
        parts = ((products, variants, stored) for products, variants in split(batch))
        return Parts(parts, count, batch.products.height)
    if spilled is None:
        batch, spilled = spill_products(batch)
    led_to = _stored_of_parts(batch.variants, spilled.keys, stored)
    if led_to is None:
        return None
    return _in_parts(batch, spilled, led_to)


def _in_parts(batch: ParsedBatch, spilled: Spilled, led_to: LedTo) -> Parts:
    count = len(spilled.held) + bool(led_to.rest)
    return Parts(
        _with_stored(spilled, batch, led_to),
        count,
        spilled.products,
        batch=batch,
        limit_problems=spilled.limit_problems,
    )


def part_keys(batch: ParsedBatch, spilled: Spilled) -> list[dict[str, pl.Series]]:
    """The keys each part's rows look stored rows up by (`_keys`). Only the key columns are
    filtered: a part's whole variants (their options and metadata) took 480 MB more at the
    peak of a re-import of two million variants."""
    keyed = batch.variants.select(KEY_COLUMNS)
    return [_keys(keys, _variants_of(keyed, keys)) for keys in spilled.keys]


def keys_of_no_part(
    wanted: dict[str, pl.Series], parts: list[dict[str, pl.Series]]
) -> dict[str, pl.Series]:
    """The keys of `wanted` that no part has: the stored rows they lead to, and no part does,
    are the rest of the rows the batch diffs against."""
    out = {}
    for kind, values in wanted.items():
        of_parts = [p[kind] for p in parts if kind in p]
        if of_parts:
            values = values.filter(~values.is_in(pl.concat(of_parts).implode()))
        out[kind] = values
    return out


class FoundParts(Protocol):
    """What each part of a batch leads to among the stored rows, read a part at a time
    (store/stored_parts.py's Found)."""

    count: int

    def part(self, number: int) -> Stored: ...
    def rest(self) -> Stored: ...


def of_found(found: FoundParts) -> LedTo:
    """The rows of each part and the rest, read from `found` and written to disk a part at a
    time: the plan of the next part is made in a thread, which must not use the connection."""
    spill = Spill()
    parts = [
        {name: spill.keep(frame) for name, frame in found.part(i).items()}
        for i in range(found.count)
    ]
    return _led_to(spill, parts, found.rest())


def split(batch: ParsedBatch) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(products, their variants) of each part, in the batch's order. A variant whose product
    is not in the batch is in no part; the plan of the whole batch drops it too."""
    for start, length in bounds(batch.products, batch.variants):
        products = batch.products.slice(start, length)
        yield products, _variants_of(batch.variants, products["external_id"])


def _variants_of(variants: pl.DataFrame, keys: pl.Series) -> pl.DataFrame:
    return variants.filter(pl.col("product_external_id").is_in(keys.implode()))


def _keys(keys: pl.Series, variants: pl.DataFrame) -> dict[str, pl.Series]:
    """The keys a part's rows look stored rows up by (as skip_unchanged.read_stored does)."""
    return {"external_id": keys, "variant_key": variants["variant_key"], "sku": variants["sku"]}


@dataclass(frozen=True)
class LedTo:
    """The stored rows of a batch's parts, on disk: those each part leads to, and the rest,
    which no part leads to (empty when there is none). The account's whole read can go
    once these are written: each part reads back its own."""

    parts: list[dict[str, Held]]
    rest: dict[str, Held]


def _stored_of_parts(
    variants: pl.DataFrame, keys_of_parts: list[pl.Series], stored: Stored
) -> LedTo | None:
    """What each part's keys lead to among `stored`, and the rest; None when a stored row is
    led to by two parts. The rows led to so far are a boolean mask a table: every part's ids
    and a duplicates check over them took ~0.7 s more at 500,000 changed products."""
    spill = Spill()
    taken = {
        name: pl.repeat(False, f.height, dtype=pl.Boolean, eager=True) for name, f in stored.items()
    }
    parts = []
    for keys in keys_of_parts:
        masks = reached_masks(stored, _keys(keys, _variants_of(variants, keys)))
        if any((taken[name] & mask).any() for name, mask in masks.items()):
            return None
        parts.append({name: spill.keep(rows_where(stored[name], m)) for name, m in masks.items()})
        taken = {name: taken[name] | mask for name, mask in masks.items()}
    return _led_to(spill, parts, {name: rows_where(f, ~taken[name]) for name, f in stored.items()})


def _led_to(spill: Spill, parts: list[dict[str, Held]], rest: Stored) -> LedTo:
    """The parts' rows on disk, with the rest's when it has any."""
    if not any(f.height for f in rest.values()):
        return LedTo(parts, {})
    return LedTo(parts, {name: spill.keep(frame) for name, frame in rest.items()})


def _read_back(held: dict[str, Held]) -> Stored:
    return {name: h.frame() for name, h in held.items()}


def _with_stored(spilled: Spilled, batch: ParsedBatch, led_to: LedTo) -> Iterator[Part]:
    """Each part, its products and stored rows read back; then no rows with the rest: a full
    import archives among those the products the file left out. `batch` has no products."""
    # each part's files go once it is planned and `spilled` and `led_to` are gone
    variants_held: list[Held | None] = [None] * len(spilled.held)
    if spilled.variants is not None:
        variants_held = list(spilled.variants)
    held = list(zip(spilled.held, variants_held, led_to.parts, strict=True))
    while held:
        products_held, part_variants, stored_held = held.pop(0)
        products = products_held.frame()
        if part_variants is None:
            variants = _variants_of(batch.variants, products["external_id"])
        else:
            variants = part_variants.frame()
        yield products, variants, _read_back(stored_held)
    if led_to.rest:  # (a batch's variants have every column, null when it holds keys only)
        yield batch.products, batch.variants.clear(), _read_back(led_to.rest)


def planned_ahead(split: Iterator[Part], plan: Callable[[Part], Plan]) -> ReadAhead[Plan]:
    """`plan` of each part, in order. The next part is read and planned in a thread while the
    caller writes this one (read_ahead.py), so the server does not sit idle while the client
    plans. At most two parts' plans exist at once."""
    return ReadAhead((plan(part) for part in split), name="plan-ahead")


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
        kept_protected=total.kept_protected + summary.kept_protected,
        product_ids=pl.concat([total.product_ids, summary.product_ids]),
        ignored_products=pl.concat([total.ignored_products, summary.ignored_products]),
        events_not_held=total.events_not_held + summary.events_not_held,
    )
