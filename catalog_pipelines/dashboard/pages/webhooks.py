"""/dashboard/webhooks: the account's endpoints; add one (its signing secret is shown once,
on the page right after), disable, enable or delete it, read its delivery log and replay a
range of events. Every action goes through the functions the /v1/webhook_endpoints routes use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.api.routers.webhook_endpoints import (
    _create,
    _update,
    start_replay,
)
from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.store.errors import StoreError
from catalog_pipelines.webhooks import delivery_log
from catalog_pipelines.webhooks import endpoints as store

router = APIRouter()

ONCE_COOKIE = "catalog_secret_once"
ONCE_SECONDS = 120
RECENT = 50

EVENT_HELP = {
    "product.created": "a product is added",
    "product.updated": "a product's content or state changes",
    "product.deleted": "a product is archived",
    "price.created": "a price is added",
    "price.updated": "a price changes",
    "inventory_item.created": "a SKU gets stock tracking",
    "inventory_item.updated": "stock changes",
    "source.created": "a source is added",
    "source.updated": "a source's ownership or mapping changes",
}


def _missing() -> DashboardError:
    return DashboardError(
        404,
        "No such webhook endpoint",
        "There is no such endpoint, or it belongs to another account.",
    )


def _summary(log: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status over the latest deliveries, and the endpoint's latest answer."""
    attempts = [a for d in log for a in d["attempt_log"]]
    last = max(attempts, key=lambda a: a["attempted_at"], default=None)
    return {
        "counts": {
            s: sum(d["status"] == s for d in log) for s in ("delivered", "pending", "failed")
        },
        "last_answer": last,
    }


def _log(
    conn: sa.Connection, account_id: str, endpoint_id: str
) -> tuple[list[dict[str, Any]], bool]:
    """The endpoint's latest deliveries (the API's delivery log)."""
    found = delivery_log.list_deliveries(conn, account_id, endpoint=endpoint_id, limit=RECENT)
    return found.data, found.has_more


def _listing(page: Page) -> dict[str, Any]:
    with page.engine.connect() as conn:
        found, _ = store.list_endpoints(conn, account_id=page.account_id, limit=100)
        rows = []
        recent: list[dict[str, Any]] = []
        for endpoint in found:
            log, _ = _log(conn, page.account_id, endpoint.id)
            rows.append({"endpoint": endpoint.to_json(), **_summary(log)})
            recent += [{**d, "endpoint": endpoint.to_json()} for d in log]
    recent.sort(key=lambda d: (d["created"] or 0, d["sequence"], d["id"]), reverse=True)
    return {
        "rows": rows,
        "recent": recent[:10],
        "event_types": [(t, EVENT_HELP.get(t, "")) for t in store.EVENT_TYPES],
    }


@router.get(PREFIX + "/webhooks")
async def webhooks_page(page: Page) -> Response:
    return page.render("webhooks.html", **await run_in_threadpool(_listing, page))


@router.post(PREFIX + "/webhooks")
async def add_endpoint(page: Page) -> Response:
    form = await page.form()
    events = ["*"] if form.get("all_events") else [t for t in store.EVENT_TYPES if form.get(t)]
    params: dict[str, Any] = {"url": form.get("url", "").strip(), "enabled_events": events}
    if form.get("description", "").strip():
        params["description"] = form["description"].strip()

    def create() -> dict[str, Any]:
        with page.engine.begin() as conn:
            return _create(conn, page.account_id, params)

    try:
        if not events:
            raise StoreError("Choose the events to send: all of them, or some.")
        created = await run_in_threadpool(create)
    except StoreError as e:
        context = await run_in_threadpool(_listing, page)
        return page.render("webhooks.html", status=400, error=e.message, entered=form, **context)
    target = f"{PREFIX}/webhooks/{created['id']}"
    response = page.redirect(target, "Endpoint added. Copy its signing secret now.")
    response.set_cookie(
        ONCE_COOKIE,
        page.codec.seal(page.session, "secret:" + created["id"], created["secret"]),
        max_age=ONCE_SECONDS,
        path=target,
        httponly=True,
        samesite="strict",
        secure=page.request.url.scheme == "https",
    )
    return response


