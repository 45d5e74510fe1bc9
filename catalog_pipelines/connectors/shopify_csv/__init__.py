"""Shopify product CSV connector: `read_shopify_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its `Handle` (external_id); a variant by its `Variant SKU`,
or `<handle>/<option values>` when the SKU is blank (variant_key).
"""

from __future__ import annotations

from pathlib import Path

from catalog_pipelines.connectors.reading import InputError, decode, read_csv_strings
from catalog_pipelines.connectors.shopify_csv import settings
from catalog_pipelines.connectors.shopify_csv.helpers import build_batch
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_shopify_csv"]


def read_shopify_csv(
    path: str | Path, *, encoding: str | None = None, currency: str = "usd"
) -> ParsedBatch:
    """Read a Shopify product export. Bad cells become rejects naming row and column; the
    file is refused (InputError) only when it cannot be decoded or is not a Shopify CSV.

    Shopify exports carry no currency, so prices are read in `currency` (the shop's).
    """
    source = str(path)
    try:
        code = normalize_currency(currency)
    except MoneyError as e:
        raise InputError(f"{source}: {e}") from e
    text = decode(Path(path).read_bytes(), source=source, encoding=encoding)
    frame, rows_read = read_csv_strings(text, source=source)
    columns = [c for c in frame.columns if c != "row_number"]
    if columns and settings.HANDLE not in columns:
        raise InputError(f"{source}: not a Shopify product CSV (no {settings.HANDLE!r} column)")
    return build_batch(
        frame.iter_rows(named=True), columns, source=source, currency=code, rows_read=rows_read
    )
