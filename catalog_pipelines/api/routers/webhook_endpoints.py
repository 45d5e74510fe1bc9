"""/v1/webhook_endpoints over the webhooks module's store, each endpoint's delivery log, and
/v1/webhook_deliveries, the log filtered by event or object ("who was told of this change")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, write_response
from catalog_pipelines.api.errors import not_found
from catalog_pipelines.api.lists import Cursor, ObjectId, PageParams
from catalog_pipelines.store import objects
from catalog_pipelines.store.errors import InvalidRequest, NotFound
from catalog_pipelines.store.reads import CursorNotFound, ListPage
from catalog_pipelines.webhooks import delivery_log, replay
from catalog_pipelines.webhooks import endpoints as store
from catalog_pipelines.webhooks.ssrf import UnsafeURLError

router = APIRouter(tags=["webhook_endpoints"])


def _strings(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value] if value else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{name} must be a list of strings", param=name)
    return value


def _guard(fn: Any) -> Any:
    """The webhooks module raises ValueErrors; give them Stripe's 400 with a param."""
    try:
        return fn()
    except UnsafeURLError as e:
        raise InvalidRequest(str(e), param="url", code="url_invalid") from None
    except store.EndpointError as e:
        if str(e).startswith("no such webhook endpoint"):
            raise NotFound(str(e), param="id") from None
        raise InvalidRequest(str(e), param="enabled_events") from None


def _create(conn: sa.Connection, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
    url = objects._text(params.get("url"), "url", max_len=2048)
    if url is None:
        raise InvalidRequest("Missing required param: url.", param="url", code="parameter_missing")
    events = _strings(params, "enabled_events")
    if not events:
        raise InvalidRequest(
            "Missing required param: enabled_events.",
            param="enabled_events",
            code="parameter_missing",
        )
    endpoint = _guard(
        lambda: store.create_endpoint(
            conn,
            account_id=account_id,
            url=url,
            enabled_events=events,
            skip_sources=_strings(params, "skip_sources") or (),
            description=objects._text(params.get("description"), "description"),
        )
    )
    return endpoint.to_json(include_secret=True)


def _update(
    conn: sa.Connection, account_id: str, endpoint_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    disabled = params.get("disabled")
    endpoint = _guard(
        lambda: store.update_endpoint(
            conn,
            account_id=account_id,
            endpoint_id=endpoint_id,
            url=objects._text(params.get("url"), "url", max_len=2048),
            description=objects._text(params.get("description"), "description"),
            enabled_events=_strings(params, "enabled_events"),
            skip_sources=_strings(params, "skip_sources"),
            disabled=None if disabled is None else objects._bool(disabled, "disabled"),
        )
    )
    return endpoint.to_json()


@router.get("/v1/webhook_endpoints", responses=oa.responses(oa.list_of("WebhookEndpoint"), 404))
def list_endpoints(ctx: Auth, page: PageParams) -> JSONResponse:
    after, before = page.starting_after, page.ending_before
    with ctx.engine.connect() as conn:
        for param, cursor in (("starting_after", after), ("ending_before", before)):
            if (
                cursor is not None
                and store.get_endpoint(conn, account_id=ctx.account_id, endpoint_id=cursor) is None
            ):
                raise not_found("webhook endpoint", cursor, param)
        found, has_more = store.list_endpoints(
            conn,
            account_id=ctx.account_id,
            limit=page.limit,
            starting_after=after,
            ending_before=before,
        )
    return JSONResponse(
        {
            "object": "list",
            "data": [e.to_json() for e in found],
            "has_more": has_more,
            "url": "/v1/webhook_endpoints",
        }
    )


@router.post(
    "/v1/webhook_endpoints",
    responses=oa.responses(oa.ref("WebhookEndpoint"), 404),
    openapi_extra=oa.body(models.WebhookEndpointCreate, required=True),
)
async def create_endpoint(ctx: Auth) -> JSONResponse:
    """The response carries the signing `secret`; it is not shown again."""
    params = await ctx.body(models.WebhookEndpointCreate)
    return await run_in_threadpool(
        write_response, ctx, params, lambda conn, _cause: _create(conn, ctx.account_id, params)
    )


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}", responses=oa.responses(oa.ref("WebhookEndpoint"), 404)
)
def retrieve_endpoint(endpoint_id: str, ctx: Auth) -> JSONResponse:
    with ctx.engine.connect() as conn:
        endpoint = store.get_endpoint(conn, account_id=ctx.account_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint", endpoint_id)
    return JSONResponse(endpoint.to_json())


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}",
    responses=oa.responses(oa.ref("WebhookEndpoint"), 404),
    openapi_extra=oa.body(models.WebhookEndpointUpdate),
)
async def update_endpoint(endpoint_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.WebhookEndpointUpdate)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, _cause: _update(conn, ctx.account_id, endpoint_id, params),
    )


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}", responses=oa.responses(oa.ref("DeletedObject"), 404)
)
def delete_endpoint(endpoint_id: str, ctx: Auth) -> JSONResponse:
    with ctx.engine.begin() as conn:
        existed = store.delete_endpoint(conn, account_id=ctx.account_id, endpoint_id=endpoint_id)
    if not existed:
        raise not_found("webhook endpoint", endpoint_id)
    return JSONResponse({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}/deliveries",
    responses=oa.responses(oa.list_of("WebhookDelivery"), 404),
)
def list_endpoint_deliveries(
    endpoint_id: str,
    ctx: Auth,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Cursor = None,
) -> JSONResponse:
    """The delivery log, newest event first, each with every attempt."""
    with ctx.engine.connect() as conn:
        if store.get_endpoint(conn, account_id=ctx.account_id, endpoint_id=endpoint_id) is None:
            raise not_found("webhook endpoint", endpoint_id)
        page = _deliveries(
            conn, ctx, endpoint=endpoint_id, limit=limit, starting_after=starting_after
        )
    return JSONResponse(page.envelope(f"/v1/webhook_endpoints/{endpoint_id}/deliveries"))


