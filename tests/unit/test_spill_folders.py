"""An import's temporary folders: gone with the import, and, when the import was killed,
removed by the next one (never another live process's, nor another host's)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines import spill


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _left(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    (path / "000000.arrow").write_bytes(b"x" * 1000)
    return path


def test_the_next_import_removes_what_a_killed_one_left(tmpdir_: Path) -> None:
    host, dead = spill._host(), _dead_pid()
    killed = [
        _left(tmpdir_, f"catalog-sync-spill-{host}-{dead}-a1"),
        _left(tmpdir_, f"catalog-sync-import-{host}-{dead}-b2"),
    ]
    kept = [
        _left(tmpdir_, f"catalog-sync-spill-{host}-{os.getppid()}-c3"),  # a live process's
        _left(tmpdir_, f"catalog-sync-spill-otherhost-{dead}-d4"),  # judged on its own host
        _left(tmpdir_, "catalog-sync-notes"),
    ]
    folder = spill.owned_folder("import")
    assert folder.parent == tmpdir_ and f"-{os.getpid()}-" in folder.name
    assert not any(p.exists() for p in killed)
    assert all(p.exists() for p in kept)


def test_a_spill_folder_goes_with_the_last_frame_in_it(tmpdir_: Path) -> None:
    s = spill.Spill()
    held = s.keep(pl.DataFrame({"a": [1, 2, 3]}))
    (folder,) = tmpdir_.iterdir()
    del s
    gc.collect()
    assert folder.exists() and held.frame()["a"].to_list() == [1, 2, 3]  # still in use
    del held
    gc.collect()
    assert not folder.exists()
