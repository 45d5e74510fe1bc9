"""How a snapshot is cut into stored chunks (store/snapshots.py): by key range, neither too
large to read at once nor, when it comes in many small frames, in many tiny chunks."""

from __future__ import annotations

import polars as pl
import pytest

from catalog_pipelines.fingerprints import KEY, SnapshotRows, as_snapshot, key_range
from catalog_pipelines.store import snapshots


def _frames(sizes: list[int]) -> list[pl.DataFrame]:
    frames, n = [], 0
    for size in sizes:
        keys = [f"K{i}" for i in range(n, n + size)]
        n += size
        frames.append(
            as_snapshot(
                pl.DataFrame({KEY: keys}).with_columns(
                    fingerprint=pl.lit(1), product_id=pl.col(KEY), prices=pl.lit(1), items=pl.lit(1)
                )
            )
        )
    return frames


@pytest.mark.parametrize("sizes", [[3] * 20, [25, 1, 14], [60]])
def test_chunks_hold_one_key_range_and_every_key_once(
    sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "CHUNK_ROWS", 10)
    frames = _frames(sizes)
    ranges = 2  # chunks of 5 to 10 keys
    chunks = list(snapshots._chunks(SnapshotRows(60, frames), ranges))
    keys: list[str] = []
    last: dict[int, int] = {}
    for i, (number, rows) in enumerate(chunks):
        assert 0 < rows.height <= 10
        assert rows.select(key_range(pl.col(KEY), ranges)).to_series().unique().to_list() == [
            number
        ]
        keys += rows[KEY].to_list()
        last[number] = i
    assert sorted(keys) == sorted(pl.concat(frames)[KEY].to_list())
    small = [i for i, (number, rows) in enumerate(chunks) if rows.height < 10 // ranges]
    assert all(last[chunks[i][0]] == i for i in small)  # only a range's last is small


def test_a_snapshot_in_small_frames_is_stored_in_few_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshots, "CHUNK_ROWS", 10)
    chunks = list(snapshots._chunks(SnapshotRows(10, _frames([1] * 10)), 1))
    assert [rows.height for _, rows in chunks] == [10]
