"""How the product page words a product's history: amounts for prices, one moment per cause,
deliveries under the change that caused them."""

from __future__ import annotations

from typing import Any

from catalog_pipelines.dashboard import timeline


def _event(
    seq: int,
    type_: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": f"evt_{seq}",
        "type": type_,
        "sequence": seq,
        "created": 1_700_000_000 + seq,
        "data": data,
        "run_id": run_id,
        "request": {"id": request_id},
        "source": "shopify" if run_id else None,
    }


OLD = {"id": "price_old", "unit_amount": 2500, "currency": "usd", "lookup_key": "SKU-1"}
NEW = {"id": "price_new", "unit_amount": 2999, "currency": "usd", "lookup_key": "SKU-1"}


def test_a_retired_and_a_new_price_of_one_sku_read_as_amounts() -> None:
    changes = timeline.price_changes(
        [
            _event(2, "price.updated", {**OLD, "active": False, "lookup_key": None},
                   {"active": True, "lookup_key": "SKU-1"}),
            _event(3, "price.created", {**NEW, "active": True}),
        ]
    )  # fmt: skip
    assert [(c.label, c.before, c.after) for c in changes] == [
        ("price SKU-1", "25.00 USD", "29.99 USD")
    ]


def test_moments_group_by_cause_with_diffs_and_deliveries() -> None:
    product = {"id": "prod_1", "name": "Tee", "default_price": "price_old", "metadata": {"a": "1"}}
    renamed = {**product, "name": "Organic Tee", "default_price": "price_new", "metadata": {}}
    events = [
        _event(1, "product.created", product, run_id="run_1"),
        _event(4, "product.updated", renamed,
               {"name": "Tee", "default_price": "price_old", "metadata": {"a": "1"}},
               request_id="req_9"),
    ]  # fmt: skip
    versions = [
        {"version": 1, "event": "evt_1", "product": product, "previous_attributes": None},
        {"version": 2, "event": "evt_4", "product": renamed,
         "previous_attributes": events[1]["data"]["previous_attributes"]},
    ]  # fmt: skip
    delivery = {"id": "msg_1", "event": "evt_4", "sequence": 4, "status": "delivered"}
    moments = timeline.build(
        versions, events, [], [], {"price_old": OLD, "price_new": NEW}, [delivery]
    )
    assert [m.key for m in moments] == ["req_9", "run_1"]
    newest = moments[0]
    assert newest.request_id == "req_9" and newest.deliveries == [delivery]
    assert {(c.label, c.before, c.after) for c in newest.changes} == {
        ("name", "Tee", "Organic Tee"),
        ("default price", "25.00 USD", "29.99 USD"),
        ("metadata[a]", "1", None),
    }
    assert moments[1].titles == ["Product created"] and moments[1].run_id == "run_1"
    assert moments[1].deliveries == []


def test_archiving_is_titled_and_shown_as_a_status() -> None:
    state = {"id": "prod_1", "active": False}
    title, changes = timeline.product_changes(
        {"version": 3, "product": state, "previous_attributes": {"active": True}}, {}
    )
    assert title == "Product archived"
    assert [(c.label, c.before, c.after) for c in changes] == [("status", "active", "archived")]
