"""End to end through the real entry points: the `catalog-sync webhooks` CLI, a delivery
subprocess killed with SIGKILL mid-batch, and a receiver that is down for a while."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import standardwebhooks
import stripe

from catalog_pipelines.store.events import Cause
from catalog_pipelines.webhooks.delivery import DeliveryConfig, DeliveryWorker
from catalog_pipelines.webhooks.endpoints import create_endpoint
from catalog_pipelines.webhooks.receiver import LocalReceiver, Received, Reply
from tests.support.isolation import isolated_database
from tests.support.webhooks import (
    append_test_event,
    drop_endpoints,  # noqa: F401 (autouse fixture)
    emit_products,
)

# Delivery workers act on every account: these tests get a database of their own.
database_url, engine = isolated_database()

ALLOW = {"CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS": "1"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The main CLI, as users run it. DATABASE_URL comes from the `database_url` fixture."""
    return subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The main CLI in this process (spawning costs ~2 s of imports each time)."""
    from catalog_pipelines.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def emit(engine: sa.Engine, account: str, items: list[tuple[str, int]]) -> list[str]:
    return emit_products(engine, account, items, Cause(source="e2e"))


def pending(engine: sa.Engine, account: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM webhook_deliveries"
                    " WHERE account_id = :a AND status <> 'delivered'"
                ),
                {"a": account},
            ).scalar_one()
        )


def event_of(r: Received) -> dict:
    return json.loads(r.body)


def test_cli_add_refuses_private_urls_unless_allowed(
    database_url: str,
    account: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", raising=False)
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://0x7f000001/"):
        code, out, err = run(capsys, "webhooks", "add", url, "--account", account, "--json")
        assert (code, out) == (3, ""), err
        assert "non-global" in err
    code, _, _ = run(
        capsys, "webhooks", "add", "https://8.8.8.8/h", "--events", "nope", "--account", account
    )
    assert code == 2


def test_cli_add_deliver_list_replay(
    engine: sa.Engine,
    database_url: str,
    account: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
    with LocalReceiver() as receiver:
        added = cli(
            "webhooks", "add", receiver.url, "--events", "product.*",
            "--skip-source", "echo-src", "--account", account, "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        endpoint = json.loads(added.stdout)
        assert endpoint["object"] == "webhook_endpoint" and endpoint["id"].startswith("we_")
        assert endpoint["secret"].startswith("whsec_")
        assert endpoint["enabled_events"] == ["product.*"]
        assert endpoint["skip_sources"] == ["echo-src"]

        ids = emit(engine, account, [("prod_cli", 1), ("prod_cli", 2)])
        with engine.begin() as conn:  # an echo of our own write: must not be sent
            append_test_event(
                conn, account, "prod_cli", 3, "product.updated", Cause(source="echo-src"), {}
            )
        delivered = cli("webhooks", "deliver", "--once", "--json")
        assert delivered.returncode == 0, delivered.stderr
        stats = json.loads(delivered.stdout)
        assert stats["object"] == "webhook_delivery_run" and stats["delivered"] >= 2
        got = receiver.delivered()
        assert [event_of(r)["id"] for r in got] == ids
        for r in got:
            stripe.Webhook.construct_event(
                r.body, r.headers["stripe-signature"], endpoint["secret"]
            )
            standardwebhooks.Webhook(endpoint["secret"]).verify(r.body, r.headers)

        code, out, _ = run(capsys, "webhooks", "list", "--account", account, "--json")
        listed = json.loads(out)
        assert code == 0 and listed["object"] == "list" and listed["has_more"] is False
        assert [e["id"] for e in listed["data"]] == [endpoint["id"]]
        assert "secret" not in listed["data"][0]

        first_seq = event_of(got[0])["sequence"]
        code, out, err = run(
            capsys, "webhooks", "replay", "--endpoint", endpoint["id"], "--from-sequence",
            str(first_seq), "--to-sequence", str(first_seq + 10), "--account", account, "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["deliveries"] == 2
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        code, out, _ = run(
            capsys, "webhooks", "replay", "--endpoint", endpoint["id"], "--since", since,
            "--until", datetime.now(UTC).isoformat(), "--account", account, "--json",
        )  # fmt: skip
        assert json.loads(out)["deliveries"] == 2
        assert run(capsys, "webhooks", "deliver", "--once")[0] == 0
        assert len(receiver.delivered()) == 6
        assert len({r.webhook_id for r in receiver.delivered()}) == 6

        code, out, _ = run(
            capsys, "webhooks", "deliveries", "--account", account, "--limit", "100", "--json"
        )
        shown = json.loads(out)
        assert len(shown["data"]) == 6 and {d["status"] for d in shown["data"]} == {"delivered"}
        code, _, _ = run(
            capsys, "webhooks", "replay", "--endpoint", endpoint["id"], "--account", account
        )
        assert code == 2
        code, out, _ = run(
            capsys, "webhooks", "disable", endpoint["id"], "--account", account, "--json"
        )
        assert code == 0 and json.loads(out)["status"] == "disabled"


def test_receiver_down_for_a_while_then_back(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
    # The receiver is down at first: nothing listens on `port`.
    with engine.begin() as conn:
        create_endpoint(conn, account_id=account, url=f"http://127.0.0.1:{port}/hook")
    plan = [(f"prod_d{o}", v) for v in range(1, 5) for o in range(5)]
    ids = emit(engine, account, plan)
    worker = DeliveryWorker(engine, DeliveryConfig(timeout=1, concurrency=4))
    t0 = datetime.now(UTC)
    for hours in (0, 0.01, 0.2, 1):  # down: every try is refused
        worker.deliver_due(now=t0 + timedelta(hours=hours))
    assert pending(engine, account) == len(ids)
    with LocalReceiver(port=port) as back:
        for hours in (3, 9, 20):  # back: retries and then the queued events go through
            worker.deliver_due(now=t0 + timedelta(hours=hours))
            if pending(engine, account) == 0:
                break
        assert pending(engine, account) == 0
        received = [event_of(r) for r in back.delivered()]
    assert sorted(e["id"] for e in received) == sorted(ids)
    versions: dict[str, list[int]] = defaultdict(list)
    for e in received:
        versions[e["data"]["object"]["id"]].append(e["data"]["object"]["version"])
    assert all(v == [1, 2, 3, 4] for v in versions.values()), versions


def _deliver_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "catalog_pipelines.webhooks", "deliver", "--poll-interval", "0.2"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_batch_then_restart_delivers_everything(
    engine: sa.Engine, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **ALLOW,
        "CATALOG_WEBHOOK_LEASE_SECONDS": "1",
        "CATALOG_WEBHOOK_TIMEOUT": "2",
        "CATALOG_WEBHOOK_CONCURRENCY": "4",
        "CATALOG_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2,0.2",
    }
    with LocalReceiver(responder=lambda _r: Reply(200, delay=0.05)) as receiver:
        monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
        with engine.begin() as conn:
            endpoint = create_endpoint(conn, account_id=account, url=receiver.url)
        plan = [(f"prod_k{o}", v) for v in range(1, 9) for o in range(20)]
        ids = emit(engine, account, plan)

        first = _deliver_process(env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            inflight = len(receiver.received) - len(receiver.answered)
            if len(receiver.received) >= 30 and inflight > 0:
                break
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        assert 0 < pending(engine, account) < len(ids), "the kill must land mid-batch"

        second = _deliver_process(env)
        try:
            deadline = time.monotonic() + 30
            while pending(engine, account) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(15)
        assert second.returncode == 0, second.stderr.read() if second.stderr else ""
        assert pending(engine, account) == 0

        by_event: dict[str, set[str]] = defaultdict(set)
        for r in receiver.received:
            by_event[event_of(r)["id"]].add(r.webhook_id)
        assert set(by_event) == set(ids), "every event reached the receiver"
        assert all(len(wids) == 1 for wids in by_event.values()), "one webhook-id per event"
        acked = {event_of(r)["id"] for r in receiver.delivered()}
        assert acked == set(ids)
        assert len(receiver.received) > len(ids), "the killed batch is sent again"
        for r in receiver.received[:3]:
            standardwebhooks.Webhook(endpoint.secret).verify(r.body, r.headers)
