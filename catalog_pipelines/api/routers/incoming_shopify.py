"""POST /v1/incoming/shopify/{source}: Shopify's order and inventory webhooks.

Authenticated by Shopify's HMAC (base64 HMAC-SHA256 of the raw body with the source's
`webhook_secret`), not by an API key: the source whose secret verifies the body names the
account. A bad signature is 401 and nothing is read further. Each X-Shopify-Webhook-Id is
applied once: its row is inserted in the same transaction as the changes, so a retry or a
concurrent duplicate finds it and changes nothing.

Writes act as the source (`actor_source`): they may change items that no source owns and
items this source owns, never items another source owns (those are reported as skipped).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.store import inventory
from catalog_pipelines.store.errors import Conflict, StoreError
from catalog_pipelines.store.events import Cause

router = APIRouter(tags=["incoming"])

# Shopify's webhook payloads are a few kilobytes; the default limit would do, but the route
# keeps its own so that raising the API-wide limit does not raise this unauthenticated one.
INCOMING_PREFIX = "/v1/incoming/"
INCOMING_MAX_BODY = 1 << 20

TOPICS = (
    "orders/create",
    "inventory_levels/update",
    "inventory_items/create",
    "inventory_items/update",
)

_SECRETS = sa.text(
    "SELECT account_id, webhook_secret FROM sources"
    " WHERE name = :source AND webhook_secret IS NOT NULL"
    " AND (CAST(:account AS text) IS NULL OR account_id = :account)"
)
_CLAIM = sa.text(
    "INSERT INTO incoming_webhooks (account_id, source, webhook_id, topic, result)"
    " VALUES (:account, :source, :webhook_id, :topic, '{}') ON CONFLICT DO NOTHING RETURNING 1"
)
_STORED = sa.text(
    "SELECT result FROM incoming_webhooks"
    " WHERE account_id = :account AND source = :source AND webhook_id = :webhook_id"
)
_RECORD = sa.text(
    "UPDATE incoming_webhooks SET result = CAST(:result AS jsonb)"
    " WHERE account_id = :account AND source = :source AND webhook_id = :webhook_id"
)
_REMEMBER_ITEM = sa.text(
    "INSERT INTO shopify_inventory_items (account_id, source, inventory_item_id, sku)"
    " VALUES (:account, :source, :item, :sku) ON CONFLICT (account_id, source, inventory_item_id)"
    " DO UPDATE SET sku = excluded.sku, updated = now()"
)
_SKU_FOR_ITEM = sa.text(
    "SELECT sku FROM shopify_inventory_items"
    " WHERE account_id = :account AND source = :source AND inventory_item_id = :item"
)


def signature(secret: str, body: bytes) -> str:
    """Shopify's X-Shopify-Hmac-Sha256 for a body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _account_for(
    conn: sa.Connection, source: str, account: str | None, body: bytes, given: str
) -> str | None:
    """The account whose source secret verifies the body (checks every candidate)."""
    found = None
    for row in conn.execute(_SECRETS, {"source": source, "account": account}):
        if hmac.compare_digest(signature(row.webhook_secret, body), given):
            found = row.account_id
    return found


