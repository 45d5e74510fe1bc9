"""Turn the rows of a Magento 2 product export into products and variants.

Magento writes one row per product with its default values (`store_view_code` blank), and one
more row per store view whose values differ there (translations). Rows are linked by `sku`:

- a configurable product names its simple products in `configurable_variations`
  (`sku=...,color=...,size=...|sku=...`). They are its variants (a price and an inventory item
  each, with the option values), never products of their own;
- a simple, virtual or downloadable product that no configurable names is one product with one
  price and one inventory item;
- a grouped product, a bundle and a configurable have no stock of their own; only a bundle with
  a fixed price has a price (docs/magento.md);
- a store-view row never creates or changes a product: its values go to the metadata of the
  product (or variant) under `store_view.<code>.<column>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from catalog_pipelines.connectors.cells import Row, cell, raw, row_number, stripped
from catalog_pipelines.connectors.export_rows import ExportRows
from catalog_pipelines.connectors.magento_csv import settings as s
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.money import MoneyError, to_minor_units
from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA, ParsedBatch, Reject, kv

# `k=v,k=v`: a comma starts a new pair only when an attribute code and `=` follow it, so that a
# value may hold commas (multi-select values, free text).
_PAIR_SPLIT = re.compile(r",(?=\s*[A-Za-z0-9_]+\s*=)")
# Magento writes stock as a decimal ("100.0000"); the catalog keeps whole units.
_QUANTITY = re.compile(r"^(?P<sign>-?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]*))?$")
# The price's own columns: on a product with a price they go to the price's metadata.
PRICE_METADATA = ("special_price", "special_price_from_date", "special_price_to_date")


def parse_pairs(value: str | None, column: str, errors: list[str]) -> dict[str, str]:
    """'has_options=1,quantity_and_stock_status=In Stock' -> {'has_options': '1', ...}."""
    if value is None:
        return {}
    pairs: dict[str, str] = {}
    for part in _PAIR_SPLIT.split(value):
        key, sep, item = part.partition("=")
        key = key.strip()
        if not sep or not key:
            errors.append(f"{column}: {part!r} is not code=value")
            return {}
        if key in pairs:
            errors.append(f"{column}: {key!r} is given twice")
            return {}
        pairs[key] = item.strip()
    return pairs


def parse_variations(value: str | None, errors: list[str]) -> list[tuple[str, dict[str, str]]]:
    """'sku=A,color=Red|sku=B,color=Blue' -> [('A', {'color': 'Red'}), ('B', {'color': 'Blue'})]."""
    out: list[tuple[str, dict[str, str]]] = []
    if value is None:
        return out
    for part in value.split("|"):
        if not part.strip():
            continue
        pairs = parse_pairs(part, s.CONFIGURABLE_VARIATIONS, errors)
        sku = pairs.pop(s.SKU, "")
        if not sku:
            if pairs or not errors:
                errors.append(f"{s.CONFIGURABLE_VARIATIONS}: {part!r} names no sku=")
            return []
        out.append((sku, {k: v for k, v in pairs.items() if v}))
    return out


def parse_online(row: Row, errors: list[str]) -> bool | None:
    value = stripped(row, s.ONLINE)
    if value is None:
        return None
    if value not in s.ONLINE_CODES:
        errors.append(f"{s.ONLINE}: {value!r} is not 1 (enabled) or 2 (disabled)")
        return None
    return s.ONLINE_CODES[value]


def parse_policy(row: Row, errors: list[str]) -> str | None:
    """None when the store's configuration decides (use_config_backorders=1): the file does not
    say what that configuration is."""
    if stripped(row, s.USE_CONFIG_BACKORDERS) == "1":
        return None
    value = stripped(row, s.ALLOW_BACKORDERS)
    if value is None:
        return None
    if value not in s.BACKORDER_POLICIES:
        errors.append(f"{s.ALLOW_BACKORDERS}: {value!r} is not 0, 1 or 2")
        return None
    return s.BACKORDER_POLICIES[value]


def parse_price(row: Row, currency: str, errors: list[str]) -> int | None:
    value = cell(row, s.PRICE)
    if value is None:
        return None
    try:
        return to_minor_units(value, currency)
    except MoneyError as e:
        errors.append(f"{s.PRICE}: {e}")
        return None


def parse_qty(row: Row, errors: list[str], warn: Callable[[Row, str], None]) -> int | None:
    """'100.0000' -> 100. A fraction is refused (the catalog counts whole units); a negative
    stock (Magento allows it under backorders) is read as 0 with a warning, its value kept."""
    value = stripped(row, s.QTY)
    if value is None:
        return None
    match = _QUANTITY.match(value)
    if match is None or (match.group("frac") or "").strip("0"):
        errors.append(f"{s.QTY}: {value!r} is not a whole number of units")
        return None
    quantity = int(match.group("int"))
    if match.group("sign") and quantity:
        warn(
            row,
            f"{s.QTY} {value!r} is negative (backorders); the stock is read as 0 and the value"
            f" kept in the price's metadata as {s.QTY!r}",
        )
        return 0
    return quantity


def negative_qty(row: Row) -> dict[str, str]:
    """The raw qty when it is negative, for the price's metadata (the stock says 0)."""
    value = stripped(row, s.QTY)
    return {s.QTY: value} if value is not None and value.startswith("-") else {}


