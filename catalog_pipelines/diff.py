"""The import diff, in Polars: what to create, update, archive or leave alone.

Pure functions over frames (no database), so the rules of docs/ownership.md and docs/import-semantics.md can be unit-tested.
Input: the batch's normalized frames and the stored (id, key, hash, ...) of the account.
Output: a `Plan` whose op frames hold only the rows that change.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from catalog_pipelines.content import (
    canonical_kv,
    content_hash,
    inventory_content,
    is_legacy,
    legacy_hash_series,
    merged_kv,
    price_content,
    product_content,
)
from catalog_pipelines.frames import rows_where

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
# A stored hash of an older version whose content did not change: rewritten to the current
# version by the apply, with no version and no event (content.py).
HASH_UPGRADES = {"id": pl.Utf8, "old_hash": pl.Utf8, "content_hash": pl.Utf8}

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

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.archived + other.archived,
        )

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
    # products a full import left out but did not archive, as a rejected row names them
    kept_protected: int = 0
    # The source owns inventory: the items it updates become its own (docs/hybrid-sources.md).
    claims_inventory: bool = False
    product_hash_upgrades: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=HASH_UPGRADES)
    )
    price_hash_upgrades: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=HASH_UPGRADES)
    )
    # (external_id, id) of every product of the batch, new ones with their fresh ids
    product_ids: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"external_id": pl.Utf8, "id": pl.Utf8})
    )
    # products whose rows held changes the source does not own (counted in ignored_not_owned)
    ignored_products: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.Utf8))
    # Set by the apply: the event log's head once it held the log's lock, before its own
    # events (store/snapshots.py tells the run's own events from everyone else's by it).
    log_head_before_events: int = 0
    # Events of rows this plan no longer holds: a plan written in parts keeps its parts' counts,
    # not their rows (plan_parts.py).
    events_not_held: int = 0

    @property
    def archive_fraction(self) -> float:
        if not self.active_products_of_source:
            return 0.0
        return self.product_counts.archived / self.active_products_of_source

    @property
    def events(self) -> int:
        return self.events_not_held + sum(
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


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_COUNTER_SHIFTS = np.arange(24, -1, -4, dtype=np.uint32)  # 7 hex digits, most significant first


def new_ids(prefix: str, n: int) -> pl.Series:
    """Time-ordered ids: milliseconds, a random run part, then a 7-digit hex counter. B-tree
    inserts of ordered keys append to the right edge instead of splitting pages all over the
    index. Built as bytes in numpy: a Python string per id took 0.3 s a million."""
    if n > 1 << 28:
        raise ValueError(f"{n} ids at once: the counter has 7 hex digits")
    head = f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(3)}".encode()
    width = len(head) + len(_COUNTER_SHIFTS)
    ids = np.empty((n, width), dtype=np.uint8)
    ids[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    ids[:, len(head) :] = _HEX[(np.arange(n, dtype=np.uint32)[:, None] >> _COUNTER_SHIFTS) & 0xF]
    return pl.Series(ids.view(f"S{width}").ravel()).cast(pl.Utf8)


@dataclass(frozen=True)
class Step:
    """One step's frame and the changes it ignored because the source does not own them."""

    frame: pl.DataFrame
    ignored: int = 0
    # ids of the stored products whose rows held such changes (fingerprints.py skips none)
    ignored_products: pl.Series = field(default_factory=lambda: pl.Series([], dtype=pl.Utf8))


def _with_new_ids(df: pl.DataFrame, mask: str, prefix: str, column: str = "id") -> pl.DataFrame:
    """Fill `column` with fresh ids where `mask` is true."""
    n = int(df[mask].sum())
    if n == 0:
        return df
    ids = new_ids(prefix, n)
    idx = df.with_row_index("_i").filter(pl.col(mask))["_i"]
    filled = df[column].scatter(idx, ids)
    return df.with_columns(filled.alias(column))


PRODUCT_KEYS = ("row_number", "external_id", "active")  # what the product diff carries
HASH_SLICE = 100_000  # rows whose content JSON exists at once while hashing


