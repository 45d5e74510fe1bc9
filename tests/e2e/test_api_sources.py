"""/v1/mapping_suggestions and /v1/sources against the live server: the suggestion's shape,
saving it as a source's mapping, versions, errors naming the key, and tenancy."""

from __future__ import annotations

from tests.e2e.conftest import Client

GERMAN = ["Artikelnummer", "Bezeichnung", "Beschreibung", "Preis", "Währung", "Bestand", "Bild"]
ROWS = [
    ["AX-1", "Kaffeemühle", "<p>Buchenholz</p>", "1.249,00", "EUR", 12, "https://x.test/1.jpg"],
    ["AX-2", "Teekanne", "<p>Porzellan</p>", "34,90", "EUR", 0, "https://x.test/2.jpg"],
]


def test_mapping_suggestion_from_columns_and_rows(client: Client) -> None:
    r = client.post("/v1/mapping_suggestions", json={"columns": GERMAN, "rows": ROWS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "mapping_suggestion"
    assert body["format"] == "csv"
    assert body["dialect"]["decimal_separator"] == ","
    mapping = body["mapping"]
    assert mapping["key"] == "Artikelnummer"
    assert mapping["decimal_separator"] == ","
    assert mapping["fields"]["price"] == "Preis" and mapping["fields"]["currency"] == "Währung"
    assert mapping["fields"]["inventory_quantity"] == "Bestand"
    cols = {c["column"]: c for c in body["columns"]}
    assert cols["Bestand"]["samples"] == ["12", "0"]
    assert cols["Preis"]["reason"].startswith("German name for price")
    assert body["needs_review"] == []
    # rows as objects work too
    objects = [dict(zip(GERMAN, row, strict=True)) for row in ROWS]
    same = client.post("/v1/mapping_suggestions", json={"columns": GERMAN, "rows": objects})
    assert same.json()["mapping"] == mapping


def test_mapping_suggestion_errors(client: Client) -> None:
    r = client.post("/v1/mapping_suggestions", json={"file": "file_123"})
    assert r.status_code == 404  # no such upload in this account
    assert r.json()["error"]["param"] == "file"
    r = client.post("/v1/mapping_suggestions", json={"file": "file_123", "columns": ["a"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = client.post("/v1/mapping_suggestions", json={"rows": []})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "parameter_missing")
    r = client.post("/v1/mapping_suggestions", json={"columns": ["a"], "rows": [["1", "2"]]})
    assert r.status_code == 400 and "rows[0]" in r.json()["error"]["message"]


def test_sources_create_retrieve_update_list_archive(client: Client, other_client: Client) -> None:
    suggestion = client.post(
        "/v1/mapping_suggestions", json={"columns": GERMAN, "rows": ROWS}
    ).json()
    r = client.post(
        "/v1/sources",
        json={"name": "de-shop", "kind": "csv", "owns": ["content", "pricing"],
              "mapping": suggestion["mapping"]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    src = r.json()
    assert src["object"] == "source" and src["id"].startswith("src_")
    assert (src["mode"], src["owns"], src["version"], src["active"]) == (
        "hybrid",
        ["content", "pricing"],
        1,
        True,
    )
    assert src["mapping"]["key"] == "Artikelnummer"

    assert client.get(f"/v1/sources/{src['id']}").json() == src
    assert client.get("/v1/sources/de-shop").json()["id"] == src["id"]  # by name too

    # a mapping as YAML text, and ownership, in one update: one new version
    r = client.post(
        f"/v1/sources/{src['id']}",
        json={"owns": ["content", "pricing", "inventory"],
              "mapping": "key: Artikelnummer\ncurrency: eur\nfields: {name: Bezeichnung}\n"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["mode"]) == (2, "mirror")
    assert r.json()["mapping"]["fields"] == {"name": "Bezeichnung"}

    r = client.post(
        f"/v1/sources/{src['id']}", json={"mapping": {"key": "id", "fields": {"price": 5}}}
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "mapping"
    assert "fields.price: must be a non-empty string" in r.json()["error"]["message"]

    versions = client.get(f"/v1/sources/{src['id']}/versions").json()
    assert [v["version"] for v in versions["data"]] == [1, 2]
    assert versions["data"][0]["source"]["owns"] == ["content", "pricing"]

    listed = client.get("/v1/sources").json()
    assert listed["object"] == "list" and [s["id"] for s in listed["data"]] == [src["id"]]

    events = client.get("/v1/events", params={"type": "source.*"}).json()["data"]
    assert sorted(e["type"] for e in events) == ["source.created", "source.updated"]

    archived = client.delete(f"/v1/sources/{src['id']}")
    assert archived.status_code == 200 and archived.json()["active"] is False
    assert (
        client.get("/v1/sources", params={"active": "false"}).json()["data"][0]["id"] == src["id"]
    )
    restored = client.post(f"/v1/sources/{src['id']}", json={"active": True}).json()
    assert restored["active"] is True and restored["version"] == 4

    # tenancy: another account's source is a 404, like a missing one
    for path in (f"/v1/sources/{src['id']}", f"/v1/sources/{src['id']}/versions"):
        r = other_client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"
    assert other_client.post(f"/v1/sources/{src['id']}", json={"owns": []}).status_code == 404
    assert other_client.get("/v1/sources").json()["data"] == []
    # its name is free in the other account
    assert (
        other_client.post("/v1/sources", json={"name": "de-shop", "kind": "csv"}).status_code == 200
    )


def test_sources_errors(client: Client) -> None:
    r = client.post("/v1/sources", json={"name": "x y", "kind": "csv"})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "name")
    r = client.post("/v1/sources", json={"name": "ok", "kind": "xml"})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "kind")
    r = client.post("/v1/sources", json={"name": "ok", "kind": "csv", "owns": ["prices"]})
    assert (r.status_code, r.json()["error"]["param"]) == (400, "owns[0]")
    assert client.post("/v1/sources", json={"name": "ok", "kind": "csv"}).status_code == 200
    again = client.post("/v1/sources", json={"name": "ok", "kind": "csv"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
