"""/v1/products: list, search, create, retrieve (also `?as_of=`), update, delete, `/versions`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, write_response
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.lists import list_response, page_params
from catalog_pipelines.api.params import one, opt_bool, range_filter, string_list
from catalog_pipelines.store import objects, reads
from catalog_pipelines.store.search import SearchQueryError
from catalog_pipelines.times import parse_time

router = APIRouter(tags=["products"])

_PRODUCT_BODY = oa.obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 5000},
        "description": {"type": "string", "maxLength": 5000},
        "active": {"type": "boolean"},
        "images": {"type": "array", "items": {"type": "string", "maxLength": 2000}, "maxItems": 8},
        "metadata": oa.METADATA,
        "url": {"type": "string", "maxLength": 5000},
        "shippable": {"type": "boolean"},
        "tax_code": {"type": "string", "maxLength": 100},
        "unit_label": {"type": "string", "maxLength": 12},
    }
)
_CREATE_BODY = {**_PRODUCT_BODY, "required": ["name"]}
_UPDATE_BODY = oa.obj(
    {**_PRODUCT_BODY["properties"], "default_price": {"type": "string", "maxLength": 255}}
)


@router.get("/v1/products", responses=oa.responses(oa.list_of("Product"), 404))
def list_products(
    ctx: Auth,
    limit: int | None = Query(None, ge=1, le=100),
    starting_after: str | None = None,
    ending_before: str | None = None,
    active: bool | None = None,
    source: str | None = None,
    external_id: str | None = None,
    created_gte: int | None = Query(None, alias="created[gte]", ge=0, le=10**11),
    created_lte: int | None = Query(None, alias="created[lte]", ge=0, le=10**11),
    updated_gt: int | None = Query(None, alias="updated[gt]", ge=0, le=10**11),
    updated_gte: int | None = Query(None, alias="updated[gte]", ge=0, le=10**11),
    updated_lt: int | None = Query(None, alias="updated[lt]", ge=0, le=10**11),
    updated_lte: int | None = Query(None, alias="updated[lte]", ge=0, le=10**11),
) -> JSONResponse:
    """Newest first. Also accepts `created[gt|lt]` and `ids[]` as Stripe does."""
    q = ctx.query()
    return list_response(
        reads.list_products,
        ctx,
        "/v1/products",
        **page_params(q),
        active=opt_bool(q, "active"),
        source=one(q, "source"),
        external_id=one(q, "external_id"),
        ids=string_list(q, "ids"),
        created=range_filter(q, "created"),
        updated=range_filter(q, "updated"),
    )


@router.post(
    "/v1/products",
    responses=oa.responses(oa.ref("Product"), 404, 409),
    openapi_extra=oa.body(_CREATE_BODY, required=True),
)
async def create_product(ctx: Auth) -> JSONResponse:
    params = await ctx.body()
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
    page: str | None = Query(None, max_length=255, description="next_page of the last result"),
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
        None, description="ISO 8601 time or unix seconds: the product as it was then"
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
    openapi_extra=oa.body(_UPDATE_BODY),
)
async def update_product(product_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body()
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
