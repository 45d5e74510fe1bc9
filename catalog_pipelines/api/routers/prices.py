"""/v1/prices: list, create, retrieve, update (amount and currency are immutable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve, write_response
from catalog_pipelines.api.lists import ObjectId, PageParams, list_response, range_params
from catalog_pipelines.store import objects, reads

router = APIRouter(tags=["prices"])


@router.get("/v1/prices", responses=oa.responses(oa.list_of("Price"), 404))
def list_prices(
    ctx: Auth,
    page: PageParams,
    created: Annotated[dict[str, int] | None, Depends(range_params("created"))],
    updated: Annotated[dict[str, int] | None, Depends(range_params("updated"))],
    product: ObjectId = None,
    active: bool | None = None,
    currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")] = None,
    type: Annotated[str | None, Query(pattern="^(one_time|recurring)$")] = None,
    lookup_keys: Annotated[list[str] | None, Query(alias="lookup_keys[]", max_length=10)] = None,
) -> JSONResponse:
    """Newest first."""
    return list_response(
        reads.list_prices,
        ctx,
        "/v1/prices",
        **page.params(),
        product=product,
        active=active,
        lookup_keys=lookup_keys,
        currency=currency,
        type=type,
        created=created,
        updated=updated,
    )


@router.post(
    "/v1/prices",
    responses=oa.responses(oa.ref("Price"), 404, 409),
    openapi_extra=oa.body(models.PriceCreate, required=True),
)
async def create_price(ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.PriceCreate)
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
    openapi_extra=oa.body(models.PriceUpdate),
)
async def update_price(price_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.PriceUpdate)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: objects.update_price(conn, ctx.account_id, price_id, params, cause),
    )
