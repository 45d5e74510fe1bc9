"""`catalog-sync db start|url|migrate|stop` on an embedded server of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from catalog_pipelines.store.migrations import discover


@pytest.fixture
def catalog_home() -> Iterator[Path]:
    # Not pytest's tmp_path: its 0700 parents keep out the `pgserver` user postgres runs as.
    home = Path(tempfile.mkdtemp(prefix="catalog-dbcmd-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_OWNER_URL")}
    env["CATALOG_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_started_server_outlives_commands_until_stopped(catalog_home: Path) -> None:
    started = cli(catalog_home, "start")
    assert started.returncode == 0, started.stderr
    try:
        every = len(discover())  # each file of sql/, however many there are
        assert f"applied {every} migration(s)" in cli(catalog_home, "migrate").stdout
        assert "applied 0 migration(s)" in cli(catalog_home, "migrate").stdout
        url = cli(catalog_home, "url").stdout.strip()
        with psycopg.connect(url) as conn:  # still up after the other commands exited
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (every,)
    finally:
        stopped = cli(catalog_home, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_catalog_made_before_the_two_roles_is_handed_to_the_owner(catalog_home: Path) -> None:
    """An embedded catalog migrated by the superuser (as before the roles existed) is adopted
    by `catalog_owner` on the next start: migrations keep working, and the app's role reads
    the catalog but cannot rewrite its events."""
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate

    started = cli(catalog_home, "start")
    assert started.returncode == 0, started.stderr
    try:
        app_url = started.stdout.strip()
        superuser = db.with_user(app_url, "postgres")
        legacy = db.make_engine(superuser)
        migrate(legacy)  # tables owned by the superuser, like an old data dir
        legacy.dispose()
        assert "applied 0 migration(s)" in cli(catalog_home, "migrate").stdout
        owner_url = cli(catalog_home, "url", "--owner").stdout.strip()
        assert db.user_of(owner_url) == "catalog_owner" and db.user_of(app_url) == "catalog_app"
        with psycopg.connect(superuser) as conn:
            owners = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'S')"
            ).fetchall()
        assert owners == [("catalog_owner",)]
        with psycopg.connect(app_url) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM events")
    finally:
        cli(catalog_home, "stop")
