"""/dashboard/products/{id}: the product now (fields, metadata, images, prices, stock) and its
history: what changed, when, why (import run, API request, revert) and who was told (webhook
deliveries with their attempts). Read through the same functions as /v1/products/{id},
/versions, /v1/prices, /v1/inventory_items, /v1/events and /v1/webhook_deliveries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.dashboard import timeline
from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.store import reads, runs
from catalog_pipelines.store.reads import ListPage
from catalog_pipelines.webhooks import delivery_log
from catalog_pipelines.webhooks import endpoints as webhook_endpoints

router = APIRouter()
MAX_MOMENTS = 100  # the newest; older history stays readable through the API
_PAGE = 100


def _every(fetch: Callable[[str | None], ListPage]) -> list[dict[str, Any]]:
    """Every item of a newest-first API list, a page of 100 at a time, up to 1000."""
    out: list[dict[str, Any]] = []
    after = None
    while len(out) < 1000:
        page = fetch(after)
        out += page.data
        if not page.has_more:
            break
        after = page.data[-1]["id"]
    return out


def _all_events(conn: sa.Connection, account_id: str, object_id: str) -> list[dict[str, Any]]:
    return _every(
        lambda after: reads.list_events(
            conn, account_id, object_id=object_id, limit=_PAGE, starting_after=after
        )
    )


def _deliveries(conn: sa.Connection, account_id: str, object_id: str) -> list[dict[str, Any]]:
    return _every(
        lambda after: delivery_log.list_deliveries(
            conn, account_id, object_id=object_id, limit=_PAGE, starting_after=after
        )
    )


def _causes(
    conn: sa.Connection, account_id: str, moments: list[timeline.Moment]
) -> dict[str, dict[str, Any]]:
    """The import runs behind the moments (a revert is a run too)."""
    found: dict[str, dict[str, Any]] = {}
    for m in moments:
        if m.run_id and m.run_id not in found:
            run = runs.get_run(conn, account_id, m.run_id)
            if run is not None:
                found[m.run_id] = run
    return found


def _product(page: Page, product_id: str) -> dict[str, Any]:
    account = page.account_id
    with page.engine.connect() as conn:
        product = reads.get_product(conn, account, product_id)
        if product is None:
            raise DashboardError(
                404, "Product not found", f"There is no product {product_id} in this account."
            )
        prices = reads.list_prices(conn, account, product=product_id, limit=100).data
        items = reads.list_inventory_items(conn, account, product=product_id, limit=100).data
        by_id = {p["id"]: p for p in prices}
        versions = reads.product_history(conn, account, product_id)
        product_events = _all_events(conn, account, product_id)
        price_events = [e for p in prices for e in _all_events(conn, account, p["id"])]
        stock_events = [e for i in items for e in _all_events(conn, account, i["id"])]
        objects = [product_id, *by_id, *(i["id"] for i in items)]
        deliveries = [d for o in objects for d in _deliveries(conn, account, o)]
        moments = timeline.build(
            versions, product_events, price_events, stock_events, by_id, deliveries
        )
        endpoints, _ = webhook_endpoints.list_endpoints(conn, account_id=account, limit=100)
        causes = _causes(conn, account, moments[:MAX_MOMENTS])
    default = by_id.get(product.get("default_price") or "")
    stock_by_price = {i["price"]: i for i in items if i.get("price") in by_id}
    return {
        "product": product,
        "default_price": default,
        "prices": sorted(prices, key=lambda p: (not p["active"], p.get("lookup_key") or "")),
        "stock_by_price": stock_by_price,
        "loose": sorted(
            (i for i in items if i.get("price") not in stock_by_price), key=lambda i: i["sku"]
        ),
        "stock": sum(i["quantity"] for i in items) if items else None,
        "moments": moments[:MAX_MOMENTS],
        "more_moments": max(0, len(moments) - MAX_MOMENTS),
        "versions": len(versions),
        "runs": causes,
        "endpoints": {e.id: e.url for e in endpoints},
    }


@router.get(PREFIX + "/products/{product_id}")
async def product_page(page: Page, product_id: str) -> Response:
    ctx = await run_in_threadpool(_product, page, product_id[:255])
    return page.render("product.html", **ctx)
