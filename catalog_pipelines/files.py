"""Uploaded files: streamed to disk per account, checked while they stream, removed after
their retention (docs/imports-api.md).

A file is written chunk by chunk to `<root>/<account>/<file id>.part` and renamed when it is
complete, so memory never holds more than one chunk, however large the upload. Its size and
whether it is text are checked as it streams (the first 64 KiB as `catalog-sync import`
checks a file, then every chunk for NUL bytes): a binary file or one over the limit is refused
before the rest of it is written.

Settings (environment): CATALOG_FILES_DIR (default `$CATALOG_HOME/files`),
CATALOG_FILES_MAX_BYTES (default 1 GiB), CATALOG_FILES_RETENTION_HOURS (default 168).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.connectors.reading import SNIFF_BYTES, not_text_reason
from catalog_pipelines.store.errors import InvalidRequest, StoreError

log = logging.getLogger(__name__)

PURPOSES = ("catalog_import",)
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_RETENTION_HOURS = 168.0

# C0 controls (NUL included) but tab, newline, form feed and carriage return, and DEL.
_CONTROL = bytes([*range(0, 9), 11, *range(14, 32), 127])
# UTF-16/32 text (Excel's "Unicode text") holds NUL bytes; its BOM says so.
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _dense_controls(data: bytes) -> str | None:
    """More control bytes than text holds (one in twenty), as the importer judges a head."""
    controls = sum(data.count(c) for c in _CONTROL)
    if controls > max(8, len(data) // 20):
        return f"{controls} control bytes in {len(data)} bytes"
    return None


class FileTooLarge(StoreError):
    status = 413
    code = "file_too_large"


@dataclass(frozen=True)
class FileSettings:
    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    retention: timedelta = timedelta(hours=DEFAULT_RETENTION_HOURS)

    @classmethod
    def from_env(cls) -> FileSettings:
        root = os.environ.get("CATALOG_FILES_DIR")
        return cls(
            root=Path(root) if root else db.catalog_home() / "files",
            max_bytes=int(os.environ.get("CATALOG_FILES_MAX_BYTES", DEFAULT_MAX_BYTES)),
            retention=timedelta(
                hours=float(
                    os.environ.get("CATALOG_FILES_RETENTION_HOURS", DEFAULT_RETENTION_HOURS)
                )
            ),
        )


def _not_text(filename: str | None, reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"{filename or 'the upload'}: not a text file ({reason}); upload a CSV or JSON Lines"
        " export",
        param="file",
        code="file_invalid",
    )


class TextCheck:
    """Decides, chunk by chunk, whether the bytes are a text CSV/JSONL export.

    The first 64 KiB get the importer's own verdict (`not_text_reason`: known binary
    signatures, dense NUL or control bytes, UTF-16/32 allowed), so an upload is refused for
    what `catalog-sync import` refuses. Every later 64 KiB block is held to the same density
    rule: a few stray NULs or control bytes are bad cells that the import rejects row by row,
    a block dense with them is binary data."""

    def __init__(self, filename: str | None) -> None:
        self.filename = filename
        self.head = b""
        self.decided = False
        self.wide = False
        self.offset = 0  # of the first byte in `pending`
        self.pending = b""  # bytes after the head, not yet judged (less than a block)

    def _decide(self) -> None:
        reason = not_text_reason(self.head)
        self.wide = self.head.startswith(_WIDE_BOMS) or (
            reason is None and self.head.count(0) > max(8, len(self.head) // 100)
        )
        if reason is None and not self.wide:
            reason = _dense_controls(self.head)
        if reason is not None:
            raise _not_text(self.filename, reason)
        self.decided = True

    def feed(self, chunk: bytes) -> None:
        if not self.decided:
            room = SNIFF_BYTES - len(self.head)
            self.head += chunk[:room]
            chunk = chunk[room:]
            self.offset = len(self.head)
            if len(self.head) < SNIFF_BYTES:
                return
            self._decide()
        if self.wide:
            return
        self.pending += chunk
        while len(self.pending) >= SNIFF_BYTES:
            self._judge(self.pending[:SNIFF_BYTES])
            self.pending = self.pending[SNIFF_BYTES:]
            self.offset += SNIFF_BYTES

    def _judge(self, block: bytes) -> None:
        reason = _dense_controls(block)
        if reason is not None:
            raise _not_text(self.filename, f"{reason} from byte {self.offset}")

    def finish(self) -> str:
        """The file's type, `csv` or `jsonl`, from its name or else its first character."""
        if not self.head:
            raise InvalidRequest(
                f"{self.filename or 'the upload'}: the file is empty", param="file"
            )
        if not self.decided:
            self._decide()
        elif self.pending and not self.wide:
            self._judge(self.pending)
        name = (self.filename or "").lower()
        if name.endswith((".jsonl", ".ndjson", ".json")):
            return "jsonl"
        if name.endswith((".csv", ".tsv", ".txt")):
            return "csv"
        text = self.head.decode("utf-16" if self.wide else "utf-8", errors="ignore")
        return "jsonl" if text.lstrip("\ufeff \t\r\n").startswith("{") else "csv"


