"""The ASGI app: `create_app(engine=None)` wires routers, auth, Stripe-shaped errors and the
OpenAPI document. Handlers are synchronous SQL on a pooled engine, run in the threadpool.

While the database is unreachable, or frozen, every request gets 503 with `Retry-After`
within the bounds of db_timeouts.py; the pool pre-pings and reconnects, so the app recovers
by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog_pipelines import dashboard, db
from catalog_pipelines.api import front_door, idempotency
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.auth import KeyCache
from catalog_pipelines.api.auth_failures import AuthFailures
from catalog_pipelines.api.body_limit import BodyLimit, BodyTooLarge
from catalog_pipelines.api.errors import ApiError, error_body, error_response
from catalog_pipelines.api.routers import (
    events,
    files,
    import_runs,
    incoming_shopify,
    inventory,
    mapping_suggestions,
    prices,
    products,
    sources,
    webhook_endpoints,
)
from catalog_pipelines.api.routing import IndexedListParams, allowed_methods
from catalog_pipelines.db_timeouts import DbTimeouts, bound_engine, ping_when_idle
from catalog_pipelines.store.errors import StoreError

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 3600.0
_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    psycopg.OperationalError,
)


def api_engine(url: str | None = None, timeouts: DbTimeouts | None = None) -> sa.Engine:
    """A pool sized for the threadpool, where every wait on the database is bounded
    (db_timeouts.py: connect, statement, each round trip, the pool; all from the environment).
    Only connections idle for a while are pre-pinged: a ping per request was a second round
    trip on every write's hot path."""
    bounds = timeouts or DbTimeouts.from_env()
    engine = db.make_engine(
        url,
        pool_size=16,
        max_overflow=16,
        pool_timeout=bounds.pool,
        pool_pre_ping=False,
        connect_args=bounds.connect_args(db.SESSION_OPTIONS),
    )
    bound_engine(engine, bounds)
    ping_when_idle(engine)
    return engine


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _purge_loop(engine: sa.Engine) -> None:
    """Forget idempotency keys older than 24 h, hourly; a DB outage just skips a round."""
    while True:
        try:
            await asyncio.to_thread(idempotency.purge, engine)
        except Exception as e:  # noqa: BLE001 - keep purging on the next round
            log.warning("idempotency purge failed: %s", e)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)


def create_app(engine: sa.Engine | None = None) -> FastAPI:
    """The catalog API; `engine` defaults to DATABASE_URL (or the embedded server)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_purge_loop(app.state.engine))
        files_task = asyncio.create_task(files.purge_loop(app))
        try:
            yield
        finally:
            task.cancel()
            files_task.cancel()

    # /docs and /redoc load Swagger UI and ReDoc from the package, not a CDN: they work offline.
    app = FastAPIOffline(
        title="catalog-sync API",
        version="1",
        description="A Stripe-compatible catalog: products, prices, inventory, events.",
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    app.add_middleware(IndexedListParams)
    app.state.engine = engine if engine is not None else api_engine()
    app.state.keys = KeyCache()
    front_door.install(app)
    dashboard.install(app)
    app.state.auth_failures = AuthFailures(app.state.engine)
    for module in (
        products,
        prices,
        inventory,
        events,
        webhook_endpoints,
        incoming_shopify,
        sources,
        mapping_suggestions,
        files,
        import_runs,
    ):
        app.include_router(module.router)
    app.add_middleware(
        BodyLimit,
        routes=[
            (incoming_shopify.INCOMING_PREFIX, incoming_shopify.INCOMING_MAX_BODY),
            ("/v1/files", files.body_limit()),
            (dashboard.UPLOAD_PATH, files.body_limit()),  # the dashboard's file upload
        ],
    )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), type="invalid_request_error", code="body_too_large"),
            status_code=413,
            headers={"Connection": "close"},
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc, _request_id(request))

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        response = error_response(exc, _request_id(request))
        if exc.status == 409:  # the stripe client retries 409s unless told not to
            response.headers["Stripe-Should-Retry"] = "false"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "header", "body")]
        param = loc[0] if loc else None
        message = (
            f"Invalid {param}: {first.get('msg', 'invalid value')}" if param else "Invalid request"
        )
        return JSONResponse(
            error_body(
                message, type="invalid_request_error", code="parameter_invalid", param=param
            ),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if dashboard.is_dashboard(request.url.path) and exc.status_code in (404, 405):
            return dashboard.not_found(request)
        if exc.status_code == 404:
            message = f"Unrecognized request URL ({request.method}: {request.url.path})."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return JSONResponse(
            error_body(message, type="invalid_request_error"),
            status_code=exc.status_code,
            headers=headers,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            error_body(
                "The catalog database is unreachable. Nothing was changed; retry shortly.",
                type="api_error",
                code="database_unavailable",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for exc_type in _UNAVAILABLE:
        app.add_exception_handler(exc_type, _unavailable)

    @app.exception_handler(sa.exc.IntegrityError)
    async def _integrity(request: Request, exc: sa.exc.IntegrityError) -> JSONResponse:
        # A concurrent write took a unique value (lookup_key, SKU) between check and insert.
        return JSONResponse(
            error_body(
                "The request conflicts with a concurrent change; retry it.",
                type="invalid_request_error",
                code="conflict",
            ),
            status_code=409,
        )

    @app.exception_handler(sa.exc.DataError)
    async def _data(request: Request, exc: sa.exc.DataError) -> JSONResponse:
        return JSONResponse(
            error_body(
                "A value is out of range or malformed.",
                type="invalid_request_error",
                code="parameter_invalid",
            ),
            status_code=400,
        )

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {}).update(oa.SCHEMAS)
        # FastAPI's own 422 model is never sent (validation errors become Stripe's 400).
        for path in schema.get("paths", {}).values():
            for op in path.values():
                op.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
