"""WooCommerce product CSV connector: `read_woocommerce_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its SKU, or `id:<ID>` when the SKU is blank (external_id);
a variant (a simple or external product's own price, or a variation) likewise (variant_key).
Grouped products have no price; external products have a price but no inventory item.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from catalog_pipelines.connectors.cells import read_export, read_export_pieces
from catalog_pipelines.connectors.woocommerce_csv import settings
from catalog_pipelines.connectors.woocommerce_csv.helpers import build_batch
from catalog_pipelines.connectors.woocommerce_csv.keys import VariationKey
from catalog_pipelines.connectors.woocommerce_csv.pieces import build_pieces
from catalog_pipelines.fingerprints import SkipRequest
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_woocommerce_csv", "read_woocommerce_pieces"]


def read_woocommerce_csv(
    path: str | Path,
    *,
    encoding: str | None = None,
    currency: str = "usd",
    skip: SkipRequest | None = None,
) -> ParsedBatch:
    """Read a WooCommerce product export (BOM tolerated). Bad cells become rejects naming row
    and column; the file is refused (InputError) only when it cannot be decoded or lacks the
    `Type` column. The export carries no currency, so prices are read in `currency`. With
    `skip`, the products whose rows the source's last import saw are skipped (a product is
    its row and those of its variations: keys.py).
    """
    return read_export(
        path,
        build_batch,
        export="WooCommerce",
        required_column=settings.TYPE,
        encoding=encoding,
        currency=currency,
        skip=skip,
        key=VariationKey(),
    )


def read_woocommerce_pieces(
    path: Path, *, currency: str, piece_variants: int, skip: SkipRequest | None = None
) -> Iterator[ParsedBatch]:
    """`read_woocommerce_csv`'s batch of a UTF-8 export, in pieces of whole products
    (pieces.py) that end once they hold `piece_variants` rows; with `skip`, each with its
    fingerprints."""
    return read_export_pieces(
        path,
        build_pieces,
        export="WooCommerce",
        required_column=settings.TYPE,
        currency=currency,
        piece_variants=piece_variants,
        skip=skip,
        key=VariationKey(),
    )
