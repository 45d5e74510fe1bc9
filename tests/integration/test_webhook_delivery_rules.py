"""The delivery worker against a real local HTTP receiver: signatures, retries with the same
webhook-id, 410, Retry-After, redirects, giving up, the 5-day rule, ordering, replay."""

from __future__ import annotations

import random
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import sqlalchemy as sa
import standardwebhooks
import stripe
import urllib3

from catalog_pipelines.store.events import Cause
from catalog_pipelines.webhooks.delivery import (
    DeliveryConfig,
    DeliveryWorker,
    retry_after_seconds,
)
from catalog_pipelines.webhooks.delivery_settings import parse_schedule
from catalog_pipelines.webhooks.endpoints import Endpoint, create_endpoint, update_endpoint
from catalog_pipelines.webhooks.lag import delivery_lag
from catalog_pipelines.webhooks.receiver import LocalReceiver, Received, Reply
from catalog_pipelines.webhooks.replay import replay
from tests.support.isolation import isolated_database
from tests.support.webhooks import (
    allow_loopback,  # noqa: F401 (autouse fixture)
    drop_endpoints,  # noqa: F401 (autouse fixture)
    emit_products,
)

# Delivery workers act on every account: these tests get a database of their own.
database_url, engine = isolated_database()

FAST = DeliveryConfig(schedule=(5, 300, 1800), timeout=2.0, concurrency=4, jitter=0.0)


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    with LocalReceiver() as r:
        yield r


def add_endpoint(engine: sa.Engine, account: str, url: str, **kwargs: object) -> Endpoint:
    with engine.begin() as conn:
        return create_endpoint(conn, account_id=account, url=url, **kwargs)  # type: ignore[arg-type]


def emit(engine: sa.Engine, account: str, items: list[tuple[str, int]]) -> list[str]:
    return emit_products(engine, account, items, Cause(source="test", run_id="run_1"))


def attempts(engine: sa.Engine, endpoint_id: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT a.*, d.event_id FROM webhook_attempts a"
                " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                " WHERE a.endpoint_id = :e ORDER BY a.id"
            ),
            {"e": endpoint_id},
        ).all()


def deliveries(engine: sa.Engine, endpoint_id: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT * FROM webhook_deliveries WHERE endpoint_id = :e ORDER BY event_sequence"
            ),
            {"e": endpoint_id},
        ).all()


