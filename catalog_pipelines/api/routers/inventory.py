"""/v1/inventory_items?product=: a product's items (its stock per SKU).
/v1/inventory_items/{sku}: retrieve, `adjust` (a delta) and `set` (optionally
compare-and-set), both with `Idempotency-Key`.

`{sku}` is the item's SKU, percent-encoded (`a%2Fb` for `a/b`), or its `inv_` id. The route
takes the rest of the path (`{sku:path}`), since a decoded SKU may contain `/`.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve, write_response
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.api.lists import PageParams, list_response
from catalog_pipelines.store import inventory, objects, reads

router = APIRouter(tags=["inventory"])


def _int_param(params: dict[str, Any], name: str, *, required: bool) -> int | None:
    if params.get(name) in (None, ""):
        if required:
            raise ApiError(
                400, f"Missing required param: {name}.", code="parameter_missing", param=name
            )
        return None
    return objects._int(params[name], name)


async def _sku(ctx: Auth, key: str) -> str:
    """The SKU the path names (an `inv_` id resolves to its item's SKU)."""
    if not key.startswith("inv_"):
        return key  # the common case costs no query, and no thread hop
    return await run_in_threadpool(_sku_of_id, ctx, key)


def _sku_of_id(ctx: Auth, key: str) -> str:
    with ctx.engine.connect() as conn:
        return reads.inventory_sku(conn, ctx.account_id, key)


@router.get("/v1/inventory_items", responses=oa.responses(oa.list_of("InventoryItem"), 404))
def list_inventory_items(
    ctx: Auth,
    page: PageParams,
    product: Annotated[str, Query(pattern=r"^[A-Za-z0-9_]{1,255}$")],
) -> JSONResponse:
    """The product's inventory items, newest first (empty for an unknown product)."""
    return list_response(
        reads.list_inventory_items, ctx, "/v1/inventory_items", **page.params(), product=product
    )


@router.get("/v1/inventory_items/{sku:path}", responses=oa.responses(oa.ref("InventoryItem"), 404))
def retrieve_inventory_item(sku: str, ctx: Auth) -> JSONResponse:
    return retrieve(ctx, reads.get_inventory_item, sku, "inventory item", "sku")


@router.post(
    "/v1/inventory_items/{sku:path}/adjust",
    responses=oa.responses(oa.ref("InventoryItem"), 404, 409),
    openapi_extra=oa.body(models.InventoryAdjust, required=True),
)
async def adjust(sku: str, ctx: Auth) -> JSONResponse:
    """Add `delta` (negative for a sale). 409 `insufficient_inventory` rather than oversell."""
    params = await ctx.body(models.InventoryAdjust)
    delta = _int_param(params, "delta", required=True)
    assert delta is not None
    sku = await _sku(ctx, sku)

    def write(conn: Any, cause: Any) -> dict[str, Any]:
        return inventory.adjust(
            conn,
            ctx.account_id,
            sku,
            delta,
            reason=params.get("reason"),
            reference=params.get("reference"),
            cause=cause,
        )

    return await run_in_threadpool(
        functools.partial(write_response, one_statement=True), ctx, params, write
    )


@router.post(
    "/v1/inventory_items/{sku:path}/set",
    responses=oa.responses(oa.ref("InventoryItem"), 404, 409),
    openapi_extra=oa.body(models.InventorySet, required=True),
)
async def set_quantity(sku: str, ctx: Auth) -> JSONResponse:
    """Set the quantity; with `expected_quantity`, only if it is still that (409 otherwise)."""
    params = await ctx.body(models.InventorySet)
    quantity = _int_param(params, "quantity", required=True)
    expected = _int_param(params, "expected_quantity", required=False)
    assert quantity is not None
    sku = await _sku(ctx, sku)

    def write(conn: Any, cause: Any) -> dict[str, Any]:
        return inventory.set_quantity(
            conn,
            ctx.account_id,
            sku,
            quantity,
            expected_quantity=expected,
            reason=params.get("reason"),
            reference=params.get("reference"),
            cause=cause,
        )

    return await run_in_threadpool(write_response, ctx, params, write)
