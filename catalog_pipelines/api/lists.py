"""Stripe list endpoints: the declared paging and range parameters every list takes, and the
list envelope. Every query parameter is declared (so the OpenAPI document shows exactly what
the server reads) and validated by FastAPI before a handler runs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import JSONResponse

from catalog_pipelines.api.deps import Ctx
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.store import reads

MAX_TIMESTAMP = 10**11  # unix seconds; year 5138
# Object ids (prod_..., evt_...); text filters hold anything PostgreSQL can store (no NUL).
ObjectId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{1,255}$")]
Cursor = ObjectId
Text = Annotated[str | None, Query(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]


@dataclass(frozen=True)
class Page:
    """`limit` (1-100, default 10), `starting_after` and `ending_before`."""

    limit: int
    starting_after: str | None
    ending_before: str | None

    def params(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "starting_after": self.starting_after,
            "ending_before": self.ending_before,
        }


def _page(
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
) -> Page:
    return Page(limit, starting_after, ending_before)


PageParams = Annotated[Page, Depends(_page)]


def range_params(name: str) -> Callable[..., dict[str, int] | None]:
    """A dependency that declares `name` (an exact second) and `name[gt|gte|lt|lte]` (unix
    seconds) and returns the range filter the store takes, or None."""
    ops = ("gt", "gte", "lt", "lte")

    def dependency(**values: int | None) -> dict[str, int] | None:
        exact = values["exact"]
        out = {op: v for op in ops if (v := values[op]) is not None}
        if exact is not None:
            out.update(gte=exact, lte=exact)
        return out or None

    parameters = [
        inspect.Parameter(
            "exact",
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(
                None, alias=name, description=f"{name} at this unix second", ge=0, le=MAX_TIMESTAMP
            ),
            annotation=int | None,
        ),
        *(
            inspect.Parameter(
                op,
                inspect.Parameter.KEYWORD_ONLY,
                default=Query(None, alias=f"{name}[{op}]", ge=0, le=MAX_TIMESTAMP),
                annotation=int | None,
            )
            for op in ops
        ),
    ]
    dependency.__signature__ = inspect.Signature(parameters, return_annotation=dict | None)  # type: ignore[attr-defined]
    dependency.__name__ = f"{name}_range"
    return dependency


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
