"""Each named step of the import diff, alone (no database): the rules of docs/ownership.md
and docs/import-semantics.md one at a time."""

from __future__ import annotations

import polars as pl

from catalog_pipelines.diff import (
    STORED_INVENTORY,
    STORED_PRICES,
    STORED_PRODUCTS,
    Rules,
    diff_inventory,
    diff_prices,
    diff_products,
    prices_to_archive,
    products_to_archive,
)
from tests.support.batches import batch


def _rules(**kw: object) -> Rules:
    base = {
        "source": "shop",
        "owns_content": True,
        "owns_pricing": True,
        "owns_inventory": True,
        "archive_allowed": True,
        "protected_keys": frozenset(),
    }
    return Rules(**{**base, **kw})  # type: ignore[arg-type]


def _with_product_ids(b) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    ids = b.products.select("external_id", pl.format("prod_{}", "external_id").alias("product_id"))
    return b.variants.join(ids, left_on="product_external_id", right_on="external_id")


def test_products_step_marks_new_changed_and_ignores_content_it_does_not_own() -> None:
    b = batch([{"external_id": "A", "name": "a"}, {"external_id": "B", "name": "b"}])
    first = diff_products(b.products, pl.DataFrame(schema=STORED_PRODUCTS), _rules()).frame
    assert first["is_new"].to_list() == [True, True]
    assert first["id"].str.starts_with("prod_").all()
    stored = first.select(
        "id",
        "external_id",
        "content_hash",
        pl.lit(True).alias("active"),
        pl.lit(None, dtype=pl.Utf8).alias("default_price"),
        pl.lit("shop").alias("source"),
    )
    renamed = batch([{"external_id": "A", "name": "a2"}, {"external_id": "B", "name": "b"}])
    step = diff_products(renamed.products, stored, _rules())
    assert step.frame["content_changed"].to_list() == [True, False]
    assert step.frame["id"].to_list() == first["id"].to_list()  # ids are kept
    not_owner = diff_products(renamed.products, stored, _rules(owns_content=False))
    assert not_owner.ignored == 1
    assert not not_owner.frame["content_changed"].any()


def test_prices_step_replaces_on_a_new_amount_and_updates_otherwise() -> None:
    b = batch([{"external_id": "A", "_price": 1000}, {"external_id": "B", "_price": 500}])
    v = _with_product_ids(b)
    first = diff_prices(v, pl.DataFrame(schema=STORED_PRICES), _rules()).frame
    assert first["status"].to_list() == ["create", "create"]
    stored = first.select(
        "id",
        "variant_key",
        "product_id",
        "amount_key",
        "content_hash",
        pl.lit(True).alias("active"),
        pl.lit("shop").alias("source"),
    )
    again = batch([{"external_id": "A", "_price": 1200}, {"external_id": "B", "_price": 500}])
    step = diff_prices(_with_product_ids(again), stored, _rules())
    assert step.frame["status"].to_list() == ["replace", "same"]
    replaced = step.frame.row(0, named=True)
    assert replaced["id"] != replaced["old_id"]  # a new price, the old one is retired
    ignored = diff_prices(_with_product_ids(again), stored, _rules(owns_pricing=False))
    assert ignored.ignored == 1 and set(ignored.frame["status"]) == {"same"}


def test_archive_steps_spare_protected_keys_and_incremental_imports() -> None:
    active = pl.DataFrame({"external_id": ["A", "B", "C"]}, schema={"external_id": pl.Utf8})
    batch_keys = pl.DataFrame({"external_id": ["A"]})
    assert products_to_archive(active, batch_keys, frozenset({"C"}))["external_id"].to_list() == [
        "B"
    ]
    stored_prices = pl.DataFrame(
        [
            ("price_1", "SKU-A", "prod_A", "usd:1", "h", True, "shop"),
            ("price_2", "SKU-B", "prod_B", "usd:1", "h", True, "shop"),
            ("price_3", "SKU-C", "prod_C", "usd:1", "h", True, "other"),
        ],
        schema=STORED_PRICES,
        orient="row",
    )
    variants = batch([{"external_id": "A"}]).variants
    stored_products = pl.DataFrame(schema=STORED_PRODUCTS)
    archived = prices_to_archive(stored_prices, stored_products, variants, _rules())
    assert archived["id"].to_list() == ["price_2"]  # another source's price is not touched
    protected = _rules(protected_keys=frozenset({"SKU-B"}))
    assert prices_to_archive(stored_prices, stored_products, variants, protected).height == 0
    incremental = _rules(archive_allowed=False)
    assert prices_to_archive(stored_prices, stored_products, variants, incremental).height == 0


def test_inventory_step_keeps_stock_it_does_not_own_except_for_new_skus() -> None:
    b = batch([{"external_id": "A", "_qty": 7}, {"external_id": "B", "_qty": 3}])
    v = _with_product_ids(b)
    variant_price = v.select("variant_key", pl.lit("price_x").alias("price_id"))
    stored = pl.DataFrame(
        [("inv_1", "SKU-A", "2:deny", 2, "deny", "prod_A", "price_x", "shop")],
        schema=STORED_INVENTORY,
        orient="row",
    )
    step = diff_inventory(v, variant_price, stored, _rules(owns_inventory=False))
    rows = {r["sku"]: r for r in step.frame.iter_rows(named=True)}
    assert (rows["SKU-A"]["quantity"], rows["SKU-A"]["status"]) == (2, "same")
    assert (rows["SKU-B"]["quantity"], rows["SKU-B"]["status"]) == (3, "create")
    assert step.ignored == 1
    owner = diff_inventory(v, variant_price, stored, _rules()).frame
    assert owner.filter(pl.col("sku") == "SKU-A")["status"].item() == "update"
