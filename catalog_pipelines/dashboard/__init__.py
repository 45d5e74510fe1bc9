"""The merchant dashboard under /dashboard: server-rendered pages (Jinja2, a little vendored
htmx) over the same store functions the /v1 API uses. `install(app)` mounts it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from catalog_pipelines.dashboard import web
from catalog_pipelines.dashboard.pages import (
    auth,
    home,
    import_new,
    import_run,
    product,
    products,
    runs,
    sources,
    webhooks,
)

# import_new before import_run: /imports/new must not be read as a run id.
PAGES = (
    auth,
    home,
    sources,
    webhooks,
    products,
    product,
    runs,
    import_new,
    import_run,
)
UPLOAD_PATH = import_new.UPLOAD_PATH


def install(app: FastAPI) -> None:
    app.mount(
        web.PREFIX + "/static", StaticFiles(directory=web.HERE / "static"), name="dashboard-static"
    )
    for module in PAGES:
        app.include_router(module.router, include_in_schema=False)

    @app.exception_handler(web.SignInRequired)
    async def _sign_in(request: Request, exc: web.SignInRequired) -> Response:
        who = web.visitor(request)
        return who.redirect(f"{web.PREFIX}/login?next={quote(exc.next_path)}")

    @app.exception_handler(web.DashboardError)
    async def _error(request: Request, exc: web.DashboardError) -> Response:
        return web.error_page(request, exc.status, exc.title, exc.message)


def is_dashboard(path: str) -> bool:
    return path == web.PREFIX or path.startswith(web.PREFIX + "/")


def not_found(request: Request) -> Response:
    return web.error_page(
        request, 404, "Page not found", "There is no such page, or it belongs to another account."
    )
