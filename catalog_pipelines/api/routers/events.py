"""/v1/events (list, retrieve) and /v1/changes, the reconciliation feed."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.api.lists import list_response, page_params
from catalog_pipelines.api.params import one, opt_int, range_filter, string_list
from catalog_pipelines.store import reads

router = APIRouter(tags=["events"])


@router.get("/v1/events", responses=oa.responses(oa.list_of("Event"), 404))
def list_events(
    ctx: Auth,
    limit: int | None = Query(None, ge=1, le=100),
    starting_after: str | None = None,
    ending_before: str | None = None,
    type: str | None = Query(None, pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$"),
    object_id: str | None = None,
    after_sequence: int | None = Query(None, ge=0, le=2**62),
    created_gte: int | None = Query(None, alias="created[gte]", ge=0, le=10**11),
    created_lt: int | None = Query(None, alias="created[lt]", ge=0, le=10**11),
) -> JSONResponse:
    """Newest first, or, with `after_sequence`, oldest first from that cursor. `type` takes
    `*` wildcards (`product.*`); `types[]` takes exact types."""
    q = ctx.query()
    return list_response(
        reads.list_events,
        ctx,
        "/v1/events",
        **page_params(q),
        type=one(q, "type"),
        types=string_list(q, "types"),
        object_id=one(q, "object_id"),
        after_sequence=opt_int(q, "after_sequence", maximum=2**62),
        created=range_filter(q, "created"),
    )


@router.get("/v1/events/{event_id}", responses=oa.responses(oa.ref("Event"), 404))
def retrieve_event(event_id: str, ctx: Auth) -> JSONResponse:
    return retrieve(ctx, reads.get_event, event_id, "event")


@router.get(
    "/v1/changes",
    responses=oa.responses(oa.list_of("Change", next_after_sequence={"type": "integer"})),
)
def changes(
    ctx: Auth,
    after_sequence: int = Query(0, ge=0, le=2**62),
    limit: int | None = Query(None, ge=1, le=100),
) -> JSONResponse:
    """Every object change after the cursor, in log order; archives appear as tombstones
    (`deleted: true`). Resume from `next_after_sequence`; it never skips a change."""
    q = ctx.query()
    after = opt_int(q, "after_sequence", maximum=2**62) or 0
    lim = opt_int(q, "limit", minimum=1, maximum=100) or 100
    try:
        with ctx.engine.connect() as conn:
            page = reads.changes_after(conn, ctx.account_id, after, lim)
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    return JSONResponse(page.envelope("/v1/changes"))
