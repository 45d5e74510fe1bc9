"""Applies `sql/NNNN_name.sql` in order, each exactly once, each in its own transaction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Serialises concurrent `migrate` calls (CLI, dagster dev, serve starting together).
_MIGRATION_LOCK = 7_413_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"{path}: migration files are named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{sql_dir}: two migrations share a number")
    return found


def migrate(engine: sa.Engine, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply pending migrations; return the ones applied now."""
    applied_now: list[Migration] = []
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        conn.commit()
        try:
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
            )
            conn.commit()
            done = {
                row.version: row.checksum
                for row in conn.execute(sa.text("SELECT version, checksum FROM schema_migrations"))
            }
            conn.commit()
            for mig in discover(sql_dir):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise RuntimeError(
                            f"{mig.path.name} changed after it was applied; add a new migration instead"
                        )
                    continue
                with conn.begin():
                    # No parameters: psycopg then runs the whole multi-statement file.
                    raw = conn.connection.driver_connection
                    assert raw is not None  # None only once the connection is closed
                    raw.execute(mig.sql)
                    conn.execute(
                        sa.text(
                            "INSERT INTO schema_migrations (version, name, checksum)"
                            " VALUES (:v, :n, :c)"
                        ),
                        {"v": mig.version, "n": mig.name, "c": mig.checksum},
                    )
                applied_now.append(mig)
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
    return applied_now
