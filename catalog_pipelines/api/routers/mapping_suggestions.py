"""POST /v1/mapping_suggestions: the mapping assistant (docs/mapping-assistant.md) on a
header and sample rows. It reads the account's saved mappings (history) and writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, Ctx
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.routers.files import settings as file_settings
from catalog_pipelines.connectors.sampling import suggest_for_file, suggest_for_rows
from catalog_pipelines.files import file_path, get_file
from catalog_pipelines.store.sources import mapping_history

router = APIRouter(tags=["mapping_suggestions"])

MAX_COLUMNS = 500
MAX_ROWS = 1000


def _bad(message: str, param: str, code: str = "parameter_invalid") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def _cell(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):  # JSON integers (decimals arrive as exact strings)
        return str(value)
    raise _bad(f"{where}: a cell must be a string, a number, a boolean or null", "rows")


def _columns(params: dict[str, Any]) -> list[str]:
    columns = params.get("columns")
    if columns is None:
        raise _bad("Missing required param: columns.", "columns", "parameter_missing")
    if isinstance(columns, str):
        columns = [columns]
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c.strip() for c in columns)
    ):
        raise _bad("columns must be a non-empty list of column names", "columns")
    if len(columns) > MAX_COLUMNS:
        raise _bad(f"columns: at most {MAX_COLUMNS}", "columns")
    if len(set(columns)) != len(columns):
        raise _bad("columns: a name is repeated", "columns")
    return columns


def _rows(params: dict[str, Any], columns: list[str]) -> list[dict[str, Any]]:
    rows = params.get("rows") or []
    if isinstance(rows, dict):  # form bodies: rows[0][col]=...
        rows = [rows[k] for k in sorted(rows, key=lambda k: int(k) if k.isdigit() else 0)]
    if not isinstance(rows, list):
        raise _bad("rows must be a list of objects (column -> value) or lists", "rows")
    if len(rows) > MAX_ROWS:
        raise _bad(f"rows: at most {MAX_ROWS} sample rows", "rows")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if isinstance(row, list):
            if len(row) > len(columns):
                raise _bad(f"rows[{i}] has {len(row)} values for {len(columns)} columns", "rows")
            out.append({c: _cell(v, f"rows[{i}]") for c, v in zip(columns, row, strict=False)})
        elif isinstance(row, dict):
            unknown = [k for k in row if k not in columns]
            if unknown:
                raise _bad(f"rows[{i}] has values for unknown column(s) {unknown[:5]}", "rows")
            out.append({k: _cell(v, f"rows[{i}].{k}") for k, v in row.items()})
        else:
            raise _bad(f"rows[{i}] must be an object or a list", "rows")
    return out


def _suggest(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    source = params.get("source")
    with ctx.engine.connect() as conn:
        history = mapping_history(conn, ctx.account_id, prefer=source)
        upload = get_file(conn, ctx.account_id, params["file"]) if "file" in params else None
    if "file" in params:
        if upload is None:
            raise not_found("file", params["file"], "file")
        return suggest_for_file(
            file_path(file_settings(ctx.request), upload), history=history
        ).as_json()
    columns = _columns(params)
    rows = _rows(params, columns)
    return suggest_for_rows(columns, rows, history=history).as_json()


@router.post(
    "/v1/mapping_suggestions",
    responses=oa.responses(oa.ref("MappingSuggestion"), 404),
    openapi_extra=oa.body(models.MappingSuggestionRequest, required=True),
)
async def create_mapping_suggestion(ctx: Auth) -> JSONResponse:
    """A suggested mapping for an uploaded `file`, or for `columns` judged on the sample
    `rows`. Nothing is saved or applied: save it with POST /v1/sources/{id} (`mapping`)."""
    params = await ctx.body(models.MappingSuggestionRequest)
    result = await run_in_threadpool(_suggest, ctx, params)
    return JSONResponse(result, headers={"Request-Id": ctx.request_id})
