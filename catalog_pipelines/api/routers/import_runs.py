"""/v1/import_runs: start an import of an uploaded file (in the background), list and
retrieve runs, download their rejects as a formula-safe CSV, and revert a run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from catalog_pipelines import files, import_jobs, rejects_csv
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import not_found
from catalog_pipelines.api.lists import PageParams, Text, list_response
from catalog_pipelines.api.models import Body
from catalog_pipelines.api.routers.files import settings as file_settings
from catalog_pipelines.store import revert, runs

router = APIRouter(tags=["import_runs"])

_AMOUNT = {
    "type": ["object", "null"],
    "properties": {"unit_amount": {"type": "integer"}, "currency": {"type": "string"}},
}
# One change of the run's sample: per field [before, after]; price amounts beside price ids.
_CHANGE_SCHEMA = {
    "type": "object",
    "properties": {
        "object_type": {"type": "string", "enum": ["product", "price", "inventory_item"]},
        "id": {"type": "string"},
        "key": {"type": ["string", "null"]},
        "action": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
        },
        "amount": {**_AMOUNT, "description": "a price change: the price's amount"},
        "amounts": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": _AMOUNT},
            "description": "a product's default_price or a stock item's price that changes:"
            " {field: [amount before, amount after]}",
        },
    },
}
_RUN_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["import_run"]},
        "status": {"type": "string", "enum": ["running", "succeeded", "failed"]},
        "source": {"type": "string"},
        "mode": {"type": "string"},
        "dry_run": {"type": "boolean"},
        "trigger": {"type": ["string", "null"]},
        "dagster_run": {"type": ["string", "null"]},
        "changes": {"type": "array", "items": _CHANGE_SCHEMA},
    },
}
_REVERT_SCHEMA = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["import_run", "import_run_revert"]},
    },
}
_LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": _RUN_SCHEMA},
        "has_more": {"type": "boolean"},
        "url": {"type": "string"},
    },
}


class ImportRunCreate(Body):
    """POST /v1/import_runs."""

    file: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]
    source: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    mapping: Annotated[str, Field(max_length=100_000)] | None = None
    format: Literal[import_jobs.FORMAT_CHOICES] = "auto"  # type: ignore[valid-type]
    mode: Literal["full", "incremental"] = "full"
    dry_run: bool = False


class ImportRunRevert(Body):
    """POST /v1/import_runs/{id}/revert."""

    dry_run: bool = False


def _body(model: type[Body], *, required: bool = False) -> dict[str, Any]:
    """`openapi_extra` with the model's schema inline: api/models.py's bodies are the shared
    components; these two belong to this router."""
    schema = oa.body_schema(model)
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema},
                "application/json": {"schema": schema},
            },
        }
    }


@router.post(
    "/v1/import_runs",
    responses=oa.responses(_RUN_SCHEMA, 404),
    openapi_extra=_body(ImportRunCreate, required=True),
)
async def create_import_run(request: Request, ctx: Auth) -> JSONResponse:
    """Import an uploaded file (`file`) into `source`; returns at once with status `running`."""
    params = await ctx.body(ImportRunCreate)
    cfg = file_settings(request)

    def start() -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            row = files.get_file(conn, ctx.account_id, params["file"])
        if row is None:
            raise not_found("file", params["file"], "file")
        return import_jobs.start_import(
            ctx.engine,
            account_id=ctx.account_id,
            path=files.file_path(cfg, row),
            file_id=row.id,
            filename=row.filename,
            source=params["source"],
            mapping=params.get("mapping") or None,
            fmt=params.get("format", "auto"),
            mode=params.get("mode", "full"),
            dry_run=params.get("dry_run", False),
        )

    obj = await run_in_threadpool(start)
    return JSONResponse(obj, headers={"Request-Id": ctx.request_id})


@router.get("/v1/import_runs", responses=oa.responses(_LIST_SCHEMA, 404))
def list_import_runs(ctx: Auth, page: PageParams, source: Text = None) -> JSONResponse:
    """Newest first (CLI, API, Dagster and revert runs alike); `source` filters."""
    return list_response(runs.list_runs, ctx, "/v1/import_runs", **page.params(), source=source)


@router.get("/v1/import_runs/{run_id}", responses=oa.responses(_RUN_SCHEMA, 404))
def retrieve_import_run(run_id: str, ctx: Auth) -> JSONResponse:
    return retrieve(ctx, runs.get_run, run_id, "import run")


@router.get(
    "/v1/import_runs/{run_id}/rejects.csv",
    responses={
        200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
        **{k: v for k, v in oa.responses({}, 404).items() if k != 200},
    },
)
def import_run_rejects(run_id: str, ctx: Auth) -> Response:
    """The rejected rows: row number, field(s), reasons, raw columns; formula-safe."""
    with ctx.engine.connect() as conn:
        rows = runs.rejected_rows(conn, ctx.account_id, run_id)
    if rows is None:
        raise not_found("import run", run_id)
    return Response(
        rejects_csv.to_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{run_id}-rejects.csv"'},
    )


@router.post(
    "/v1/import_runs/{run_id}/revert",
    responses=oa.responses(_REVERT_SCHEMA, 404, 409),
    openapi_extra=_body(ImportRunRevert),
)
async def revert_import_run(run_id: str, ctx: Auth) -> JSONResponse:
    """Undo a run: with `dry_run`, the preview; otherwise the new revert run."""
    params = await ctx.body(ImportRunRevert)
    dry_run: bool = params.get("dry_run", False)

    def work() -> dict[str, Any]:
        result = revert.revert_run(
            ctx.engine, ctx.account_id, run_id, dry_run=dry_run, request_id=ctx.request_id
        )
        if dry_run:
            return result.to_json()
        with ctx.engine.connect() as conn:
            obj = runs.get_run(conn, ctx.account_id, result.revert_run_id or "")
        assert obj is not None
        obj["revert"] = result.to_json()
        return obj

    obj = await run_in_threadpool(work)
    return JSONResponse(obj, headers={"Request-Id": ctx.request_id})