def images(row: Row) -> list[str]:
    """base, small, thumbnail and swatch image, then the additional images, without repeats."""
    values = [stripped(row, c) for c in s.IMAGE_COLUMNS]
    values += [v.strip() for v in (cell(row, s.ADDITIONAL_IMAGES) or "").split(",")]
    out: list[str] = []
    for v in values:
        if v and v != s.NO_SELECTION and v not in out:
            out.append(v)
    return out


def product_type(row: Row) -> str:
    return (stripped(row, s.TYPE) or "").lower()


def warned_row(warning: str, source: str) -> int:
    """The row a warning of this builder (`_Builder.warn`) is about."""
    return int(warning.removeprefix(f"{source}: row ").split(":", 1)[0])


@dataclass
class _Builder:
    columns: list[str]
    currency: str
    source: str
    products: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    warned: list[tuple[int, str]] = field(default_factory=list)  # (row number, warning)
    warned_keys: list[str] = field(default_factory=list)  # the products warned about
    rows: dict[str, Row] = field(default_factory=dict)  # sku -> its default row
    rejected: dict[str, int] = field(default_factory=dict)  # sku -> row where it was rejected
    parent_of: dict[str, str] = field(default_factory=dict)  # child sku -> its configurable
    # configurable sku -> {child sku: option values}, in the order its variations list them
    variations: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # sku -> the metadata dict of the product or variant its store-view rows extend
    targets: dict[str, dict[str, str]] = field(default_factory=dict)

    def reject(self, row: Row, reasons: list[str]) -> None:
        n = row_number(row)
        self.rejects.append(Reject(n, raw(row), [f"row {n}: {r}" for r in reasons]))
        sku = stripped(row, s.SKU)
        if sku is not None and self.rows.get(sku) is row:  # its product, not a repeat of it
            self.rejected.setdefault(sku, n)

    def warn(self, row: Row, message: str) -> None:
        n = row_number(row)
        self.warned.append((n, f"{self.source}: row {n}: {message}"))  # as warned_row reads it
        if (sku := stripped(row, s.SKU)) is not None:  # the product, as keys.py keys it
            self.warned_keys.append(self.parent_of.get(sku, sku))

    def warnings(self) -> list[str]:
        """In the order of their rows, as pieces of the file give them (row_groups.py)."""
        return [w for _, w in sorted(self.warned, key=lambda w: w[0])]

    def metadata(self, row: Row, skip: frozenset[str], errors: list[str]) -> dict[str, str]:
        """Every other non-blank cell under its header, and `additional_attributes` expanded
        into one key per attribute (under `additional_attributes.<code>` if a column already
        has that name)."""
        out = {c: v for c in self.columns if c not in skip and (v := cell(row, c)) is not None}
        for code, value in parse_pairs(
            cell(row, s.ADDITIONAL_ATTRIBUTES), s.ADDITIONAL_ATTRIBUTES, errors
        ).items():
            if value:
                out[f"{s.ADDITIONAL_ATTRIBUTES}.{code}" if code in self.columns else code] = value
        return out

    # -- default rows -------------------------------------------------------------------

    def link_configurables(self) -> None:
        """Who is whose variant, before any product is built: a child may come before or after
        its configurable in the file."""
        for sku, row in self.rows.items():
            if product_type(row) != s.CONFIGURABLE:
                continue
            errors: list[str] = []
            linked: dict[str, dict[str, str]] = {}
            for child, options in parse_variations(cell(row, s.CONFIGURABLE_VARIATIONS), errors):
                if child == sku:
                    errors.append(f"{s.CONFIGURABLE_VARIATIONS}: names the product itself")
                elif child in self.parent_of or child in linked:
                    owner = self.parent_of.get(child, sku)
                    self.warn(
                        row,
                        f"{s.CONFIGURABLE_VARIATIONS}: {child!r} is already a variant of"
                        f" {owner!r}; it stays there",
                    )
                elif child not in self.rows:
                    self.warn(
                        row,
                        f"{s.CONFIGURABLE_VARIATIONS}: {child!r} has no row in this file; that"
                        " variant is left out",
                    )
                elif (kind := product_type(self.rows[child])) not in s.STANDALONE_TYPES:
                    self.warn(
                        row,
                        f"{s.CONFIGURABLE_VARIATIONS}: {child!r} is a {kind or 'typeless'}"
                        " product, not a simple one; it stays a product of its own",
                    )
                else:
                    linked[child] = options
            self.variations[sku] = linked
            self.parent_of.update(dict.fromkeys(linked, sku))
            if errors:
                self.reject(row, errors)
                self.reject_children(sku, row)

    def reject_children(self, parent: str, parent_row: Row) -> None:
        """A rejected configurable takes its children with it: they are never products of
        their own."""
        for child in self.variations.get(parent, {}):
            self.reject(
                self.rows[child],
                [
                    f"{s.SKU}: a variant of configurable product {parent!r}, which was"
                    f" rejected at row {row_number(parent_row)}"
                ],
            )

    def add(self, sku: str, row: Row) -> None:
        if sku in self.rejected or sku in self.parent_of:
            return  # rejected while linking, or built with its configurable
        kind = product_type(row)
        errors: list[str] = []
        if not kind:
            errors.append(f"{s.TYPE}: required")
        elif kind not in s.KNOWN_TYPES:
            self.warn(
                row,
                f"{s.TYPE}: {kind!r} is not a type this connector prices; {sku!r} is imported"
                " as a product without a price, its price and qty kept in metadata",
            )
        priced = kind in s.STANDALONE_TYPES or (
            kind == s.BUNDLE and stripped(row, s.BUNDLE_PRICE_TYPE) == "fixed"
        )
        stocked = kind in s.STANDALONE_TYPES
        skip = s.PRODUCT_MAPPED | ({s.PRICE, *PRICE_METADATA} if priced else set())
        skip |= {s.QTY} if stocked else set()
        product: dict[str, Any] = {
            "row_number": row_number(row),
            "external_id": sku,
            "name": cell(row, s.NAME),
            "description": cell(row, s.DESCRIPTION),
            "active": parse_online(row, errors),
            "images": images(row),
            "shippable": (kind in s.SHIPPED_TYPES) if stocked else None,
            "metadata": self.metadata(row, frozenset(skip), errors),
        }
        variants: list[dict[str, Any]] = []
        if priced:
            variants.append(
                {
                    "row_number": row_number(row),
                    "product_external_id": sku,
                    "variant_key": sku,
                    # A bundle's stock is its parts' stock: it has no inventory item of its own.
                    "sku": sku if stocked else None,
                    "currency": self.currency,
                    "unit_amount": parse_price(row, self.currency, errors),
                    "options": {},
                    "metadata": {c: v for c in PRICE_METADATA if (v := cell(row, c)) is not None}
                    | (negative_qty(row) if stocked else {}),
                    "inventory_quantity": (parse_qty(row, errors, self.warn) if stocked else None),
                    "inventory_policy": parse_policy(row, errors) if stocked else None,
                }
            )
        if errors:
            self.reject(row, errors)
            self.reject_children(sku, row)
            return
        if kind == s.CONFIGURABLE:
            variants = self.variants_of(sku)
            kinds = {product_type(self.rows[v["sku"]]) for v in variants}
            product["shippable"] = (s.SIMPLE in kinds) if kinds else None
        self.targets[sku] = product["metadata"]
        self.products.append(product)
        for variant in variants:
            if variant["variant_key"] != sku:  # a configurable's child: translated on its own
                self.targets[variant["variant_key"]] = variant["metadata"]
            self.variants.append(variant)

    def variants_of(self, parent: str) -> list[dict[str, Any]]:
        """The configurable's children, in the order `configurable_variations` lists them;
        a child with a bad cell is rejected alone."""
        out: list[dict[str, Any]] = []
        for child, options in self.variations[parent].items():
            row = self.rows[child]
            errors: list[str] = []
            variant = {
                "row_number": row_number(row),
                "product_external_id": parent,
                "variant_key": child,
                "sku": child,
                "currency": self.currency,
                "unit_amount": parse_price(row, self.currency, errors),
                # Like Shopify's variant titles: the option values joined by " / ".
                "nickname": " / ".join(options.values()) or cell(row, s.NAME),
                "options": options,
                "metadata": self.metadata(row, s.CHILD_MAPPED, errors) | negative_qty(row),
                "inventory_quantity": parse_qty(row, errors, self.warn),
                "inventory_policy": parse_policy(row, errors),
                "active": parse_online(row, errors),
            }
            if errors:
                self.reject(row, errors)
                continue
            out.append(variant)
        return out

    # -- store-view rows ----------------------------------------------------------------

    def add_store_view(self, row: Row, code: str, seen: dict[tuple[str, str], int]) -> None:
        """A translation: its values that differ from the default row, as metadata."""
        sku = stripped(row, s.SKU)
        if sku is None:
            self.reject(row, [f"{s.SKU}: required"])
            return
        if sku in self.rejected:
            self.reject(
                row,
                [f"{s.SKU}: the default row of {sku!r} was rejected at row {self.rejected[sku]}"],
            )
            return
        if sku not in self.targets:
            self.reject(
                row,
                [
                    f"{s.STORE_VIEW}: {code!r} translates {sku!r}, which has no default row"
                    f" (blank {s.STORE_VIEW}) in this file"
                ],
            )
            return
        if (sku, code) in seen:
            self.reject(
                row,
                [f"{s.STORE_VIEW}: {sku!r} in {code!r} is already given at row {seen[sku, code]}"],
            )
            return
        seen[sku, code] = row_number(row)
        default = self.rows[sku]
        target = self.targets[sku]
        for c in self.columns:
            value = cell(row, c)
            if c in (s.SKU, s.STORE_VIEW) or value is None or value == cell(default, c):
                continue
            target[f"{s.STORE_VIEW_PREFIX}{code}.{c}"] = value


