"""/v1/prices: list, create, retrieve, update (amount and currency are immutable)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve, write_response
from catalog_pipelines.api.lists import list_response, page_params
from catalog_pipelines.api.params import one, opt_bool, range_filter, string_list
from catalog_pipelines.store import objects, reads

router = APIRouter(tags=["prices"])

_CREATE_BODY = oa.obj(
    {
        "product": {"type": "string", "maxLength": 255},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
        "unit_amount": {"type": "integer", "minimum": 0, "maximum": 99999999},
        "active": {"type": "boolean"},
        "nickname": {"type": "string", "maxLength": 500},
        "lookup_key": {"type": "string", "maxLength": 200},
        "transfer_lookup_key": {"type": "boolean"},
        "metadata": oa.METADATA,
    },
    ("product", "currency", "unit_amount"),
)
_UPDATE_BODY = oa.obj(
    {
        "active": {"type": "boolean"},
        "nickname": {"type": "string", "maxLength": 500},
        "lookup_key": {"type": "string", "maxLength": 200},
        "transfer_lookup_key": {"type": "boolean"},
        "metadata": oa.METADATA,
    }
)


@router.get("/v1/prices", responses=oa.responses(oa.list_of("Price"), 404))
def list_prices(
    ctx: Auth,
    limit: int | None = Query(None, ge=1, le=100),
    starting_after: str | None = None,
    ending_before: str | None = None,
    product: str | None = None,
    active: bool | None = None,
    currency: str | None = Query(None, pattern="^[A-Za-z]{3}$"),
    type: str | None = Query(None, pattern="^(one_time|recurring)$"),
    updated_gte: int | None = Query(None, alias="updated[gte]", ge=0, le=10**11),
    updated_lt: int | None = Query(None, alias="updated[lt]", ge=0, le=10**11),
) -> JSONResponse:
    """Newest first; also `lookup_keys[]`, `created[...]` and `updated[gt|lte]`."""
    q = ctx.query()
    return list_response(
        reads.list_prices,
        ctx,
        "/v1/prices",
        **page_params(q),
        product=one(q, "product"),
        active=opt_bool(q, "active"),
        lookup_keys=string_list(q, "lookup_keys"),
        currency=one(q, "currency"),
        type=one(q, "type"),
        created=range_filter(q, "created"),
        updated=range_filter(q, "updated"),
    )


@router.post(
    "/v1/prices",
    responses=oa.responses(oa.ref("Price"), 404, 409),
    openapi_extra=oa.body(_CREATE_BODY, required=True),
)
async def create_price(ctx: Auth) -> JSONResponse:
    params = await ctx.body()
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: objects.create_price(conn, ctx.account_id, params, cause),
    )


@router.get("/v1/prices/{price_id}", responses=oa.responses(oa.ref("Price"), 404))
def retrieve_price(price_id: str, ctx: Auth) -> JSONResponse:
    return retrieve(ctx, reads.get_price, price_id, "price")


@router.post(
    "/v1/prices/{price_id}",
    responses=oa.responses(oa.ref("Price"), 404, 409),
    openapi_extra=oa.body(_UPDATE_BODY),
)
async def update_price(price_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body()
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: objects.update_price(conn, ctx.account_id, price_id, params, cause),
    )