def _hash(df: pl.DataFrame, content: pl.Expr) -> pl.DataFrame:
    """Add the content hash, computed in Polars. The content JSON itself is not kept: it is as
    large as the row, and only the few changed rows need it again (rebuilt then, from the same
    expression). Hashed in slices, so the JSON of a million rows never exists at once."""
    parts = [
        df.slice(start, HASH_SLICE).select(content_hash(content).alias("content_hash"))
        for start in range(0, df.height, HASH_SLICE)
    ]
    if not parts:
        return df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("content_hash"))
    return df.with_columns(pl.concat(parts)["content_hash"])


def compare_hashes(
    joined: pl.DataFrame, content: pl.Expr, key: str, source: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Add `hash_differs` (the content moved since it was stored; null for a new object) and
    `upgrade_hash` (the stored hash is of an older version but the content is the same).

    `joined` holds `key` (unique), `content_hash` and the stored `old_hash`; `content` is
    evaluated on `source` (default: `joined`), the frame with the content columns. Rows with a
    legacy stored hash are compared with the legacy digest of their content, computed for
    those rows only."""
    legacy = is_legacy(pl.col("old_hash")).fill_null(False)
    legacy_keys = joined.filter(legacy).select(key)
    if legacy_keys.height == 0:
        return joined.with_columns(
            pl.col("old_hash").ne(pl.col("content_hash")).alias("hash_differs"),
            pl.lit(False).alias("upgrade_hash"),
        )
    rows = (joined if source is None else source).join(legacy_keys, on=key, how="semi")
    digests = rows.select(
        key, legacy_hash_series(rows.select(content).to_series()).alias("_legacy_hash")
    )
    out = joined.join(digests, on=key, how="left", maintain_order="left")
    return out.with_columns(
        pl.when(legacy)
        .then(pl.col("old_hash") != pl.col("_legacy_hash"))
        .otherwise(pl.col("old_hash").ne(pl.col("content_hash")))
        .alias("hash_differs"),
        (legacy & (pl.col("old_hash") == pl.col("_legacy_hash")))
        .fill_null(False)
        .alias("upgrade_hash"),
    ).drop("_legacy_hash")


def hash_upgrades(frame: pl.DataFrame, keep: pl.Expr) -> pl.DataFrame:
    """HASH_UPGRADES rows of the objects that `keep` selects among those to upgrade."""
    return frame.filter(pl.col("upgrade_hash") & keep).select(list(HASH_UPGRADES))


def products_to_archive(
    active_of_source: pl.DataFrame,
    batch_keys: pl.DataFrame,
    protected_keys: frozenset[str],
) -> pl.DataFrame:
    """The source's active products a full import archives: those missing from the batch,
    except any named in a rejected row (its row was bad, not missing). Shared with the
    guard (preflight.py)."""
    return active_of_source.join(
        batch_keys.select("external_id"), on="external_id", how="anti"
    ).filter(~pl.col("external_id").is_in(list(protected_keys)))


@dataclass(frozen=True)
class Rules:
    """What the source may change and whether missing objects are archived."""

    source: str
    owns_content: bool
    owns_pricing: bool
    owns_inventory: bool
    archive_allowed: bool  # a full import of a non-empty batch
    protected_keys: frozenset[str]  # keys named in rejected rows: never archived


def _status_counts(status: pl.Series) -> dict[str, int]:
    st = status.value_counts()
    return dict(zip(st[status.name].to_list(), st["count"].to_list(), strict=True))


def diff_products(products: pl.DataFrame, stored_products: pl.DataFrame, rules: Rules) -> Step:
    """Hash each product's content group and match it to the stored product by external id.

    The step's frame is narrow: PRODUCT_KEYS, the hashes, the stored values and `id` (fresh
    for new products), `is_new` and `content_changed`. The content columns stay in `products`
    and are gathered only for the products that are written (product_plan), so an unchanged
    catalog never copies them. `ignored` counts content changes a source that does not own
    content may not make."""
    hashed = _hash(products, product_content())
    p = hashed.select(*PRODUCT_KEYS, "content_hash").join(
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
        maintain_order="left",
    )
    p = compare_hashes(p, product_content(), "external_id", source=products)
    p = p.with_columns(
        pl.col("old_id").is_null().alias("is_new"),
        (
            pl.col("old_id").is_not_null()
            & (pl.col("hash_differs") | (pl.col("old_active") != pl.col("active").fill_null(True)))
        ).alias("content_changed"),
    )
    ignored = 0
    ignored_products = pl.Series([], dtype=pl.Utf8)
    if not rules.owns_content:
        # A new product is still created from the file (so prices and stock can hang on it);
        # an existing one keeps the catalog's content.
        ignored = int(p["content_changed"].sum())
        ignored_products = p.filter(pl.col("content_changed"))["old_id"]
        p = p.with_columns(pl.lit(False).alias("content_changed"))
    p = p.with_columns(pl.col("old_id").alias("id"))
    return Step(_with_new_ids(p, "is_new", "prod"), ignored, ignored_products)


def diff_prices(
    variants_of_products: pl.DataFrame, stored_prices: pl.DataFrame, rules: Rules
) -> Step:
    """Match each priced variant to its current stored price and classify it: `create`,
    `replace` (amount, currency or product moved: prices are immutable), `update` or `same`.
    New and replacing prices get fresh ids."""
    priced = variants_of_products.filter(pl.col("unit_amount").is_not_null()).with_columns(
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
    priced = compare_hashes(priced, price_content(), "variant_key")
    priced = priced.with_columns(
        pl.when(pl.col("old_id").is_null())
        .then(pl.lit("create"))
        .when(
            (pl.col("old_amount_key") != pl.col("amount_key"))
            | (pl.col("old_product_id") != pl.col("product_id"))
        )
        .then(pl.lit("replace"))
        .when(pl.col("hash_differs") | (pl.col("old_active") != pl.col("active").fill_null(True)))
        .then(pl.lit("update"))
        .otherwise(pl.lit("same"))
        .alias("status")
    )
    ignored = 0
    ignored_products = pl.Series([], dtype=pl.Utf8)
    if not rules.owns_pricing:
        ignored = int((priced["status"] != "same").sum())
        ignored_products = priced.filter(pl.col("status") != "same")["product_id"]
        priced = priced.with_columns(pl.lit("same").alias("status"))
    priced = priced.with_columns(
        pl.when(pl.col("status").is_in(["create", "replace"]))
        .then(pl.lit(None, dtype=pl.Utf8))
        .otherwise(pl.col("old_id"))
        .alias("id"),
        pl.col("status").is_in(["create", "replace"]).alias("needs_id"),
    )
    return Step(_with_new_ids(priced, "needs_id", "price"), ignored, ignored_products)


def prices_to_archive(
    stored_prices: pl.DataFrame,
    stored_products: pl.DataFrame,
    variants: pl.DataFrame,
    rules: Rules,
) -> pl.DataFrame:
    """The source's active prices whose variant is missing from a full import, except those
    of a variant or product named in a rejected row."""
    if not (rules.owns_pricing and rules.archive_allowed):
        return pl.DataFrame(schema=STORED_PRICES)
    protected_products = stored_products.filter(
        pl.col("external_id").is_in(list(rules.protected_keys))
    )["id"]
    return (
        stored_prices.filter((pl.col("source") == rules.source) & pl.col("active"))
        .join(variants.select("variant_key"), on="variant_key", how="anti")
        .filter(~pl.col("variant_key").is_in(list(rules.protected_keys)))
        .filter(~pl.col("product_id").is_in(protected_products.to_list()))
    )


def price_plan(
    priced: pl.DataFrame, archived_prices: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    """(creates, ops, counts) of the prices: a replaced price is retired and its successor
    created; archived prices flip `active` only."""
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
    status_n = _status_counts(priced["status"])
    counts = Counts(
        created=status_n.get("create", 0) + status_n.get("replace", 0),
        updated=status_n.get("update", 0),
        unchanged=status_n.get("same", 0),
        archived=status_n.get("replace", 0) + archived_prices.height,
    )
    return price_creates, price_ops, counts


def resolve_default_prices(
    p: pl.DataFrame,
    priced: pl.DataFrame,
    variants_of_products: pl.DataFrame,
    variant_price: pl.DataFrame,
    stored_prices: pl.DataFrame,
    archived_prices: pl.DataFrame,
    rules: Rules,
) -> pl.DataFrame:
    """Each product's `default_price`: the stored one (or its replacement) while it stays
    alive, else the first price of the product's rows; then `changed` for existing products.
    A price replaced because its variant moved to another product is dead to the product it
    left: its replacement is the other product's. So is a stored default that is none of its
    product's current prices: its variant moved in an import that left the product out."""
    replaces = priced.filter(pl.col("status") == "replace")
    moved = pl.col("product_id").ne_missing(pl.col("old_product_id"))
    replaced = replaces.filter(~moved).select(
        pl.col("old_id").alias("old_default_price"), pl.col("id").alias("replacement")
    )
    first_price = (
        variants_of_products.join(variant_price, on="variant_key", how="inner")
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
    if rules.owns_pricing:
        # Dead: archived now, or archived earlier and not brought back by this batch.
        # stored_prices holds every current price of the products found by key.
        retired = p.filter(pl.col("old_default_price").is_not_null()).join(
            stored_prices.select(
                pl.col("id").alias("old_default_price"), pl.col("product_id").alias("old_id")
            ),
            on=["old_default_price", "old_id"],
            how="anti",
        )
        dead = (
            set(archived_prices["id"].to_list())
            | set(replaces.filter(moved)["old_id"].to_list())
            | set(retired["old_default_price"].to_list())
            | set(
                stored_prices.filter(~pl.col("active"))
                .join(variant_price, left_on="id", right_on="price_id", how="anti")["id"]
                .to_list()
            )
        )
        p = p.with_columns(
            pl.when(pl.col("kept_price").is_null() | pl.col("kept_price").is_in(list(dead)))
            .then(pl.col("first_price"))
            .otherwise(pl.col("kept_price"))
            .alias("default_price")
        )
    else:
        p = p.with_columns(pl.col("kept_price").alias("default_price"))
    return p.with_columns(
        (
            ~pl.col("is_new")
            & (
                pl.col("content_changed")
                | pl.col("default_price").ne_missing(pl.col("old_default_price"))
            )
        ).alias("changed")
    )


def repoint_left_products(
    p: pl.DataFrame,
    priced: pl.DataFrame,
    stored_products: pl.DataFrame,
    stored_prices: pl.DataFrame,
    archived: tuple[pl.DataFrame, pl.DataFrame],
    rules: Rules,
) -> pl.DataFrame:
    """The stored products, not in the batch, whose default price a moving variant takes
    away (an incremental import, or rejected rows, left them out), with `new_default`: their
    first other current, active price, ids sorting by creation, or none. The read brings
    every current price of such a product. Only the source's own products: another source's
    keeps its default until an import of its own has the product (resolve_default_prices).
    `archived`: the products and the prices this import archives."""
    schema = {**STORED_PRODUCTS, "new_default": pl.Utf8}
    moved = priced.filter(
        (pl.col("status") == "replace") & pl.col("product_id").ne_missing(pl.col("old_product_id"))
    )
    if not rules.owns_pricing or moved.is_empty():
        return pl.DataFrame(schema=schema)
    archived_products, archived_prices = archived
    left = (
        stored_products.join(
            moved.select(pl.col("old_product_id").alias("id"), pl.col("old_id").alias("gone")),
            left_on=["id", "default_price"],
            right_on=["id", "gone"],
            how="semi",
        )
        .filter(pl.col("source") == rules.source)
        .join(p.select(pl.col("old_id").alias("id")).drop_nulls(), on="id", how="anti")
        .join(archived_products.select("id"), on="id", how="anti")
    )
    if left.is_empty():
        return pl.DataFrame(schema=schema)
    gone = pl.concat([moved["old_id"], archived_prices["id"]])
    remaining = (
        stored_prices.filter(
            pl.col("product_id").is_in(left["id"].implode())
            & pl.col("active")
            & ~pl.col("id").is_in(gone.implode())
        )
        .sort("id")
        .group_by("product_id", maintain_order=True)
        .agg(pl.col("id").first().alias("new_default"))
    )
    return left.join(remaining, left_on="id", right_on="product_id", how="left").select(*schema)


def _with_content(products: pl.DataFrame, p: pl.DataFrame, rows: pl.Expr) -> pl.DataFrame:
    """The content columns of the products that `rows` selects in the diff frame `p`."""
    if p.height == products.height and p["external_id"].equals(products["external_id"]):
        # `p` is row for row `products` (diff_products keeps its order): select, don't join.
        # The join copied every content column of an initial import (~300 MB a million).
        mask = p.select(rows.fill_null(False)).to_series()
        chosen = rows_where(p, mask).drop(*PRODUCT_KEYS)
        return rows_where(products, mask).hstack(chosen)
    chosen = p.filter(rows).drop(*(c for c in PRODUCT_KEYS if c != "external_id"))
    return products.join(chosen, on="external_id", how="inner", maintain_order="right")


def _contentless_ops(
    products: pl.DataFrame, op: str, default_price: str, active: pl.Expr
) -> pl.DataFrame:
    """Ops on stored `products` that leave their content and its hash as stored."""
    return products.select(
        "id",
        "external_id",
        pl.lit(op).alias("op"),
        pl.lit(None, dtype=pl.Int64).alias("row_number"),
        pl.lit(None, dtype=pl.Utf8).alias("content"),
        "content_hash",
        pl.col(default_price).alias("default_price"),
        pl.lit(False).alias("set_content"),
        active.alias("active"),
    )


def product_plan(
    p: pl.DataFrame,
    archived_products: pl.DataFrame,
    products: pl.DataFrame,
    repointed: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    """(creates, ops, counts) of the products: `p` is the diff frame (diff_products),
    `products` the batch's products with their content, `repointed` the stored products
    that only get another default price (repoint_left_products)."""
    product_creates = _with_content(products, p, pl.col("is_new")).select(
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
            _with_content(products, p, pl.col("changed")).select(
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
            # archiving flips `active` only
            _contentless_ops(archived_products, "archive", "default_price", pl.lit(False)),
            # `active` is kept: set_content is off
            _contentless_ops(repointed, "update", "new_default", pl.col("active")),
        ],
        how="vertical_relaxed",
    ).cast(PRODUCT_OPS)  # type: ignore[arg-type]
    n_new = int(p["is_new"].sum())
    n_changed = int(p["changed"].sum())
    counts = Counts(
        created=n_new,
        updated=n_changed + repointed.height,
        unchanged=p.height - n_new - n_changed,
        archived=archived_products.height,
    )
    return product_creates, product_ops, counts


def diff_inventory(
    variants_of_products: pl.DataFrame,
    variant_price: pl.DataFrame,
    stored_inventory: pl.DataFrame,
    rules: Rules,
) -> Step:
    """Match each SKU to its stock item; resolve quantity and policy by ownership (a new SKU
    always starts from the file's quantity) and classify `create`, `update` or `same`."""
    inv = (
        variants_of_products.filter(pl.col("sku").is_not_null())
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
    ignored = 0
    ignored_products = pl.Series([], dtype=pl.Utf8)
    if rules.owns_inventory:
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
        ignored = int(inv.filter(~is_new_item).select(differs.sum()).item() or 0)
        ignored_products = inv.filter(~is_new_item & differs)["product_id"]
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
    if not rules.owns_pricing:
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
            | (pl.lit(rules.owns_inventory) & pl.col("old_source").ne_missing(pl.lit(rules.source)))
        )
        .then(pl.lit("update"))
        .otherwise(pl.lit("same"))
        .alias("status"),
        pl.col("old_id").alias("id"),
        is_new_item.alias("is_new"),
    )
    return Step(_with_new_ids(inv, "is_new", "inv"), ignored, ignored_products)


def inventory_plan(inv: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    """(creates, ops, counts) of the stock items."""
    inventory_creates = inv.filter(pl.col("status") == "create").select(
        "id",
        "row_number",
        "sku",
        "product_id",
        "price_id",
        "quantity",
        "policy",
        "content_hash",
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
    inv_n = _status_counts(inv["status"])
    counts = Counts(
        created=inv_n.get("create", 0),
        updated=inv_n.get("update", 0),
        unchanged=inv_n.get("same", 0),
    )
    return inventory_creates, inventory_ops, counts


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
    present_keys: pl.Series | None = None,
    present_count: int = 0,
) -> Plan:
    """The whole diff, as the named steps above in dependency order.

    `protected_keys`: values seen in rejected rows. A full import never archives an object
    whose key appears there: its row was bad, not missing. `present_count` products of the
    input were skipped as unchanged (fingerprints.py): present, so never archived, and not in
    `products`; `present_keys` are those of them among the stored products."""
    present = present_keys if present_keys is not None else pl.Series([], dtype=pl.Utf8)
    inputs = products.height + present_count
    rules = Rules(
        source=source,
        owns_content="content" in owns,
        owns_pricing="pricing" in owns,
        owns_inventory="inventory" in owns,
        archive_allowed=full and inputs > 0,
        protected_keys=protected_keys,
    )
    warnings: list[str] = []
    if full and inputs == 0:
        warnings.append("the input has no rows: nothing is archived (an empty file never archives)")

    products_step = diff_products(products, stored_products, rules)
    product_ids = products_step.frame.select("external_id", pl.col("id").alias("product_id"))
    v = variants.join(
        product_ids, left_on="product_external_id", right_on="external_id", how="inner"
    )
    prices_step = diff_prices(v, stored_prices, rules)
    priced = prices_step.frame
    # The price each variant points at after this import (null when it has none).
    variant_price = priced.filter(pl.col("id").is_not_null()).select(
        "variant_key", pl.col("id").alias("price_id")
    )
    archived_prices = prices_to_archive(stored_prices, stored_products, variants, rules)
    price_creates, price_ops, price_counts = price_plan(priced, archived_prices)

    p = resolve_default_prices(
        products_step.frame,
        priced,
        v,
        variant_price,
        stored_prices,
        archived_prices,
        rules,
    )
    active_of_source = stored_products.filter((pl.col("source") == source) & pl.col("active"))
    archived_products = pl.DataFrame(schema=STORED_PRODUCTS)
    kept_protected = 0
    if rules.owns_content and rules.archive_allowed:
        batch_keys = pl.concat([products.select("external_id"), present.to_frame("external_id")])
        archived_products = products_to_archive(active_of_source, batch_keys, protected_keys)
        if protected_keys:
            kept_protected = (
                active_of_source.join(batch_keys, on="external_id", how="anti")
                .filter(pl.col("external_id").is_in(list(protected_keys)))
                .height
            )
    repointed = repoint_left_products(
        p, priced, stored_products, stored_prices, (archived_products, archived_prices), rules
    )
    product_creates, product_ops, product_counts = product_plan(
        p, archived_products, products, repointed
    )

    inventory_step = diff_inventory(v, variant_price, stored_inventory, rules)
    inventory_creates, inventory_ops, inventory_counts = inventory_plan(inventory_step.frame)

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
        ignored_not_owned=products_step.ignored + prices_step.ignored + inventory_step.ignored,
        active_products_of_source=active_of_source.height,
        warnings=warnings,
        kept_protected=kept_protected,
        claims_inventory=rules.owns_inventory,
        # a product's content is written with its new hash when it changes; else only the hash
        product_hash_upgrades=hash_upgrades(p, ~pl.col("content_changed")),
        # an updated price is written with its new hash; a replaced one is retired
        price_hash_upgrades=hash_upgrades(priced, pl.col("status") == "same"),
        product_ids=products_step.frame.select("external_id", "id"),
        ignored_products=pl.concat(
            [s.ignored_products.cast(pl.Utf8) for s in (products_step, prices_step, inventory_step)]
        ).unique(),
    )
