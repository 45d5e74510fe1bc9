"""/v1/files: upload (multipart, streamed to disk as it arrives: catalog_pipelines/
upload_stream.py) and retrieve."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines import files, upload_stream
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import ApiError

router = APIRouter(tags=["files"])

_FILE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["file"]},
        "purpose": {"type": "string"},
        "filename": {"type": ["string", "null"]},
        "size": {"type": "integer"},
        "type": {"type": "string", "enum": ["csv", "jsonl"]},
        "created": {"type": "integer"},
        "expires_at": {"type": "integer"},
    },
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["purpose", "file"],
                    "properties": {
                        "purpose": {"type": "string", "enum": list(files.PURPOSES)},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


def settings(request: Request) -> files.FileSettings:
    """The app's file settings (tests replace them on app.state)."""
    found = getattr(request.app.state, "files", None)
    if found is None:
        found = request.app.state.files = files.FileSettings.from_env()
    return found


@router.post(
    "/v1/files",
    responses=oa.responses(_FILE_SCHEMA, 413),
    openapi_extra=_UPLOAD_BODY,
)
async def create_file(request: Request, ctx: Auth) -> JSONResponse:
    """Upload a CSV or JSONL export (`purpose=catalog_import`, `file`)."""
    try:
        upload = await upload_stream.receive(request, ctx.account_id, settings(request))
    except upload_stream.NotMultipart:
        raise ApiError(
            400, "Upload files as multipart/form-data with `purpose` and `file`."
        ) from None
    try:
        if upload.writer is None:
            raise ApiError(
                400, "Missing required param: file.", code="parameter_missing", param="file"
            )
        purpose = upload.fields.get("purpose")
        if purpose is None:
            raise ApiError(
                400, "Missing required param: purpose.", code="parameter_missing", param="purpose"
            )
        if purpose != upload.writer.purpose:  # purpose came after the file part
            raise files.InvalidRequest(
                f"Invalid purpose: {purpose!r}; must be one of {', '.join(files.PURPOSES)}",
                param="purpose",
            )
        obj = await run_in_threadpool(upload.writer.commit, ctx.engine)
    except BaseException:
        upload.abort()
        raise
    return JSONResponse(obj, headers={"Request-Id": ctx.request_id})


@router.get("/v1/files/{file_id}", responses=oa.responses(_FILE_SCHEMA, 404))
def retrieve_file(file_id: str, ctx: Auth) -> JSONResponse:
    return retrieve(ctx, files.get_file_object, file_id, "file")


def body_limit() -> int:
    """The request body limit of /v1/files for the app's body-limit middleware: the largest
    upload plus room for the multipart framing (the handler enforces the exact size)."""
    return files.FileSettings.from_env().max_bytes + (1 << 20)


async def purge_loop(app: Any, interval: float = 3600.0) -> None:
    """Remove expired uploads, hourly (started by the app's lifespan, like the
    idempotency purge); a failed round is logged and retried on the next one."""
    while True:
        try:
            cfg = getattr(app.state, "files", None) or files.FileSettings.from_env()
            await asyncio.to_thread(files.purge_expired, app.state.engine, cfg)
        except Exception as e:  # noqa: BLE001 - keep purging on the next round
            logging.getLogger(__name__).warning("file purge failed: %s", e)
        await asyncio.sleep(interval)
