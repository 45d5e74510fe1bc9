"""Shopify product CSV connector: `read_shopify_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its `Handle` (external_id); a variant by its `Variant SKU`,
or `<handle>/<option values>` when the SKU is blank (variant_key).
"""

from __future__ import annotations

from pathlib import Path

from catalog_pipelines.connectors.cells import read_export
from catalog_pipelines.connectors.shopify_csv import settings
from catalog_pipelines.connectors.shopify_csv.helpers import build_batch
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_shopify_csv"]


def read_shopify_csv(
    path: str | Path, *, encoding: str | None = None, currency: str = "usd"
) -> ParsedBatch:
    """Read a Shopify product export. Bad cells become rejects naming row and column; the
    file is refused (InputError) only when it cannot be decoded or is not a Shopify CSV.

    Shopify exports carry no currency, so prices are read in `currency` (the shop's).
    """
    return read_export(
        path,
        build_batch,
        export="Shopify",
        required_column=settings.HANDLE,
        encoding=encoding,
        currency=currency,
    )
