"""Which rows of a Magento export are built together (connectors/row_groups.py).

Rows are linked by SKU: every row carries its own (a store-view row names the product it
translates by it, and a second row with one SKU is rejected for the first), and a
configurable names its children's in `configurable_variations`. Every `sku=` of that cell is
taken, whatever the row's type: a name too many only joins two groups.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from catalog_pipelines.connectors import row_groups
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.export_rows import ExportRows
from catalog_pipelines.connectors.export_skip import check_stripped, stripped_cells
from catalog_pipelines.connectors.magento_csv import settings as s
from catalog_pipelines.connectors.magento_csv.helpers import build_batch, build_walked
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch

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


def build_pieces(
    rows: ExportRows,
    columns: list[str],
    *,
    source: str,
    currency: str,
    piece_variants: int | None = None,
) -> Iterator[ParsedBatch]:
    """The batch `build_batch` builds, in pieces of whole groups of about `piece_variants`
    rows (None: one piece; row_groups.build_pieces)."""
    if piece_variants is None:
        yield build_batch(rows, columns, source=source, currency=currency)
        return

    def build(piece: pl.DataFrame) -> ParsedBatch:
        walk = piece.iter_rows(named=True)
        return build_walked(walk, columns, source=source, currency=currency)

    yield from row_groups.build_pieces(rows, names, build, piece_variants)
