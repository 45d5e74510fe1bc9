"""Fan-out: a follower turns each new event into one delivery per subscribed endpoint.

Why a follower and not a delivery created in the event's own transaction: events are written
by import and API code we do not own, and set-wise. The log is safe to follow by `sequence`
(appends are serialised under a lock held to commit, so sequences become visible in order).

Exactly once per (event, endpoint): each batch runs in one transaction that locks the cursor
row, inserts the deliveries with ON CONFLICT DO NOTHING on (event_sequence, endpoint_id,
replay_id) and moves the cursor, so a batch either happens completely or not at all, and two
followers never work on the same batch (the loser of the lock skips: the winner does it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

# Which endpoints an event goes to: same account, enabled, created before the event was fanned
# out, subscribed to its type (`*`, exact, `product.*`) and not suppressing its source.
MATCH_SQL = (
    "w.account_id = e.account_id"
    " AND ('*' = ANY (w.enabled_events) OR e.type = ANY (w.enabled_events)"
    "      OR split_part(e.type, '.', 1) || '.*' = ANY (w.enabled_events))"
    " AND (e.source IS NULL OR NOT (e.source = ANY (w.skip_sources)))"
)

_LOCK = sa.text("SELECT last_sequence FROM webhook_fanout_cursor FOR UPDATE SKIP LOCKED")
_UPTO = sa.text(
    "SELECT max(sequence) FROM ("
    " SELECT sequence FROM events WHERE sequence > :after ORDER BY sequence LIMIT :limit) s"
)
_INSERT = sa.text(
    "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_sequence, event_id,"  # noqa: S608 - constant fragments only
    " event_type, object_id, next_attempt_at)"
    " SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.account_id, w.id,"
    "  e.sequence, e.id, e.type, e.object_id, e.created"
    " FROM events e JOIN webhook_endpoints w ON " + MATCH_SQL + " AND w.status = 'enabled'"
    "  AND e.sequence > w.after_sequence"
    " WHERE e.sequence > :after AND e.sequence <= :upto"
    " ON CONFLICT (event_sequence, endpoint_id, replay_id) DO NOTHING"
)
_MOVE = sa.text(
    "UPDATE webhook_fanout_cursor SET last_sequence = :upto, updated = now()"
    " WHERE last_sequence = :after"
)
_CURSOR = sa.text("SELECT last_sequence FROM webhook_fanout_cursor")


@dataclass
class FanOutResult:
    events: int = 0
    deliveries: int = 0
    cursor: int = 0
    busy: bool = False  # another follower held the cursor; it does the work


def fan_out_batch(engine: sa.Engine, *, batch_size: int = 2000) -> FanOutResult:
    """Fan out at most `batch_size` events in one transaction."""
    with engine.begin() as conn:
        after = conn.execute(_LOCK).scalar_one_or_none()
        if after is None:
            cursor = conn.execute(_CURSOR).scalar_one()
            return FanOutResult(cursor=int(cursor), busy=True)
        upto = conn.execute(_UPTO, {"after": after, "limit": batch_size}).scalar_one_or_none()
        if upto is None:
            return FanOutResult(cursor=int(after))
        inserted = conn.execute(_INSERT, {"after": after, "upto": upto}).rowcount
        moved = conn.execute(_MOVE, {"after": after, "upto": upto}).rowcount
        if moved != 1:  # impossible while we hold the row lock; refuse to guess
            raise RuntimeError("webhook fan-out cursor moved under its lock")
        return FanOutResult(events=int(upto - after), deliveries=inserted, cursor=int(upto))


def fan_out(
    engine: sa.Engine, *, max_seconds: float = 10.0, batch_size: int = 2000
) -> FanOutResult:
    """Fan out until the log is drained, another follower has it, or time is up.

    `events` counts sequence numbers consumed (rolled-back gaps included)."""
    total = FanOutResult()
    deadline = time.monotonic() + max_seconds
    while True:
        step = fan_out_batch(engine, batch_size=batch_size)
        total.events += step.events
        total.deliveries += step.deliveries
        total.cursor = step.cursor
        total.busy = step.busy
        if step.busy or step.events == 0 or time.monotonic() >= deadline:
            return total


def fanout_cursor(conn: sa.Connection) -> int:
    return int(conn.execute(_CURSOR).scalar_one())
