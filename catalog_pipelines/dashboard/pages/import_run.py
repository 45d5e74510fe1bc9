"""Import a file, steps 3 to 5: the preview (a dry run) and the applied run on one page
(/dashboard/imports/{run_id}) with a live progress bar, Apply, the rejects as CSV, and
"Revert this import" (a preview first, then the revert run).

The same library calls as the API: GET /v1/import_runs/{id} (store.runs), POST
/v1/import_runs (import_jobs.start_import, in-process), GET .../rejects.csv (rejects_csv) and
POST .../revert (store.revert)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines import files, import_jobs, rejects_csv
from catalog_pipelines.api.routers.files import settings as file_settings
from catalog_pipelines.dashboard import changes
from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.importer import ImportOptions
from catalog_pipelines.store import revert, runs
from catalog_pipelines.store import sources as source_store
from catalog_pipelines.store.errors import StoreError

router = APIRouter()

REJECTS_SHOWN = 50
KINDS = (("products", "Products"), ("prices", "Prices"), ("inventory_items", "Stock items"))
ACTIONS = ("created", "updated", "unchanged", "archived")
_MISSING = (
    "There is no such import run, or it belongs to another account.",
    "Import run not found",
)


def _run(page: Page, run_id: str) -> dict[str, Any]:
    with page.engine.connect() as conn:
        run = runs.get_run(conn, page.account_id, run_id)
    if run is None:
        raise DashboardError(404, _MISSING[1], _MISSING[0])
    return run


def _details(page: Page, run: dict[str, Any]) -> dict[str, Any]:
    with page.engine.connect() as conn:
        rejected = runs.rejected_rows(conn, page.account_id, run["id"]) or []
        source = source_store.get_source(conn, page.account_id, run["source"])
        revert_ids = [
            p
            for c in run["changes"]
            if run["mode"] == "revert"
            for p in (c.get("fields") or {}).get("default_price", [])
            if p
        ]
        known = changes.amounts(conn, page.account_id, revert_ids) if revert_ids else {}
    rejects = [
        {
            "row": r.row_number,
            "fields": ", ".join(rejects_csv.reason_fields(r.reasons)),
            "reasons": r.reasons,
        }
        for r in rejected[:REJECTS_SHOWN]
    ]
    refused = run["outcome"] == "refused"
    archived = (run.get("products") or {}).get("archived", 0)
    guard = {
        "refused": refused,
        "message": run["error"]
        if refused
        else (
            f"passes: {archived} product(s) would be archived"
            if run["dry_run"]
            else f"passed: {archived} product(s) archived"
        ),
        "limit": int(ImportOptions.max_archive_fraction * 100),
    }
    return {
        "run": run,
        "kinds": KINDS,
        "actions": ACTIONS,
        "rows": changes.rows(run["changes"], known),
        "rejects": rejects,
        "more_rejects": max(0, len(rejected) - REJECTS_SHOWN),
        "source": source,
        "owns": ", ".join(sorted(source.owns)) if source else "",
        "guard": guard,
    }


@router.get(PREFIX + "/imports/{run_id}")
async def run_page(page: Page, run_id: str) -> Response:
    run = await run_in_threadpool(_run, page, run_id)
    if run["status"] == "running":
        return page.render("import_progress_page.html", run=run)
    return page.render("import_run.html", **await run_in_threadpool(_details, page, run))


@router.get(PREFIX + "/imports/{run_id}/progress")
async def progress(page: Page, run_id: str) -> Response:
    """The progress bar, polled by htmx every second; once the run is over the page reloads
    itself (`HX-Refresh`) to show the result."""
    run = await run_in_threadpool(_run, page, run_id)
    response = page.render("import_progress.html", run=run)
    if run["status"] != "running":
        response.headers["HX-Refresh"] = "true"
    return response


def _apply(page: Page, request: Request, run_id: str) -> dict[str, Any]:
    preview = _run(page, run_id)
    if not preview["dry_run"] or preview["status"] != "succeeded":
        raise DashboardError(
            400,
            "Only a preview can be applied",
            "This run is not a finished preview; upload the file again to import it.",
        )
    with page.engine.connect() as conn:
        row = files.get_file(conn, page.account_id, preview["file"] or "")
    if row is None:
        raise DashboardError(
            410, "The file is gone", "The uploaded file has expired; upload it again."
        )
    return import_jobs.start_import(
        page.engine,
        account_id=page.account_id,
        path=files.file_path(file_settings(request), row),
        file_id=row.id,
        filename=row.filename,
        source=preview["source"],
        mode=preview["mode"],
        dry_run=False,
        trigger="dashboard",
    )


@router.post(PREFIX + "/imports/{run_id}/apply")
async def apply(page: Page, request: Request, run_id: str) -> Response:
    """Run the previewed import for real, in the background (in-process worker pool)."""
    await page.form()
    try:
        run = await run_in_threadpool(_apply, page, request, run_id)
    except StoreError as e:
        raise DashboardError(e.status, "The import could not start", str(e)) from None
    return page.redirect(f"{PREFIX}/imports/{run['id']}")


@router.get(PREFIX + "/imports/{run_id}/rejects.csv")
async def rejects(page: Page, run_id: str) -> Response:
    """The same formula-safe CSV as GET /v1/import_runs/{id}/rejects.csv."""

    def load() -> list[Any] | None:
        with page.engine.connect() as conn:
            return runs.rejected_rows(conn, page.account_id, run_id)

    rows = await run_in_threadpool(load)
    if rows is None:
        raise DashboardError(404, _MISSING[1], _MISSING[0])
    return page.finish(
        Response(
            rejects_csv.to_text(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{run_id}-rejects.csv"'},
        )
    )


def _revert_plan(page: Page, run_id: str) -> dict[str, Any]:
    run = _run(page, run_id)
    try:
        plan = revert.revert_run(page.engine, page.account_id, run_id, dry_run=True).to_json()
    except StoreError as e:
        raise DashboardError(e.status, "This import cannot be reverted", str(e)) from None
    ids = [
        p
        for group in ("restored", "archived")
        for step in plan[group]
        for p in (step.get("fields") or {}).get("default_price", [])
        if p
    ] + [
        s["id"]
        for g in ("restored", "archived", "skipped")
        for s in plan[g]
        if s["id"].startswith("price_")
    ]
    with page.engine.connect() as conn:
        known = changes.amounts(conn, page.account_id, ids)
    for group in ("restored", "archived", "skipped"):
        for step in plan[group]:
            step["action"] = group
    return {
        "run": run,
        "plan": plan,
        "restored": changes.rows(plan["restored"], known),
        "archived": changes.rows(plan["archived"], known),
        "skipped": changes.rows(plan["skipped"], known),
    }


@router.get(PREFIX + "/imports/{run_id}/revert")
async def revert_preview(page: Page, run_id: str) -> Response:
    """What reverting the run would do, before anything is written."""
    return page.render("import_revert.html", **await run_in_threadpool(_revert_plan, page, run_id))


@router.post(PREFIX + "/imports/{run_id}/revert")
async def revert_apply(page: Page, run_id: str) -> Response:
    await page.form()

    def work() -> str:
        _run(page, run_id)
        try:
            result = revert.revert_run(page.engine, page.account_id, run_id)
        except StoreError as e:
            raise DashboardError(e.status, "This import cannot be reverted", str(e)) from None
        assert result.revert_run_id is not None
        return result.revert_run_id

    new_id = await run_in_threadpool(work)
    return page.redirect(
        f"{PREFIX}/imports/{new_id}", message=f"Import {run_id} was reverted by this run."
    )
