"""Fixtures and helpers of the webhook test modules.

The fixtures are autouse: a module that imports them gets them for each of its tests (and
only that module does):

    from tests.support.webhooks import (
        allow_loopback,  # noqa: F401 (autouse fixture)
        drop_endpoints,  # noqa: F401 (autouse fixture)
    )
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines.store.events import Cause, append_row, event_row


@pytest.fixture(autouse=True)
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local receivers listen on 127.0.0.1, which the SSRF guard refuses by default."""
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")


@pytest.fixture(autouse=True)
def drop_endpoints(engine: sa.Engine, account: str) -> Iterator[None]:
    """Tests share one database: leave no endpoint (and so no pending delivery) behind for
    other tests' workers."""
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM webhook_endpoints WHERE account_id = :a"), {"a": account})


def append_test_event(
    conn: sa.Connection,
    account: str,
    object_id: str,
    version: int,
    type_: str,
    cause: Cause,
    previous_attributes: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Append one event of `type_` about `object_id` (suffixed with the account: object ids
    are unique across accounts); return its (sequence, id)."""
    object_type = type_.split(".")[0]
    oid = f"{object_id}__{account}"
    return append_row(
        conn,
        event_row(
            account_id=account,
            type=type_,
            object_type=object_type,
            object_id=oid,
            version=version,
            obj={"id": oid, "object": object_type, "version": version},
            previous_attributes=previous_attributes,
            cause=cause,
        ),
    )


def emit_products(
    engine: sa.Engine, account: str, items: list[tuple[str, int]], cause: Cause
) -> list[str]:
    """Append product events (object id, version) in one transaction; return event ids.
    Version 1 is product.created, a later one product.updated."""
    ids = []
    with engine.begin() as conn:
        for object_id, version in items:
            _, event_id = append_test_event(
                conn,
                account,
                object_id,
                version,
                "product.created" if version == 1 else "product.updated",
                cause,
                previous_attributes=None if version == 1 else {"version": version - 1},
            )
            ids.append(event_id)
    return ids
