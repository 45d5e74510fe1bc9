"""Records gathered into a DataFrame a block at a time.

A shop export's builder makes one dict per product and per variant. A million variant dicts
held until the end of the file took about 1.5 GB; a block of them as a DataFrame takes a few
megabytes. A record's metadata and options may be given as a mapping: they are laid out as
flat key and value columns, then grouped into the frame's key/value lists, twice as fast as
polars reading a list of {"key", "value"} dicts per record (most of a Shopify export's
reading time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from catalog_pipelines.normalized import KV

BLOCK = 20_000
_INDEX = "__record"


class RecordBuffer:
    """`append` dicts of `schema`'s columns, then take them all as one DataFrame. A column of
    type KV takes a mapping, a list of {"key", "value"} dicts, or None."""

    def __init__(self, schema: Mapping[str, pl.DataType], block: int | None = None) -> None:
        self.schema = dict(schema)
        self.block = block or BLOCK
        self._kv = [c for c, dtype in self.schema.items() if dtype == KV]
        self._plain = [c for c in self.schema if c not in self._kv]
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
        if not self._pending:
            return
        records, self._pending = self._pending, []
        frame = pl.DataFrame(
            {c: [r.get(c) for r in records] for c in self._plain},
            schema={c: self.schema[c] for c in self._plain},
        )
        frame = frame.with_columns(_kv_column(records, c) for c in self._kv)
        self._frames.append(frame.select(list(self.schema)))

    def frame(self) -> pl.DataFrame:
        self._flush()
        if not self._frames:
            return pl.DataFrame(schema=self.schema)
        return pl.concat(self._frames, rechunk=True)


def _kv_column(records: list[dict[str, Any]], column: str) -> pl.Series:
    """The KV list column of `records`: null where a record has none, [] where it is empty."""
    index: list[int] = []
    keys: list[str] = []
    values: list[str] = []
    given: list[bool] = []
    for i, record in enumerate(records):
        pairs = record.get(column)
        given.append(pairs is not None)
        if not pairs:
            continue
        items = (
            pairs.items() if isinstance(pairs, Mapping) else ((p["key"], p["value"]) for p in pairs)
        )
        for k, v in items:
            index.append(i)
            keys.append(k)
            values.append(v)
    lists = (
        pl.DataFrame(
            {_INDEX: index, "key": keys, "value": values},
            schema={_INDEX: pl.Int64, "key": pl.Utf8, "value": pl.Utf8},
        )
        .group_by(_INDEX, maintain_order=True)
        .agg(pl.struct("key", "value").alias(column))
    )
    return (
        pl.DataFrame(
            {_INDEX: pl.int_range(len(records), eager=True, dtype=pl.Int64), "given": given}
        )
        .join(lists, on=_INDEX, how="left", maintain_order="left")
        .select(
            pl.when(pl.col("given"))
            .then(pl.col(column).fill_null(pl.lit([], dtype=KV)))
            .cast(KV)
            .alias(column)
        )
        .to_series()
    )
