"""Frames held in memory, or spilled to Arrow files in a temporary folder and read back when
needed: a re-import of a large file holds one key range of its fingerprints at a time.

Every temporary folder of an import is named for its host and process (`owned_folder`), so
that the next import removes what a killed one left: the folders go with their process, but
not when the process is killed."""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import socket
import tempfile
import weakref
from pathlib import Path
from typing import Any

import polars as pl

log = logging.getLogger(__name__)

PREFIX = "catalog-sync-"
PURPOSES = ("spill", "import")  # the fingerprints of a re-import, a first import's pieces


def _host() -> str:
    # A folder is only ever judged by a process of the same host (a container has its own
    # name), which can tell whether the process that made it still runs.
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_orphans(folder: Path | None = None) -> list[Path]:
    """Remove the folders in `folder` (the temp dir) that a killed import of this host left."""
    folder = Path(folder or tempfile.gettempdir())
    purposes = "|".join(PURPOSES)
    mine = re.compile(re.escape(PREFIX) + f"(?:{purposes})-" + re.escape(_host()) + r"-(\d+)-")
    removed = []
    for path in folder.glob(f"{PREFIX}*"):
        m = mine.match(path.name)
        if m and path.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("removed %d folders of killed imports: %s", len(removed), removed)
    return removed


def owned_folder(purpose: str) -> Path:
    """A new temporary folder of this process, after removing those of killed ones. The
    caller removes it."""
    assert purpose in PURPOSES
    remove_orphans()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-{_host()}-{os.getpid()}-"))


class Spill:
    """A temporary folder of frames. It goes when no `Held` frame refers to it any more."""

    def __init__(self) -> None:
        self._folder = owned_folder("spill")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        self._numbers = itertools.count()  # next() is atomic: ranges are spilled from threads

    def close(self) -> None:
        """Remove the folder now, whatever still refers to it."""
        self._cleanup()

    def keep(self, frame: pl.DataFrame) -> Held:
        path = self._folder / f"{next(self._numbers):06d}.arrow"
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