def endpoint_row(engine: sa.Engine, endpoint_id: str) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM webhook_endpoints WHERE id = :e"), {"e": endpoint_id}
        ).one()


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_signed_requests_verify_with_the_official_packages(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    endpoint = add_endpoint(engine, account, receiver.url)
    event_ids = emit(engine, account, [("prod_a", 1), ("prod_b", 1), ("prod_a", 2)])
    stats = DeliveryWorker(engine, FAST).deliver_due()
    assert stats.delivered >= 3
    got = receiver.delivered()
    order = [json_id(r) for r in got]
    assert sorted(order) == sorted(event_ids)
    assert order.index(event_ids[0]) < order.index(event_ids[2]), "prod_a v1 before v2"
    for r in got:
        event = stripe.Webhook.construct_event(
            r.body, r.headers["stripe-signature"], endpoint.secret
        )
        assert event["object"] == "event" and event["account"] == account
        payload = standardwebhooks.Webhook(endpoint.secret).verify(r.body, r.headers)
        assert payload["id"] == event["id"]
        assert r.headers["webhook-id"].startswith("msg_")
    rows = deliveries(engine, endpoint.id)
    assert {d.status for d in rows} == {"delivered"}
    assert {d.id for d in rows} == {r.headers["webhook-id"] for r in got}
    log = attempts(engine, endpoint.id)
    assert len(log) == 3
    assert all(a.status_code == 200 and a.outcome == "delivered" and a.latency_ms >= 0 for a in log)


def json_id(r: Received) -> str:
    import json

    return str(json.loads(r.body)["id"])


def test_500_is_retried_with_the_same_webhook_id(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    answers = iter([500, 500, 200])
    receiver.responder = lambda _r: next(answers)
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_r", 1)])
    worker = DeliveryWorker(engine, FAST)
    worker.deliver_due()
    assert len(receiver.received) == 1
    worker.deliver_due(now=later(2))  # first retry is due after 5 s: nothing yet
    assert len(receiver.received) == 1
    worker.deliver_due(now=later(6))
    worker.deliver_due(now=later(6 + 301))
    assert [r.status_code for r in attempts(engine, endpoint.id)] == [500, 500, 200]
    assert len({r.webhook_id for r in receiver.received}) == 1
    (row,) = deliveries(engine, endpoint.id)
    assert (
        row.status == "delivered"
        and row.attempts == 3
        and row.id == receiver.received[0].webhook_id
    )
    assert endpoint_row(engine, endpoint.id).failing_since is None


def test_timeout_is_retried_with_the_same_webhook_id(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    calls: list[int] = []

    def slow_then_fast(_r: Received) -> Reply:
        calls.append(1)
        return Reply(200, delay=1.0 if len(calls) == 1 else 0.0)

    receiver.responder = slow_then_fast
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_t", 1)])
    worker = DeliveryWorker(
        engine, DeliveryConfig(schedule=(5,), timeout=0.3, concurrency=2, jitter=0.0)
    )
    worker.deliver_due()
    log = attempts(engine, endpoint.id)
    assert len(log) == 1 and log[0].status_code is None and "timeout" in log[0].error
    worker.deliver_due(now=later(6))
    assert [a.outcome for a in attempts(engine, endpoint.id)] == ["retry", "delivered"]
    assert len(receiver.received) == 2
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id


def test_refused_connection_is_retried_with_the_same_webhook_id(
    engine: sa.Engine, account: str
) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    endpoint = add_endpoint(engine, account, f"http://127.0.0.1:{port}/hook")
    emit(engine, account, [("prod_c", 1)])
    worker = DeliveryWorker(engine, FAST)
    worker.deliver_due()
    (first,) = attempts(engine, endpoint.id)
    assert first.status_code is None and "ConnectionError" in first.error
    with LocalReceiver(port=port) as back:
        worker.deliver_due(now=later(6))
        (row,) = deliveries(engine, endpoint.id)
        assert row.status == "delivered"
        assert [r.webhook_id for r in back.received] == [row.id]
    assert {a.delivery_id for a in attempts(engine, endpoint.id)} == {row.id}


def test_410_disables_the_endpoint_and_reenabling_resumes(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    receiver.responder = lambda _r: 410
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_g", 1), ("prod_h", 1)])
    worker = DeliveryWorker(engine, FAST)
    stats = worker.deliver_due()
    assert stats.endpoints_disabled == 1
    row = endpoint_row(engine, endpoint.id)
    assert row.status == "disabled" and "410" in row.disabled_reason
    seen = len(receiver.received)
    worker.deliver_due(now=later(3600))
    assert len(receiver.received) == seen, "a disabled endpoint must get nothing"
    receiver.responder = lambda _r: 200
    with engine.begin() as conn:
        update_endpoint(conn, account_id=account, endpoint_id=endpoint.id, disabled=False)
    worker.deliver_due(now=later(3600))
    assert {d.status for d in deliveries(engine, endpoint.id)} == {"delivered"}


def test_retry_after_is_honoured(engine: sa.Engine, account: str, receiver: LocalReceiver) -> None:
    receiver.responder = lambda _r: Reply(503, headers={"Retry-After": "120"})
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_ra", 1)])
    DeliveryWorker(engine, FAST).deliver_due()
    (row,) = deliveries(engine, endpoint.id)
    (attempt,) = attempts(engine, endpoint.id)
    wait = (row.next_attempt_at - attempt.attempted_at).total_seconds()
    assert 119 <= wait <= 121, wait  # the schedule alone would say 5 s


def _response(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    response.raw = urllib3.HTTPResponse(headers=headers)
    return response


def test_retry_after_forms() -> None:
    assert retry_after_seconds(_response("30")) == 30
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 <= (retry_after_seconds(_response(in_two_minutes)) or 0) <= 120
    assert retry_after_seconds(_response("soon")) is None
    assert retry_after_seconds(_response(None)) is None


def test_redirects_are_not_followed(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    receiver.responder = lambda r: (
        Reply(302, headers={"Location": "/elsewhere"}) if r.path == "/hook" else 200
    )
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_redir", 1)])
    DeliveryWorker(engine, FAST).deliver_due()
    assert [r.path for r in receiver.received] == ["/hook"]
    (attempt,) = attempts(engine, endpoint.id)
    assert attempt.status_code == 302 and attempt.outcome == "retry"


def test_gives_up_after_the_last_attempt_and_releases_the_object(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    receiver.responder = lambda r: 500 if b'"object_version":1,' in r.body else 200
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_x", 1), ("prod_x", 2)])
    worker = DeliveryWorker(
        engine, DeliveryConfig(schedule=(1, 1), timeout=2, concurrency=2, jitter=0.0)
    )
    for step in (0, 2, 4, 6):
        worker.deliver_due(now=later(step))
    first, second = deliveries(engine, endpoint.id)
    assert (first.status, first.attempts) == ("failed", 3)
    assert second.status == "delivered"
    assert [a.outcome for a in attempts(engine, endpoint.id)] == [
        "retry",
        "retry",
        "gave_up",
        "delivered",
    ]


def test_endpoint_failing_for_five_days_is_disabled(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    receiver.responder = lambda _r: 500
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_5d", 1)])
    config = DeliveryConfig(schedule=(3600,) * 200, timeout=2, concurrency=2, jitter=0.0)
    worker = DeliveryWorker(engine, config)
    worker.deliver_due()
    started = endpoint_row(engine, endpoint.id).failing_since
    assert started is not None
    worker.deliver_due(now=later(4 * 86400))
    assert endpoint_row(engine, endpoint.id).status == "enabled"
    stats = worker.deliver_due(now=later(5 * 86400 + 60))
    row = endpoint_row(engine, endpoint.id)
    assert stats.endpoints_disabled == 1
    assert row.status == "disabled" and "failing continuously" in row.disabled_reason
    assert row.failing_since == started


def test_success_resets_the_failure_clock(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    answers = iter([500, 200, 500])
    receiver.responder = lambda _r: next(answers)
    endpoint = add_endpoint(engine, account, receiver.url)
    emit(engine, account, [("prod_reset", 1)])
    config = DeliveryConfig(schedule=(3600,) * 5, timeout=2, concurrency=1, jitter=0.0)
    worker = DeliveryWorker(engine, config)
    worker.deliver_due()
    worker.deliver_due(now=later(3 * 86400))  # succeeds: clock reset
    assert endpoint_row(engine, endpoint.id).failing_since is None
    emit(engine, account, [("prod_reset", 2)])
    worker.deliver_due(now=later(3 * 86400 + 10))  # fails at day 3
    worker.deliver_due(now=later(6 * 86400))  # 3 days after the last success: still enabled
    assert endpoint_row(engine, endpoint.id).status == "enabled"


def test_strict_order_per_object_with_concurrent_workers(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    rng = random.Random(7)
    lock = threading.Lock()

    def flaky(_r: Received) -> Reply:
        with lock:
            fail = rng.random() < 0.25
            delay = rng.uniform(0, 0.004)
        return Reply(500 if fail else 200, delay=delay)

    receiver.responder = flaky
    add_endpoint(engine, account, receiver.url)
    objects, versions = 25, 6
    plan = [(f"prod_o{o}", v) for v in range(1, versions + 1) for o in range(objects)]
    for start in range(0, len(plan), 25):
        emit(engine, account, plan[start : start + 25])
    config = DeliveryConfig(schedule=(0,) * 30, timeout=2, concurrency=6, jitter=0.0)
    workers = [DeliveryWorker(engine, config) for _ in range(2)]

    def run(worker: DeliveryWorker) -> None:
        for _ in range(60):
            worker.deliver_due(max_seconds=10)
            with engine.connect() as conn:
                pending = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM webhook_deliveries"
                        " WHERE account_id = :a AND status = 'pending'"
                    ),
                    {"a": account},
                ).scalar_one()
            if pending == 0:
                return

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    import json

    acked: dict[str, int] = defaultdict(int)  # object -> highest version answered 2xx
    with receiver._lock:
        answered = list(receiver.answered)
    for r, status in answered:
        obj = json.loads(r.body)["data"]["object"]
        assert obj["version"] <= acked[obj["id"]] + 1, f"{obj['id']} v{obj['version']} sent early"
        if 200 <= status < 300:
            acked[obj["id"]] = max(acked[obj["id"]], obj["version"])
    assert dict(acked) == {f"prod_o{o}__{account}": versions for o in range(objects)}
    assert sum(1 for _, s in answered if s >= 500) > 10, "the test needs retries to mean anything"


def test_replay_by_sequence_and_by_time_creates_new_messages(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    endpoint = add_endpoint(engine, account, receiver.url, enabled_events=["product.*"])
    ids = emit(engine, account, [("prod_p", 1), ("prod_p", 2), ("prod_q", 1)])
    worker = DeliveryWorker(engine, FAST)
    worker.deliver_due()
    live = {r.webhook_id for r in receiver.delivered()}
    with engine.connect() as conn:
        seqs = (
            conn.execute(
                sa.text("SELECT sequence FROM events WHERE id = ANY (:ids) ORDER BY sequence"),
                {"ids": ids},
            )
            .scalars()
            .all()
        )
    with engine.begin() as conn:
        by_seq = replay(
            conn,
            account_id=account,
            endpoint_id=endpoint.id,
            from_sequence=seqs[0],
            to_sequence=seqs[1],
        )
        by_time = replay(
            conn,
            account_id=account,
            endpoint_id=endpoint.id,
            since=datetime.now(UTC) - timedelta(minutes=5),
            until=datetime.now(UTC) + timedelta(minutes=5),
        )
    assert by_seq.deliveries == 2 and by_time.deliveries == 3
    before = len(receiver.delivered())
    worker.deliver_due()
    replayed = receiver.delivered()[before:]
    assert sorted(json_id(r) for r in replayed) == sorted(ids[:2] + ids)
    assert not live & {r.webhook_id for r in replayed}, "a replay is a new message"
    assert len({r.webhook_id for r in replayed}) == 5


def test_delivery_lag_reports_head_minus_delivered(
    engine: sa.Engine, account: str, receiver: LocalReceiver
) -> None:
    add_endpoint(engine, account, receiver.url)
    receiver.responder = lambda _r: 500
    emit(engine, account, [("prod_lag", 1), ("prod_lag", 2)])
    worker = DeliveryWorker(engine, FAST)
    worker.deliver_due()
    with engine.connect() as conn:
        lag = delivery_lag(conn)
    assert lag.lag >= 2 and lag.pending_deliveries >= 2
    receiver.responder = lambda _r: 200
    worker.deliver_due(now=later(10))
    worker.deliver_due(now=later(20))
    with engine.connect() as conn:
        lag = delivery_lag(conn)
    assert lag.head_sequence - lag.delivered_through == lag.lag


def test_schedule_and_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_schedule("5, 300,1800") == (5, 300, 1800)
    with pytest.raises(ValueError):
        parse_schedule("5,-1")
    with pytest.raises(ValueError):
        parse_schedule("fast")
    monkeypatch.setenv("CATALOG_WEBHOOK_RETRY_SCHEDULE", "1,2,3")
    monkeypatch.setenv("CATALOG_WEBHOOK_TIMEOUT", "0.5")
    config = DeliveryConfig.from_env()
    assert config.schedule == (1, 2, 3) and config.timeout == 0.5
    assert config.backoff(4) is None
    default = DeliveryConfig()
    assert default.schedule == (5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 72000)
    assert sum(default.schedule) == 221_705  # about 2.6 days of retries
    delays = {round(default.backoff(2, random.Random(s)) or 0) for s in range(20)}
    assert len(delays) > 5 and all(240 <= d <= 360 for d in delays), "jitter within ±20%"
