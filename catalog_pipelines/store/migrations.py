"""Applies `sql/NNNN_name.sql` in order, each exactly once, each in its own transaction, as
the role that owns the schema; then grants the app's role what it needs and no more
(docs/production-roles.md). Grants run after every migration, so new tables are covered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from psycopg import sql

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


# Tables the app may only read and append to: the event log is the history of the catalog.
APPEND_ONLY = (
    "events",
    "event_objects",
    "frozen_products",
    "frozen_prices",
    "frozen_inventory_items",
    "source_versions",
)
# Tables the app may only read.
READ_ONLY = ("schema_migrations",)
_TABLES = sa.text(
    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
)


class PendingMigrations(RuntimeError):
    """Migrations are pending and this role may not apply them."""


def pending(engine: sa.Engine, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Migrations not applied yet (read-only: any role that may read the schema can ask)."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('schema_migrations')")).scalar() is None:
            return discover(sql_dir)
        done = {
            row.version: row.checksum
            for row in conn.execute(sa.text("SELECT version, checksum FROM schema_migrations"))
        }
    return [m for m in discover(sql_dir) if done.get(m.version) != m.checksum]


def grant_app(conn: sa.Connection, role: str) -> None:
    """The app's privileges: read and write the catalog's tables, but only SELECT and INSERT
    on the event log, only SELECT on views and on the migration ledger, and own nothing."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a live SQLAlchemy connection always has its psycopg one
    who = sql.Identifier(role)
    raw.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who))
    raw.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(who))
    for name, kind in conn.execute(_TABLES):
        table = sql.Identifier(name)
        raw.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, who))
        if kind in ("v", "m") or name in READ_ONLY:
            privileges = "SELECT"
        elif name in APPEND_ONLY:
            privileges = "SELECT, INSERT"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        raw.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privileges), table, who))


def migrate(
    engine: sa.Engine, sql_dir: Path = SQL_DIR, *, app_role: str | None = None
) -> list[Migration]:
    """Apply pending migrations; return the ones applied now. With `app_role`, (re)grant that
    role the app's privileges afterwards. With nothing pending and no role to grant to, only
    reads: the app's own role may call it to check that the schema is current."""
    if not pending(engine, sql_dir) and app_role is None:
        return []
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
            if app_role is not None:
                with conn.begin():
                    grant_app(conn, app_role)
        except sa.exc.ProgrammingError as e:
            if getattr(e.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                raise PendingMigrations(
                    "migrations are pending and this role may not apply them: run"
                    " `catalog-sync db migrate` with DATABASE_OWNER_URL set to the owner's URL"
                    " (docs/production-roles.md)"
                ) from e
            raise
        finally:
            conn.rollback()  # a failed statement leaves the transaction aborted
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
    return applied_now


def migrate_catalog() -> list[Migration]:
    """Migrate the catalog as its owner (`db.owner_url()`), granting the app's role."""
    from catalog_pipelines import db

    return migrate(db.shared_engine(db.owner_url()), app_role=db.app_role())
