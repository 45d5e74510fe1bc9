"""The inbox: files dropped into `<inbox>/<source>/` and what happens to them.

Pure helpers, so the sensor stays small and each rule is unit-testable:
- a file is identified by (path, mtime, size); that triple is its deterministic `run_key`, so
  a re-submitted tick (docs/maintainers.md: run requests are submitted before the cursor is stored)
  never starts a second run for the same file;
- the run that imports a file moves it out of the inbox when it ends, to `processed/` or
  `failed/`. The run, not the sensor, moves it: the sensor cannot know when the run has read
  the file, and a file moved early would be gone for the run that needs it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dagster_defs.resources import SOURCE_NAME, InboxResource

# Files still being written by common tools, and hidden files, are never picked up.
_IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")

INBOX_FILE_TAG = "catalog-sync/inbox-file"
TRIGGER_TAG = "catalog-sync/trigger"
SOURCE_TAG = "catalog-sync/source"


@dataclass(frozen=True)
class InboxFile:
    source: str
    path: Path
    mtime_ns: int
    size: int

    @property
    def run_key(self) -> str:
        """Deterministic: the same bytes at the same place and time give the same key."""
        ident = f"{self.path}\0{self.mtime_ns}\0{self.size}"
        return f"inbox:{self.source}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def scan(root: Path, *, settle_seconds: float, now: float | None = None) -> list[InboxFile]:
    """Files waiting in `root/<source>/`, oldest first. Folders whose name is not a valid
    source name are ignored, as are hidden, partial and too-recent files."""
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    found: list[InboxFile] = []
    for source_dir in sorted(root.iterdir()):
        if not source_dir.is_dir() or not SOURCE_NAME.match(source_dir.name):
            continue
        for path in source_dir.iterdir():
            if path.name.startswith(".") or path.name.endswith(_IGNORED_SUFFIXES):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # moved away by a finishing run meanwhile
                continue
            age = now - st.st_mtime  # negative on clock skew (network mounts): not "recent"
            if not path.is_file() or 0 <= age < settle_seconds:
                continue
            found.append(InboxFile(source_dir.name, path.resolve(), st.st_mtime_ns, st.st_size))
    found.sort(key=lambda f: (f.mtime_ns, str(f.path)))
    return found


@dataclass(frozen=True)
class InboxCursor:
    """The run keys already requested for files that are still in the inbox.

    Only an optimisation (docs/maintainers.md): Dagster's run_key dedup is what guarantees one run per
    file. Keys of files that have left the inbox are dropped, so the cursor stays small.
    """

    requested: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: str | None) -> InboxCursor:
        if not raw:
            return cls()
        return cls(frozenset(json.loads(raw).get("requested", [])))

    def serialize(self) -> str:
        return json.dumps({"requested": sorted(self.requested)})


def plan_tick(
    files: list[InboxFile], cursor: InboxCursor, *, limit: int
) -> tuple[list[InboxFile], InboxCursor]:
    """Which files to request now, and the cursor to store after this tick."""
    present = {f.run_key for f in files}
    new = [f for f in files if f.run_key not in cursor.requested][:limit]
    kept = (cursor.requested & present) | {f.run_key for f in new}
    return new, InboxCursor(frozenset(kept))


def move_out(path: Path, *, inbox_root: Path, dest_root: Path, run_id: str) -> Path | None:
    """Move an inbox file to `dest_root/<source>/<utc time>-<run id>-<name>`.

    Returns the new path, or None when the file is no longer in the inbox (already moved by an
    earlier attempt of this run). Never overwrites: the name carries the run id.
    """
    if not path.exists():
        return None
    try:
        relative = path.resolve().relative_to(inbox_root.resolve())
    except ValueError as exc:
        raise ValueError(f"{path} is not inside the inbox {inbox_root}") from exc
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = dest_root / relative.parent / f"{stamp}-{run_id[:8]}-{path.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), target)
    return target


def inbox_path_of_run(context: dg.AssetExecutionContext) -> Path | None:
    raw = context.run.tags.get(INBOX_FILE_TAG)
    return Path(raw) if raw else None


def move_inbox_file(
    context: dg.AssetExecutionContext, inbox: InboxResource, *, succeeded: bool
) -> Path | None:
    """End of the run for an inbox file: move it to processed/ or failed/ (once)."""
    path = inbox_path_of_run(context)
    if path is None:
        return None
    dest = inbox.processed_root() if succeeded else inbox.failed_root()
    moved = move_out(path, inbox_root=inbox.root(), dest_root=dest, run_id=context.run.run_id)
    if moved is not None:
        context.log.info(f"moved {path} to {moved}")
    return moved


@contextmanager
def finish_inbox_file_on_error(
    context: dg.AssetExecutionContext, inbox: InboxResource
) -> Iterator[None]:
    """A step that raises ends the run: its inbox file goes to failed/ before the error."""
    try:
        yield
    except BaseException:
        try:
            move_inbox_file(context, inbox, succeeded=False)
        except Exception as move_error:  # the original error matters more
            context.log.error(f"could not move the inbox file to failed/: {move_error}")
        raise
