"""/dashboard/imports: every import run of the account (CLI, API, inbox, Dagster, dashboard,
schedule, revert), newest first, with its counts, and a link to its Dagster run when it had
one and CATALOG_DAGSTER_UI_URL says where the Dagster UI is. Reads `runs.list_runs`, as
GET /v1/import_runs does."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.store import reads, runs
from catalog_pipelines.store.sources import list_sources

router = APIRouter()
PAGE_SIZE = 25
DAGSTER_UI_ENV = "CATALOG_DAGSTER_UI_URL"


def dagster_link(run: dict[str, Any]) -> str | None:
    """`{CATALOG_DAGSTER_UI_URL}/runs/{id}` for a run Dagster ran, when the UI is known."""
    base = os.environ.get(DAGSTER_UI_ENV, "").strip().rstrip("/")
    run_id = run.get("dagster_run")
    if not base or not run_id or not base.startswith(("http://", "https://")):
        return None
    return f"{base}/runs/{quote(str(run_id), safe='')}"


def took(run: dict[str, Any]) -> str:
    """How long the run took; the run object has whole seconds, so no false precision."""
    if run.get("finished") is None:
        return "—"
    spent = int(run["finished"]) - int(run["created"])
    if spent < 1:
        return "under 1 s"
    return f"{spent} s" if spent < 60 else f"{spent // 60} min {spent % 60} s"


def _link(source: str, **cursor: str) -> str:
    params = {"source": source, **cursor}
    return PREFIX + "/imports?" + urlencode({k: v for k, v in params.items() if v})


def _listing(page: Page, source: str, after: str | None, before: str | None) -> dict[str, Any]:
    with page.engine.connect() as conn:
        try:
            found = runs.list_runs(
                conn,
                page.account_id,
                limit=PAGE_SIZE,
                starting_after=after,
                ending_before=before,
                source=source or None,
            )
        except reads.CursorNotFound:
            raise DashboardError(
                404, "Page not found", "That page of import runs does not exist."
            ) from None
        names = sorted(s.name for s in list_sources(conn, page.account_id))
    data = found.data
    backwards = before is not None and after is None
    has_older = True if backwards else found.has_more
    has_newer = after is not None or (backwards and found.has_more)
    return {
        "runs": [{**r, "dagster_url": dagster_link(r), "took": took(r)} for r in data],
        "source": source,
        "sources": names,
        "older": _link(source, after=data[-1]["id"]) if data and has_older else None,
        "newer": _link(source, before=data[0]["id"]) if data and has_newer else None,
    }


@router.get(PREFIX + "/imports")
async def import_runs(
    page: Page, source: str = "", after: str | None = None, before: str | None = None
) -> Response:
    ctx = await run_in_threadpool(_listing, page, source[:64], after, before)
    return page.render("runs.html", **ctx)
