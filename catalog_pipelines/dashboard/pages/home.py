"""/dashboard: where a signed-in merchant lands: what is in the catalog, the last runs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.dashboard.web import PREFIX, Page
from catalog_pipelines.store import runs

router = APIRouter()

_COUNTS = sa.text(
    "SELECT"
    " (SELECT count(*) FROM products WHERE account_id = :account AND active) AS active,"
    " (SELECT count(*) FROM products WHERE account_id = :account AND NOT active) AS archived,"
    " (SELECT count(*) FROM sources WHERE account_id = :account) AS sources,"
    " (SELECT count(*) FROM webhook_endpoints WHERE account_id = :account) AS endpoints"
)


def _overview(page: Page) -> dict[str, Any]:
    with page.engine.connect() as conn:
        counts = conn.execute(_COUNTS, {"account": page.account_id}).one()._asdict()
        recent = runs.list_runs(conn, page.account_id, limit=5).data
    return {"counts": counts, "recent": recent}


@router.get(PREFIX)
@router.get(PREFIX + "/")
async def home(page: Page) -> Response:
    return page.render("home.html", **await run_in_threadpool(_overview, page))
