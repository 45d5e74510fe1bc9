"""Magento 2 product CSV connector: `read_magento_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its `sku` (external_id); a variant (a simple product's own
price, or a configurable's child) by its `sku` too (variant_key). docs/magento.md says how
configurable, grouped and bundle products and store views are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from catalog_pipelines.connectors.cells import read_export, read_export_pieces
from catalog_pipelines.connectors.magento_csv import settings
from catalog_pipelines.connectors.magento_csv.keys import ConfigurableKey
from catalog_pipelines.connectors.magento_csv.pieces import build_pieces, build_whole
from catalog_pipelines.fingerprints import SkipRequest
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_magento_csv", "read_magento_pieces"]


def read_magento_csv(
    path: str | Path,
    *,
    encoding: str | None = None,
    currency: str = "usd",
    skip: SkipRequest | None = None,
) -> ParsedBatch:
    """Read a Magento 2 `catalog_product` export. Bad cells become rejects naming row and
    column; the file is refused (InputError) only when it cannot be decoded or lacks the
    `product_type` or `sku` column. Magento exports carry no currency (prices are in the
    website's base currency), so prices are read in `currency`. With `skip`, the products
    whose rows the source's last import saw are skipped (a configurable is its row, its
    children's and their store views': keys.py).
    """
    return read_export(
        path,
        build_whole,
        export="Magento",
        required_column=settings.TYPE,
        encoding=encoding,
        currency=currency,
        skip=skip,
        key=ConfigurableKey(),
    )


def read_magento_pieces(
    path: Path, *, currency: str, piece_variants: int, skip: SkipRequest | None = None
) -> Iterator[ParsedBatch]:
    """`read_magento_csv`'s batch of a UTF-8 export, in pieces of whole products (pieces.py)
    that end once they hold `piece_variants` rows; with `skip`, each with its fingerprints."""
    return read_export_pieces(
        path,
        build_pieces,
        export="Magento",
        required_column=settings.TYPE,
        currency=currency,
        piece_variants=piece_variants,
        skip=skip,
        key=ConfigurableKey(),
    )
