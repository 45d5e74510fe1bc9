"""Turn the rows of a WooCommerce product export into products and variants.

WooCommerce writes one row per product *and* one per variation. A `variation` row names its
`variable` parent in `Parent`, either by the parent's SKU or as `id:<ID>`. A product with no
SKU is keyed `id:<ID>` so that it still has a stable external id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from catalog_pipelines.connectors.cells import (
    cell,
    parse_quantity,
    raw,
    row_number,
    stripped,
)
from catalog_pipelines.connectors.export_rows import ExportRows, Row
from catalog_pipelines.connectors.record_buffer import RecordBuffer
from catalog_pipelines.connectors.woocommerce_csv import settings as s
from catalog_pipelines.money import MoneyError, to_minor_units
from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA, ParsedBatch, Reject

# WooCommerce joins list cells with ", " and escapes a literal comma as "\,".
_LIST_SPLIT = re.compile(r"(?<!\\),")


def split_list(value: str | None) -> list[str]:
    """'a, b\\, c' -> ['a', 'b, c']; blanks and repeats removed, order kept."""
    if value is None:
        return []
    out: list[str] = []
    for part in _LIST_SPLIT.split(value):
        item = part.strip().replace("\\,", ",")
        if item and item not in out:
            out.append(item)
    return out


def parse_type(value: str | None, errors: list[str]) -> tuple[str | None, set[str]]:
    """'simple, downloadable, virtual' -> ('simple', {'simple','downloadable','virtual'})."""
    flags = {f.lower() for f in split_list(value)}
    primary = flags & s.PRIMARY_TYPES
    if len(primary) != 1:
        errors.append(
            f"{s.TYPE}: {value!r} is not one of simple, variable, variation, grouped, external"
        )
        return None, flags
    return primary.pop(), flags


def parse_published(value: str | None, errors: list[str]) -> bool | None:
    if value is None:
        return None
    code = value.strip()
    if code not in s.PUBLISHED_CODES:
        errors.append(f"{s.PUBLISHED}: {value!r} is not 1, 0 or -1")
        return None
    return s.PUBLISHED_CODES[code]


def parse_policy(value: str | None, errors: list[str]) -> str | None:
    if value is None:
        return None
    code = value.strip().lower()
    if code not in s.BACKORDER_POLICIES:
        errors.append(f"{s.BACKORDERS}: {value!r} is not 1, 0 or notify")
        return None
    return s.BACKORDER_POLICIES[code]


def parse_amount(row: Row, currency: str, errors: list[str]) -> int | None:
    """The price a customer pays: the sale price when there is one, else the regular price.
    Both are validated, so a broken regular price is reported even under a sale."""
    amounts: dict[str, int | None] = {}
    for column in (s.SALE_PRICE, s.REGULAR_PRICE):
        value = cell(row, column)
        amounts[column] = None
        if value is not None:
            try:
                amounts[column] = to_minor_units(value, currency)
            except MoneyError as e:
                errors.append(f"{column}: {e}")
    sale = amounts[s.SALE_PRICE]
    return sale if sale is not None else amounts[s.REGULAR_PRICE]


def attribute_options(row: Row, columns: list[str]) -> tuple[dict[str, str], set[str]]:
    """A variation's `Attribute N name`/`value(s)` pairs, and the columns consumed.

    A name with a blank value means "any value" in WooCommerce; it is not an option, and its
    name stays in metadata.
    """
    options: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        m = s.ATTRIBUTE_NAME.match(c)
        if not m:
            continue
        name, value = stripped(row, c), stripped(row, s.attribute_value(m.group(1)))
        if name is not None and value is not None:
            options[name] = value
            used |= {c, s.attribute_value(m.group(1))}
    return options, used


class _Builder:
    def __init__(self, columns: list[str], currency: str, source: str) -> None:
        self.columns = columns
        self.currency = currency
        self.source = source
        self.products = RecordBuffer(PRODUCT_SCHEMA)
        self.variants = RecordBuffer(VARIANT_SCHEMA)
        self.rejects: list[Reject] = []
        self.external_ids: dict[str, int] = {}  # external_id -> row
        self.variant_keys: dict[str, int] = {}  # variant_key -> row
        # Parent references -> (external_id, type, row) of products, by SKU and by id:<ID>.
        self.parents: dict[str, tuple[str, str, int]] = {}
        self.rejected_refs: dict[str, int] = {}  # references of rejected product rows

    def reject(self, row: Row, reasons: list[str]) -> None:
        n = row_number(row)
        self.rejects.append(Reject(n, raw(row), [f"row {n}: {r}" for r in reasons]))

    @staticmethod
    def refs(row: Row) -> list[str]:
        """How a variation's Parent may name this row: its SKU, or id:<ID>."""
        out = []
        if (sku := stripped(row, s.SKU)) is not None:
            out.append(sku)
        if (ident := stripped(row, s.ID)) is not None:
            out.append(f"id:{ident}")
        return out

    def external_id(self, row: Row, errors: list[str]) -> str | None:
        sku, ident = stripped(row, s.SKU), stripped(row, s.ID)
        key = sku or (f"id:{ident}" if ident else None)
        if key is None:
            errors.append(f"{s.SKU}: required when {s.ID} is blank")
        return key

    def add_product(self, row: Row, kind: str, flags: set[str], errors: list[str]) -> None:
        ext = self.external_id(row, errors)
        active = parse_published(cell(row, s.PUBLISHED), errors)
        priced = kind in s.PRICED_TYPES
        variant = self._variant(row, kind, ext or "", errors) if priced else None
        if ext is not None and ext in self.external_ids:
            errors.append(f"{s.SKU}: {ext!r} is already used at row {self.external_ids[ext]}")
        if variant is not None and variant["variant_key"] in self.variant_keys:
            key = variant["variant_key"]
            errors.append(f"{s.SKU}: {key!r} is already used at row {self.variant_keys[key]}")
        if errors or ext is None:
            self.reject(row, errors)
            for ref in self.refs(row):
                self.rejected_refs.setdefault(ref, row_number(row))
            return
        n = row_number(row)
        self.external_ids[ext] = n
        for ref in self.refs(row):
            self.parents.setdefault(ref, (ext, kind, n))
        # Price/stock columns of a priced product describe its variant; elsewhere they stay
        # with the product (a variable parent may carry stock of its own).
        skip = s.PRODUCT_MAPPED | (s.VARIANT_LEVEL if priced else frozenset())
        metadata = {c: v for c in self.columns if c not in skip and (v := cell(row, c)) is not None}
        if kind in (s.SIMPLE, s.VARIABLE):
            shippable: bool | None = s.VIRTUAL not in flags
        else:
            shippable = None  # grouped/external products are not shipped by this store
        self.products.append(
            {
                "row_number": n,
                "external_id": ext,
                "name": cell(row, s.NAME),
                "description": cell(row, s.DESCRIPTION),
                "active": active,
                "images": split_list(cell(row, s.IMAGES)),
                "url": stripped(row, s.EXTERNAL_URL),
                "shippable": shippable,
                "metadata": metadata,
            }
        )
        if variant is not None:
            self.variant_keys[variant["variant_key"]] = n
            self.variants.append(variant)

    def _variant(self, row: Row, kind: str, product: str, errors: list[str]) -> dict[str, Any]:
        """The one price/inventory item of a simple or external product."""
        external = kind == s.EXTERNAL
        sku = None if external else stripped(row, s.SKU)
        mapped = s.VARIANT_MAPPED - ({s.STOCK} if external else set())
        level = s.VARIANT_LEVEL - mapped
        metadata = {c: v for c in self.columns if c in level and (v := cell(row, c)) is not None}
        return {
            "row_number": row_number(row),
            "product_external_id": product,
            "variant_key": product,
            "sku": sku,
            "currency": self.currency,
            "unit_amount": parse_amount(row, self.currency, errors),
            "options": [],
            "metadata": metadata,
            "inventory_quantity": (
                None if external else parse_quantity(cell(row, s.STOCK), s.STOCK, errors)
            ),
            "inventory_policy": None if external else parse_policy(cell(row, s.BACKORDERS), errors),
        }

    def add_variation(self, row: Row) -> None:
        errors: list[str] = []
        n = row_number(row)
        parent_ref = stripped(row, s.PARENT)
        parent: str | None = None
        if parent_ref is None:
            errors.append(f"{s.PARENT}: required on a variation")
        elif parent_ref in self.parents:
            parent, kind, _ = self.parents[parent_ref]
            if kind != s.VARIABLE:
                errors.append(f"{s.PARENT}: {parent_ref!r} is a {kind} product, not a variable one")
        elif parent_ref in self.rejected_refs:
            errors.append(
                f"{s.PARENT}: product {parent_ref!r} was rejected at row"
                f" {self.rejected_refs[parent_ref]}"
            )
        else:
            errors.append(
                f"{s.PARENT}: {parent_ref!r} matches no product's SKU or id:<ID> in this file"
            )
        key = self.external_id(row, errors)
        if key is not None and key in self.variant_keys:
            errors.append(f"{s.SKU}: {key!r} is already used at row {self.variant_keys[key]}")
        options, used = attribute_options(row, self.columns)
        skip = s.VARIANT_MAPPED | used
        metadata = {c: v for c in self.columns if c not in skip and (v := cell(row, c)) is not None}
        variant = {
            "row_number": n,
            "product_external_id": parent,
            "variant_key": key,
            "sku": stripped(row, s.SKU),
            "currency": self.currency,
            "unit_amount": parse_amount(row, self.currency, errors),
            "nickname": cell(row, s.NAME),
            "options": options,
            "metadata": metadata,
            "inventory_quantity": parse_quantity(cell(row, s.STOCK), s.STOCK, errors),
            "inventory_policy": parse_policy(cell(row, s.BACKORDERS), errors),
            "active": parse_published(cell(row, s.PUBLISHED), errors),
        }
        if errors:
            self.reject(row, errors)
            return
        self.variant_keys[key] = n  # type: ignore[index]
        self.variants.append(variant)


