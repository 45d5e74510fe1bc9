"""Where a WooCommerce export may be cut into pieces that build as the whole file builds, so
that a first import can build, validate and write it a piece at a time (first_import.py).

The builder relates rows by the names a variation's `Parent` may give its product: a product
row's SKU and its `id:<ID>`. A variation finds its parent, or the parent's reject, among the
rows that carry its Parent's name; two products with one SKU are one accepted and one
rejected. So every row that carries a name (a product row by its SKU or `id:<ID>`, a variation
by its Parent) must be in the piece of every other row that carries it, and the file may be
cut after a row only where no name has rows on both sides. In WooCommerce's own exports a
product's variations follow it, so a cut comes every few rows.

Names are compared by their hashes: two names that collide only keep more rows together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.export_rows import ExportRows, Row
from catalog_pipelines.connectors.export_skip import check_stripped
from catalog_pipelines.connectors.woocommerce_csv import settings as s
from catalog_pipelines.connectors.woocommerce_csv.helpers import build_batch, build_walked
from catalog_pipelines.connectors.woocommerce_csv.keys import is_variation, stripped_cells
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch

# A file whose rows must stay together over more rows than this is read whole: a piece holds
# its rows' cells until it is cut.
MAX_APART = 200_000
_SEED = 0x3D0C5  # for the names' hashes


class Cuts:
    """After which rows of a file it may be cut."""

    def __init__(self, may_cut: np.ndarray) -> None:
        self._may_cut = may_cut  # by row number

    @classmethod
    def of(cls, frames: Iterable[pl.DataFrame]) -> Cuts:
        """The cuts of the file whose walk gives `frames` (ExportRows.frames). Raises
        NotInPieces when rows that must stay together lie more than MAX_APART rows apart, or
        when a name cell holds a character that Python strips and Polars does not."""
        names: list[pl.DataFrame] = []
        numbers: list[pl.Series] = []
        for frame in frames:
            try:
                check_stripped(frame, [s.SKU, s.ID, s.PARENT])
            except Unskippable as e:
                raise NotInPieces(str(e)) from e
            names.append(_names(frame))
            numbers.append(frame[ROW_NUMBER])
        rows = pl.concat(numbers).to_numpy() if numbers else np.empty(0, dtype=np.int64)
        spans = (
            pl.concat(names)
            .group_by("name")
            .agg(first=pl.col(ROW_NUMBER).min(), last=pl.col(ROW_NUMBER).max())
            .filter(pl.col("first") < pl.col("last"))
        )
        del names
        size = int(rows.max()) + 2 if rows.size else 1
        inside = np.zeros(size, dtype=np.int32)  # +1 where a span opens, -1 where it closes
        np.add.at(inside, spans["first"].to_numpy(), 1)
        np.add.at(inside, spans["last"].to_numpy(), -1)
        may_cut = np.cumsum(inside, dtype=np.int32) == 0
        cuts = cls(may_cut)
        cuts._check_apart(rows)
        return cuts

    def _check_apart(self, rows: np.ndarray) -> None:
        at = np.flatnonzero(self._may_cut[rows])
        bounds = np.concatenate(([-1], at, [rows.size - 1]))
        longest = int(np.diff(bounds).max()) if rows.size else 0
        if longest > MAX_APART:
            raise NotInPieces(
                f"{longest} rows must be built together: a product's variations lie more than"
                f" {MAX_APART} rows from it, or from a row with its SKU"
            )

    def first(self, first: int, last: int) -> int | None:
        """The first row numbered from `first` to `last` after which the file may be cut."""
        at = np.flatnonzero(self._may_cut[first : last + 1])
        return first + int(at[0]) if at.size else None


def _names(frame: pl.DataFrame) -> pl.DataFrame:
    """(name hash, row_number) of each name each row carries."""
    variation = is_variation(frame)
    own = pl.when(~variation)
    return (
        frame.select(
            ROW_NUMBER,
            sku=own.then(stripped_cells(frame, s.SKU)),
            alias=own.then(pl.lit("id:") + stripped_cells(frame, s.ID)),
            parent=pl.when(variation).then(stripped_cells(frame, s.PARENT)),
        )
        .unpivot(index=ROW_NUMBER, value_name="name")
        .drop_nulls("name")
        .select(pl.col("name").hash(_SEED), ROW_NUMBER)
    )


def build_pieces(
    rows: ExportRows,
    columns: list[str],
    *,
    source: str,
    currency: str,
    piece_variants: int | None = None,
) -> Iterator[ParsedBatch]:
    """The batch `build_batch` builds, in pieces of whole products in file order: each piece
    ends at the first cut (`Cuts`) once it holds `piece_variants` rows (None: one piece). The
    file is walked twice, once for its cuts and once to build; a piece's rows are held until
    it is built. Each piece counts the rows it was built from; the last also counts what the
    file's own count of its rows says beyond (shopify_csv.helpers.build_pieces)."""
    if piece_variants is None:
        yield build_batch(rows, columns, source=source, currency=currency)
        return
    cuts = Cuts.of(rows.frames())
    held = pl.DataFrame()
    handled = 0
    for frame in rows.walked():
        held = pl.concat([held, frame]) if held.height else frame
        while held.height >= piece_variants:
            numbers = held[ROW_NUMBER]
            cut = cuts.first(numbers[piece_variants - 1], numbers[-1])
            if cut is None:
                break
            at = int(numbers.search_sorted(cut, side="right"))
            batch = _built(held.head(at), columns, source=source, currency=currency)
            held = held.slice(at)
            handled += batch.rows_read
            yield batch
    batch = _built(held, columns, source=source, currency=currency)
    batch.rows_read = rows.rows_read - handled
    yield batch


def _built(rows: pl.DataFrame, columns: list[str], *, source: str, currency: str) -> ParsedBatch:
    def walk() -> Iterator[Row]:
        return rows.iter_rows(named=True)

    return build_walked(walk, columns, source=source, currency=currency)
