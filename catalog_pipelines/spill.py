"""Frames held in memory, or spilled to Arrow files in a temporary folder and read back when
needed: a re-import of a large file holds one key range of its fingerprints at a time."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl


class Spill:
    """A temporary folder of frames. It goes when no `Held` frame refers to it any more."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="catalog-sync-spill-")
        self._count = 0

    def keep(self, frame: pl.DataFrame) -> Held:
        path = Path(self._folder.name) / f"{self._count:06d}.arrow"
        self._count += 1
        frame.write_ipc(path, compression="lz4")  # cheap to write and read back
        return Held(path=path, spill=self)


class Held:
    """One frame, in memory or on disk. Pickled (a Dagster handoff), it is read into memory:
    the folder belongs to the process that spilled it."""

    def __init__(
        self,
        frame: pl.DataFrame | None = None,
        *,
        path: Path | None = None,
        spill: Spill | None = None,
    ) -> None:
        self._frame = frame
        self._path = path
        self._spill = spill  # keeps the folder while this frame is in it

    def frame(self) -> pl.DataFrame:
        if self._frame is not None:
            return self._frame
        assert self._path is not None
        with self._path.open("rb") as file:  # a handle, not a path: never memory-mapped
            return pl.read_ipc(file)

    def __getstate__(self) -> dict[str, Any]:
        return {"_frame": self.frame(), "_path": None, "_spill": None}


def hold(frame: pl.DataFrame, spill: Spill | None) -> Held:
    """`frame` kept in memory when there is no spill, else on disk."""
    return Held(frame) if spill is None else spill.keep(frame)