def build_batch(
    rows: ExportRows,
    columns: list[str],
    *,
    source: str,
    currency: str,
) -> ParsedBatch:
    """Products first (so that any variation can find its parent wherever it sits in the
    file), then variations: two walks over the file, so that no row is held between them."""
    batch = build_walked(rows.rows, columns, source=source, currency=currency)
    batch.rows_read = rows.rows_read  # the file's own count: a row lost in the walk shows
    return batch


def build_walked(
    walk: Callable[[], Iterator[Row]], columns: list[str], *, source: str, currency: str
) -> ParsedBatch:
    """The batch of the rows that each call of `walk` walks, in two walks (`build_batch`)."""
    builder = _Builder(columns, currency, source)
    parsed = 0
    for row in walk():
        parsed += 1
        errors: list[str] = []
        kind, flags = parse_type(cell(row, s.TYPE), errors)
        if kind is None:
            builder.reject(row, errors)
            for ref in builder.refs(row):
                builder.rejected_refs.setdefault(ref, row_number(row))
        elif kind != s.VARIATION:
            builder.add_product(row, kind, flags, errors)
    for row in walk():
        if parse_type(cell(row, s.TYPE), [])[0] == s.VARIATION:
            builder.add_variation(row)
    return ParsedBatch(
        input_name=source,
        rows_read=parsed,
        products=builder.products.frame(),
        variants=builder.variants.frame().sort("row_number"),
        rejects=sorted(builder.rejects, key=lambda r: r.row_number),
        columns=columns,
        unmapped_columns=[c for c in columns if c not in s.MAPPED],
        warnings=[],
        rows_valid=parsed - len(builder.rejects),
    )
