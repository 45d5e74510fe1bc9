"""Shopify product CSV connector: `read_shopify_csv(path) -> ParsedBatch`.

Merge keys: a product is keyed by its `Handle` (external_id); a variant by its `Variant SKU`,
or `<handle>/<option values>` when the SKU is blank (variant_key).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from catalog_pipelines.connectors.cells import read_export, read_export_pieces
from catalog_pipelines.connectors.shopify_csv import settings
from catalog_pipelines.connectors.shopify_csv.helpers import build_batch, build_pieces
from catalog_pipelines.fingerprints import SkipRequest
from catalog_pipelines.normalized import ParsedBatch

__all__ = ["read_shopify_csv", "read_shopify_pieces"]


def read_shopify_csv(
    path: str | Path,
    *,
    encoding: str | None = None,
    currency: str = "usd",
    skip: SkipRequest | None = None,
) -> ParsedBatch:
    """Read a Shopify product export. Bad cells become rejects naming row and column; the
    file is refused (InputError) only when it cannot be decoded or is not a Shopify CSV.

    Shopify exports carry no currency, so prices are read in `currency` (the shop's). With
    `skip`, the products whose rows the source's last import saw are skipped (a product is
    the rows of one `Handle`).
    """
    return read_export(
        path,
        build_batch,
        export="Shopify",
        required_column=settings.HANDLE,
        encoding=encoding,
        currency=currency,
        skip=skip,
    )


def read_shopify_pieces(
    path: Path, *, currency: str, piece_variants: int, skip: SkipRequest | None = None
) -> Iterator[ParsedBatch]:
    """`read_shopify_csv`'s batch of a UTF-8 export, in pieces of whole products that end
    once they hold `piece_variants` variants; with `skip`, each with its fingerprints."""
    return read_export_pieces(
        path,
        build_pieces,
        export="Shopify",
        required_column=settings.HANDLE,
        currency=currency,
        piece_variants=piece_variants,
        skip=skip,
    )
