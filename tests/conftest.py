"""Every test run gets its own PostgreSQL database: DATABASE_URL's server, or the embedded one.

Like production (docs/production-roles.md), each database belongs to `catalog_owner`, which
migrates it, and tests use the app's role `catalog_app`, which owns nothing. DATABASE_URL's
server must let both roles log in without a password (as the embedded one does).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import db, skip_unchanged
from catalog_pipelines.store import imports as store
from catalog_pipelines.store.migrations import migrate
from tests.support.dagster_state import forget_defs_state_storage
from tests.support.streamed import stream_small_exports, streamed_pieces

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "real"


@pytest.fixture(scope="session")
def server_url() -> str:
    """The server the run's databases live on (DATABASE_URL's, or the embedded one), as a
    role that may create databases and roles."""
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    url = db.admin_url()
    db.ensure_roles(url)
    return url


def owner_url(app_url: str) -> str:
    """The schema owner's URL for a database made by `create_database`."""
    return db.with_user(app_url, db.OWNER_ROLE)


def create_database(server: str, label: str) -> str:
    """A new database on `server`, owned and migrated by `catalog_owner`; returns the URL
    the app uses (`catalog_app`)."""
    url = db.create_database(server, f"cs_{label}", owner=db.OWNER_ROLE)
    engine = db.make_engine(db.with_user(url, db.OWNER_ROLE))
    migrate(engine, app_role=db.APP_ROLE)
    engine.dispose()
    return db.with_user(url, db.APP_ROLE)


def _use_database(mp: pytest.MonkeyPatch, url: str) -> None:
    """Subprocesses (CLI, dagster, the API server) use the same database and roles."""
    mp.setenv("DATABASE_URL", url)
    mp.setenv("DATABASE_OWNER_URL", owner_url(url))


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this run, dropped afterwards. Exported as DATABASE_URL
    so that subprocesses (CLI, dagster, the API server) use the same one."""
    url = create_database(server_url, "test")
    with pytest.MonkeyPatch.context() as mp:
        _use_database(mp, url)
        yield url
    db.drop_database(server_url, url)


@pytest.fixture(scope="session")
def owner_engine(database_url: str) -> Iterator[sa.Engine]:
    """The run's database as its schema owner, for tests that must change the schema (a
    failing trigger); the app role may not."""
    eng = db.make_engine(owner_url(database_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def isolated_database_url(server_url: str) -> Iterator[str]:
    """A database of the module's own, for tests of workers that act on every account
    (webhook fan-out and delivery) and must not see other modules' endpoints and events."""
    url = create_database(server_url, "iso")
    with pytest.MonkeyPatch.context() as mp:
        _use_database(mp, url)
        yield url
    db.drop_database(server_url, url)


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


@pytest.fixture(autouse=True)
def _forget_dagster_defs_state_storage() -> Iterator[None]:
    """After each test (tests/support/dagster_state.py says why)."""
    yield
    forget_defs_state_storage()


@pytest.fixture(autouse=True)
def _no_failed_keys_from_earlier_tests(request: pytest.FixtureRequest) -> None:
    """Every test's client is 127.0.0.1, and failed API keys are counted per address in the
    run's database (api/auth_failures.py): an earlier test's must not rate-limit this one."""
    if "database_url" in request.fixturenames:
        engine: sa.Engine = request.getfixturevalue("engine")
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM auth_failures"))


@pytest.fixture
def applies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per plan an import applied (a plan in parts applies one per part)."""
    calls: list[int] = []
    real = store.apply_plan

    def spy(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "apply_plan", spy)
    return calls


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """A small export's first import streamed (tests/support/streamed.py), its temporary
    files under `tmp_path / "spill"`; the number of pieces of each import that streamed."""
    stream_small_exports(monkeypatch, tmp_path)
    return streamed_pieces(monkeypatch)


@pytest.fixture
def skipped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many products each import skipped as unchanged, in order (-1: it could not skip)."""
    seen: list[int] = []
    real = skip_unchanged.count_skipped

    def spy(conn: Any, plan: Any, batch: Any, options: Any) -> None:
        prints = batch.fingerprints
        seen.append(prints.skipped.height if prints is not None else -1)
        real(conn, plan, batch, options)

    monkeypatch.setattr(skip_unchanged, "count_skipped", spy)
    return seen
