"""WooCommerce product CSV connector: `read_woocommerce_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its SKU, or `id:<ID>` when the SKU is blank (external_id);
a variant (a simple or external product's own price, or a variation) likewise (variant_key).
Grouped products have no price; external products have a price but no inventory item.
"""

from __future__ import annotations

from pathlib import Path

from catalog_pipelines.connectors.reading import InputError, decode, read_csv_strings
from catalog_pipelines.connectors.woocommerce_csv import settings
from catalog_pipelines.connectors.woocommerce_csv.helpers import build_batch
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_woocommerce_csv"]


def read_woocommerce_csv(
    path: str | Path, *, encoding: str | None = None, currency: str = "usd"
) -> ParsedBatch:
    """Read a WooCommerce product export (BOM tolerated). Bad cells become rejects naming row
    and column; the file is refused (InputError) only when it cannot be decoded or lacks the
    `Type` column. The export carries no currency, so prices are read in `currency`.
    """
    source = str(path)
    try:
        code = normalize_currency(currency)
    except MoneyError as e:
        raise InputError(f"{source}: {e}") from e
    text = decode(Path(path).read_bytes(), source=source, encoding=encoding)
    frame, rows_read = read_csv_strings(text, source=source)
    columns = [c for c in frame.columns if c != "row_number"]
    if columns and settings.TYPE not in columns:
        raise InputError(f"{source}: not a WooCommerce product CSV (no {settings.TYPE!r} column)")
    return build_batch(
        frame.iter_rows(named=True), columns, source=source, currency=code, rows_read=rows_read
    )
