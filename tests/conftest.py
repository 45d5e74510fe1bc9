"""Every test run gets its own PostgreSQL database: DATABASE_URL's server, or the embedded one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.store.migrations import migrate

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "real"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this run, dropped afterwards. Exported as DATABASE_URL
    so that subprocesses (CLI, dagster, the API server) use the same one."""
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    server_url = db.libpq_url()
    name = f"cs_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # the name is ours, never input
    url = db.with_database(server_url, name)
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    engine = db.make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def account(engine: sa.Engine) -> str:
    """A new account per test: tests share the run's database but never each other's rows."""
    acct = f"acct_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id) VALUES (:id)"), {"id": acct})
    return acct


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
