"""Stripe list endpoints: the paging parameters every list takes, and the list envelope."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from catalog_pipelines.api.deps import Ctx
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.api.params import one, opt_int
from catalog_pipelines.store import reads


def page_params(q: dict[str, Any]) -> dict[str, Any]:
    """`limit` (1-100, default 10), `starting_after` and `ending_before` from the query."""
    return {
        "limit": opt_int(q, "limit", minimum=1, maximum=100) or 10,
        "starting_after": one(q, "starting_after"),
        "ending_before": one(q, "ending_before"),
    }


def list_response(fn: Any, ctx: Ctx, url: str, **kwargs: Any) -> JSONResponse:
    """`fn(conn, account_id, **kwargs)`'s page as a list envelope: a cursor that names no
    object is a 404, a filter the store refuses a 400."""
    try:
        with ctx.engine.connect() as conn:
            page = fn(conn, ctx.account_id, **kwargs)
    except reads.CursorNotFound as e:
        raise ApiError(404, str(e), code="resource_missing", param=e.param) from None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    return JSONResponse(page.envelope(url))
