"""Stripe's error envelope: `{"error": {"type", "code", "message", "param"}}` with its statuses."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from catalog_pipelines.store.errors import StoreError


class ApiError(Exception):
    """An error raised by the HTTP layer itself (auth, parsing, unavailability)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers


def error_body(
    message: str, *, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return {"error": error}


def store_error_body(exc: StoreError) -> dict[str, Any]:
    return error_body(exc.message, type=exc.type, code=exc.code, param=exc.param)


def error_response(exc: ApiError | StoreError, request_id: str | None = None) -> JSONResponse:
    if isinstance(exc, StoreError):
        body, headers = store_error_body(exc), {}
    else:
        body = error_body(exc.message, type=exc.type, code=exc.code, param=exc.param)
        headers = dict(exc.headers or {})
    if request_id:
        headers["Request-Id"] = request_id
    return JSONResponse(body, status_code=exc.status, headers=headers)


def not_found(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