def build_batch(
    rows: ExportRows,
    columns: list[str],
    *,
    source: str,
    currency: str,
) -> ParsedBatch:
    """Default rows first, linked by sku (a configurable may list children further down), then
    the store-view rows onto what the default rows built."""
    batch = build_walked(rows.rows, columns, source=source, currency=currency)
    batch.rows_read = rows.rows_read  # the file's own count: a row lost in the walk shows
    return batch


def build_walked(
    walk: Callable[[], Iterator[Row]], columns: list[str], *, source: str, currency: str
) -> ParsedBatch:
    """The batch of the rows that a call of `walk` walks (`build_batch`)."""
    if columns and s.SKU not in columns:
        raise InputError(f"{source}: not a Magento product CSV (no {s.SKU!r} column)")
    builder = _Builder(columns, currency, source)
    store_views: list[tuple[Row, str]] = []
    parsed = 0
    for row in walk():
        parsed += 1
        code = stripped(row, s.STORE_VIEW)
        if code is not None:
            store_views.append((row, code))
            continue
        sku = stripped(row, s.SKU)
        if sku is None:
            builder.reject(row, [f"{s.SKU}: required"])
        elif sku in builder.rows:
            first = row_number(builder.rows[sku])
            builder.reject(row, [f"{s.SKU}: {sku!r} is already used at row {first}"])
        else:
            builder.rows[sku] = row
    builder.link_configurables()
    for sku, row in builder.rows.items():
        builder.add(sku, row)
    seen: dict[tuple[str, str], int] = {}
    for row, code in store_views:
        builder.add_store_view(row, code, seen)
    for record in (*builder.products, *builder.variants):
        record["metadata"] = kv(dict(sorted(record["metadata"].items())))
    for variant in builder.variants:
        variant["options"] = kv(variant["options"])
    return ParsedBatch(
        input_name=source,
        rows_read=parsed,
        products=pl.DataFrame(builder.products, schema=PRODUCT_SCHEMA),
        variants=pl.DataFrame(builder.variants, schema=VARIANT_SCHEMA),
        rejects=sorted(builder.rejects, key=lambda r: r.row_number),
        columns=columns,
        unmapped_columns=[c for c in columns if c not in s.MAPPED],
        warnings=builder.warnings(),
        warned_keys=builder.warned_keys,
        rows_valid=parsed - len(builder.rejects),
    )
