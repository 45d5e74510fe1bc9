"""Per-request context (engine, authenticated account, request id) and the write path that
honours `Idempotency-Key`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from catalog_pipelines.api import idempotency
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.auth import KeyCache, secret_from_header
from catalog_pipelines.api.auth_failures import AuthFailures
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.params import json_scalars, parse_body_typed, validate_params
from catalog_pipelines.store.events import Cause

# Only for the OpenAPI document (security scheme); the header is checked below.
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer sk_...")


@dataclass
class Ctx:
    engine: sa.Engine
    account_id: str
    request_id: str
    request: Request

    async def body(
        self,
        model: type[BaseModel] | None = None,
        prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The parsed body; with `model`, validated against it (the schema the document
        shows) and typed as it documents."""
        raw = await self.request.body()
        data, is_json = parse_body_typed(raw, self.request.headers.get("content-type"))
        if prepare is not None:  # a route's own spelling of a value, e.g. owns=a,b
            data = prepare(data)
        if model is not None:
            return validate_params(model, data, form=not is_json, schema=oa.body_schema(model))
        return json_scalars(data) if is_json else data


def _request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = "req_" + secrets.token_hex(12)
        request.state.request_id = rid
    return rid


async def context(request: Request, _: Annotated[Any, Depends(bearer)]) -> Ctx:
    """Authenticate the caller; every handler gets its account only from here.

    Async, so that a key in the cache costs no threadpool round trip (FastAPI runs a sync
    dependency in a worker thread); only a cache miss queries the database, off the loop."""
    engine: sa.Engine = request.app.state.engine
    keys: KeyCache = request.app.state.keys
    secret = secret_from_header(request.headers.get("authorization"))
    if secret is None:
        raise ApiError(
            401,
            "You did not provide an API key. Send it as 'Authorization: Bearer sk_...'.",
            headers={"WWW-Authenticate": 'Bearer realm="catalog"'},
        )
    failures: AuthFailures = request.app.state.auth_failures
    address = request.client.host if request.client else "unknown"
    retry_after = await failures.blocked_for(address)
    if retry_after is not None:
        raise ApiError(
            429,
            "Too many requests with invalid API keys from this address; retry later.",
            code="rate_limit",
            headers={"Retry-After": str(retry_after)},
        )
    account = None
    if len(secret) <= 200:
        account = keys.cached(secret) or await run_in_threadpool(keys.account_for, engine, secret)
    if account is None:
        await failures.failed(address)
        raise ApiError(
            401,
            "Invalid API Key provided.",
            code="api_key_invalid",
            headers={"WWW-Authenticate": 'Bearer realm="catalog"'},
        )
    return Ctx(engine=engine, account_id=account, request_id=_request_id(request), request=request)


Auth = Annotated[Ctx, Depends(context)]


def write_response(
    ctx: Ctx,
    params: dict[str, Any],
    write: Callable[[sa.Connection, Cause], dict[str, Any]],
    *,
    one_statement: bool = False,
) -> JSONResponse:
    """Run one write in one transaction; with an Idempotency-Key, at most once per key.

    `one_statement` writes (a whole change in a single SQL statement) run in autocommit
    without a key: the row lock they take is then released by the server at the end of the
    statement, not a client round trip (and a GIL wait) later, which is what bounds the
    throughput of many concurrent sales of one SKU."""
    key = ctx.request.headers.get("idempotency-key")
    headers = {"Request-Id": ctx.request_id}
    if key is None:
        if one_statement:
            with ctx.engine.connect() as conn:
                auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                result = write(auto, Cause(request_id=ctx.request_id))
        else:
            with ctx.engine.begin() as conn:
                result = write(conn, Cause(request_id=ctx.request_id))
        return JSONResponse(result, headers=headers)
    if not 1 <= len(key) <= 255:
        raise ApiError(400, "Idempotency-Key must be 1 to 255 characters", param="Idempotency-Key")
    try:
        outcome = idempotency.run_once(
            ctx.engine,
            account_id=ctx.account_id,
            key=key,
            method=ctx.request.method,
            path=ctx.request.url.path,
            params=params,
            request_id=ctx.request_id,
            write=lambda conn, cause: (200, write(conn, cause)),
        )
    except idempotency.IdempotencyMismatch as e:
        raise ApiError(
            400, str(e), type="idempotency_error", code="idempotency_key_in_use"
        ) from None
    headers["Idempotency-Key"] = key
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    if outcome.status >= 400:
        headers["Stripe-Should-Retry"] = "false"
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def retrieve(
    ctx: Ctx,
    get: Callable[[sa.Connection, str, str], dict[str, Any] | None],
    object_id: str,
    kind: str,
    param: str = "id",
) -> JSONResponse:
    """GET one object of the key's account, or Stripe's 404 `resource_missing`."""
    with ctx.engine.connect() as conn:
        obj = get(conn, ctx.account_id, object_id)
    if obj is None:
        raise not_found(kind, object_id, param)
    return JSONResponse(obj)
