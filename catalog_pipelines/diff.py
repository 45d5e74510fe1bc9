"""The import diff, in Polars: what to create, update, archive or leave alone.

Pure functions over frames (no database), so the rules of docs/ownership.md and docs/import-semantics.md can be unit-tested.
Input: the batch's normalized frames and the stored (id, key, hash, ...) of the account.
Output: a `Plan` whose op frames hold only the rows that change.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import polars as pl

from catalog_pipelines.content import (
    canonical_kv,
    hash_series,
    inventory_content,
    merged_kv,
    price_content,
    product_content,
)

RETIRED_HASH = "retired"  # a replaced price is never compared again

STORED_PRODUCTS = {
    "id": pl.Utf8,
    "external_id": pl.Utf8,
    "content_hash": pl.Utf8,
    "active": pl.Boolean,
    "default_price": pl.Utf8,
    "source": pl.Utf8,
}
STORED_PRICES = {
    "id": pl.Utf8,
    "variant_key": pl.Utf8,
    "product_id": pl.Utf8,
    "amount_key": pl.Utf8,
    "content_hash": pl.Utf8,
    "active": pl.Boolean,
    "source": pl.Utf8,
}
STORED_INVENTORY = {
    "id": pl.Utf8,
    "sku": pl.Utf8,
    "content_hash": pl.Utf8,
    "quantity": pl.Int64,
    "policy": pl.Utf8,
    "product_id": pl.Utf8,
    "price_id": pl.Utf8,
    "source": pl.Utf8,
}

PRODUCT_OPS = {
    "id": pl.Utf8,
    "external_id": pl.Utf8,
    "op": pl.Utf8,
    "row_number": pl.Int64,
    "content": pl.Utf8,
    "content_hash": pl.Utf8,
    "default_price": pl.Utf8,
    "set_content": pl.Boolean,
    "active": pl.Boolean,
}
PRICE_OPS = {
    "id": pl.Utf8,
    "op": pl.Utf8,
    "row_number": pl.Int64,
    "product_id": pl.Utf8,
    "variant_key": pl.Utf8,
    "content": pl.Utf8,
    "content_hash": pl.Utf8,
    "replaced_by": pl.Utf8,
    "active": pl.Boolean,
}
INVENTORY_OPS = {
    "id": pl.Utf8,
    "op": pl.Utf8,
    "row_number": pl.Int64,
    "sku": pl.Utf8,
    "product_id": pl.Utf8,
    "price_id": pl.Utf8,
    "quantity": pl.Int64,
    "policy": pl.Utf8,
    "content_hash": pl.Utf8,
}


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "archived": self.archived,
        }


@dataclass
class Plan:
    """Creates carry typed rows (they are COPYed straight into the catalog tables); the
    other ops carry what the SQL in store/sql/apply_import.sql needs."""

    products: pl.DataFrame  # PRODUCT_OPS: update | archive
    prices: pl.DataFrame  # PRICE_OPS: update | retire | archive
    inventory: pl.DataFrame  # INVENTORY_OPS: update
    product_creates: pl.DataFrame
    price_creates: pl.DataFrame
    inventory_creates: pl.DataFrame
    product_counts: Counts = field(default_factory=Counts)
    price_counts: Counts = field(default_factory=Counts)
    inventory_counts: Counts = field(default_factory=Counts)
    ignored_not_owned: int = 0
    active_products_of_source: int = 0
    warnings: list[str] = field(default_factory=list)
    # The source owns inventory: the items it updates become its own (docs/hybrid-sources.md).
    claims_inventory: bool = False

    @property
    def archive_fraction(self) -> float:
        if not self.active_products_of_source:
            return 0.0
        return self.product_counts.archived / self.active_products_of_source

    @property
    def events(self) -> int:
        return sum(
            f.height
            for f in (
                self.products,
                self.prices,
                self.inventory,
                self.product_creates,
                self.price_creates,
                self.inventory_creates,
            )
        )


def new_ids(prefix: str, n: int) -> pl.Series:
    """Time-ordered ids: milliseconds, a random run part, then a counter. B-tree inserts of
    ordered keys append to the right edge instead of splitting pages all over the index."""
    head = f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(3)}"
    return pl.Series([f"{head}{i:07x}" for i in range(n)], dtype=pl.Utf8)


def _with_new_ids(df: pl.DataFrame, mask: str, prefix: str, column: str = "id") -> pl.DataFrame:
    """Fill `column` with fresh ids where `mask` is true."""
    n = int(df[mask].sum())
    if n == 0:
        return df
    ids = new_ids(prefix, n)
    idx = df.with_row_index("_i").filter(pl.col(mask))["_i"]
    filled = df[column].scatter(idx, ids)
    return df.with_columns(filled.alias(column))


def _hash(df: pl.DataFrame, content: pl.Expr) -> pl.DataFrame:
    """Add the content hash. The content JSON itself is not kept: it is as large as the row,
    and only the few changed rows need it again (rebuilt then, from the same expression)."""
    return df.with_columns(hash_series(df.select(content).to_series()).alias("content_hash"))


def plan_import(
    products: pl.DataFrame,
    variants: pl.DataFrame,
    stored_products: pl.DataFrame,
    stored_prices: pl.DataFrame,
    stored_inventory: pl.DataFrame,
    *,
    source: str,
    owns: frozenset[str],
    full: bool,
    protected_keys: frozenset[str] = frozenset(),
) -> Plan:
    """`protected_keys`: values seen in rejected rows. A full import never archives an object
    whose key appears there: its row was bad, not missing."""
    warnings: list[str] = []
    owns_content = "content" in owns
    owns_pricing = "pricing" in owns
    owns_inventory = "inventory" in owns
    ignored = 0
    archive_allowed = full and products.height > 0
    if full and products.height == 0:
        warnings.append("the input has no rows: nothing is archived (an empty file never archives)")

    # ---- products: content group -------------------------------------------------------
    p = _hash(products, product_content()).join(
        stored_products.rename(
            {
                "id": "old_id",
                "content_hash": "old_hash",
                "active": "old_active",
                "default_price": "old_default_price",
                "source": "old_source",
            }
        ),
        on="external_id",
        how="left",
    )
    p = p.with_columns(
        pl.col("old_id").is_null().alias("is_new"),
        (
            pl.col("old_id").is_not_null()
            & (
                (pl.col("old_hash") != pl.col("content_hash"))
                | (pl.col("old_active") != pl.col("active").fill_null(True))
            )
        ).alias("content_changed"),
    )
    if not owns_content:
        # A new product is still created from the file (so prices and stock can hang on it);
        # an existing one keeps the catalog's content.
        ignored += int(p["content_changed"].sum())
        p = p.with_columns(pl.lit(False).alias("content_changed"))
    p = p.with_columns(pl.col("old_id").alias("id"))
    p = _with_new_ids(p, "is_new", "prod")
    product_ids = p.select("external_id", pl.col("id").alias("product_id"))

    # ---- prices: pricing group ---------------------------------------------------------
    v = variants.join(
        product_ids, left_on="product_external_id", right_on="external_id", how="inner"
    )
    priced = v.filter(pl.col("unit_amount").is_not_null()).with_columns(
        pl.concat_str(
            [pl.col("currency"), pl.col("unit_amount").cast(pl.Utf8)], separator=":"
        ).alias("amount_key"),
    )
    priced = _hash(priced, price_content()).join(
        stored_prices.rename(
            {
                "id": "old_id",
                "product_id": "old_product_id",
                "amount_key": "old_amount_key",
                "content_hash": "old_hash",
                "active": "old_active",
                "source": "old_source",
            }
        ),
        on="variant_key",
        how="left",
    )
    priced = priced.with_columns(
        pl.when(pl.col("old_id").is_null())
        .then(pl.lit("create"))
        .when(
            (pl.col("old_amount_key") != pl.col("amount_key"))
            | (pl.col("old_product_id") != pl.col("product_id"))
        )
        .then(pl.lit("replace"))
        .when(
            (pl.col("old_hash") != pl.col("content_hash"))
            | (pl.col("old_active") != pl.col("active").fill_null(True))
        )
        .then(pl.lit("update"))
        .otherwise(pl.lit("same"))
        .alias("status")
    )
    if not owns_pricing:
        ignored += int((priced["status"] != "same").sum())
        priced = priced.with_columns(pl.lit("same").alias("status"))
    priced = priced.with_columns(
        pl.when(pl.col("status").is_in(["create", "replace"]))
        .then(pl.lit(None, dtype=pl.Utf8))
        .otherwise(pl.col("old_id"))
        .alias("id"),
        pl.col("status").is_in(["create", "replace"]).alias("needs_id"),
    )
    priced = _with_new_ids(priced, "needs_id", "price")
    # The price each variant points at after this import (null when it has none).
    variant_price = priced.filter(pl.col("id").is_not_null()).select(
        "variant_key", pl.col("id").alias("price_id")
    )
    batch_keys = variants.select("variant_key")
    archived_prices = pl.DataFrame(schema=STORED_PRICES)
    protected_products = stored_products.filter(pl.col("external_id").is_in(list(protected_keys)))[
        "id"
    ]
    if owns_pricing and archive_allowed:
        archived_prices = (
            stored_prices.filter((pl.col("source") == source) & pl.col("active"))
            .join(batch_keys, on="variant_key", how="anti")
            .filter(~pl.col("variant_key").is_in(list(protected_keys)))
            .filter(~pl.col("product_id").is_in(protected_products.to_list()))
        )

    price_creates = priced.filter(pl.col("status").is_in(["create", "replace"])).select(
        "id",
        "row_number",
        "product_id",
        "variant_key",
        pl.col("sku").alias("lookup_key"),
        "currency",
        "unit_amount",
        "nickname",
        merged_kv(pl.col("options"), pl.col("metadata")).alias("metadata"),
        pl.col("active").fill_null(True),
        "content_hash",
    )
    price_ops = pl.concat(
        [
            priced.filter(pl.col("status") == "update").select(
                "id",
                pl.lit("update").alias("op"),
                "row_number",
                "product_id",
                "variant_key",
                price_content().alias("content"),
                "content_hash",
                pl.lit(None, dtype=pl.Utf8).alias("replaced_by"),
                pl.col("active").fill_null(True),
            ),
            priced.filter(pl.col("status") == "replace").select(
                pl.col("old_id").alias("id"),
                pl.lit("retire").alias("op"),
                "row_number",
                pl.col("old_product_id").alias("product_id"),
                "variant_key",
                pl.lit(None, dtype=pl.Utf8).alias("content"),
                pl.lit(RETIRED_HASH).alias("content_hash"),
                pl.col("id").alias("replaced_by"),
                pl.lit(False).alias("active"),
            ),
            archived_prices.select(
                "id",
                pl.lit("archive").alias("op"),
                pl.lit(None, dtype=pl.Int64).alias("row_number"),
                "product_id",
                "variant_key",
                pl.lit(None, dtype=pl.Utf8).alias("content"),
                "content_hash",  # unchanged: archiving flips `active` only
                pl.lit(None, dtype=pl.Utf8).alias("replaced_by"),
                pl.lit(False).alias("active"),
            ),
        ],
        how="vertical_relaxed",
    ).cast(PRICE_OPS)  # type: ignore[arg-type]
    st = priced["status"].value_counts()
    status_n = dict(zip(st["status"].to_list(), st["count"].to_list(), strict=True))
    price_counts = Counts(
        created=status_n.get("create", 0) + status_n.get("replace", 0),
        updated=status_n.get("update", 0),
        unchanged=status_n.get("same", 0),
        archived=status_n.get("replace", 0) + archived_prices.height,
    )

    # ---- default price: keep the stored one while it stays valid -------------------------
    replaced = priced.filter(pl.col("status") == "replace").select(
        pl.col("old_id").alias("old_default_price"), pl.col("id").alias("replacement")
    )
    first_price = (
        v.join(variant_price, on="variant_key", how="inner")
        .sort("row_number")
        .group_by("product_id", maintain_order=True)
        .agg(pl.col("price_id").first().alias("first_price"))
    )
    p = (
        p.join(replaced, on="old_default_price", how="left")
        .join(first_price, left_on="id", right_on="product_id", how="left")
        .with_columns(
            pl.coalesce("replacement", "old_default_price").alias("kept_price"),
        )
    )
    if owns_pricing:
        # Dead: archived now, or archived earlier and not brought back by this batch.
        dead = set(archived_prices["id"].to_list()) | set(
            stored_prices.filter(~pl.col("active"))
            .join(variant_price, left_on="id", right_on="price_id", how="anti")["id"]
            .to_list()
        )
        p = p.with_columns(
            pl.when(pl.col("kept_price").is_null() | pl.col("kept_price").is_in(list(dead)))
            .then(pl.col("first_price"))
            .otherwise(pl.col("kept_price"))
            .alias("default_price")
        )
    else:
        p = p.with_columns(pl.col("kept_price").alias("default_price"))
    p = p.with_columns(
        (
            ~pl.col("is_new")
            & (
                pl.col("content_changed")
                | pl.col("default_price").ne_missing(pl.col("old_default_price"))
            )
        ).alias("changed")
    )
    archived_products = pl.DataFrame(schema=STORED_PRODUCTS)
    active_of_source = stored_products.filter((pl.col("source") == source) & pl.col("active"))
    if owns_content and archive_allowed:
        archived_products = active_of_source.join(
            products.select("external_id"), on="external_id", how="anti"
        ).filter(~pl.col("external_id").is_in(list(protected_keys)))
        if protected_keys and archived_products.height:
            kept = active_of_source.height - products.height - archived_products.height
            if kept > 0:
                warnings.append(f"{kept} product(s) named in rejected rows were not archived")
    product_creates = p.filter(pl.col("is_new")).select(
        "id",
        "external_id",
        "row_number",
        "name",
        "description",
        pl.col("active").fill_null(True),
        pl.col("images").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))),
        "url",
        "shippable",
        "tax_code",
        "unit_label",
        canonical_kv(pl.col("metadata")).alias("metadata"),
        "default_price",
        "content_hash",
    )
    product_ops = pl.concat(
        [
            p.filter(pl.col("changed")).select(
                "id",
                "external_id",
                pl.lit("update").alias("op"),
                "row_number",
                product_content().alias("content"),
                "content_hash",
                "default_price",
                pl.col("content_changed").alias("set_content"),
                pl.col("active").fill_null(True),
            ),
            archived_products.select(
                "id",
                "external_id",
                pl.lit("archive").alias("op"),
                pl.lit(None, dtype=pl.Int64).alias("row_number"),
                pl.lit(None, dtype=pl.Utf8).alias("content"),
                "content_hash",  # unchanged: archiving flips `active` only
                "default_price",
                pl.lit(False).alias("set_content"),
                pl.lit(False).alias("active"),
            ),
        ],
        how="vertical_relaxed",
    ).cast(PRODUCT_OPS)  # type: ignore[arg-type]
    n_new = int(p["is_new"].sum())
    n_changed = int(p["changed"].sum())
    product_counts = Counts(
        created=n_new,
        updated=n_changed,
        unchanged=p.height - n_new - n_changed,
        archived=archived_products.height,
    )

    # ---- inventory: quantity and policy ------------------------------------------------
    inv = (
        v.filter(pl.col("sku").is_not_null())
        .join(variant_price, on="variant_key", how="left")
        .join(
            stored_inventory.rename(
                {
                    "id": "old_id",
                    "content_hash": "old_hash",
                    "quantity": "old_quantity",
                    "policy": "old_policy",
                    "product_id": "old_product_id",
                    "price_id": "old_price_id",
                    "source": "old_source",
                }
            ),
            on="sku",
            how="left",
        )
    )
    is_new_item = pl.col("old_id").is_null()
    if owns_inventory:
        quantity = pl.coalesce("inventory_quantity", "old_quantity", pl.lit(0, dtype=pl.Int64))
        policy = pl.coalesce("inventory_policy", "old_policy", pl.lit("deny"))
    else:
        differs = pl.col("inventory_quantity").is_not_null() & pl.col(
            "inventory_quantity"
        ).ne_missing(pl.col("old_quantity"))
        differs = differs | (
            pl.col("inventory_policy").is_not_null()
            & pl.col("inventory_policy").ne_missing(pl.col("old_policy"))
        )
        ignored += int(inv.filter(~is_new_item).select(differs.sum()).item() or 0)
        # The one exception of docs/ownership.md: a new SKU starts from the file's quantity.
        quantity = (
            pl.when(is_new_item)
            .then(pl.coalesce("inventory_quantity", pl.lit(0, dtype=pl.Int64)))
            .otherwise(pl.col("old_quantity"))
        )
        policy = (
            pl.when(is_new_item)
            .then(pl.coalesce("inventory_policy", pl.lit("deny")))
            .otherwise(pl.col("old_policy"))
        )
    if not owns_pricing:
        inv = inv.with_columns(pl.coalesce("price_id", "old_price_id").alias("price_id"))
    inv = inv.with_columns(quantity.alias("quantity"), policy.alias("policy"))
    inv = inv.with_columns(inventory_content().alias("content_hash"))
    inv = inv.with_columns(
        pl.when(is_new_item)
        .then(pl.lit("create"))
        .when(
            pl.col("old_hash").ne_missing(pl.col("content_hash"))
            | pl.col("old_price_id").ne_missing(pl.col("price_id"))
            | pl.col("old_product_id").ne_missing(pl.col("product_id"))
            # an item nobody owned becomes this source's (ownership.py rejects the others)
            | (pl.lit(owns_inventory) & pl.col("old_source").ne_missing(pl.lit(source)))
        )
        .then(pl.lit("update"))
        .otherwise(pl.lit("same"))
        .alias("status"),
        pl.col("old_id").alias("id"),
        is_new_item.alias("is_new"),
    )
    inv = _with_new_ids(inv, "is_new", "inv")
    inventory_creates = inv.filter(pl.col("status") == "create").select(
        "id", "row_number", "sku", "product_id", "price_id", "quantity", "policy", "content_hash"
    )
    inventory_ops = (
        inv.filter(pl.col("status") == "update")
        .select(
            "id",
            pl.col("status").alias("op"),
            "row_number",
            "sku",
            "product_id",
            "price_id",
            "quantity",
            "policy",
            "content_hash",
        )
        .cast(INVENTORY_OPS)  # type: ignore[arg-type]
    )
    ist = inv["status"].value_counts()
    inv_n = dict(zip(ist["status"].to_list(), ist["count"].to_list(), strict=True))
    inventory_counts = Counts(
        created=inv_n.get("create", 0),
        updated=inv_n.get("update", 0),
        unchanged=inv_n.get("same", 0),
    )

    return Plan(
        products=product_ops,
        prices=price_ops,
        inventory=inventory_ops,
        product_creates=product_creates,
        price_creates=price_creates,
        inventory_creates=inventory_creates,
        product_counts=product_counts,
        price_counts=price_counts,
        inventory_counts=inventory_counts,
        ignored_not_owned=ignored,
        active_products_of_source=active_of_source.height,
        warnings=warnings,
        claims_inventory=owns_inventory,
    )
