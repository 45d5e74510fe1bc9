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
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
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
        assert f"applied {len(discover())} migration(s)" in cli(catalog_home, "migrate").stdout
        assert "applied 0 migration(s)" in cli(catalog_home, "migrate").stdout
        url = cli(catalog_home, "url").stdout.strip()
        with psycopg.connect(url) as conn:  # still up after the other commands exited
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
                len(discover()),
            )
    finally:
        stopped = cli(catalog_home, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)
