"""The app logs in as a role that cannot rewrite the event log: not a superuser, owning
nothing, with only SELECT and INSERT on `events` (docs/production-roles.md). Every way
around the append-only trigger that works for a superuser or an owner fails for it, while
imports and API writes work as usual."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.api.app import api_engine, create_app
from catalog_pipelines.cli import main
from catalog_pipelines.store.migrations import SQL_DIR, PendingMigrations, migrate
from tests.conftest import FIXTURES, create_database, owner_url
from tests.e2e.conftest import ServerThread, free_port, new_client

REWRITES = [
    "SET session_replication_role = replica; DELETE FROM events",
    "ALTER TABLE events DISABLE TRIGGER ALL",
    "DROP TRIGGER events_append_only_rows ON events",
    "UPDATE events SET type = 'rewritten'",
    "DELETE FROM events",
    "TRUNCATE events",
    "DELETE FROM object_versions",  # an updatable view over events
    "ALTER TABLE events OWNER TO catalog_app",
    "CREATE TABLE shadow_events (LIKE events)",
    "DELETE FROM schema_migrations",
]


@pytest.fixture(scope="module")
def imported(database_url: str) -> Iterator[str]:
    """An account with a real import: its events are what the app must not rewrite."""
    account = f"acct_roles_{secrets.token_hex(4)}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "import",
                str(FIXTURES / "shopify_product_template.csv"),
                "--source",
                "shopify-roles",
                "--account",
                account,
                "--json",
            ]
        )
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue())["events"] > 0
    yield account


def event_count(url: str, account: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE account_id = %s", (account,))
        return row.fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize("statement", REWRITES)
def test_the_app_role_cannot_rewrite_the_event_log(
    database_url: str, imported: str, statement: str
) -> None:
    before = event_count(database_url, imported)
    assert before > 0
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert event_count(database_url, imported) == before
    with psycopg.connect(owner_url(database_url)) as conn:  # the trigger is still there
        n = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass"
            " AND tgname LIKE 'events_append_only%' AND tgenabled = 'O'"
        ).fetchone()
    assert n == (2,)


def test_the_app_role_is_no_superuser_and_owns_nothing(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        user, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()  # type: ignore[misc]
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relowner = current_user::regrole AND n.nspname NOT LIKE 'pg_temp%'"
            " AND n.nspname NOT LIKE 'pg_toast_temp%'"
        ).fetchone()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole"
        ).fetchone()
        grants = conn.execute(
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type)"
            " FROM information_schema.role_table_grants"
            " WHERE table_name = 'events' AND grantee = current_user"
        ).fetchone()
    assert user == db.APP_ROLE and superuser is False
    assert owned == (0,) and functions == (0,)
    assert grants == ("INSERT,SELECT",)


def test_the_app_still_imports_and_writes_through_the_api(
    database_url: str, engine: sa.Engine, imported: str
) -> None:
    before = event_count(database_url, imported)
    app_engine = api_engine(database_url)
    try:
        with ServerThread(create_app(app_engine), free_port()) as server:
            client = new_client(engine, server.url, imported)
            created = client.post("/v1/products", data={"name": "Written by the app role"})
            assert created.status_code == 200, created.text
            product = created.json()["id"]
            updated = client.post(f"/v1/products/{product}", data={"name": "Renamed"})
            assert updated.status_code == 200, updated.text
            events = client.get("/v1/events", params={"limit": 100}).json()["data"]
            assert {"product.created", "product.updated"} <= {e["type"] for e in events}
    finally:
        app_engine.dispose()
    assert event_count(database_url, imported) == before + 2


def test_new_tables_of_later_migrations_are_granted_and_only_the_owner_migrates(
    server_url: str, tmp_path: Path
) -> None:
    """A later migration's table is usable by the app (grants follow every migration), and
    the app's role cannot apply a migration itself: it is told to use the owner's URL."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "9001_later.sql").write_text("CREATE TABLE later_things (id text PRIMARY KEY);")
    app_url = create_database(server_url, "roles")
    try:
        app = db.make_engine(app_url)
        owner = db.make_engine(owner_url(app_url))
        with pytest.raises(PendingMigrations, match="DATABASE_OWNER_URL"):
            migrate(app, sql_dir)
        assert [m.name for m in migrate(owner, sql_dir, app_role=db.APP_ROLE)] == ["later"]
        with app.begin() as conn:
            conn.execute(sa.text("INSERT INTO later_things (id) VALUES ('x')"))
            assert conn.execute(sa.text("SELECT count(*) FROM later_things")).scalar() == 1
        assert migrate(app, sql_dir) == []  # nothing pending: the app's check only reads
        app.dispose()
        owner.dispose()
    finally:
        db.drop_database(server_url, app_url)
