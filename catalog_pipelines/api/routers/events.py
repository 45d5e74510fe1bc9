"""/v1/events (list, retrieve) and /v1/changes, the reconciliation feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.api.lists import ObjectId, PageParams, list_response, range_params
from catalog_pipelines.store import reads

router = APIRouter(tags=["events"])


@router.get("/v1/events", responses=oa.responses(oa.list_of("Event"), 404))
def list_events(
    ctx: Auth,
    page: PageParams,
    created: Annotated[dict[str, int] | None, Depends(range_params("created"))],
    type: Annotated[str | None, Query(pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")] = None,
    types: Annotated[list[str] | None, Query(alias="types[]", max_length=20)] = None,
    object_id: ObjectId = None,
    after_sequence: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> JSONResponse:
    """Newest first, or, with `after_sequence`, oldest first from that cursor. `type` takes
    `*` wildcards (`product.*`); `types[]` takes exact types."""
    return list_response(
        reads.list_events,
        ctx,
        "/v1/events",
        **page.params(),
        type=type,
        types=types,
        object_id=object_id,
        after_sequence=after_sequence,
        created=created,
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
    after_sequence: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> JSONResponse:
    """Every object change after the cursor, in log order; archives and deletions appear as
    tombstones (`deleted: true`). Resume from `next_after_sequence`; it never skips."""
    try:
        with ctx.engine.connect() as conn:
            page = reads.changes_after(conn, ctx.account_id, after_sequence, limit)
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    return JSONResponse(page.envelope("/v1/changes"))
