"""The contract between connectors and the store: what a parsed input looks like.

Every connector (generic CSV/JSONL, Shopify, WooCommerce, HTTP feeds) turns its input into a
`ParsedBatch`: one frame of products, one of variants (each becomes a price and, when it has a
SKU, an inventory item), and the rows it rejected with their reasons. Nulls mean "not given".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from catalog_pipelines.fingerprints import Fingerprints

# The 1-based record number every frame between a reader and the store carries.
ROW_NUMBER = "row_number"


class InputError(ValueError):
    """The input cannot be read as given (encoding, structure). The CLI exits with code 2."""


# metadata and option values travel as key/value lists so that any set of keys fits one frame.
KV = pl.List(pl.Struct({"key": pl.Utf8, "value": pl.Utf8}))


def kv(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    """Metadata/options as the key/value list the normalized frames carry."""
    return [{"key": k, "value": v} for k, v in pairs.items()]


def ordered_images(
    images: Iterable[tuple[int | None, int, str, str | None]],
) -> tuple[list[str], dict[str, str]]:
    """(position, listing order, url, alt text) -> the `images` URLs, by position (none last),
    then as listed, without repeats; and each URL's first alt text."""
    urls: list[str] = []
    alts: dict[str, str] = {}
    for _, _, src, alt in sorted(images, key=lambda i: (i[0] is None, i[0] or 0, i[1])):
        if src not in urls:
            urls.append(src)
        if alt is not None and src not in alts:
            alts[src] = alt
    return urls, alts


PRODUCT_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64(),  # first source row of the product (1-based data row, header excluded)
    "external_id": pl.Utf8(),  # required, unique in the batch
    "name": pl.Utf8(),
    "description": pl.Utf8(),
    "active": pl.Boolean(),  # null: not given (a new product then defaults to active)
    "images": pl.List(pl.Utf8()),
    "url": pl.Utf8(),
    "shippable": pl.Boolean(),
    "tax_code": pl.Utf8(),
    "unit_label": pl.Utf8(),
    "metadata": KV,
}

VARIANT_SCHEMA: dict[str, pl.DataType] = {
    "row_number": pl.Int64(),
    "product_external_id": pl.Utf8(),  # required; must match a product in the batch
    "variant_key": pl.Utf8(),  # required, unique in the batch: the SKU, or a stable stand-in
    "sku": pl.Utf8(),  # lookup_key of the price and key of the inventory item; null: no stock kept
    "currency": pl.Utf8(),  # lowercase ISO 4217
    "unit_amount": pl.Int64(),  # integer minor units; null: no price given
    "nickname": pl.Utf8(),
    "options": KV,  # option name -> value, stored in the price's metadata
    "metadata": KV,  # further per-variant fields, stored in the price's metadata
    "inventory_quantity": pl.Int64(),
    "inventory_policy": pl.Utf8(),  # deny | continue
    "active": pl.Boolean(),
}


@dataclass
class Reject:
    """One input row that could not be used, and every reason why."""

    row_number: int
    raw: dict[str, Any]
    reasons: list[str]  # each names the field: "price: 'abc' is not a decimal amount"


@dataclass
class ParsedBatch:
    input_name: str  # file path or URL, for messages
    rows_read: int  # counted independently of the parser that built the frames
    products: pl.DataFrame  # PRODUCT_SCHEMA
    variants: pl.DataFrame  # VARIANT_SCHEMA
    rejects: list[Reject] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # source columns/keys seen
    unmapped_columns: list[str] = field(default_factory=list)  # kept in metadata
    warnings: list[str] = field(default_factory=list)
    rows_valid: int | None = None  # defaults to rows_read - len(rejects)
    # A stock feed (a mapping without `key`): rows carry a SKU and its stock only, and change
    # existing inventory items, matched by SKU (docs/hybrid-sources.md). Its products frame
    # holds one placeholder per SKU, keyed by the SKU, which is never written.
    stock_only: bool = False
    # Generic CSV, JSON Lines and Shopify only: the fingerprints of its products and those
    # skipped as unchanged (fingerprints.py). `products`/`variants` then hold only the others.
    fingerprints: Fingerprints | None = None
    # external ids of the products the reader warned about (a run that skipped one would not
    # warn again, so it is never skipped)
    warned_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.products = conform(self.products, PRODUCT_SCHEMA)
        self.variants = conform(self.variants, VARIANT_SCHEMA)
        if self.rows_valid is None:
            self.rows_valid = self.rows_read - len(self.rejects)

    def check_reconciles(self) -> None:
        """rows_read = rows_valid + rows_rejected, or the batch is not trustworthy."""
        if self.rows_valid is None or self.rows_read != self.rows_valid + len(self.rejects):
            raise ValueError(
                f"{self.input_name}: read {self.rows_read} rows but {self.rows_valid} valid"
                f" + {len(self.rejects)} rejected; the parser lost rows"
            )


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add missing columns as nulls, cast, and order columns as the schema says. A frame that
    already conforms is returned as it is: a `select` joins a column's chunks, so a batch put
    together from pieces (mapping/chunks.py) would be copied whole."""
    if df.schema == pl.Schema(schema):
        return df
    exprs = []
    for name, dtype in schema.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    extra = [c for c in df.columns if c not in schema]
    if extra:
        raise ValueError(f"unexpected columns in a normalized frame: {extra}")
    return df.select(exprs)


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
