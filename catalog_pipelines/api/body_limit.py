"""Request bodies are bounded before they are read: an ASGI middleware answers 413 from the
`Content-Length` header alone, and stops a chunked (or lying) body as soon as the bytes
received pass the limit. No endpoint holds more than its limit in memory.

The default is `CATALOG_API_MAX_BODY_BYTES` (1 MiB); routes may have their own limit
(docs/production-roles.md, Request bodies).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: Stripe-shaped form and JSON bodies are small


def max_body_from_env() -> int:
    value = os.environ.get("CATALOG_API_MAX_BODY_BYTES")
    return int(value) if value else DEFAULT_MAX_BODY


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its limit. An HTTPException, so that FastAPI's
    own body parsing lets it through instead of calling it a malformed body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: the limit is {limit} bytes.")


def _too_large_body(limit: int) -> bytes:
    error = {
        "type": "invalid_request_error",
        "code": "body_too_large",
        "message": f"Request body too large: the limit is {limit} bytes.",
    }
    return json.dumps({"error": error}).encode()


class BodyLimit:
    """ASGI middleware: `limit` bytes for every request body, or the limit of the first
    `(path prefix, limit)` in `routes` that matches."""

    def __init__(
        self, app: ASGIApp, limit: int | None = None, routes: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.limit = max_body_from_env() if limit is None else limit
        self.routes = tuple(routes)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.routes:
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return

        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            # Only reached when nothing in the app turned it into a response.
            if not started:
                await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed Content-Length itself
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = _too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
