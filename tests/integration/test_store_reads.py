"""The read side: Stripe shapes, keyset pagination, filters, history, and the changes feed."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from catalog_pipelines.store import objects, reads
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound, OwnedBySource
from catalog_pipelines.store.events import Cause

API = Cause(request_id="req_test")


def _make_products(engine: sa.Engine, account: str, n: int, *, one_txn: bool) -> list[str]:
    ids: list[str] = []
    if one_txn:  # same `created` for all: the pk must break the tie
        with engine.begin() as conn:
            for i in range(n):
                ids.append(objects.create_product(conn, account, {"name": f"P{i}"}, API)["id"])
    else:
        for i in range(n):
            with engine.begin() as conn:
                ids.append(objects.create_product(conn, account, {"name": f"P{i}"}, API)["id"])
    return ids


@pytest.mark.parametrize("one_txn", [True, False])
def test_pagination_walks_every_product_once_both_ways(
    engine: sa.Engine, account: str, one_txn: bool
) -> None:
    ids = _make_products(engine, account, 23, one_txn=one_txn)
    newest_first = list(reversed(ids))
    with engine.connect() as conn:
        seen: list[str] = []
        cursor = None
        while True:
            page = reads.list_products(conn, account, limit=5, starting_after=cursor)
            seen += [p["id"] for p in page.data]
            if not page.has_more:
                break
            cursor = page.data[-1]["id"]
        assert seen == newest_first
        # and back again with ending_before from the oldest
        back: list[str] = []
        cursor = newest_first[-1]
        back = []
        while True:
            page = reads.list_products(conn, account, limit=4, ending_before=cursor)
            back = [p["id"] for p in page.data] + back
            if not page.has_more:
                break
            cursor = page.data[0]["id"]
        assert back == newest_first[:-1]
        env = reads.list_products(conn, account, limit=2).envelope("/v1/products")
        assert env["object"] == "list" and env["url"] == "/v1/products" and env["has_more"]


def test_filters_and_scoping(engine: sa.Engine, account: str) -> None:
    ids = _make_products(engine, account, 3, one_txn=False)
    with engine.begin() as conn:
        objects.update_product(conn, account, ids[0], {"active": "false"}, API)
        conn.execute(
            sa.text(
                "UPDATE products SET source = 'pim', external_id = 'ext-1', updated = :u"
                " WHERE id = :id"
            ),
            {"id": ids[1], "u": datetime(2020, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)},
        )
        conn.execute(sa.text("INSERT INTO accounts (id) VALUES (:a)"), {"a": account + "_x"})
    with engine.connect() as conn:
        assert [p["id"] for p in reads.list_products(conn, account, active=False).data] == [ids[0]]
        assert len(reads.list_products(conn, account, active=True).data) == 2
        assert [p["id"] for p in reads.list_products(conn, account, source="pim").data] == [ids[1]]
        by_ext = reads.list_products(conn, account, external_id="ext-1").data
        assert [p["id"] for p in by_ext] == [ids[1]]
        ts = 1577880000  # 2020-01-01T12:00:00Z; the stored value is 12:00:00.5
        assert [p["id"] for p in reads.list_products(conn, account, updated={"lte": ts}).data] == [
            ids[1]
        ]
        assert reads.list_products(conn, account, updated={"lt": ts}).data == []
        assert reads.list_products(conn, account, updated={"gt": ts, "lt": ts + 1}).data == []
        old = reads.list_products(conn, account, updated={"lt": datetime(2021, 1, 1, tzinfo=UTC)})
        assert [p["id"] for p in old.data] == [ids[1]]
        # another account sees nothing, and cannot use our ids as cursors
        other = account + "_x"
        assert reads.list_products(conn, other).data == []
        assert reads.get_product(conn, other, ids[0]) is None
        with pytest.raises(reads.CursorNotFound):
            reads.list_products(conn, other, starting_after=ids[0])
        with pytest.raises(ValueError):
            reads.list_products(conn, account, limit=101)


def test_product_shape_history_and_as_of(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        p = objects.create_product(
            conn, account, {"name": "Tee", "metadata": {"color": "red", "size": "M"}}, API
        )
    time.sleep(1.1)  # so that version 2 has a later `created` second than version 1
    mid = datetime.now(UTC)
    time.sleep(0.05)
    with engine.begin() as conn:
        objects.update_product(conn, account, p["id"], {"metadata": {"size": ""}}, API)
        objects.update_product(conn, account, p["id"], {"name": "T-shirt"}, API)
        # an update that changes nothing is no version at all
        objects.update_product(conn, account, p["id"], {"name": "T-shirt"}, API)
    with engine.connect() as conn:
        current = reads.get_product(conn, account, p["id"])
        assert current is not None
        assert current["object"] == "product" and current["version"] == 3
        assert current["metadata"] == {"color": "red"} and current["name"] == "T-shirt"
        history = reads.product_history(conn, account, p["id"])
        assert [h["version"] for h in history] == [1, 2, 3]
        assert history[0]["previous_attributes"] is None
        assert history[1]["previous_attributes"] == {"metadata": {"color": "red", "size": "M"}}
        assert history[2]["previous_attributes"] == {"name": "Tee"}
        assert history[2]["product"] == current
        assert all(h["event"].startswith("evt_") for h in history)
        as_of = reads.product_as_of(conn, account, p["id"], mid)
        assert as_of is not None and as_of["version"] == 1 and as_of["name"] == "Tee"
        assert reads.product_as_of(conn, account, p["id"], mid - timedelta(days=1)) is None
        assert reads.product_history(conn, account + "_none", p["id"]) == []


def test_events_filters(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        prod = objects.create_product(conn, account, {"name": "A"}, API)
        price = objects.create_price(
            conn, account, {"product": prod["id"], "currency": "usd", "unit_amount": "500"}, API
        )
        objects.update_product(conn, account, prod["id"], {"name": "B"}, API)
    with engine.connect() as conn:
        all_events = reads.list_events(conn, account, limit=100).data
        assert [e["type"] for e in all_events] == [
            "product.updated",
            "price.created",
            "product.created",
        ]
        seqs = [e["sequence"] for e in all_events]
        assert seqs == sorted(seqs, reverse=True)
        products = reads.list_events(conn, account, type="product.*").data
        assert {e["type"] for e in products} == {"product.created", "product.updated"}
        exact = reads.list_events(conn, account, types=["price.created"]).data
        assert [e["data"]["object"]["id"] for e in exact] == [price["id"]]
        by_obj = reads.list_events(conn, account, object_id=prod["id"]).data
        assert len(by_obj) == 2
        feed = reads.list_events(conn, account, after_sequence=seqs[-1], limit=1)
        assert [e["sequence"] for e in feed.data] == [seqs[1]] and feed.has_more
        nxt = reads.list_events(
            conn, account, after_sequence=seqs[-1], starting_after=feed.data[0]["id"]
        )
        assert [e["sequence"] for e in nxt.data] == [seqs[0]] and not nxt.has_more
        assert reads.get_event(conn, account, all_events[0]["id"])["type"] == "product.updated"
        assert reads.get_event(conn, account + "_no", all_events[0]["id"]) is None
        with pytest.raises(ValueError):
            reads.list_events(conn, account, type="product.*; drop")


def test_one_objects_events_page_in_log_order_among_others(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        a = objects.create_product(conn, account, {"name": "A0"}, API)
        b = objects.create_product(conn, account, {"name": "B0"}, API)
    for i in range(1, 6):  # each change its own transaction, the two objects interleaved
        with engine.begin() as conn:
            objects.update_product(conn, account, a["id"], {"name": f"A{i}"}, API)
            objects.update_product(conn, account, b["id"], {"name": f"B{i}"}, API)
    with engine.connect() as conn:
        every = reads.list_events(conn, account, limit=100).data
        a_events = [e for e in every if e["data"]["object"]["id"] == a["id"]]
        b_events = [e for e in every if e["data"]["object"]["id"] == b["id"]]
        pages, after = [], None
        while True:
            page = reads.list_events(
                conn, account, object_id=a["id"], limit=2, starting_after=after
            )
            pages.append([e["id"] for e in page.data])
            if not page.has_more:
                break
            after = page.data[-1]["id"]
        assert [i for p in pages for i in p] == [e["id"] for e in a_events]  # newest first
        assert [len(p) for p in pages] == [2, 2, 2]
        back = reads.list_events(conn, account, object_id=a["id"], ending_before=a_events[3]["id"])
        assert [e["id"] for e in back.data] == [e["id"] for e in a_events[:3]]
        # a cursor from another object's event still cuts the log at its place
        cut = reads.list_events(conn, account, object_id=a["id"], starting_after=b_events[2]["id"])
        assert [e["id"] for e in cut.data] == [
            e["id"] for e in a_events if e["sequence"] < b_events[2]["sequence"]
        ]
        feed = reads.list_events(
            conn, account, object_id=a["id"], after_sequence=a_events[4]["sequence"], limit=3
        )
        assert [e["id"] for e in feed.data] == [e["id"] for e in reversed(a_events[1:4])]
        assert feed.has_more


def test_price_rules(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        prod = objects.create_product(conn, account, {"name": "A"}, API)
        price = objects.create_price(
            conn,
            account,
            {"product": prod["id"], "currency": "EUR", "unit_amount": 1250, "lookup_key": "sku-1"},
            API,
        )
        assert price["currency"] == "eur" and price["unit_amount"] == 1250
        with pytest.raises(InvalidRequest) as e:
            objects.update_price(conn, account, price["id"], {"unit_amount": 99}, API)
        assert e.value.param == "unit_amount"
    with engine.begin() as conn, pytest.raises(Conflict) as e:  # a state conflict: 409
        objects.create_price(
            conn,
            account,
            {"product": prod["id"], "currency": "eur", "unit_amount": 1, "lookup_key": "sku-1"},
            API,
        )
    assert e.value.code == "lookup_key_exists"
    with engine.begin() as conn:
        moved = objects.create_price(
            conn,
            account,
            {
                "product": prod["id"],
                "currency": "eur",
                "unit_amount": 1300,
                "lookup_key": "sku-1",
                "transfer_lookup_key": "true",
            },
            API,
        )
        old = reads.get_price(conn, account, price["id"])
    assert moved["lookup_key"] == "sku-1" and old is not None and old["lookup_key"] is None
    with engine.connect() as conn:
        assert [p["id"] for p in reads.list_prices(conn, account, lookup_keys=["sku-1"]).data] == [
            moved["id"]
        ]
        assert len(reads.list_prices(conn, account, product=prod["id"]).data) == 2


def test_source_owned_content_is_refused(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sources (account_id, name, kind, owns) VALUES"
                " (:a, 'pim', 'csv', ARRAY['content']), (:a, 'erp', 'csv', ARRAY['pricing'])"
            ),
            {"a": account},
        )
        p = objects.create_product(conn, account, {"name": "A"}, API)
        conn.execute(sa.text("UPDATE products SET source = 'pim' WHERE id = :id"), {"id": p["id"]})
    with engine.begin() as conn, pytest.raises(OwnedBySource) as e:
        objects.update_product(conn, account, p["id"], {"name": "mine"}, API)
    assert e.value.status == 409 and e.value.code == "owned_by_source"
    with engine.begin() as conn:  # pricing is not owned by pim: allowed
        price = objects.create_price(
            conn, account, {"product": p["id"], "currency": "usd", "unit_amount": 1}, API
        )
        updated = objects.update_product(
            conn, account, p["id"], {"default_price": price["id"]}, API
        )
        assert updated["default_price"] == price["id"]
    with engine.begin() as conn, pytest.raises(NotFound):
        objects.update_product(conn, account + "_x", p["id"], {"name": "x"}, API)


def test_changes_feed_has_tombstones_and_never_skips(engine: sa.Engine, account: str) -> None:
    ids = _make_products(engine, account, 6, one_txn=True)
    expected: set[tuple[str, int]] = {(i, 1) for i in ids}
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            pid = rng.choice(ids)
            with engine.connect() as conn:
                trans = conn.begin()
                obj = objects.update_product(
                    conn, account, pid, {"metadata": {"n": str(rng.random())}}, API
                )
                time.sleep(rng.uniform(0, 0.01))
                trans.commit()
            with lock:
                expected.add((pid, obj["version"]))

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    seen: list[tuple[str, int]] = []
    cursor = 0

    def poll() -> int:
        nonlocal cursor
        with engine.connect() as conn:
            page = reads.changes_after(conn, account, cursor, limit=7)
        for ch in page.data:
            assert ch["sequence"] > cursor
            seen.append((ch["object_id"], ch["version"]))
        cursor = page.next_after_sequence
        return len(page.data)

    while any(t.is_alive() for t in threads):
        poll()
    for t in threads:
        t.join()
    with engine.begin() as conn:
        objects.update_product(conn, account, ids[0], {"active": False}, API)
        archived_version = reads.get_product(conn, account, ids[0])["version"]
    expected.add((ids[0], archived_version))
    while poll():
        pass
    assert len(seen) == len(set(seen)), "a change was read twice"
    assert set(seen) == expected, "a committed change was skipped"
    with engine.connect() as conn:
        last = reads.changes_after(conn, account, 0, limit=100).data[-1]
    assert last["object_id"] == ids[0] and last["deleted"] and last["archived"]
    assert last["data"]["active"] is False
