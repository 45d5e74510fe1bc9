"""Which rows of a shop export must be built together, so that a first import can build,
validate and write it in pieces of whole products (first_import.py), each of which builds as
the whole file builds it.

A builder relates rows by names: a WooCommerce variation names its product in `Parent`, a
Magento configurable names its children in `configurable_variations`, and two rows with one
SKU are one accepted and one rejected. So rows that carry one name are built together, and so
are the rows that share a name with those: a group. A group is complete once its last row is
read. A connector says which names each row carries (`Names`).

A first walk finds the groups. A second builds them: a piece is the complete groups, in the
order of their first rows, once they hold enough rows, and only the rows of the groups still
open are held. A group whose rows lie far apart (a variation added to an old product) goes in
a later piece than the groups after it. When too many rows would wait at once (a store whose
variations all follow all of its products, as in WooCommerce's own sample export), every row
goes to disk instead, in buckets of whole groups by their first rows, and the buckets are
built one at a time, in file order.

Names are compared by their hashes: two names that collide only put two groups together.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from catalog_pipelines.connectors.export_rows import ExportRows, Row
from catalog_pipelines.normalized import ROW_NUMBER, ParsedBatch
from catalog_pipelines.spill import Held, Spill

log = logging.getLogger(__name__)

# A file that would hold more rows than this at once, waiting for their groups to complete,
# is built from buckets on disk: the rows of open groups are held with all their cells.
MAX_HELD = 50_000
BUCKET_ROWS = 50_000  # rows of whole groups read back from disk and built at once
SEED = 0x3D0C5  # for the names' hashes
GROUP = "_group"
_BUCKET = "_bucket"
_NO_NAMES = pl.DataFrame(schema={"name": pl.UInt64, ROW_NUMBER: pl.Int64})

# (name, row_number) of each name each row of a piece of the file carries; may raise
# NotInPieces (connectors/cells.py)
Names = Callable[[pl.DataFrame], pl.DataFrame]
Build = Callable[[pl.DataFrame], ParsedBatch]  # the batch of some whole groups' rows


def hashed(names: pl.DataFrame) -> pl.DataFrame:
    """`names` (a `name` string column beside `row_number`) as Names gives them: nulls
    dropped, each name hashed."""
    return names.drop_nulls("name").select(pl.col("name").hash(SEED), ROW_NUMBER)


class Groups:
    """The group of each row of a file: its first row, and the group's last row."""

    def __init__(self, first: np.ndarray, last: np.ndarray, rows: np.ndarray) -> None:
        self._first = first  # by row number
        self._last = last  # by row number
        self._sizes = np.bincount(first[rows], minlength=first.size)  # by first row
        self.held = self._most_held(rows)

    @classmethod
    def of(cls, frames: Iterable[pl.DataFrame], names: Names) -> Groups:
        """The groups of the file whose walk gives `frames` (ExportRows.frames)."""
        edges: list[pl.DataFrame] = []
        numbers: list[pl.Series] = []
        for frame in frames:
            edges.append(names(frame))
            numbers.append(frame[ROW_NUMBER])
        rows = pl.concat(numbers).to_numpy() if numbers else np.empty(0, dtype=np.int64)
        size = int(rows.max()) + 1 if rows.size else 1
        named = pl.concat(edges) if edges else _NO_NAMES
        del edges
        name = named["name"].rank("dense").cast(pl.Int64).to_numpy() - 1
        row = named[ROW_NUMBER].to_numpy()
        del named
        first = _components(np.arange(size, dtype=np.int64), name, row)
        last = np.zeros(size, dtype=np.int64)
        np.maximum.at(last, first[rows], rows)
        return cls(first, last[first], rows)

    def _most_held(self, rows: np.ndarray) -> int:
        """The most rows that wait at once for the rest of their groups, read in one walk."""
        waiting = np.zeros(self._last.size + 1, dtype=np.int64)
        np.add.at(waiting, rows, 1)  # held from its own row...
        np.add.at(waiting, self._last[rows], -1)  # ...until its group's last
        return int(np.cumsum(waiting).max()) if rows.size else 0

    def complete(self, frame: pl.DataFrame, read: int) -> pl.DataFrame:
        """`frame`'s rows whose group is complete once the row numbered `read` is read, with
        their group."""
        numbers = frame[ROW_NUMBER].to_numpy()
        done = self._last[numbers] <= read
        return frame.filter(pl.Series(done)).with_columns(
            pl.Series(GROUP, self._first[numbers[done]])
        )

    def buckets(self, frame: pl.DataFrame, rows: int) -> dict[int, pl.DataFrame]:
        """`frame`'s rows with their group, by bucket: buckets of whole groups in the order of
        their first rows, each closed once it holds `rows` rows."""
        first = self._first[frame[ROW_NUMBER].to_numpy()]
        bucket = ((np.cumsum(self._sizes) - self._sizes) // rows)[first]
        tagged = frame.with_columns(pl.Series(GROUP, first), pl.Series(_BUCKET, bucket))
        return {
            int(key[0]): part.drop(_BUCKET)
            for key, part in tagged.partition_by(_BUCKET, as_dict=True).items()
        }


def _components(first: np.ndarray, name: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The first row of each row's group, by row number: the smallest row number reachable
    through shared names (labels spread through the names until none moves)."""
    if not name.size:
        return first
    by_name = np.empty(int(name.max()) + 1, dtype=np.int64)
    while True:
        by_name.fill(np.iinfo(np.int64).max)
        np.minimum.at(by_name, name, first[row])
        spread = first.copy()
        np.minimum.at(spread, row, by_name[name])
        spread = spread[spread]  # a label is a row of the group: follow it to its own
        if np.array_equal(spread, first):
            return first
        first = spread


def build_pieces(
    rows: ExportRows, names: Names, build: Build, piece_rows: int
) -> Iterator[ParsedBatch]:
    """The batches `build` builds from pieces of whole groups of about `piece_rows` rows. The
    file is walked twice, once for its groups and once to build; the rows of open groups are
    held, or, when more than MAX_HELD would wait at once, every row goes to disk in buckets.
    Each piece counts the rows it was built from; the last also counts what the file's own
    count of its rows says beyond (shopify_csv.helpers.build_pieces)."""
    groups = Groups.of(rows.frames(), names)
    if groups.held > MAX_HELD:
        log.info(
            "%s: %d rows would wait for the rest of their products at once (more than %d):"
            " built from buckets on disk",
            rows.source,
            groups.held,
            MAX_HELD,
        )
        pieces = _from_buckets(rows, groups, piece_rows)
    else:
        pieces = _streamed(rows, groups, piece_rows)
    handled, batch = 0, None
    for piece in pieces:
        if batch is not None:
            handled += batch.rows_read
            yield batch
        batch = build(piece)
    if batch is None:
        batch = build(pl.DataFrame())
    batch.rows_read = rows.rows_read - handled
    yield batch


@dataclass(frozen=True)
class ExportPieces:
    """A shop export's `build_pieces` (cells.read_export_pieces): the batch `build_batch`
    builds, in pieces of whole groups of about `piece_variants` rows (None: one piece), each
    built by `build_walked(walk, columns, source=, currency=)` from the rows that each call of
    `walk` gives."""

    names: Names
    build_batch: Callable[..., ParsedBatch]
    build_walked: Callable[..., ParsedBatch]

    def __call__(
        self,
        rows: ExportRows,
        columns: list[str],
        *,
        source: str,
        currency: str,
        piece_variants: int | None = None,
    ) -> Iterator[ParsedBatch]:
        if piece_variants is None:
            yield self.build_batch(rows, columns, source=source, currency=currency)
            return

        def build(piece: pl.DataFrame) -> ParsedBatch:
            def walk() -> Iterator[Row]:
                return piece.iter_rows(named=True)

            return self.build_walked(walk, columns, source=source, currency=currency)

        yield from build_pieces(rows, self.names, build, piece_variants)


def _streamed(rows: ExportRows, groups: Groups, piece_rows: int) -> Iterator[pl.DataFrame]:
    """The pieces in one walk, holding the rows of the groups still open."""
    held = pl.DataFrame()
    for frame in rows.walked():
        if not frame.height:
            continue
        held = pl.concat([held, frame]) if held.height else frame
        done = groups.complete(held, frame[ROW_NUMBER][-1])
        if done.height < piece_rows:
            continue
        held = held.filter(~pl.col(ROW_NUMBER).is_in(done[ROW_NUMBER].implode()))
        yield from _split(done, piece_rows)
    if held.height:
        yield held


def _from_buckets(rows: ExportRows, groups: Groups, piece_rows: int) -> Iterator[pl.DataFrame]:
    """The pieces in one walk that puts every row on disk in its bucket (Groups.buckets),
    then one bucket at a time, in the order of their groups' first rows."""
    spill = Spill()
    try:  # the folder goes when the walk fails too (an unreadable piece, no fingerprints)
        buckets: dict[int, list[Held]] = defaultdict(list)
        for frame in rows.walked():
            if frame.height:
                for n, part in groups.buckets(frame, BUCKET_ROWS).items():
                    buckets[n].append(spill.keep(part))
        for n in sorted(buckets):
            bucket = pl.concat([held.frame() for held in buckets.pop(n)])
            yield from _split(bucket, piece_rows)
    finally:
        spill.close()


def _split(done: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    """`done`'s rows in pieces of whole groups, in the order of the groups' first rows, that
    end once they hold `rows` rows; each piece's rows in file order."""
    sizes = done.group_by(GROUP).len().sort(GROUP)
    piece = (sizes["len"].cum_sum() - sizes["len"]) // rows
    which = done.select(GROUP).join(
        sizes.select(GROUP, piece=piece), on=GROUP, how="left", maintain_order="left"
    )["piece"]
    for n in piece.unique(maintain_order=True).to_list():
        yield done.filter(which == n).drop(GROUP)
