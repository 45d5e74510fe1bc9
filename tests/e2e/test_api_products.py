"""Products and prices over HTTP: form and JSON bodies, lists, versions, as_of, errors."""

from __future__ import annotations

import time

import requests
import sqlalchemy as sa

from tests.e2e.conftest import Client


def test_auth_is_required(api_server: str, client: Client) -> None:
    r = requests.get(api_server + "/v1/products", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
    r = requests.get(
        api_server + "/v1/products", headers={"Authorization": "Bearer sk_nope"}, timeout=10
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "api_key_invalid"
    # Basic auth with the key as user name works as at Stripe
    r = requests.get(api_server + "/v1/products", auth=(client.secret, ""), timeout=10)
    assert r.status_code == 200 and r.json()["object"] == "list"


def test_create_update_retrieve_form_and_json(client: Client) -> None:
    r = client.post(
        "/v1/products",
        data={
            "name": "Tee",
            "metadata[color]": "red",
            "images[0]": "https://x/a.png",
            "shippable": "true",
        },
    )
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["object"] == "product" and p["id"].startswith("prod_")
    assert p["metadata"] == {"color": "red"} and p["images"] == ["https://x/a.png"]
    assert p["shippable"] is True and p["version"] == 1 and p["source"] is None
    r = client.post(
        f"/v1/products/{p['id']}", json={"description": "soft", "metadata": {"color": ""}}
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["description"] == "soft"
        and r.json()["metadata"] == {}
        and r.json()["version"] == 2
    )
    got = client.get(f"/v1/products/{p['id']}").json()
    assert got == r.json()
    versions = client.get(f"/v1/products/{p['id']}/versions").json()
    assert versions["object"] == "list" and [v["version"] for v in versions["data"]] == [1, 2]
    assert versions["data"][1]["previous_attributes"] == {
        "description": None,
        "metadata": {"color": "red"},
    }
    assert versions["data"][0]["product"]["metadata"] == {"color": "red"}


def test_as_of(client: Client) -> None:
    p = client.post("/v1/products", data={"name": "Old"}).json()
    time.sleep(1.1)
    t = int(time.time())
    time.sleep(1.1)
    client.post(f"/v1/products/{p['id']}", data={"name": "New"})
    then = client.get(f"/v1/products/{p['id']}", params={"as_of": str(t)})
    assert then.status_code == 200 and then.json()["name"] == "Old"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    assert client.get(f"/v1/products/{p['id']}", params={"as_of": iso}).json()["name"] == "Old"
    before = client.get(f"/v1/products/{p['id']}", params={"as_of": "2001-01-01T00:00:00Z"})
    assert before.status_code == 404 and before.json()["error"]["param"] == "as_of"
    assert client.get(f"/v1/products/{p['id']}", params={"as_of": "yesterday"}).status_code == 400


def test_list_pagination_and_filters(client: Client) -> None:
    ids = [client.post("/v1/products", data={"name": f"P{i}"}).json()["id"] for i in range(7)]
    client.post(f"/v1/products/{ids[0]}", data={"active": "false"})
    seen, after = [], None
    while True:
        params = {"limit": 3, **({"starting_after": after} if after else {})}
        page = client.get("/v1/products", params=params).json()
        assert page["url"] == "/v1/products"
        seen += [p["id"] for p in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == list(reversed(ids))
    back = client.get("/v1/products", params={"limit": 2, "ending_before": ids[1]}).json()
    assert [p["id"] for p in back["data"]] == [ids[3], ids[2]] and back["has_more"]
    inactive = client.get("/v1/products", params={"active": "false"}).json()["data"]
    assert [p["id"] for p in inactive] == [ids[0]]
    now = int(time.time())
    assert (
        len(
            client.get("/v1/products", params={"updated[gte]": now - 60, "limit": 100}).json()[
                "data"
            ]
        )
        == 7
    )
    assert client.get("/v1/products", params={"updated[gt]": now + 60}).json()["data"] == []
    bad = client.get("/v1/products", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
    assert client.get("/v1/products", params={"starting_after": "prod_nope"}).status_code == 404


def test_validation_errors_are_stripe_shaped(client: Client) -> None:
    r = client.post("/v1/products", data={})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Missing required param: name.",
        "code": "parameter_missing",
        "param": "name",
    }
    r = client.post("/v1/products", data={"name": "x", "bogus": "1"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "bogus"
    r = client.post(
        "/v1/products",
        data=b'{"name": "a", "name": "b"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "duplicate" in r.json()["error"]["message"]
    r = client.post("/v1/products", data="name=x&metadata=1&metadata[a]=2")
    assert r.status_code == 400
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/nothing").json()["error"]["type"] == "invalid_request_error"


def test_prices_are_immutable_and_owned_groups_refused(client: Client, engine: sa.Engine) -> None:
    p = client.post("/v1/products", data={"name": "Mug"}).json()
    price = client.post(
        "/v1/prices",
        data={
            "product": p["id"],
            "currency": "usd",
            "unit_amount": "1200",
            "lookup_key": f"mug-{p['id']}",
        },
    )
    assert price.status_code == 200, price.text
    price = price.json()
    assert price["unit_amount"] == 1200 and price["type"] == "one_time"
    r = client.post(f"/v1/prices/{price['id']}", data={"unit_amount": "1300"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "unit_amount"
    r = client.post(f"/v1/prices/{price['id']}", data={"nickname": "big", "metadata[size]": "L"})
    assert r.status_code == 200 and r.json()["nickname"] == "big" and r.json()["version"] == 2
    listed = client.get("/v1/prices", params={"product": p["id"]}).json()["data"]
    assert [x["id"] for x in listed] == [price["id"]]
    by_key = client.get("/v1/prices", params={"lookup_keys[]": f"mug-{p['id']}"}).json()["data"]
    assert [x["id"] for x in by_key] == [price["id"]]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sources (account_id, name, kind, owns) VALUES (:a, 'pim', 'csv', ARRAY['content','pricing'])"
            ),
            {"a": client.account},
        )
        conn.execute(sa.text("UPDATE products SET source = 'pim' WHERE id = :id"), {"id": p["id"]})
        conn.execute(
            sa.text("UPDATE prices SET source = 'pim' WHERE id = :id"), {"id": price["id"]}
        )
    for path, data in [
        (f"/v1/products/{p['id']}", {"name": "mine"}),
        (f"/v1/prices/{price['id']}", {"active": "false"}),
        ("/v1/prices", {"product": p["id"], "currency": "usd", "unit_amount": "1"}),
    ]:
        r = client.post(path, data=data)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["code"] == "owned_by_source"
        assert r.headers["Stripe-Should-Retry"] == "false"


def test_events_and_changes(client: Client) -> None:
    p = client.post("/v1/products", data={"name": "E"}).json()
    client.post(f"/v1/products/{p['id']}", data={"active": "false"})
    events = client.get("/v1/events", params={"type": "product.*"}).json()["data"]
    assert [e["type"] for e in events] == ["product.updated", "product.created"]
    assert events[0]["data"]["previous_attributes"] == {"active": True}
    assert events[0]["request"]["id"].startswith("req_")
    one = client.get(f"/v1/events/{events[1]['id']}").json()
    assert one["id"] == events[1]["id"]
    feed = client.get("/v1/events", params={"after_sequence": events[1]["sequence"]}).json()["data"]
    assert [e["id"] for e in feed] == [events[0]["id"]]
    assert (
        client.get(
            "/v1/events", params={"object_id": p["id"], "types[]": ["product.created"]}
        ).json()["data"][0]["id"]
        == events[1]["id"]
    )
    changes = client.get("/v1/changes", params={"after_sequence": 0}).json()
    assert [c["deleted"] for c in changes["data"]] == [False, True]
    assert changes["next_after_sequence"] == events[0]["sequence"]
    empty = client.get(
        "/v1/changes", params={"after_sequence": changes["next_after_sequence"]}
    ).json()
    assert empty["data"] == [] and empty["next_after_sequence"] == changes["next_after_sequence"]
