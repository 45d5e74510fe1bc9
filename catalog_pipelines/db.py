"""Where the catalog's PostgreSQL lives: `DATABASE_URL`, or an embedded server under CATALOG_HOME.

Two roles (docs/production-roles.md): the app logs in as a role that owns nothing and may only
INSERT and SELECT on `events`; migrations run as the role that owns the schema. `DATABASE_URL`
is the app's URL and `DATABASE_OWNER_URL` the owner's; the embedded server sets up both roles
(`catalog_app` and `catalog_owner`) itself.

Our own code always speaks `postgresql+psycopg://` (SQLAlchemy) or a plain libpq URI (psycopg).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

_lock = threading.Lock()
_servers: dict[str, Any] = {}

OWNER_ROLE = "catalog_owner"
APP_ROLE = "catalog_app"


def catalog_home() -> Path:
    return Path(os.environ.get("CATALOG_HOME", "./.catalog")).resolve()


def embedded_data_dir() -> Path:
    return catalog_home() / "pgdata"


def _keep_running_marker() -> Path:
    return catalog_home() / "keep-running"


def _import_pgserver() -> Any:
    import warnings

    # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns on
    # every command though the fallback works. Keep our stderr for real problems.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=Warning)
    import pgserver  # imported lazily: it is only needed when DATABASE_URL is unset

    return pgserver


def start_embedded(*, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server and return its libpq URI.

    `cleanup_mode="stop"` lets several processes share one data directory: the last one to
    exit stops the server. `db start` (keep_running) leaves a marker so that no later command
    stops it on exit; `db stop` removes it.
    """
    pgserver = _import_pgserver()
    data_dir = embedded_data_dir()
    key = str(data_dir)
    with _lock:
        if key not in _servers:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            # pgserver runs postgres as the `pgserver` user when we are root: it must reach the dir.
            os.chmod(data_dir.parent, 0o755)
            if keep_running:
                _keep_running_marker().touch()
            keep = _keep_running_marker().exists()
            server = pgserver.get_server(data_dir, cleanup_mode=None if keep else "stop")
            ensure_roles(server.get_uri(), adopt_public=True)
            _servers[key] = server
        return _servers[key].get_uri()


def stop_embedded() -> bool:
    """Stop the embedded server if it is running; True if there was one."""
    _keep_running_marker().unlink(missing_ok=True)
    data_dir = embedded_data_dir()
    if not (data_dir / "postmaster.pid").exists():
        return False
    pgserver = _import_pgserver()
    from pgserver import _commands

    # pgserver defines one function per PostgreSQL program at import time, unseen by mypy.
    pg_ctl: Callable[..., Any] = vars(_commands)["pg_ctl"]
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user)
    return True


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace(
        "postgres://", "postgresql://", 1
    )


def libpq_url() -> str:
    """The app's URI (psycopg and psql accept it): `DATABASE_URL`, or the embedded server as
    the `catalog_app` role."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return _libpq(url)
    return with_user(start_embedded(), APP_ROLE)


def owner_url() -> str:
    """The URI migrations run with: `DATABASE_OWNER_URL`; else `DATABASE_URL` (one role does
    everything, as before two roles existed); else the embedded server as `catalog_owner`."""
    url = os.environ.get("DATABASE_OWNER_URL") or os.environ.get("DATABASE_URL")
    if url:
        return _libpq(url)
    return with_user(start_embedded(), OWNER_ROLE)


def admin_url() -> str:
    """A URI that may create databases (tests, benchmarks): `DATABASE_URL`, or the embedded
    server's superuser."""
    url = os.environ.get("DATABASE_URL")
    return _libpq(url) if url else start_embedded()


def user_of(url: str) -> str | None:
    """The role a URL logs in as, if it names one."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(_libpq(url))
    users = parse_qs(parts.query).get("user")
    return parts.username or (users[0] if users else None)


def app_role() -> str | None:
    """The role migrations grant the app's privileges to: the user of `DATABASE_URL` (or
    `catalog_app` on the embedded server), unless it is the owner itself."""
    app, owner = user_of(libpq_url()), user_of(owner_url())
    return app if app and app != owner else None


def with_user(url: str, user: str) -> str:
    """The same server and database, logging in as `user` (no password: for servers that trust
    local connections, like the embedded one)."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(_libpq(url))
    host = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")], safe="/"
    )
    return urlunsplit(parts._replace(netloc=f"{quote(user)}@{host}", query=query))


_ROLES = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalog_owner') THEN
        CREATE ROLE catalog_owner LOGIN NOSUPERUSER NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalog_app') THEN
        CREATE ROLE catalog_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$
"""

# Catalog objects made before the two roles existed belong to the superuser: hand them to the
# owner (tables carry their indexes, triggers and identity sequences along).
_ADOPT_PUBLIC = """
GRANT CREATE, USAGE ON SCHEMA public TO catalog_owner;
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT c.oid::regclass AS obj,
                    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                   WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
               AND c.relowner <> 'catalog_owner'::regrole
               AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO catalog_owner', r.kind, r.obj);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.proowner <> 'catalog_owner'::regrole
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO catalog_owner', r.fn);
    END LOOP;
END $$
"""


def ensure_roles(superuser_url: str, *, adopt_public: bool = False) -> None:
    """Create `catalog_owner` and `catalog_app` on a server we administer (the embedded one,
    test servers). With `adopt_public`, the owner also gets the `public` schema of the
    database the URL names, and every catalog object in it."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        # Serialise processes that start the server at the same time (CREATE ROLE races).
        conn.execute("SELECT pg_advisory_lock(7413002)")
        conn.execute(_ROLES)
        if adopt_public:
            conn.execute(_ADOPT_PUBLIC)


def sqlalchemy_url(url: str | None = None) -> str:
    url = url or libpq_url()
    for prefix in (
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://...")


# Session settings for every catalog connection. temp_buffers must be set before a session
# first touches a temp table, so it goes in the startup options: imports stage their diff in
# temp tables, and the 8 MB default makes them spill to disk. JIT only slows our short queries.
SESSION_OPTIONS = "-c temp_buffers=256MB -c work_mem=64MB -c jit=off"


def make_engine(url: str | None = None, **kwargs: Any) -> sa.Engine:
    kwargs.setdefault("connect_args", {"options": SESSION_OPTIONS})
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(sqlalchemy_url(url), **kwargs)


def shared_engine(url: str | None = None) -> sa.Engine:
    """One pooled engine per URL per process (resolved now, so a changed DATABASE_URL counts)."""
    return _engine_for(url or libpq_url())


@lru_cache(maxsize=8)
def _engine_for(url: str) -> sa.Engine:
    return make_engine(url)


def with_database(url: str, dbname: str) -> str:
    """The same server URL, pointing at another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def create_database(server_url: str, prefix: str, owner: str | None = None) -> str:
    """A new, empty database on the server (for tests, benchmarks, scratch work); its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner is not None:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database `url` names, even with sessions still connected."""
    from urllib.parse import urlsplit

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def scratch_database(prefix: str, server_url: str | None = None) -> Iterator[str]:
    """A database that exists for the block only (benchmarks); yields its URL."""
    server = server_url or admin_url()
    url = create_database(server, prefix)
    try:
        yield url
    finally:
        drop_database(server, url)
