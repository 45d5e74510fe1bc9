"""Every event payload a reader or a webhook receiver gets stays byte-for-byte what it was.

An import's created events no longer store their object (sql/0009 builds it when read), nor
do its product and price update events (sql/0022). The golden file was written by this
scenario on the code from before each change, which stored that JSON. The scenario covers
lean events read while their rows are unchanged, after the rows changed (frozen by the
triggers), and after a row was deleted, through every reader: GET /v1/events and
/v1/events/{id}, /v1/changes, product versions, webhook bodies.

Ids, timestamps and sequences differ per run and are replaced by placeholders numbered in
order of appearance; every other byte is compared. To rewrite the golden file (only on code
whose payloads are known good): CATALOG_WRITE_GOLDEN=1 uv run pytest <this file>.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.store import reads
from catalog_pipelines.webhooks.delivery import DeliveryWorker, encode_event
from catalog_pipelines.webhooks.endpoints import create_endpoint
from catalog_pipelines.webhooks.fanout import fan_out_batch
from tests.support.batches import batch
from tests.support.isolation import isolated_database
from tests.support.webhooks import allow_loopback  # noqa: F401 (autouse fixture)

# The delivery worker claims every account's deliveries: this module has a database of its own.
database_url, engine = isolated_database()

GOLDEN = Path(__file__).parent / "golden" / "event_payloads.txt"

# Values that exercise the JSON: quotes, backslashes, control characters, non-ASCII, emoji,
# metadata keys whose jsonb order (shorter first) differs from their sorted order, empties.
_PRODUCTS: list[dict[str, Any]] = [
    {
        "external_id": "P0",
        "name": 'Shirt "classic" \\ fit',
        "description": "Line one\nline two\ttab \u0001 ctrl",
        "images": ["https://img.example/a.png", "https://img.example/b.png"],
        "url": "https://shop.example/p0",
        "shippable": True,
        "tax_code": "txcd_99999999",
        "unit_label": "piece",
        "metadata": {"zeta": "last", "a": "first", "mid": "é ü 😀", "B": "upper", "aa": ""},
        "_price": 1999,
        "_qty": 7,
    },
    {"external_id": "P1", "name": "Ünïcode ☃ 名前", "shippable": False, "_price": 0, "_qty": 0},
    {"external_id": "P2", "name": "Plain", "metadata": {"k": "v"}, "_price": 250, "_qty": 3},
    {"external_id": "P3", "name": "To be archived", "_price": 100, "_qty": 1},
    {"external_id": "P4", "name": "To be deleted", "images": [], "_price": 5, "_qty": 2},
]


def _second_import() -> list[dict[str, Any]]:
    """P0 renamed, P1's price changed, P2's stock changed, P3 dropped (archived)."""
    products = [dict(p) for p in _PRODUCTS if p["external_id"] != "P3"]
    products[0]["name"] = "Shirt renamed"
    products[1]["_price"] = 100
    products[2]["_qty"] = 9
    return products


def _third_import() -> list[dict[str, Any]]:
    """P0 renamed again with a new description, P2's metadata changed: the events of the
    second import then describe rows that have moved on."""
    products = _second_import()
    products[0]["name"] = "Shirt renamed twice"
    products[0]["description"] = 'New "copy" \u00e9'
    products[2]["metadata"] = {"k": "v2", "new": "x"}
    return products


def _scenario(engine: sa.Engine, account: str) -> dict[str, Any]:
    with engine.begin() as conn:
        create_endpoint(conn, account_id=account, url="http://127.0.0.1:9/golden")
    opts = ImportOptions(source="golden", account_id=account)
    import_batch(engine, batch(_PRODUCTS), opts)
    out: dict[str, Any] = {"after_first_import": _read_all(engine, account)}
    import_batch(engine, batch(_second_import()), opts)
    out["after_second_import"] = _read_all(engine, account)
    import_batch(engine, batch(_third_import()), opts)
    with engine.begin() as conn:  # a row deleted under its created event (no API path here)
        conn.execute(
            sa.text("DELETE FROM products WHERE account_id = :a AND external_id = 'P4'"),
            {"a": account},
        )
    out["after_changes"] = _read_all(engine, account)
    out["webhook_bodies"] = _webhook_bodies(engine, account)
    return out


def _read_all(engine: sa.Engine, account: str) -> dict[str, Any]:
    with engine.connect() as conn:
        events = reads.list_events(conn, account, limit=100).envelope("/v1/events")
        product_ids = [
            e["data"]["object"]["id"] for e in events["data"] if e["type"] == "product.created"
        ]
        return {
            "events": events,
            "events_forward": reads.list_events(
                conn, account, limit=100, after_sequence=0
            ).envelope("/v1/events"),
            "event_by_id": [reads.get_event(conn, account, e["id"]) for e in events["data"]],
            "changes": reads.changes_after(conn, account, 0, limit=100).envelope("/v1/changes"),
            "versions": [reads.product_history(conn, account, pid) for pid in product_ids],
        }


def _webhook_bodies(engine: sa.Engine, account: str) -> list[str]:
    """Every delivery's body, in the order the worker sends them (one head per object at a
    time, so each claimed batch is marked delivered before the next claim)."""
    while fan_out_batch(engine).events:
        pass
    worker = DeliveryWorker(engine)
    bodies: list[tuple[int, str]] = []
    later = datetime.now(UTC) + timedelta(days=1)
    while True:
        claimed = worker.claim(later, 1000)
        if not claimed:
            return [body for _, body in sorted(bodies)]
        for c in claimed:
            bodies.append((c.event["sequence"], encode_event(c.event).decode("utf-8")))
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE webhook_deliveries SET status = 'delivered' WHERE id = ANY(:ids)"),
                {"ids": [c.id for c in claimed]},
            )


_ID = re.compile(r"\b(?:acct|prod|price|inv|evt|msg|we|src|run|imp)_[A-Za-z0-9]+")
_EPOCH = re.compile(r"(?<![0-9])1[6-9][0-9]{8}(?![0-9])")
_SEQUENCE = re.compile(r'("(?:sequence|next_after_sequence)":)([0-9]+)')


def normalize(text: str) -> str:
    """Replace run-specific ids, sequences and timestamps by numbered placeholders."""
    seen: dict[str, str] = {}

    def placeholder(kind: str, value: str) -> str:
        return seen.setdefault(f"{kind}:{value}", f"<{kind}{len(seen)}>")

    text = _ID.sub(lambda m: placeholder("id", m.group(0)), text)
    text = _SEQUENCE.sub(lambda m: m.group(1) + placeholder("seq", m.group(2)), text)
    return _EPOCH.sub("<time>", text)


def _render(captured: dict[str, Any]) -> str:
    """Each payload as the API and the webhook sender serialise it, one per line."""
    lines = []
    for phase in ("after_first_import", "after_second_import", "after_changes"):
        for name, value in captured[phase].items():
            items = value if isinstance(value, list) else [value]
            for item in items:
                body = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
                lines.append(f"{phase} {name} {body}")
    lines += [f"webhook {body}" for body in captured["webhook_bodies"]]
    return normalize("\n".join(lines)) + "\n"


def test_event_payloads_are_byte_identical_to_golden(engine: sa.Engine, account: str) -> None:
    rendered = _render(_scenario(engine, account))
    if os.environ.get("CATALOG_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8").splitlines()
    got = rendered.splitlines()
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"line {i + 1} differs"


def test_created_and_updated_events_of_an_import_store_no_json(
    engine: sa.Engine, account: str
) -> None:
    """The point of lean events: the object is stored once, in its row, until it changes;
    then its old state is frozen once, for the events that describe it. A stock item keeps
    only version 1 frozen, so its update events carry their JSON."""
    opts = ImportOptions(source="lean", account_id=account)
    import_batch(engine, batch(_PRODUCTS), opts)
    count = sa.text(
        "SELECT count(*) FILTER (WHERE e.data IS NULL), count(f.id) FROM events e"
        " LEFT JOIN (SELECT id, version FROM frozen_products UNION ALL"
        "  SELECT id, version FROM frozen_prices UNION ALL"
        "  SELECT id, version FROM frozen_inventory_items) f"
        " ON f.id = e.object_id AND f.version = e.object_version"
        " WHERE e.account_id = :a"
    )
    kinds = sa.text(
        "SELECT count(*) FILTER (WHERE type LIKE '%.created'),"
        " count(*) FILTER (WHERE type IN ('product.updated', 'price.updated')),"
        " count(*) FILTER (WHERE type = 'inventory_item.updated' AND data IS NOT NULL),"
        " count(*) FILTER (WHERE type = 'inventory_item.updated'),"
        " count(DISTINCT (object_id, object_version - 1)) FILTER (WHERE object_version > 1)"
        " FROM events WHERE account_id = :a"
    )
    with engine.connect() as conn:
        assert tuple(conn.execute(count, {"a": account}).one()) == (15, 0)
    for file in (_second_import(), _third_import()):
        import_batch(engine, batch(file), opts)
        with engine.connect() as conn:
            lean, frozen = conn.execute(count, {"a": account}).one()
            created, updated, stock_with_json, stock, old_states = conn.execute(
                kinds, {"a": account}
            ).one()
        assert created == 16  # P1's new price is created by the second import
        assert updated > 0 and stock > 0
        assert lean == created + updated
        assert stock_with_json == stock
        assert frozen == old_states  # exactly the states that changed were frozen, once
