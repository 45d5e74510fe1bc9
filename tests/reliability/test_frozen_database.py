"""A frozen database (postmaster and every backend stopped by SIGSTOP) costs a request a few
seconds, never minutes: pooled connections, pre-pings and new connections are all bounded
(db_timeouts.py); the answer is 503 with Retry-After, and the API recovers by itself once
the database thaws.

The database is a throwaway embedded server of this test's own: freezing the shared test
server would stall every other test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.api.auth import create_api_key
from catalog_pipelines.store.migrations import migrate
from tests.support.server_process import serve

TIMEOUTS = {  # lower than the defaults, so that the test is quick
    "CATALOG_DB_CONNECT_TIMEOUT": "2",
    "CATALOG_DB_STATEMENT_TIMEOUT": "1",
    "CATALOG_DB_IO_TIMEOUT": "2",
    "CATALOG_DB_POOL_TIMEOUT": "2",
}
ANSWER_BOUND = 15.0  # seconds: every request is answered within this while frozen


@pytest.fixture(scope="module")
def throwaway_server() -> Iterator[tuple[str, Path]]:
    """(superuser URL, data dir) of a PostgreSQL that this module alone uses."""
    import pgserver

    # Not pytest's tmp_path: its 0700 parents keep out the `pgserver` user postgres runs as.
    home = Path(tempfile.mkdtemp(prefix="catalog-frozen-"))
    home.chmod(0o755)
    server = pgserver.get_server(home / "pgdata", cleanup_mode="stop")
    try:
        yield server.get_uri(), home / "pgdata"
    finally:
        _signal_all(home / "pgdata", signal.SIGCONT)
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def _signal_all(data_dir: Path, sig: signal.Signals) -> None:
    for proc in _postgres_processes(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def test_frozen_database_gets_503_with_retry_after_then_recovers(
    throwaway_server: tuple[str, Path],
) -> None:
    url, data_dir = throwaway_server
    engine = db.make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        secret = create_api_key(conn, f"acct_frozen_{secrets.token_hex(3)}")["secret"]
    engine.dispose()
    auth = {"Authorization": f"Bearer {secret}"}
    env = {"DATABASE_URL": url, "DATABASE_OWNER_URL": url, **TIMEOUTS}

    with serve(env) as (base, _):
        session = requests.Session()

        def get() -> requests.Response:
            return session.get(base + "/v1/products", headers=auth, timeout=60)

        def post() -> requests.Response:
            return requests.post(
                base + "/v1/products", data={"name": "Frozen"}, headers=auth, timeout=60
            )

        # Warm the pool: the requests that hung before were on pooled connections.
        with ThreadPoolExecutor(8) as pool:
            assert all(r.status_code == 200 for r in pool.map(lambda _: get(), range(16)))
        assert post().status_code == 200

        _signal_all(data_dir, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with ThreadPoolExecutor(12) as pool:
                calls = [pool.submit(get) for _ in range(8)] + [pool.submit(post) for _ in range(4)]
                answers = [(c.result(), time.monotonic() - started) for c in calls]
        finally:
            _signal_all(data_dir, signal.SIGCONT)

        for response, elapsed in answers:
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"]["code"] == "database_unavailable"
            assert elapsed < ANSWER_BOUND, f"answered after {elapsed:.1f} s"

        # Thawed: the API recovers by itself.
        deadline = time.monotonic() + 20
        while (status := get().status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200
        assert post().status_code == 200
        names = {p["name"] for p in get().json()["data"]}
        assert names == {"Frozen"}

    with sa.create_engine(db.sqlalchemy_url(url)).connect() as conn:
        # every write either happened whole or not at all: 1 before, at most 4 during, 1 after
        n = conn.execute(sa.text("SELECT count(*) FROM products")).scalar_one()
    assert 2 <= n <= 6
