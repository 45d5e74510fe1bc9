"""Fan-out: one delivery per (event, subscribed endpoint), never zero, never two, even with
concurrent writers, concurrent followers and an endpoint created mid-stream."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from catalog_pipelines.store.events import Cause
from catalog_pipelines.webhooks.endpoints import (
    EndpointError,
    create_endpoint,
    matches,
    validate_events,
)
from catalog_pipelines.webhooks.fanout import fan_out
from tests.support.isolation import isolated_database
from tests.support.webhooks import (
    allow_loopback,  # noqa: F401 (autouse fixture)
    append_test_event,
    drop_endpoints,  # noqa: F401 (autouse fixture)
)

# Delivery workers act on every account: these tests get a database of their own.
database_url, engine = isolated_database()


def emit(
    conn: sa.Connection, account: str, object_id: str, version: int, type_: str, source: str | None
) -> tuple[int, str]:
    return append_test_event(conn, account, object_id, version, type_, Cause(source=source))


def deliveries(engine: sa.Engine, endpoint_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT event_id FROM webhook_deliveries WHERE endpoint_id = :e"
                    " AND replay_id = '' ORDER BY event_sequence"
                ),
                {"e": endpoint_id},
            ).scalars()
        )


def test_enabled_events_and_echo_suppression(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        everything = create_endpoint(conn, account_id=account, url="http://127.0.0.1:9/a")
        products = create_endpoint(
            conn, account_id=account, url="http://127.0.0.1:9/b", enabled_events=["product.*"]
        )
        exact = create_endpoint(
            conn,
            account_id=account,
            url="http://127.0.0.1:9/c",
            enabled_events=["price.created", "inventory_item.updated"],
            skip_sources=["shopify-main"],
        )
    plan = [
        ("prod_1", 1, "product.created", "shopify-main"),
        ("price_1", 1, "price.created", "shopify-main"),
        ("price_2", 1, "price.created", None),
        ("inv_1", 1, "inventory_item.created", "erp"),
        ("inv_1", 2, "inventory_item.updated", "erp"),
        ("prod_1", 2, "product.updated", "api"),
    ]
    ids = {}
    with engine.begin() as conn:
        for obj, version, type_, source in plan:
            ids[(obj, version)] = emit(conn, account, obj, version, type_, source)[1]
    fan_out(engine)
    fan_out(engine)  # a second pass adds nothing
    assert deliveries(engine, everything.id) == [ids[(o, v)] for o, v, _, _ in plan]
    assert deliveries(engine, products.id) == [ids[("prod_1", 1)], ids[("prod_1", 2)]]
    assert deliveries(engine, exact.id) == [ids[("price_2", 1)], ids[("inv_1", 2)]]


def test_endpoint_gets_only_events_after_it_was_created(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        before = emit(conn, account, "prod_old", 1, "product.created", None)[1]
    fan_out(engine)
    with engine.begin() as conn:
        endpoint = create_endpoint(conn, account_id=account, url="http://127.0.0.1:9/x")
    with engine.begin() as conn:
        after = emit(conn, account, "prod_new", 1, "product.created", None)[1]
    fan_out(engine)
    got = deliveries(engine, endpoint.id)
    assert after in got and before not in got


def test_event_pattern_rules() -> None:
    assert matches(["*"], "price.updated")
    assert matches(["product.*"], "product.updated")
    assert not matches(["product.*"], "price.updated")
    assert matches(["price.created"], "price.created")
    assert validate_events(["product.deleted"]) == ["product.deleted"]
    assert not matches(["price.created"], "price.updated")
    assert validate_events(["product.*", "product.*", "price.created"]) == [
        "product.*",
        "price.created",
    ]
    for bad in ["", "product", "foo.*", "price.deleted", "PRODUCT.*", "*.created"]:
        with pytest.raises(EndpointError):
            validate_events([bad])


def test_exactly_once_under_concurrent_writers_and_followers(
    engine: sa.Engine, account: str
) -> None:
    with engine.begin() as conn:
        early = create_endpoint(conn, account_id=account, url="http://127.0.0.1:9/early")
    committed: list[tuple[int, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    late: list = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(30):
            with engine.connect() as conn:
                trans = conn.begin()
                rows = [
                    emit(conn, account, f"prod_{seed}_{i}_{k}", 1, "product.created", "t")
                    for k in range(rng.randint(1, 3))
                ]
                time.sleep(rng.uniform(0, 0.01))
                if rng.random() < 0.15:
                    trans.rollback()
                else:
                    trans.commit()
                    with lock:
                        committed.extend(rows)
            if seed == 0 and i == 15:
                with engine.begin() as conn:
                    late.append(
                        create_endpoint(conn, account_id=account, url="http://127.0.0.1:9/late")
                    )

    def follower() -> None:
        while not stop.is_set():
            fan_out(engine, batch_size=7, max_seconds=0.2)

    writers = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    followers = [threading.Thread(target=follower) for _ in range(3)]
    for t in writers + followers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in followers:
        t.join()
    fan_out(engine)

    assert len(committed) > 100
    early_got = deliveries(engine, early.id)
    assert Counter(early_got).most_common(1)[0][1] == 1, "an event was fanned out twice"
    assert sorted(early_got) == sorted(e for _, e in committed), "an event was missed"

    (late_endpoint,) = late
    late_got = deliveries(engine, late_endpoint.id)
    expected_late = sorted(e for s, e in committed if s > late_endpoint.after_sequence)
    assert sorted(late_got) == expected_late
    assert 0 < len(late_got) < len(committed)
