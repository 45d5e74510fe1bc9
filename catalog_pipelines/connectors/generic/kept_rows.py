"""The rows a re-import read in pieces keeps for mapping: those of the products it may not skip.

A re-import that changes few products keeps few rows, in memory. One that changes most of them
keeps most of the file: past CHUNK_ROWS rows, the pieces' kept rows wait on disk, and they are
mapped a chunk at a time when their identifiers allow it (mapping/chunks.py), so the raw rows
and the mapping's working frames are not all in memory beside the mapped products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import polars as pl

from catalog_pipelines.connectors.reading import ROW_NUMBER
from catalog_pipelines.frames import rows_where
from catalog_pipelines.mapping import Mapping
from catalog_pipelines.mapping.chunks import identity_tokens, independent, map_in_chunks
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.spill import Held, Spill, hold

CHUNK_ROWS = 200_000  # rows held in memory before they go to disk, and mapped at once


class KeptRows:
    """The kept rows of each piece, in the file's order, with their row numbers and
    identifier tokens in memory. `ragged`: the pieces may have other columns (JSON Lines,
    whose records' keys are their columns); they are mapped apart only when all have the same,
    in the same order, and else put together by name."""

    def __init__(self, mapping: Mapping, *, ragged: bool = False) -> None:
        self._mapping = mapping
        self._ragged = ragged
        self._columns: list[list[str]] = []
        self._parts: list[Held | None] = []
        self._numbers: list[pl.Series] = []
        self._tokens: list[pl.Series] = []
        self._spill: Spill | None = None
        self._rows = 0
        self._wanted = pl.Series(ROW_NUMBER, [], dtype=pl.Int64)
        self._counts: list[int] = []  # each part's wanted rows

    def add(self, rows: pl.DataFrame) -> None:
        self._rows += rows.height
        self._columns.append(rows.columns)
        if self._spill is None and self._rows > CHUNK_ROWS:
            self._spill = Spill()
        self._numbers.append(rows[ROW_NUMBER])
        self._tokens.append(identity_tokens(rows, self._mapping))
        self._parts.append(hold(rows, self._spill))

    @property
    def parts(self) -> int:
        return len(self._parts)

    def keep_only(self, wanted: pl.Series) -> int:
        """Keep the rows of these row numbers only; how many of them are here."""
        self._wanted = wanted
        in_wanted = wanted.implode()
        self._counts = [int(n.is_in(in_wanted).sum()) for n in self._numbers]
        return sum(self._counts)

    def mapped(
        self,
        *,
        source: str,
        rows_read: int,
        rejects: Sequence[Reject],
        skipped_rows: int,
        each_chunk: Callable[[ParsedBatch], None] | None = None,
    ) -> ParsedBatch:
        """`apply_mapping` of the kept rows: a chunk at a time when that gives the same batch,
        else in one chunk. The rows are read once: each part goes once its chunk is mapped.
        With `each_chunk`, the batch of each of several chunks goes to it, and the batch
        returned has no rows (map_in_chunks)."""
        groups = self._groups()
        if len(groups) > 1 and (
            any(c != self._columns[0] for c in self._columns)
            or not independent([pl.concat([self._tokens[i] for i in group]) for group in groups])
        ):
            groups = [list(range(len(self._parts)))]
        return map_in_chunks(
            self._frames(groups),
            self._mapping,
            source=source,
            rows_read=rows_read,
            rejects=rejects,
            skipped_rows=skipped_rows,
            each=each_chunk if len(groups) > 1 else None,
            require_columns=not self._ragged,
        )

    def _groups(self) -> list[list[int]]:
        """Consecutive parts, CHUNK_ROWS wanted rows or more to a group (the last: the rest)."""
        groups: list[list[int]] = [[]]
        rows = 0
        for i, count in enumerate(self._counts):
            if rows >= CHUNK_ROWS:
                groups.append([])
                rows = 0
            groups[-1].append(i)
            rows += count
        return groups

    def _frames(self, groups: list[list[int]]) -> Iterator[pl.DataFrame]:
        wanted = pl.col(ROW_NUMBER).is_in(self._wanted.implode())
        for group in groups:
            frames = []
            for i in group:
                held, self._parts[i] = self._parts[i], None
                assert held is not None, "kept rows are mapped once"
                frames.append(rows_where(held.frame(), wanted))
            if len(frames) == 1:
                yield frames[0]
            else:
                yield pl.concat(frames, how="diagonal" if self._ragged else "vertical")