@router.get(
    "/v1/webhook_deliveries",
    responses=oa.responses(oa.list_of("WebhookDelivery"), 404),
    tags=["webhook_deliveries"],
)
def list_deliveries(
    ctx: Auth,
    event: ObjectId = None,
    object_id: ObjectId = None,
    endpoint: ObjectId = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Cursor = None,
) -> JSONResponse:
    """Who was told: the deliveries of one event (`event`), of every event about one object
    (`object_id`), or to one endpoint, newest event first, each with every attempt."""
    with ctx.engine.connect() as conn:
        page = _deliveries(
            conn,
            ctx,
            endpoint=endpoint,
            event=event,
            object_id=object_id,
            limit=limit,
            starting_after=starting_after,
        )
    return JSONResponse(page.envelope("/v1/webhook_deliveries"))


def _deliveries(conn: sa.Connection, ctx: Auth, **filters: Any) -> ListPage:
    try:
        return delivery_log.list_deliveries(conn, ctx.account_id, **filters)
    except CursorNotFound as e:
        raise not_found("webhook delivery", e.object_id, "starting_after") from None


def start_replay(
    conn: sa.Connection,
    account_id: str,
    endpoint_id: str,
    params: dict[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Queue a replay of a time range (`created[gte|gt|lte|lt]`, unix seconds; the end
    defaults to now) or an event range (`from_event`, `to_event` included; the end defaults
    to the latest event). StoreErrors name the parameter."""
    if store.get_endpoint(conn, account_id=account_id, endpoint_id=endpoint_id) is None:
        raise NotFound(f"no such webhook endpoint: {endpoint_id}", param="id")
    created = params.get("created")
    from_event, to_event = params.get("from_event"), params.get("to_event")
    if created is not None and to_event is not None:
        raise InvalidRequest("to_event ends an event range, not a time range", param="to_event")
    if (created is None) == (from_event is None):
        if to_event is not None and created is None:
            raise InvalidRequest("to_event needs from_event", param="from_event")
        raise InvalidRequest(
            "Give a time range (created[gte], created[lt]) or an event range"
            " (from_event, to_event), not both",
            param="created" if created is not None else "from_event",
        )
    try:
        if from_event is not None:
            if to_event is not None and not isinstance(to_event, str):
                raise InvalidRequest("to_event must be an event id", param="to_event")
            result = replay.replay_events(
                conn,
                account_id=account_id,
                endpoint_id=endpoint_id,
                from_event=str(from_event),
                to_event=to_event,
            )
        else:
            since, until = _time_range(created, now or datetime.now(UTC))
            result = replay.replay(
                conn, account_id=account_id, endpoint_id=endpoint_id, since=since, until=until
            )
    except replay.UnknownEvent as e:
        raise NotFound(str(e), param="from_event") from None
    except store.EndpointError as e:
        if str(e).startswith("no such webhook endpoint"):
            raise NotFound(str(e), param="id") from None
        raise InvalidRequest(str(e), param="created" if created else "from_event") from None
    return result.to_json()


def _time_range(created: Any, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) from Stripe-style bounds; seconds are whole, so `lte` ends a second on."""
    if not isinstance(created, dict):
        raise InvalidRequest("created must be a range: created[gte], created[lt]", param="created")

    def bound(name: str) -> int | None:
        value = created.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidRequest(
                f"created[{name}] must be a unix time", param=f"created[{name}]"
            ) from None

    gte, gt, lte, lt = bound("gte"), bound("gt"), bound("lte"), bound("lt")
    start = gte if gte is not None else (gt + 1 if gt is not None else None)
    if start is None:
        raise InvalidRequest(
            "A time range needs its start: created[gte] or created[gt]", param="created[gte]"
        )
    end = lt if lt is not None else (lte + 1 if lte is not None else int(now.timestamp()) + 1)
    try:
        return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest("created is out of range", param="created") from None


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}/replay",
    responses=oa.responses(oa.ref("WebhookReplay"), 404),
    openapi_extra=oa.body(models.WebhookReplayCreate, required=True),
)
async def replay_endpoint(endpoint_id: str, ctx: Auth) -> JSONResponse:
    """Send a range of past events to the endpoint again, as new messages (new `webhook-id`s)
    in a stream of their own, respecting its `enabled_events`; deliveries show in its log with
    their `replay` id."""
    params = await ctx.body(models.WebhookReplayCreate)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, _cause: start_replay(conn, ctx.account_id, endpoint_id, params),
    )
