"""A multipart upload streamed to disk as it arrives, shared by POST /v1/files and the
dashboard's upload page.

The body is parsed with python-multipart's push parser, fed from `request.stream()`: each
chunk of the `file` part goes straight to disk (catalog_pipelines/files.py), so the handler
never holds more than one network chunk, and a binary or oversized upload is refused as soon
as it shows. Small fields (`purpose`, a CSRF token, a source name) are kept in memory, up to
1 KiB each; the ones sent before the file part can be checked before a byte of it is written
(`on_file`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from catalog_pipelines import files

if TYPE_CHECKING:  # defined only for type checkers
    from python_multipart.multipart import MultipartCallbacks

# After a refusal the rest of the body is read and dropped (up to this much), so that the
# client, still sending, receives the error instead of a reset connection.
DRAIN_LIMIT = 256 << 20
MAX_FIELD = 1024

# Called with the fields received so far when the file part begins; raising refuses the
# upload before it is written (the dashboard checks its CSRF token here).
OnFile = Callable[[dict[str, str]], None]


class NotMultipart(files.InvalidRequest):
    """The request is not multipart/form-data with a boundary."""


class Upload:
    """python-multipart callbacks: small fields into `fields`, the `file` part to disk."""

    def __init__(
        self, account_id: str, cfg: files.FileSettings, on_file: OnFile | None = None
    ) -> None:
        self.account = account_id
        self.cfg = cfg
        self.on_file = on_file
        self.fields: dict[str, str] = {}
        self.writer: files.FileWriter | None = None
        self.error: Exception | None = None
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
            if self.on_file is not None:
                self.on_file(self.fields)
            raw = options.get(b"filename")
            filename = raw.decode("utf-8", "replace").rsplit("/", 1)[-1] if raw else None
            purpose = self.fields.get("purpose", files.PURPOSES[0])
            self.writer = files.FileWriter(self.cfg, self.account, purpose, filename)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            if self.writer is not None and self.error is None:
                self.writer.write(data[start:end])
        elif len(self._buf) + (end - start) <= MAX_FIELD:
            self._buf += data[start:end]
        else:
            raise files.InvalidRequest(f"{self._name} is too long", param=self._name)

    def _part_end(self) -> None:
        if self._name and self._name != "file":
            self.fields[self._name] = self._buf.decode("utf-8", "replace")

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


async def receive(
    request: Request, account_id: str, cfg: files.FileSettings, on_file: OnFile | None = None
) -> Upload:
    """Stream the request's multipart body: the `file` part to disk (not yet committed: the
    caller calls `upload.writer.commit` or `upload.abort`), the other fields to `fields`.

    Raises `NotMultipart`, a `StoreError` (too large, not text, malformed), or whatever
    `on_file` raised; the partial file is removed in every case. `upload.writer` is None
    when the body had no file part."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise NotMultipart("Upload files as multipart/form-data with a `file` part.")
    upload = Upload(account_id, cfg, on_file)
    parser = MultipartParser(options[b"boundary"], upload.callbacks())
    drained = 0
    try:
        async for chunk in request.stream():
            if upload.error is not None:
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    break
                continue
            try:
                parser.write(chunk)
            except FormParserError as e:
                upload.error = files.InvalidRequest(f"Malformed multipart body: {e}")
                upload.abort()
            except Exception as e:  # noqa: BLE001 - a StoreError or on_file's refusal:
                upload.error = e  # answered once the rest of the body is drained
                upload.abort()
        if upload.error is not None:
            raise upload.error
        try:
            parser.finalize()
        except FormParserError as e:
            raise files.InvalidRequest(f"Malformed multipart body: {e}") from None
    except BaseException:
        upload.abort()
        raise
    return upload
