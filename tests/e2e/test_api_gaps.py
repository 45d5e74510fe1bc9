"""Stripe features that were missing: product DELETE, product search, `product_data` on price
create and `ending_before` on the webhook endpoints list, through the live server."""

from __future__ import annotations

import pytest
import stripe

from tests.e2e.conftest import Client
from tests.support.webhooks import allow_loopback  # noqa: F401 - autouse fixture


def _product(client: Client, **params: object) -> dict:
    r = client.post("/v1/products", json={"name": "Thing", **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_delete_product_without_prices_leaves_a_tombstone(client: Client) -> None:
    p = _product(client, name="Lonely")
    before = client.get("/v1/changes").json()["next_after_sequence"]
    r = client.delete(f"/v1/products/{p['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": p["id"], "object": "product", "deleted": True}
    assert client.get(f"/v1/products/{p['id']}").status_code == 404
    assert client.delete(f"/v1/products/{p['id']}").status_code == 404
    # the history stays: a product.deleted event and a tombstone on the changes feed
    events = client.get("/v1/events", params={"object_id": p["id"]}).json()["data"]
    assert [e["type"] for e in events] == ["product.deleted", "product.created"]
    assert events[0]["data"]["object"]["name"] == "Lonely"
    changes = client.get("/v1/changes", params={"after_sequence": before}).json()["data"]
    tomb = [c for c in changes if c["object_id"] == p["id"]]
    assert len(tomb) == 1 and tomb[0]["deleted"] is True and tomb[0]["archived"] is False


def test_delete_product_with_prices_is_refused(client: Client) -> None:
    p = _product(client, default_price_data={"currency": "usd", "unit_amount": 500})
    r = client.delete(f"/v1/products/{p['id']}")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "product_has_prices"
    assert client.get(f"/v1/products/{p['id']}").status_code == 200


def test_delete_product_of_another_account_is_404(client: Client, other_client: Client) -> None:
    p = _product(client)
    assert other_client.delete(f"/v1/products/{p['id']}").status_code == 404
    assert client.get(f"/v1/products/{p['id']}").status_code == 200


def test_search_products(client: Client, other_client: Client) -> None:
    shirt = _product(client, name="Blue Shirt", metadata={"brand": "acme"})
    red = _product(client, name="Red Shirt", metadata={"brand": "other"}, active=False)
    mug = _product(client, name="Mug", description="a shirt-coloured mug")
    _product(other_client, name="Blue Shirt of another account")

    def ids(query: str, **params: object) -> list[str]:
        r = client.get("/v1/products/search", params={"query": query, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "search_result" and body["url"] == "/v1/products/search"
        return [p["id"] for p in body["data"]]

    assert ids('name~"shirt" AND metadata["brand"]:"acme"') == [shirt["id"]]
    assert ids('name:"blue shirt"') == [shirt["id"]]  # exact, case-insensitive
    assert len(ids('name~"shirt" AND active:"true"')) == 1
    assert set(ids('metadata["brand"]:"acme" OR description~"mug"')) == {shirt["id"], mug["id"]}
    assert set(ids('-description~"mug" AND name~"shirt"')) == {shirt["id"], red["id"]}
    assert shirt["id"] not in ids('-metadata["brand"]:"acme" AND name~"shirt"')
    # paging with next_page
    first = client.get("/v1/products/search", params={"query": 'name~"shirt"', "limit": 1}).json()
    assert first["has_more"] is True and first["next_page"]
    second = client.get(
        "/v1/products/search",
        params={"query": 'name~"shirt"', "limit": 1, "page": first["next_page"]},
    ).json()
    assert second["data"][0]["id"] != first["data"][0]["id"]


@pytest.mark.parametrize(
    "query",
    [
        'name:"a" AND name:"b" OR name:"c"',
        'colour:"red"',
        'name~"ab"',
        "created:12",
        'name:"unterminated',
        "AND",
        'metadata:"x"',
    ],
)
def test_search_refuses_bad_queries_with_400(client: Client, query: str) -> None:
    r = client.get("/v1/products/search", params={"query": query})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "query"


def test_search_is_not_sql(client: Client) -> None:
    _product(client, name="Robert'); DROP TABLE products;--")
    r = client.get("/v1/products/search", params={"query": 'name~"DROP TABLE"'})
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    r = client.get("/v1/products/search", params={"query": 'name~"%%%"'})
    assert r.status_code == 200 and r.json()["data"] == []  # % is a literal, not a wildcard


def test_price_with_product_data(client: Client) -> None:
    r = client.post(
        "/v1/prices",
        data={
            "currency": "eur",
            "unit_amount": "1299",
            "product_data[name]": "Inline",
            "product_data[metadata][k]": "v",
        },
    )
    assert r.status_code == 200, r.text
    price = r.json()
    product = client.get(f"/v1/products/{price['product']}").json()
    assert product["name"] == "Inline" and product["metadata"] == {"k": "v"}
    both = client.post(
        "/v1/prices",
        json={
            "currency": "eur",
            "unit_amount": 1,
            "product": product["id"],
            "product_data": {"name": "x"},
        },
    )
    assert both.status_code == 400 and both.json()["error"]["param"] == "product_data"
    bad = client.post(
        "/v1/prices",
        json={"currency": "eur", "unit_amount": 1, "product_data": {"name": "y", "x": 1}},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_unknown"


def test_stripe_client_product_delete_search_and_product_data(client: Client) -> None:
    sc = stripe.StripeClient(client.secret, base_addresses={"api": client.base})
    product = sc.v1.products.create(params={"name": "Via stripe search-me"})
    found = sc.v1.products.search(params={"query": 'name~"search-me"'})
    assert [p.id for p in found.data] == [product.id]
    deleted = sc.v1.products.delete(product.id)
    assert deleted.deleted is True
    price = sc.v1.prices.create(
        params={"currency": "usd", "unit_amount": 100, "product_data": {"name": "Inline 2"}}
    )
    assert price.product.startswith("prod_")


def test_webhook_endpoints_ending_before(client: Client) -> None:
    made = []
    for i in range(3):
        r = client.post(
            "/v1/webhook_endpoints",
            data={"url": f"http://127.0.0.1:9/{i}", "enabled_events[]": "*"},
        )
        assert r.status_code == 200, r.text
        made.append(r.json()["id"])
    newest_first = list(reversed(made))
    page = client.get("/v1/webhook_endpoints", params={"ending_before": made[0]}).json()
    assert [e["id"] for e in page["data"]] == newest_first[:2]
    page = client.get("/v1/webhook_endpoints", params={"ending_before": made[0], "limit": 1}).json()
    assert [e["id"] for e in page["data"]] == [made[1]] and page["has_more"] is True
    r = client.get("/v1/webhook_endpoints", params={"ending_before": "we_nope"})
    assert r.status_code == 404