def _int_field(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _apply_line(
    conn: sa.Connection, account: str, source: str, sku: str, qty: int, reference: str, cause: Cause
) -> dict[str, Any]:
    """Decrement one line item's SKU; a shortfall sells what is left and is reported."""
    savepoint = conn.begin_nested()
    try:
        try:
            obj = inventory.adjust(
                conn,
                account,
                sku,
                -qty,
                reason="shopify orders/create",
                reference=reference,
                cause=cause,
                actor_source=source,
            )
            short = 0
        except Conflict:
            current = conn.execute(
                sa.text("SELECT quantity FROM inventory_items WHERE account_id = :a AND sku = :s"),
                {"a": account, "s": sku},
            ).scalar_one()
            short = qty - current
            obj = inventory.set_quantity(
                conn,
                account,
                sku,
                0,
                reason=f"shopify orders/create (short by {short})",
                reference=reference,
                cause=cause,
                actor_source=source,
            )
        savepoint.commit()
    except StoreError as e:
        savepoint.rollback()
        return {"sku": sku, "quantity": qty, "skipped": e.code, "message": e.message}
    return {"sku": sku, "quantity": qty, "quantity_after": obj["quantity"], "short": short}


def _apply(
    conn: sa.Connection,
    account: str,
    source: str,
    topic: str,
    payload: dict[str, Any],
    webhook_id: str,
) -> dict[str, Any]:
    cause = Cause(source=source, request_id=f"shopify:{webhook_id}")
    applied: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    if topic == "orders/create":
        reference = f"shopify order {payload.get('name') or payload.get('id')}"
        for line in payload.get("line_items") or []:
            if not isinstance(line, dict):
                continue
            sku, qty = line.get("sku"), _int_field(line.get("quantity"))
            if not isinstance(sku, str) or not sku or qty is None or qty <= 0:
                skipped.append({"line_item": line.get("id"), "skipped": "no_sku_or_quantity"})
                continue
            result = _apply_line(conn, account, source, sku, qty, reference, cause)
            (skipped if "skipped" in result else applied).append(result)
    elif topic in ("inventory_items/create", "inventory_items/update"):
        item, sku = _int_field(payload.get("id")), payload.get("sku")
        if item is not None and isinstance(sku, str) and sku:
            conn.execute(
                _REMEMBER_ITEM, {"account": account, "source": source, "item": item, "sku": sku}
            )
            applied.append({"inventory_item_id": item, "sku": sku})
        else:
            skipped.append({"inventory_item_id": payload.get("id"), "skipped": "no_sku"})
    elif topic == "inventory_levels/update":
        item, available = _int_field(payload.get("inventory_item_id")), payload.get("available")
        sku = (
            None
            if item is None
            else conn.execute(
                _SKU_FOR_ITEM, {"account": account, "source": source, "item": item}
            ).scalar_one_or_none()
        )
        if sku is None:
            skipped.append(
                {
                    "inventory_item_id": payload.get("inventory_item_id"),
                    "skipped": "unknown_inventory_item",
                }
            )
        elif isinstance(available, bool) or not isinstance(available, int):
            skipped.append({"sku": sku, "skipped": "no_available_quantity"})
        else:
            savepoint = conn.begin_nested()
            try:
                obj = inventory.set_quantity(
                    conn,
                    account,
                    sku,
                    max(available, 0),
                    reason="shopify inventory_levels/update",
                    reference=f"shopify location {payload.get('location_id')}",
                    cause=cause,
                    actor_source=source,
                )
                savepoint.commit()
                applied.append({"sku": sku, "quantity_after": obj["quantity"]})
            except StoreError as e:
                savepoint.rollback()
                skipped.append({"sku": sku, "skipped": e.code, "message": e.message})
    else:
        skipped.append({"topic": topic, "skipped": "unsupported_topic"})
    return {"applied": applied, "skipped": skipped}


def handle(
    engine: sa.Engine,
    source: str,
    account: str | None,
    body: bytes,
    hmac_header: str,
    topic: str,
    webhook_id: str,
) -> dict[str, Any]:
    with engine.begin() as conn:
        account_id = _account_for(conn, source, account, body, hmac_header)
        if account_id is None:
            raise ApiError(
                401,
                "The X-Shopify-Hmac-Sha256 signature does not verify.",
                code="signature_invalid",
            )
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(400, "The body is not JSON") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "The body is not a JSON object")
        ids = {"account": account_id, "source": source, "webhook_id": webhook_id}
        if conn.execute(_CLAIM, {**ids, "topic": topic}).scalar_one_or_none() is None:
            stored = conn.execute(_STORED, ids).scalar_one()
            return {**stored, "duplicate": True}
        result = {
            "object": "incoming_webhook",
            "webhook_id": webhook_id,
            "topic": topic,
            "source": source,
            **_apply(conn, account_id, source, topic, payload, webhook_id),
        }
        conn.execute(_RECORD, {**ids, "result": json.dumps({**result, "duplicate": False})})
    return {**result, "duplicate": False}


@router.post(
    "/v1/incoming/shopify/{source}",
    responses=oa.responses(oa.ref("IncomingResult"), 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def incoming_shopify(
    source: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")],
    request: Request,
    x_shopify_hmac_sha256: Annotated[str, Header(min_length=1, max_length=256)],
    x_shopify_webhook_id: Annotated[str, Header(min_length=1, max_length=255)],
    x_shopify_topic: Annotated[str, Header(max_length=100)] = "",
    account: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
) -> JSONResponse:
    """Shopify `orders/create` (decrement each line item's SKU), `inventory_levels/update`
    (set), and `inventory_items/create|update` (learn inventory_item_id -> SKU)."""
    body = await request.body()  # at most INCOMING_MAX_BODY bytes (api/body_limit.py)
    topic = x_shopify_topic
    result = await run_in_threadpool(
        handle,
        request.app.state.engine,
        source,
        account,
        body,
        x_shopify_hmac_sha256,
        topic,
        x_shopify_webhook_id,
    )
    return JSONResponse(result)