class FileWriter:
    """One upload being streamed to disk. `write` each chunk, then `commit` or `abort`."""

    def __init__(
        self, settings: FileSettings, account_id: str, purpose: str, filename: str | None
    ) -> None:
        if purpose not in PURPOSES:
            raise InvalidRequest(
                f"Invalid purpose: {purpose!r}; must be one of {', '.join(PURPOSES)}",
                param="purpose",
            )
        self.settings = settings
        self.account_id = account_id
        self.purpose = purpose
        self.filename = filename
        self.id = "file_" + secrets.token_hex(12)
        self.size = 0
        self.check = TextCheck(filename)
        folder = settings.root / account_id  # account ids match ^[A-Za-z0-9_-]{1,64}$
        folder.mkdir(parents=True, exist_ok=True)
        self.partial = folder / f"{self.id}.part"
        self.final = folder / self.id
        self._fh: BinaryIO | None = open(self.partial, "wb")  # noqa: SIM115 - closed below

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.settings.max_bytes:
            raise FileTooLarge(
                f"{self.filename or 'the upload'}: larger than the limit of"
                f" {self.settings.max_bytes} bytes",
                param="file",
            )
        self.check.feed(chunk)
        assert self._fh is not None
        self._fh.write(chunk)

    def commit(self, engine: sa.Engine) -> dict[str, Any]:
        """Close, rename and record the file; returns its Stripe-shaped object."""
        kind = self.check.finish()
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        os.replace(self.partial, self.final)
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                row = conn.execute(
                    _INSERT,
                    {
                        "id": self.id,
                        "account": self.account_id,
                        "purpose": self.purpose,
                        "filename": self.filename,
                        "size": self.size,
                        "type": kind,
                        "path": str(self.final.relative_to(self.settings.root)),
                        "created": now,
                        "expires": now + self.settings.retention,
                    },
                ).one()
        except BaseException:
            self.final.unlink(missing_ok=True)
            raise
        return file_object(row)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.partial.unlink(missing_ok=True)


_COLUMNS = "id, purpose, filename, size, type, path, created, expires_at"
_INSERT = sa.text(
    "INSERT INTO files (id, account_id, purpose, filename, size, type, path, created,"  # noqa: S608 - constant column list
    " expires_at) VALUES (:id, :account, :purpose, :filename, :size, :type, :path, :created, :expires)"
    f" RETURNING {_COLUMNS}"
)
_GET = sa.text(
    f"SELECT {_COLUMNS} FROM files"  # noqa: S608 - constant column list
    " WHERE account_id = :account AND id = :id AND expires_at > now()"
)


def file_object(row: Any) -> dict[str, Any]:
    """Stripe's File object (plus `type`, the detected format)."""
    return {
        "id": row.id,
        "object": "file",
        "purpose": row.purpose,
        "filename": row.filename,
        "size": row.size,
        "type": row.type,
        "created": int(row.created.timestamp()),
        "expires_at": int(row.expires_at.timestamp()),
        "title": None,
        "url": None,
        "links": None,
    }


def get_file(conn: sa.Connection, account_id: str, file_id: str) -> Any | None:
    """The account's unexpired file row, or None (another account's file is not found)."""
    return conn.execute(_GET, {"account": account_id, "id": file_id}).first()


def get_file_object(conn: sa.Connection, account_id: str, file_id: str) -> dict[str, Any] | None:
    row = get_file(conn, account_id, file_id)
    return None if row is None else file_object(row)


def file_path(settings: FileSettings, row: Any) -> Path:
    return settings.root / row.path


def purge_expired(engine: sa.Engine, settings: FileSettings, *, now: datetime | None = None) -> int:
    """Delete the files whose retention has passed (rows and bytes); returns how many.

    The row goes first, so a file is never served once its bytes may be gone; a crash
    between the two leaves an orphan file that `_sweep_orphans` removes on a later round."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text("DELETE FROM files WHERE expires_at <= :now RETURNING path"), {"now": now}
        ).all()
    for r in rows:
        (settings.root / r.path).unlink(missing_ok=True)
    _sweep_orphans(engine, settings, now)
    return len(rows)


def _sweep_orphans(engine: sa.Engine, settings: FileSettings, now: datetime) -> None:
    """Files on disk that no row names (a crash mid-purge, an abandoned `.part`), once they
    are older than the retention."""
    if not settings.root.is_dir():
        return
    cutoff = (now - settings.retention).timestamp()
    with engine.connect() as conn:
        for folder in settings.root.iterdir():
            if not folder.is_dir():
                continue
            known = set(
                conn.execute(
                    sa.text("SELECT id FROM files WHERE account_id = :a"), {"a": folder.name}
                ).scalars()
            )
            for path in folder.iterdir():
                if path.name not in known and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    log.info("removed orphan upload %s", path)
