"""/v1/files: upload (multipart, streamed to disk as it arrives) and retrieve.

The body is parsed with python-multipart's push parser, fed from `request.stream()`: each
chunk of the `file` part goes straight to disk (catalog_pipelines/files.py), so the handler
never holds more than one network chunk, and a binary or oversized upload is refused as soon
as it shows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from catalog_pipelines import files
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, retrieve
from catalog_pipelines.api.errors import ApiError
from catalog_pipelines.store.errors import StoreError

if TYPE_CHECKING:  # defined only for type checkers
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(tags=["files"])

# After a refusal the rest of the body is read and dropped (up to this much), so that the
# client, still sending, receives the error instead of a reset connection.
_DRAIN_LIMIT = 256 << 20
_MAX_FIELD = 1024

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


class _Upload:
    """python-multipart callbacks: small fields into `fields`, the `file` part to disk."""

    def __init__(self, ctx_account: str, cfg: files.FileSettings) -> None:
        self.account = ctx_account
        self.cfg = cfg
        self.fields: dict[str, str] = {}
        self.writer: files.FileWriter | None = None
        self.error: StoreError | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._name: str | None = None
        self._buf = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._field, self._value, self._name = {}, b"", b"", None
        self._buf = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file" and self.error is None:
            if self.writer is not None:
                raise files.InvalidRequest("Send one file per upload", param="file")
            raw = options.get(b"filename")
            filename = raw.decode("utf-8", "replace").rsplit("/", 1)[-1] if raw else None
            purpose = self.fields.get("purpose", files.PURPOSES[0])
            self.writer = files.FileWriter(self.cfg, self.account, purpose, filename)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            if self.writer is not None and self.error is None:
                self.writer.write(data[start:end])
        elif len(self._buf) + (end - start) <= _MAX_FIELD:
            self._buf += data[start:end]
        else:
            raise files.InvalidRequest(f"{self._name} is too long", param=self._name)

    def _part_end(self) -> None:
        if self._name and self._name != "file":
            self.fields[self._name] = self._buf.decode("utf-8", "replace")


@router.post(
    "/v1/files",
    responses=oa.responses(_FILE_SCHEMA, 413),
    openapi_extra=_UPLOAD_BODY,
)
async def create_file(request: Request, ctx: Auth) -> JSONResponse:
    """Upload a CSV or JSONL export (`purpose=catalog_import`, `file`)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(400, "Upload files as multipart/form-data with `purpose` and `file`.")
    upload = _Upload(ctx.account_id, settings(request))
    parser = MultipartParser(options[b"boundary"], upload.callbacks())
    drained = 0
    try:
        async for chunk in request.stream():
            if upload.error is not None:
                drained += len(chunk)
                if drained > _DRAIN_LIMIT:
                    break
                continue
            try:
                parser.write(chunk)
            except FormParserError as e:
                upload.error = files.InvalidRequest(f"Malformed multipart body: {e}")
                if upload.writer is not None:
                    upload.writer.abort()
            except StoreError as e:
                upload.error = e
                if upload.writer is not None:
                    upload.writer.abort()
        if upload.error is not None:
            raise upload.error
        try:
            parser.finalize()
        except FormParserError as e:
            raise files.InvalidRequest(f"Malformed multipart body: {e}") from None
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
        if upload.writer is not None:
            upload.writer.abort()
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
