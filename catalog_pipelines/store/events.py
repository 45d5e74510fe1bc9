"""The event log: ordered appends and a `sequence` cursor that never skips a late commit.

Writers call `lock_event_log` immediately before inserting events, in the same transaction,
and commit promptly. The lock is held to commit, so transactions become visible in sequence
order: when a reader sees sequence N, every smaller sequence that will ever exist is visible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.pipelined import execute_many

# pg_advisory_xact_lock key for the event log (an arbitrary constant, documented here).
EVENT_LOG_LOCK = 7_413_100

_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")

# An event's columns as readers see them, from `events e`. `data` goes through event_data(e):
# an import's created events store none and have it built from the object (sql/0009).
EVENT_COLUMNS = (
    "e.sequence, e.id, e.account_id, e.type, e.object_type, e.object_id, e.object_version,"
    " event_data(e) AS data, e.request, e.source, e.run_id, e.created"
)

_READ_AFTER = sa.text(
    f"SELECT {EVENT_COLUMNS} FROM events e"  # noqa: S608 - constant column list
    " WHERE e.account_id = :account AND e.sequence > :after ORDER BY e.sequence LIMIT :limit"
)
_READ_AFTER_ALL_ACCOUNTS = sa.text(
    f"SELECT {EVENT_COLUMNS} FROM events e"  # noqa: S608 - constant column list
    " WHERE e.sequence > :after ORDER BY e.sequence LIMIT :limit"
)
_HEAD = sa.text("SELECT coalesce(max(sequence), 0) FROM events")
# Not max(sequence) ... WHERE account_id = :account: with statistics that predate an
# account's bulk import, the planner counted all its events through the index, or walked the
# whole log backwards through the primary key past another account's (a second each at 3M
# events). An equality would let it drop account_id from the ORDER BY; with a range it stays,
# and only a backward scan of (account_id, sequence) gives that order.
_ACCOUNT_HEAD = sa.text(
    "SELECT sequence FROM events WHERE account_id >= :account AND account_id <= :account"
    " ORDER BY account_id DESC, sequence DESC LIMIT 1"
)


def lock_event_log(conn: sa.Connection) -> None:
    """Serialise event appends until this transaction ends (see the module docstring)."""
    conn.execute(_LOCK, {"k": EVENT_LOG_LOCK})


@dataclass(frozen=True)
class Cause:
    """Who made a change: an import run of a source, or an API/CLI request."""

    source: str | None = None
    run_id: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None

    def request_json(self) -> str:
        return json.dumps({"id": self.request_id, "idempotency_key": self.idempotency_key})


# One round trip: the row to insert is produced only once the log lock is held, so its
# sequence (taken when the row is inserted) is allocated under the lock.
_APPEND_ONE = sa.text(
    "WITH locked AS (SELECT pg_advisory_xact_lock(:lock_key))"
    " INSERT INTO events (account_id, type, object_type, object_id, object_version, data,"
    " request, source, run_id)"
    " SELECT :account, :type, :object_type, :object_id, :version, CAST(:data AS json),"
    " CAST(:request AS jsonb), :source, :run_id FROM locked"
    " RETURNING sequence, id"
)


def event_row(
    *,
    account_id: str,
    type: str,
    object_type: str,
    object_id: str,
    version: int,
    obj: dict[str, Any],
    previous_attributes: dict[str, Any] | None,
    cause: Cause,
) -> dict[str, Any]:
    """The parameters of `_APPEND_ONE` for one event."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "lock_key": EVENT_LOG_LOCK,
        "account": account_id,
        "type": type,
        "object_type": object_type,
        "object_id": object_id,
        "version": version,
        "data": json.dumps(data),
        "request": cause.request_json(),
        "source": cause.source,
        "run_id": cause.run_id,
    }


def append_row(conn: sa.Connection, event: dict[str, Any]) -> tuple[int, str]:
    """Append one event of `event_row`: its sequence and id."""
    row = conn.execute(_APPEND_ONE, event).one()
    return row.sequence, row.id


def append_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Append events of `event_row`, in order, in one round trip (a revert's)."""
    execute_many(conn, _APPEND_ONE, rows)


def event_json(row: Any) -> dict[str, Any]:
    """A stored event row as Stripe's Event object, plus our extensions."""
    data = dict(row.data)
    return {
        "id": row.id,
        "object": "event",
        "type": row.type,
        "api_version": "2024-06-20",
        "created": int(row.created.timestamp()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": row.request,
        "sequence": row.sequence,
        "object_version": row.object_version,
        "source": row.source,
        "run_id": row.run_id,
        "account": row.account_id,
    }


def read_events(
    conn: sa.Connection, *, after_sequence: int, limit: int = 1000, account_id: str | None = None
) -> list[Any]:
    """Events with sequence > after_sequence, in order. Safe to use as a polling cursor."""
    if account_id is None:
        result = conn.execute(_READ_AFTER_ALL_ACCOUNTS, {"after": after_sequence, "limit": limit})
    else:
        result = conn.execute(
            _READ_AFTER, {"account": account_id, "after": after_sequence, "limit": limit}
        )
    return list(result)


def head_sequence(conn: sa.Connection) -> int:
    return int(conn.execute(_HEAD).scalar_one())


def account_head(conn: sa.Connection, account_id: str) -> int | None:
    """The sequence of the account's last event, or None when it has none."""
    return conn.execute(_ACCOUNT_HEAD, {"account": account_id}).scalar()
