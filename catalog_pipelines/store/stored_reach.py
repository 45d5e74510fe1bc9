"""What a re-import's keys lead to among the account's stored rows, taken from all of them.

`read_stored_for.sql` finds these rows by probing an index per key, which is what a re-import
that changes a few products needs. A file that changes most of them would probe a million
keys (about 36 s here), where reading all of the account's keys and hashes takes about 3 s.
`reached` applies the same rules to that whole read; tests/integration/test_stored_reach.py
holds the two to the same rows.
"""

from __future__ import annotations

import polars as pl

from catalog_pipelines.frames import rows_where

_KINDS = ("external_id", "product_id", "variant_key", "sku")


def _values(wanted: dict[str, pl.Series], kind: str) -> pl.Series:
    values = wanted.get(kind, pl.Series([], dtype=pl.Utf8))
    return values.cast(pl.Utf8).drop_nulls().unique()


def products_named(wanted: dict[str, pl.Series]) -> int:
    """How many products the keys name directly."""
    return _values(wanted, "external_id").len()


def reached(
    stored: dict[str, pl.DataFrame], wanted: dict[str, pl.Series], *, consume: bool = False
) -> dict[str, pl.DataFrame]:
    """The rows of `stored` (all of an account's, from read_stored) that read_stored_for.sql
    would find for `wanted`, statement by statement. With `consume`, each of `stored`'s frames
    is taken out of it as soon as its rows are kept: a million products' worth of both at once
    was the peak of a large re-import."""
    masks = reached_masks(stored, wanted)
    # One filter a table, which keeps the table itself when every row is reached: a file that
    # changes most products reaches most rows, and each copy of a table costs its size again
    # (a concat of two filters and a `unique` of the prices took ~400 MB more at a million).
    return {
        name: rows_where(stored.pop(name) if consume else stored[name], mask)
        for name, mask in masks.items()
    }


def reached_masks(
    stored: dict[str, pl.DataFrame], wanted: dict[str, pl.Series]
) -> dict[str, pl.Series]:
    """Which rows of each of `stored`'s tables `reached` keeps, as a boolean mask a table."""
    unknown = set(wanted) - set(_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds of keys: {sorted(unknown)}")
    keys = {kind: _values(wanted, kind) for kind in _KINDS}
    products, prices, inventory = stored["products"], stored["prices"], stored["inventory"]
    # found_inventory, found_products
    in_inventory = inventory["sku"].is_in(keys["sku"].implode())
    found = products["external_id"].is_in(keys["external_id"].implode())
    found_ids = products["id"].filter(found)
    # found_product_prices: the current prices of the products of the keys and of the ids
    ids = pl.concat([found_ids, keys["product_id"]])
    of_products = prices["product_id"].is_in(ids.implode())
    # found_prices: the variants whose price is not among those
    variant_keys = keys["variant_key"]
    other_variants = variant_keys.filter(
        ~variant_keys.is_in(prices["variant_key"].filter(of_products).drop_nulls().implode())
    )
    of_variants = prices["variant_key"].is_in(other_variants.implode())
    # and the current prices of the other products those variants leave
    left_ids = prices["product_id"].filter(of_variants).drop_nulls()
    of_left = prices["product_id"].is_in(left_ids.filter(~left_ids.is_in(ids.implode())).implode())
    # products: those of the keys, and those the ids, the variants and the SKUs lead to
    other_ids = pl.concat(
        [
            keys["product_id"],
            prices["product_id"].filter(of_variants),
            inventory["product_id"].filter(in_inventory),
        ]
    ).drop_nulls()
    other_ids = other_ids.filter(~other_ids.is_in(found_ids.implode()))
    others = products["id"].is_in(other_ids.implode())
    return {
        "products": (found | others).fill_null(False),
        "prices": (of_variants | of_products | of_left).fill_null(False),
        "inventory": in_inventory.fill_null(False),
    }
