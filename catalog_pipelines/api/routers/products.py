"""/v1/products: list, search, create, retrieve (also `?as_of=`), update, delete, `/versions`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, write_response
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.lists import Cursor, PageParams, Text, list_response, range_params
from catalog_pipelines.store import objects, reads
from catalog_pipelines.store.search import SearchQueryError
from catalog_pipelines.times import parse_time

router = APIRouter(tags=["products"])

# unix seconds, or an ISO 8601 date or time (UTC unless it carries an offset)
AS_OF_PATTERN = (
    r"^(\d{1,11}|[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?)$"
)


@router.get("/v1/products", responses=oa.responses(oa.list_of("Product"), 404))
def list_products(
    ctx: Auth,
    page: PageParams,
    created: Annotated[dict[str, int] | None, Depends(range_params("created"))],
    updated: Annotated[dict[str, int] | None, Depends(range_params("updated"))],
    active: bool | None = None,
    source: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
    external_id: Text = None,
    ids: Annotated[list[str] | None, Query(alias="ids[]", max_length=100)] = None,
) -> JSONResponse:
    """Newest first."""
    return list_response(
        reads.list_products,
        ctx,
        "/v1/products",
        **page.params(),
        active=active,
        source=source,
        external_id=external_id,
        ids=ids,
        created=created,
        updated=updated,
    )


@router.post(
    "/v1/products",
    responses=oa.responses(oa.ref("Product"), 404, 409),
    openapi_extra=oa.body(models.ProductCreate, required=True),
)
async def create_product(ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.ProductCreate)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: objects.create_product(conn, ctx.account_id, params, cause),
    )


@router.get("/v1/products/search", responses=oa.responses(oa.search_of("Product"), 404))
def search_products(
    ctx: Auth,
    query: str = Query(
        ...,
        min_length=1,
        max_length=1000,
        description='Stripe\'s search language, e.g. name~"shirt" AND metadata["brand"]:"acme"',
    ),
    limit: int = Query(10, ge=1, le=100),
    page: Cursor = None,
) -> JSONResponse:
    """Products matching `query`, newest first (a subset of Stripe's search: see the docs)."""
    try:
        with ctx.engine.connect() as conn:
            result = reads.search_products(conn, ctx.account_id, query, limit=limit, page=page)
    except SearchQueryError as e:
        raise ApiError(400, f"Invalid search query: {e}", param="query") from None
    except reads.CursorNotFound:
        raise ApiError(400, f"Invalid page: {page!r}", param="page") from None
    return JSONResponse(
        {
            "object": "search_result",
            "url": "/v1/products/search",
            "has_more": result.has_more,
            "data": result.data,
            "next_page": result.data[-1]["id"] if result.has_more else None,
        }
    )


def _as_of(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as e:
        raise ApiError(400, f"Invalid as_of: {e}", param="as_of") from None


@router.get("/v1/products/{product_id}", responses=oa.responses(oa.ref("Product"), 404))
def retrieve_product(
    product_id: str,
    ctx: Auth,
    as_of: str | None = Query(
        None,
        pattern=AS_OF_PATTERN,
        description="ISO 8601 time or unix seconds: the product as it was then",
    ),
) -> JSONResponse:
    with ctx.engine.connect() as conn:
        if as_of is None:
            obj = reads.get_product(conn, ctx.account_id, product_id)
        else:
            obj = reads.product_as_of(conn, ctx.account_id, product_id, _as_of(as_of))
            if obj is None and reads.get_product(conn, ctx.account_id, product_id) is not None:
                raise ApiError(
                    404,
                    f"Product '{product_id}' did not exist at {as_of}",
                    code="resource_missing",
                    param="as_of",
                )
    if obj is None:
        raise not_found("product", product_id)
    return JSONResponse(obj)


@router.post(
    "/v1/products/{product_id}",
    responses=oa.responses(oa.ref("Product"), 404, 409),
    openapi_extra=oa.body(models.ProductUpdate),
)
async def update_product(product_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.ProductUpdate)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: objects.update_product(conn, ctx.account_id, product_id, params, cause),
    )


@router.delete(
    "/v1/products/{product_id}", responses=oa.responses(oa.ref("DeletedObject"), 400, 404, 409)
)
def delete_product(product_id: str, ctx: Auth) -> JSONResponse:
    """Stripe's rule: only a product without prices can be deleted (archive it otherwise)."""
    return write_response(
        ctx,
        {},
        lambda conn, cause: objects.delete_product(conn, ctx.account_id, product_id, cause),
    )


@router.get(
    "/v1/products/{product_id}/versions",
    responses=oa.responses(oa.list_of("ProductVersion"), 404),
)
def product_versions(product_id: str, ctx: Auth) -> JSONResponse:
    """Every version of the product, oldest first, with what changed and who changed it."""
    with ctx.engine.connect() as conn:
        history = reads.product_history(conn, ctx.account_id, product_id)
    if not history:
        raise not_found("product", product_id)
    url = f"/v1/products/{product_id}/versions"
    return JSONResponse(reads.ListPage(history, False).envelope(url))
