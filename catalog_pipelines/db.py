"""Where the catalog's PostgreSQL lives: `DATABASE_URL`, or an embedded server under CATALOG_HOME.

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
            _servers[key] = pgserver.get_server(data_dir, cleanup_mode=None if keep else "stop")
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


def libpq_url() -> str:
    """A URI that psycopg (and psql) accept."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url.replace("postgresql+psycopg://", "postgresql://").replace(
            "postgres://", "postgresql://", 1
        )
    return start_embedded()


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


def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database on the server (for tests, benchmarks, scratch work); its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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
    server = server_url or libpq_url()
    url = create_database(server, prefix)
    try:
        yield url
    finally:
        drop_database(server, url)
