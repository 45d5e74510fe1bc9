"""Each named step of the import diff, alone (no database): the rules of docs/ownership.md
and docs/import-semantics.md one at a time."""

from __future__ import annotations

import polars as pl

from catalog_pipelines.diff import (
    STORED_INVENTORY,
    STORED_PRICES,
    STORED_PRODUCTS,
    Plan,
    Rules,
    diff_inventory,
    diff_prices,
    diff_products,
    plan_import,
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


_ALL = frozenset({"content", "pricing", "inventory"})


def _stored_after(plan: Plan) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored products and prices a first import's plan leaves."""
    products = plan.product_creates.select(
        "id",
        "external_id",
        "content_hash",
        "active",
        "default_price",
        pl.lit("shop").alias("source"),
    )
    prices = plan.price_creates.select(
        "id",
        "variant_key",
        "product_id",
        pl.format("{}:{}", "currency", "unit_amount").alias("amount_key"),
        "content_hash",
        "active",
        pl.lit("shop").alias("source"),
    )
    return products, prices


def _variant(product: str, key: str, amount: int) -> dict[str, object]:
    return {
        "product_external_id": product,
        "variant_key": key,
        "sku": key,
        "currency": "usd",
        "unit_amount": amount,
        "inventory_quantity": 1,
    }


def _plan(b, products: pl.DataFrame, prices: pl.DataFrame) -> Plan:  # type: ignore[no-untyped-def]
    no_stock = pl.DataFrame(schema=STORED_INVENTORY)
    return plan_import(
        b.products, b.variants, products, prices, no_stock, source="shop", owns=_ALL, full=False
    )


def test_a_product_left_out_whose_default_moves_away_takes_its_next_price() -> None:
    """Incremental: A's first variant (its default price) moves to B in a file without A. A
    gets its other current price as default, and no other change; another source's product
    keeps its default until an import of its own has it."""
    first = batch(
        [{"external_id": "A", "name": "a"}, {"external_id": "B", "name": "b"}],
        [_variant("A", "a1", 1000), _variant("A", "a2", 1200), _variant("B", "b1", 500)],
    )
    empty = pl.DataFrame(schema=STORED_PRODUCTS), pl.DataFrame(schema=STORED_PRICES)
    products, prices = _stored_after(_plan(first, *empty))
    price_of = dict(zip(prices["variant_key"], prices["id"], strict=True))
    id_of = dict(zip(products["external_id"], products["id"], strict=True))
    assert products.filter(pl.col("external_id") == "A")["default_price"].item() == price_of["a1"]

    moved = batch(
        [{"external_id": "B", "name": "b"}], [_variant("B", "b1", 500), _variant("B", "a1", 1000)]
    )
    plan = _plan(moved, products, prices)
    ops = plan.products.select("id", "op", "content", "default_price", "set_content", "active")
    assert ops.rows() == [(id_of["A"], "update", None, price_of["a2"], False, True)]
    assert plan.product_counts.updated == 1
    assert plan.prices.filter(pl.col("op") == "retire")["id"].to_list() == [price_of["a1"]]

    of_erp = products.with_columns(
        pl.when(pl.col("external_id") == "A")
        .then(pl.lit("erp"))
        .otherwise("source")
        .alias("source")
    )
    assert _plan(moved, of_erp, prices).products.is_empty()
    # the next import that has A, its default retired meanwhile (none of its current prices)
    retired = prices.filter(pl.col("variant_key") != "a1")
    back = batch([{"external_id": "A", "name": "a"}], [_variant("A", "a2", 1200)])
    ops = _plan(back, products, retired).products
    assert ops.select("id", "default_price", "set_content").rows() == [
        (id_of["A"], price_of["a2"], False)
    ]
