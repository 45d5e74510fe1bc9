"""The row prints of a re-import read in pieces (fingerprints.py): each piece's rows are
checked against the snapshot's still-valid prints as they are read, so a reader keeps only the
rows that may not be skipped, and the prints wait, split by the snapshot's key ranges, for the
decision at the end (skip_decision.decide_by_range)."""

from __future__ import annotations

from typing import Any

import polars as pl

from catalog_pipelines.fingerprints import KEY, Fingerprints, SkipRequest, by_range, salt
from catalog_pipelines.normalized import ROW_NUMBER
from catalog_pipelines.skip_decision import (
    NO_VALID_PRINTS,
    decide_by_range,
    maybe_skipped,
    valid_prints,
)
from catalog_pipelines.spill import Held, Spill, hold

# Row prints gathered from the pieces before they are split by key range and spilled (about
# 17 MB): a 10M-row file then makes 20 files a range, not one a piece and range (2,700 of
# them, 4.8 s of a 20 s no-op), and is split 20 times, not once a piece.
SPLIT_ROWS = 500_000


class PiecePrints:
    """The prints of every piece read, and the still-valid prints of the snapshot (none when
    it was taken under other rules: then every row is kept)."""

    def __init__(self, skip: SkipRequest) -> None:
        self._skip = skip
        ranges = len(skip.known.ranges) if skip.known is not None else 1
        self.spill = Spill() if ranges > 1 else None
        self._parts: list[list[Held]] = [[] for _ in range(ranges)]
        self._gathered: list[pl.DataFrame] = []  # the prints of the pieces since the last split
        self._valid = valid_prints(skip.known) if skip.known is not None else NO_VALID_PRINTS
        self.salt_parts: dict[str, Any] = {}

    def rules(self, salt_parts: dict[str, Any]) -> None:
        """The header and mapping the prints are taken under, once the first piece is read."""
        self.salt_parts = salt_parts
        known = self._skip.known
        if known is not None and known.salt != salt(**salt_parts, **self._skip.rules):
            self._valid = NO_VALID_PRINTS  # taken under other rules: nothing to compare

    def maybe_skipped(self, rows: pl.DataFrame) -> pl.Series:
        """A mask of a piece's `row_prints` that may belong to a skipped product."""
        return maybe_skipped(rows, self._valid)

    def add(self, rows: pl.DataFrame) -> None:
        """Take the `row_prints` of a piece's rows that the reader did not refuse."""
        self._gathered.append(rows)
        if sum(g.height for g in self._gathered) >= SPLIT_ROWS:
            self._split_gathered()

    def _split_gathered(self) -> None:
        rows = pl.concat(self._gathered) if len(self._gathered) > 1 else self._gathered[0]
        self._gathered.clear()
        for held, part in zip(self._parts, by_range(rows, len(self._parts)), strict=True):
            held.append(hold(part, self.spill))

    def decide(self, refused: pl.DataFrame) -> tuple[pl.Series, Fingerprints]:
        """The row numbers to process and the batch's `Fingerprints` (decide_by_range)."""
        if self._gathered:
            self._split_gathered()
        self._valid = NO_VALID_PRINTS  # the decision searches the snapshot a range at a time
        return decide_by_range(
            self._parts,
            refused,
            salt_parts=self.salt_parts,
            request=self._skip,
            spill=self.spill,
        )


def refused_frame(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The (row_number, external_id) of the refused rows of every piece."""
    if parts:
        return pl.concat(parts)
    return pl.DataFrame(schema={ROW_NUMBER: pl.Int64, KEY: pl.Utf8})
