"""The delivery log as the API shows it: webhook deliveries, newest event first, each with
every attempt, filtered by endpoint, by event or by the object the events are about.

"Who was told of this change?" is a question about an event or an object, so the event and
object filters go through `events` (indexed by id and by object) to the deliveries' unique
(event_sequence, endpoint_id, replay_id) index: no scan of the account's deliveries.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.reads import CursorNotFound, ListPage

# What `delivery_json` reads, from `webhook_deliveries d` (the CLI's list selects it too).
DELIVERY_COLUMNS = (
    "d.id, d.endpoint_id, d.event_id, d.event_type, d.object_id, d.event_sequence,"
    " d.replay_id, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error,"
    " d.created, d.delivered_at, coalesce((SELECT jsonb_agg(jsonb_build_object("
    "   'attempted_at', epoch(a.attempted_at), 'status_code', a.status_code,"
    "   'latency_ms', a.latency_ms, 'error', a.error, 'outcome', a.outcome) ORDER BY a.id)"
    "   FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempt_log"
)
_LIST = sa.text(
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d"  # noqa: S608 - constant column list
    " WHERE d.account_id = :account"
    " AND (CAST(:endpoint AS text) IS NULL OR d.endpoint_id = :endpoint)"
    " AND (CAST(:event AS text) IS NULL OR d.event_sequence = ("
    "   SELECT sequence FROM events WHERE account_id = :account AND id = :event))"
    " AND (CAST(:object AS text) IS NULL OR d.event_sequence IN ("
    "   SELECT sequence FROM events WHERE account_id = :account AND object_id = :object))"
    " AND (CAST(:after AS text) IS NULL OR (d.event_sequence, d.id) < ("
    "   SELECT event_sequence, id FROM webhook_deliveries"
    "   WHERE account_id = :account AND id = :after))"
    " ORDER BY d.event_sequence DESC, d.id DESC LIMIT :limit"
)
_EXISTS = sa.text("SELECT 1 FROM webhook_deliveries WHERE account_id = :a AND id = :id")


def _epoch(ts: Any) -> int | None:
    return None if ts is None else int(ts.timestamp())


def delivery_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "webhook_delivery",
        "endpoint": r.endpoint_id,
        "event": r.event_id,
        "event_type": r.event_type,
        "object_id": r.object_id,
        "sequence": r.event_sequence,
        "replay": r.replay_id or None,
        "status": r.status,
        "attempts": r.attempts,
        "next_attempt_at": _epoch(r.next_attempt_at) if r.status == "pending" else None,
        "last_status_code": r.last_status_code,
        "last_error": r.last_error,
        "created": _epoch(r.created),
        "delivered_at": _epoch(r.delivered_at),
        "attempt_log": r.attempt_log,
    }


def list_deliveries(
    conn: sa.Connection,
    account_id: str,
    *,
    endpoint: str | None = None,
    event: str | None = None,
    object_id: str | None = None,
    limit: int = 10,
    starting_after: str | None = None,
) -> ListPage:
    """Deliveries of the account matching every filter given, newest event first."""
    if not 1 <= limit <= 100:
        raise ValueError("limit must be between 1 and 100")
    if starting_after is not None and (
        conn.execute(_EXISTS, {"a": account_id, "id": starting_after}).first() is None
    ):
        raise CursorNotFound("starting_after", starting_after)
    rows = conn.execute(
        _LIST,
        {
            "account": account_id,
            "endpoint": endpoint,
            "event": event,
            "object": object_id,
            "after": starting_after,
            "limit": limit + 1,
        },
    ).all()
    return ListPage([delivery_json(r) for r in rows[:limit]], len(rows) > limit)
