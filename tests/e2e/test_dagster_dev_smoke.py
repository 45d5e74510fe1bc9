"""`dagster dev` as users start it: the UI serves the whole asset graph, and the running daemon
imports a file dropped into the inbox. Once on a fresh DAGSTER_HOME, once with the production
instance (deploy/dagster.yaml, storage in PostgreSQL): the webserver, the daemon and the run
worker each load its pooled storage class.

Started with `subprocess.Popen` in its own session (docs/maintainers.md: a backgrounded `dagster dev`
ignores SIGTERM), with its own DAGSTER_HOME and a free port; stopped with SIGTERM to the process
group, then SIGKILL if it has not exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from catalog_pipelines import db
from dagster_defs.instance_config import production_config

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "catalog_pipelines" / "samples" / "shopify_product_template.csv"

ASSET_GRAPH_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } } }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
        return json.loads(r.read())


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the whole group (webserver, daemon, code server), SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture(params=["dev-instance", "production-instance"])
def dagster_dev(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    server_url: str,
    database_url: str,
    account: str,
) -> Iterator[tuple[str, Path]]:
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        if request.param == "production-instance":
            storage_url = stack.enter_context(db.scratch_database("dagster_smoke", server_url))
            (home / "dagster.yaml").write_text(yaml.safe_dump(production_config(storage_url)))
        yield from _dagster_dev(tmp_path, home, port, database_url, account)


def _dagster_dev(
    tmp_path: Path, home: Path, port: int, database_url: str, account: str
) -> Iterator[tuple[str, Path]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # `dagster dev` writes a workspace file and its code servers' sockets to the temp dir and
    # leaves them when stopped: they go with the test's own folder
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": database_url,
        "CATALOG_ACCOUNT": account,
        "CATALOG_INBOX": str(inbox),
    }
    log = (tmp_path / "dagster_dev.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                get_json(f"{base}/server_info")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield base, inbox
    finally:
        code = stop(proc)
        log.close()
        assert code is not None
    assert proc.poll() is not None


@pytest.mark.slow
def test_dagster_dev_serves_the_graph_and_the_daemon_imports_an_inbox_file(
    dagster_dev: tuple[str, Path], engine: sa.Engine, account: str
) -> None:
    base, inbox = dagster_dev
    deadline = time.monotonic() + 60
    while True:  # the code location loads in the background after /server_info answers
        nodes = get_json(f"{base}/graphql", {"query": ASSET_GRAPH_QUERY})["data"]["assetNodes"]
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(1)
    graph = {
        "/".join(n["assetKey"]["path"]): sorted("/".join(d["path"]) for d in n["dependencyKeys"])
        for n in nodes
    }
    assert graph["validated_rows"] == ["source_snapshot"]
    assert graph["catalog_products"] == ["validated_rows"]
    assert graph["webhook_deliveries"] == [
        "catalog_inventory",
        "catalog_prices",
        "catalog_products",
    ]
    assert graph["catalog_drift"] == ["validated_rows"]

    dropped = inbox / "shop-smoke" / "export.csv"
    dropped.parent.mkdir()
    shutil.copy(SHOPIFY, dropped)
    processed = inbox.parent / "processed" / "shop-smoke"
    deadline = time.monotonic() + 150
    while not (processed.is_dir() and any(processed.iterdir())):
        assert time.monotonic() < deadline, "the daemon did not import the inbox file in time"
        assert not (inbox.parent / "failed" / "shop-smoke").exists(), "the inbox run failed"
        time.sleep(2)
    assert not dropped.exists()
    with engine.connect() as conn:
        n = conn.execute(
            sa.text(
                "SELECT count(*) FROM products WHERE account_id = :a AND source = 'shop-smoke'"
            ),
            {"a": account},
        ).scalar_one()
    assert n == 3
