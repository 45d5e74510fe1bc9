"""Which rows of a Magento export are built together (connectors/row_groups.py).

Rows are linked by SKU: every row carries its own (a store-view row names the product it
translates by it, and a second row with one SKU is rejected for the first), and a
configurable names its children's in `configurable_variations`. Every `sku=` of that cell is
taken, whatever the row's type: a name too many only joins two groups.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import polars as pl

from catalog_pipelines.connectors import row_groups
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.export_rows import ExportRows
from catalog_pipelines.connectors.export_skip import check_stripped, stripped_cells
from catalog_pipelines.connectors.magento_csv import settings as s
from catalog_pipelines.connectors.magento_csv.helpers import (
    build_batch,
    build_walked,
    warned_row,
)
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch

log = logging.getLogger(__name__)

PIECE_ROWS = 20_000  # rows built at a time when the whole batch is wanted (a re-import)
_PAIR = "\x00"  # never in a walked cell: a row with a NUL is rejected before the walk
# helpers._PAIR_SPLIT without its look-ahead, which Polars' regex engine lacks
_PAIR_START = r",(\s*[A-Za-z0-9_]+\s*=)"


def names(frame: pl.DataFrame) -> pl.DataFrame:
    """row_groups.Names of a Magento export: a row's SKU, and the children's SKUs its
    `configurable_variations` names. Raises NotInPieces when one of those cells holds a
    character that Python strips and Polars does not."""
    try:
        check_stripped(frame, [s.SKU, s.CONFIGURABLE_VARIATIONS])
    except Unskippable as e:
        raise NotInPieces(str(e)) from e
    own = frame.select(ROW_NUMBER, name=stripped_cells(frame, s.SKU))
    if s.CONFIGURABLE_VARIATIONS not in frame.columns:
        return row_groups.hashed(own)
    pairs = (
        frame.select(
            ROW_NUMBER,
            pair=pl.col(s.CONFIGURABLE_VARIATIONS)
            .str.replace_all(_PAIR_START, _PAIR + "$1")
            .str.replace_all("|", _PAIR, literal=True)
            .str.split(_PAIR),
        )
        .explode("pair")
        .select(ROW_NUMBER, pair=pl.col("pair").str.splitn("=", 2))
        .unnest("pair")
    )
    key, value = pairs.columns[1:]
    children = pairs.filter(pl.col(key).str.strip_chars() == s.SKU).select(
        ROW_NUMBER, name=pl.col(value).str.strip_chars().replace("", None)
    )
    return row_groups.hashed(pl.concat([own, children]))


def build_whole(rows: ExportRows, columns: list[str], *, source: str, currency: str) -> ParsedBatch:
    """`helpers.build_batch`'s batch, built from pieces of whole groups and put together in
    its order, so that no more than a piece's rows are held as rows; the rows themselves when
    the file cannot be cut (NotInPieces)."""
    try:
        return _together(
            list(
                build_pieces(
                    rows, columns, source=source, currency=currency, piece_variants=PIECE_ROWS
                )
            ),
            source,
        )
    except NotInPieces as e:
        log.info("%s: built from its rows at once: %s", source, e)
        return build_batch(rows, columns, source=source, currency=currency)


def _together(pieces: list[ParsedBatch], source: str) -> ParsedBatch:
    """The pieces as the whole file's batch: products in the order of their rows, each
    product's variants in its own order, rejects and warnings in the order of their rows."""
    products = pl.concat([p.products for p in pieces]).sort(ROW_NUMBER)
    order = pl.int_range(products.height, eager=True)
    at = pl.col("product_external_id").replace_strict(products["external_id"], order)
    variants = pl.concat([p.variants for p in pieces])
    warnings = [w for p in pieces for w in p.warnings]
    return replace(
        pieces[0],
        rows_read=sum(p.rows_read for p in pieces),
        rows_valid=sum(p.rows_valid or 0 for p in pieces),
        products=products,
        variants=variants.sort(at, maintain_order=True),
        rejects=sorted((r for p in pieces for r in p.rejects), key=lambda r: r.row_number),
        warnings=sorted(warnings, key=lambda w: warned_row(w, source)),
        warned_keys=[k for p in pieces for k in p.warned_keys],
    )


# The batch `build_whole` builds, in pieces of whole groups (row_groups.py).
build_pieces = row_groups.ExportPieces(names, build_whole, build_walked)
