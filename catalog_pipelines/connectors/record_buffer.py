"""Records gathered into a DataFrame a block at a time.

A shop export's builder makes one dict per product and per variant. A million variant dicts
held until the end of the file took about 1.5 GB; a block of them as a DataFrame takes a few
megabytes.
"""

from __future__ import annotations

from typing import Any

import polars as pl

BLOCK = 20_000


class RecordBuffer:
    """`append` dicts of `schema`'s columns, then take them all as one DataFrame."""

    def __init__(self, schema: pl.Schema | dict[str, Any], block: int | None = None) -> None:
        self.schema = schema
        self.block = block or BLOCK
        self._pending: list[dict[str, Any]] = []
        self._frames: list[pl.DataFrame] = []
        self._count = 0

    def append(self, record: dict[str, Any]) -> None:
        self._pending.append(record)
        self._count += 1
        if len(self._pending) >= self.block:
            self._flush()

    def __len__(self) -> int:
        return self._count

    def _flush(self) -> None:
        if self._pending:
            self._frames.append(pl.DataFrame(self._pending, schema=self.schema))
            self._pending = []

    def frame(self) -> pl.DataFrame:
        self._flush()
        if not self._frames:
            return pl.DataFrame(schema=self.schema)
        return pl.concat(self._frames, rechunk=True)
