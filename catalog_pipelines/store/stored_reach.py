"""What a re-import's keys lead to among the account's stored rows, taken from all of them.

`read_stored_for.sql` finds these rows by probing an index per key, which is what a re-import
that changes a few products needs. A file that changes most of them would probe a million
keys (about 36 s here), where reading all of the account's keys and hashes takes about 3 s.
`reached` applies the same rules to that whole read; tests/integration/test_stored_reach.py
holds the two to the same rows.
"""

from __future__ import annotations

import polars as pl

_KINDS = ("external_id", "product_id", "variant_key", "sku")


def _values(wanted: dict[str, pl.Series], kind: str) -> pl.Series:
    values = wanted.get(kind, pl.Series([], dtype=pl.Utf8))
    return values.cast(pl.Utf8).drop_nulls().unique()


def products_named(wanted: dict[str, pl.Series]) -> int:
    """How many products the keys name directly."""
    return _values(wanted, "external_id").len()


def reached(
    stored: dict[str, pl.DataFrame], wanted: dict[str, pl.Series]
) -> dict[str, pl.DataFrame]:
    """The rows of `stored` (all of an account's, from read_stored) that read_stored_for.sql
    would find for `wanted`, statement by statement."""
    unknown = set(wanted) - set(_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds of keys: {sorted(unknown)}")
    keys = {kind: _values(wanted, kind) for kind in _KINDS}
    products, prices = stored["products"], stored["prices"]
    # found_inventory, found_products
    inventory = stored["inventory"].filter(pl.col("sku").is_in(keys["sku"].implode()))
    found_products = products.filter(pl.col("external_id").is_in(keys["external_id"].implode()))
    # found_product_prices: the current prices of the products of the keys and of the ids
    ids = pl.concat([found_products["id"], keys["product_id"]])
    product_prices = prices.filter(pl.col("product_id").is_in(ids.implode()))
    # found_prices: the variants whose price is not among those
    variant_keys = keys["variant_key"]
    other_variants = variant_keys.filter(
        ~variant_keys.is_in(product_prices["variant_key"].drop_nulls().implode())
    )
    variant_prices = prices.filter(pl.col("variant_key").is_in(other_variants.implode()))
    # products: those of the keys, and those the ids, the variants and the SKUs lead to
    other_ids = pl.concat(
        [keys["product_id"], variant_prices["product_id"], inventory["product_id"]]
    ).drop_nulls()
    other_ids = other_ids.filter(~other_ids.is_in(found_products["id"].implode()))
    return {
        "products": pl.concat(
            [found_products, products.filter(pl.col("id").is_in(other_ids.implode()))]
        ),
        "prices": pl.concat([variant_prices, product_prices]).unique(maintain_order=True),
        "inventory": inventory,
    }