def _endpoint(conn: sa.Connection, page: Page, endpoint_id: str) -> store.Endpoint:
    endpoint = store.get_endpoint(conn, account_id=page.account_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise _missing()
    return endpoint


def _detail(page: Page, endpoint_id: str) -> dict[str, Any]:
    with page.engine.connect() as conn:
        endpoint = _endpoint(conn, page, endpoint_id)
        log, more = _log(conn, page.account_id, endpoint_id)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return {
        "endpoint": endpoint.to_json(),
        "deliveries": log,
        "more": more,
        "counts": {
            s: sum(d["status"] == s for d in log) for s in ("delivered", "pending", "failed")
        },
        "default_from": (now.replace(hour=0, minute=0)).strftime("%Y-%m-%dT%H:%M"),
        "default_to": now.strftime("%Y-%m-%dT%H:%M"),
    }


@router.get(PREFIX + "/webhooks/{endpoint_id}")
async def endpoint_page(page: Page, request: Request, endpoint_id: str) -> Response:
    context = await run_in_threadpool(_detail, page, endpoint_id)
    secret = page.codec.unseal(
        page.session, "secret:" + endpoint_id, request.cookies.get(ONCE_COOKIE)
    )
    response = page.render("webhook.html", secret=secret, **context)
    if ONCE_COOKIE in request.cookies:  # shown once: a reload no longer has it
        response.delete_cookie(ONCE_COOKIE, path=f"{PREFIX}/webhooks/{endpoint_id}")
    return response


@router.get(PREFIX + "/webhooks/{endpoint_id}/deliveries")
async def deliveries_fragment(page: Page, endpoint_id: str) -> Response:
    """The delivery log alone, for the page's live refresh (htmx)."""
    context = await run_in_threadpool(_detail, page, endpoint_id)
    return page.render("_deliveries.html", **context)


async def _change(page: Page, endpoint_id: str, params: dict[str, Any], done: str) -> Response:
    await page.form()

    def change() -> None:
        with page.engine.begin() as conn:
            _endpoint(conn, page, endpoint_id)
            _update(conn, page.account_id, endpoint_id, params)

    await run_in_threadpool(change)
    return page.redirect(f"{PREFIX}/webhooks/{endpoint_id}", done)


@router.post(PREFIX + "/webhooks/{endpoint_id}/disable")
async def disable(page: Page, endpoint_id: str) -> Response:
    return await _change(
        page,
        endpoint_id,
        {"disabled": True},
        "Endpoint disabled: deliveries wait until you enable it again.",
    )


@router.post(PREFIX + "/webhooks/{endpoint_id}/enable")
async def enable(page: Page, endpoint_id: str) -> Response:
    return await _change(
        page, endpoint_id, {"disabled": False}, "Endpoint enabled: waiting deliveries resume."
    )


@router.post(PREFIX + "/webhooks/{endpoint_id}/delete")
async def delete(page: Page, endpoint_id: str) -> Response:
    await page.form()

    def remove() -> bool:
        with page.engine.begin() as conn:
            return store.delete_endpoint(conn, account_id=page.account_id, endpoint_id=endpoint_id)

    if not await run_in_threadpool(remove):
        raise _missing()
    return page.redirect(f"{PREFIX}/webhooks", "Endpoint deleted, with its delivery log.")


def _utc(text: str, name: str) -> int:
    """A `datetime-local` value read as UTC (the page says so), in unix seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StoreError(f"{name}: give a date and time such as 2026-12-02T14:30") from None
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())


def _replay_params(form: dict[str, str]) -> dict[str, Any]:
    if form.get("by") == "events":
        first, last = form.get("from_event", "").strip(), form.get("to_event", "").strip()
        if not first:
            raise StoreError("Replay by events: give the first event's id (evt_...).")
        return {"from_event": first, **({"to_event": last} if last else {})}
    since = _utc(form.get("since", ""), "From")
    until_text = form.get("until", "").strip()
    # a minute picked as the end includes that whole minute
    return {
        "created": {"gte": since, **({"lt": _utc(until_text, "To") + 60} if until_text else {})}
    }


@router.post(PREFIX + "/webhooks/{endpoint_id}/replay")
async def replay(page: Page, endpoint_id: str) -> Response:
    form = await page.form()

    def queue() -> dict[str, Any]:
        params = _replay_params(form)
        with page.engine.begin() as conn:
            _endpoint(conn, page, endpoint_id)
            return start_replay(conn, page.account_id, endpoint_id, params)

    try:
        done = await run_in_threadpool(queue)
    except StoreError as e:
        context = await run_in_threadpool(_detail, page, endpoint_id)
        return page.render("webhook.html", status=400, error=e.message, secret=None, **context)
    n = done["deliveries"]
    return page.redirect(
        f"{PREFIX}/webhooks/{endpoint_id}",
        f"Replay {done['id']} queued {n} deliver{'y' if n == 1 else 'ies'}.",
    )
