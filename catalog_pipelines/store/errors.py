"""Errors raised by single-object writes, carrying what the API needs for Stripe's envelope.

They live in the store, not in the API, so the CLI and the incoming-webhook handlers refuse
the same things with the same codes.
"""

from __future__ import annotations


class StoreError(Exception):
    """A refused write. `status` is the HTTP status the API answers with."""

    status = 400
    type = "invalid_request_error"
    code = "parameter_invalid"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(StoreError):
    """A parameter is missing, malformed or not allowed (Stripe: 400)."""


class NotFound(StoreError):
    """No such object in this account. Other accounts' objects are reported the same way."""

    status = 404
    code = "resource_missing"


class OwnedBySource(StoreError):
    """The field group belongs to a source; only that source's imports may change it."""

    status = 409
    code = "owned_by_source"

    def __init__(self, group: str, source: str, *, param: str | None = None) -> None:
        super().__init__(
            f"The {group} of this object is owned by source '{source}'; change it there.",
            param=param,
        )
        self.group = group
        self.source = source


class Conflict(StoreError):
    """The write conflicts with the current state (insufficient stock, compare-and-set)."""

    status = 409
    code = "conflict"
