"""The official stripe package, pointed at the live server, must just work."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import stripe

from catalog_pipelines.webhooks.delivery import deliver_due
from catalog_pipelines.webhooks.receiver import LocalReceiver
from tests.e2e.conftest import Client


@pytest.fixture
def stripe_at(client: Client) -> Iterator[Client]:
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    stripe.api_key, stripe.api_base, stripe.max_network_retries = client.secret, client.base, 2
    try:
        yield client
    finally:
        stripe.api_key, stripe.api_base, stripe.max_network_retries = saved


def test_products_prices_events(stripe_at: Client) -> None:
    created = [
        stripe.Product.create(name=f"Hat {i}", metadata={"size": "M", "i": str(i)})
        for i in range(12)
    ]
    assert isinstance(created[0], stripe.Product) and created[0].metadata["size"] == "M"
    got = stripe.Product.retrieve(created[0].id)
    assert got.name == "Hat 0" and got.id == created[0].id
    modified = stripe.Product.modify(created[0].id, description="wool", metadata={"size": ""})
    assert modified.description == "wool" and "size" not in modified.metadata
    page = stripe.Product.list(limit=5)
    assert len(page.data) == 5 and page.has_more
    every = [p.id for p in stripe.Product.list(limit=5).auto_paging_iter()]
    assert every == [p.id for p in reversed(created)]

    price = stripe.Price.create(
        product=created[1].id, currency="eur", unit_amount=1999, lookup_key="hat-1"
    )
    assert isinstance(price, stripe.Price) and price.unit_amount == 1999 and price.currency == "eur"
    recurring = stripe.Price.create(
        product=created[1].id, currency="eur", unit_amount=500, recurring={"interval": "month"}
    )
    assert recurring.type == "recurring" and recurring.recurring["interval"] == "month"
    listed = stripe.Price.list(product=created[1].id)
    assert {p.id for p in listed.data} == {price.id, recurring.id}
    assert [p.id for p in stripe.Price.list(lookup_keys=["hat-1"]).data] == [price.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Price.modify(price.id, unit_amount=1)
    assert err.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Product.retrieve("prod_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"

    events = stripe.Event.list(type="product.*", limit=100)
    types = {e.type for e in events.auto_paging_iter()}
    assert types == {"product.created", "product.updated"}
    updated = stripe.Event.list(type="product.updated").data[0]
    assert updated.data.object.id == created[0].id
    assert updated.data.previous_attributes["description"] is None


def test_webhook_endpoint_secret_verifies_a_real_delivery(
    stripe_at: Client, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
    with LocalReceiver() as receiver:
        endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["product.*"])
        assert isinstance(endpoint, stripe.WebhookEndpoint)
        assert endpoint.secret.startswith("whsec_") and endpoint.enabled_events == ["product.*"]
        product = stripe.Product.create(name="Delivered")
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            deliver_due(engine, max_seconds=5)
            time.sleep(0.05)
        assert receiver.received, "no delivery arrived"
        got = receiver.received[0]
        event = stripe.Webhook.construct_event(
            got.body.decode(), got.headers["stripe-signature"], endpoint.secret
        )
        assert event.type == "product.created" and event.data.object.id == product.id
        listed = stripe.WebhookEndpoint.list()
        assert [e.id for e in listed.data] == [endpoint.id]
        deliveries = stripe_at.get(f"/v1/webhook_endpoints/{endpoint.id}/deliveries").json()
        assert deliveries["data"][0]["status"] == "delivered"
        assert deliveries["data"][0]["attempt_log"][0]["status_code"] == 200
        stripe.WebhookEndpoint.modify(endpoint.id, disabled=True)
        assert stripe.WebhookEndpoint.retrieve(endpoint.id).status == "disabled"
        deleted = stripe.WebhookEndpoint.delete(endpoint.id)
        assert deleted.deleted is True
