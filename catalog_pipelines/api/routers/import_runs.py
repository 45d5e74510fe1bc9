"""/v1/import_runs: start an import of an uploaded file (in the background), list and
retrieve runs, download their rejects as a formula-safe CSV, and revert a run."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from catalog_pipelines import files, import_jobs, rejects_csv
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.lists import list_response, page_params
from catalog_pipelines.api.params import one
from catalog_pipelines.api.routers.files import settings as file_settings
from catalog_pipelines.store import objects, revert, runs

router = APIRouter(tags=["import_runs"])

_RUN_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["import_run"]},
        "status": {"type": "string", "enum": ["running", "succeeded", "failed"]},
        "source": {"type": "string"},
        "mode": {"type": "string"},
        "dry_run": {"type": "boolean"},
        "changes": {"type": "array"},
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
_CREATE_BODY = oa.obj(
    {
        "file": {"type": "string", "maxLength": 255},
        "source": {"type": "string", "maxLength": 64},
        "mapping": {"type": "string", "maxLength": 100_000},
        "format": {"type": "string", "enum": list(import_jobs.FORMAT_CHOICES)},
        "mode": {"type": "string", "enum": list(import_jobs.MODES)},
        "dry_run": {"type": "boolean"},
    },
)
_CREATE_BODY = {**_CREATE_BODY, "required": ["file", "source"]}
_REVERT_BODY = oa.obj({"dry_run": {"type": "boolean"}})


def _text_param(params: dict[str, object], name: str, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid {name}: expected a string", param=name)
    return value


def _required(params: dict[str, object], name: str) -> str:
    value = _text_param(params, name)
    if not value:
        raise ApiError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return value


def _dry_run(params: dict[str, object]) -> bool:
    return objects._bool(params.get("dry_run", False), "dry_run")


@router.post(
    "/v1/import_runs",
    responses=oa.responses(_RUN_SCHEMA, 404),
    openapi_extra=oa.body(_CREATE_BODY, required=True),
)
async def create_import_run(request: Request, ctx: Auth) -> JSONResponse:
    """Import an uploaded file (`file`) into `source`; returns at once with status `running`."""
    params = await ctx.body()
    allowed = {"file", "source", "mapping", "format", "mode", "dry_run"}
    for key in params:
        if key not in allowed:
            raise ApiError(
                400, f"Received unknown parameter: {key}", param=key, code="parameter_unknown"
            )
    file_id = _required(params, "file")
    source = _required(params, "source")
    mapping = _text_param(params, "mapping")
    fmt = _text_param(params, "format", "auto") or "auto"
    mode = _text_param(params, "mode", "full") or "full"
    dry_run = _dry_run(params)
    cfg = file_settings(request)

    def start() -> dict[str, object]:
        with ctx.engine.connect() as conn:
            row = files.get_file(conn, ctx.account_id, file_id)
        if row is None:
            raise not_found("file", file_id, "file")
        return import_jobs.start_import(
            ctx.engine,
            account_id=ctx.account_id,
            path=files.file_path(cfg, row),
            file_id=row.id,
            filename=row.filename,
            source=source,
            mapping=mapping or None,
            fmt=fmt,
            mode=mode,
            dry_run=dry_run,
        )

    obj = await run_in_threadpool(start)
    return JSONResponse(obj, headers={"Request-Id": ctx.request_id})


@router.get("/v1/import_runs", responses=oa.responses(_LIST_SCHEMA, 404))
def list_import_runs(
    ctx: Auth,
    limit: int | None = Query(None, ge=1, le=100),
    starting_after: str | None = None,
    source: str | None = None,
) -> JSONResponse:
    """Newest first."""
    q = ctx.query()
    page = page_params(q)
    return list_response(
        runs.list_runs,
        ctx,
        "/v1/import_runs",
        limit=page["limit"],
        starting_after=page["starting_after"],
        ending_before=page["ending_before"],
        source=one(q, "source"),
    )


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
    openapi_extra=oa.body(_REVERT_BODY),
)
async def revert_import_run(run_id: str, ctx: Auth) -> JSONResponse:
    """Undo a run: with `dry_run`, the preview; otherwise the new revert run."""
    params = await ctx.body()
    for key in params:
        if key != "dry_run":
            raise ApiError(
                400, f"Received unknown parameter: {key}", param=key, code="parameter_unknown"
            )
    dry_run = _dry_run(params)

    def work() -> dict[str, object]:
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
