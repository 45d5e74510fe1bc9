"""Replay a range of the log to one endpoint.

A replay creates new deliveries (new `webhook-id`s: the receiver is meant to process them
again) in a stream of its own (`replay_id`), ordered per object like live deliveries and
sent by the same worker. It respects the endpoint's `enabled_events` and `skip_sources`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.events import account_head
from catalog_pipelines.webhooks.endpoints import EndpointError
from catalog_pipelines.webhooks.fanout import MATCH_SQL

MAX_REPLAY_EVENTS = 1_000_000

_INSERT = sa.text(
    "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_sequence, event_id,"  # noqa: S608 - constant fragments only
    " event_type, object_id, replay_id, next_attempt_at)"
    " SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.account_id, w.id,"
    "  e.sequence, e.id, e.type, e.object_id, :replay_id,"
    "  coalesce(CAST(:now AS timestamptz), now())"
    " FROM webhook_endpoints w JOIN events e ON "
    + MATCH_SQL
    + " WHERE w.id = :endpoint AND w.account_id = :account"
    "  AND (CAST(:from_seq AS bigint) IS NULL OR e.sequence >= :from_seq)"
    "  AND (CAST(:to_seq AS bigint) IS NULL OR e.sequence <= :to_seq)"
    "  AND (CAST(:since AS timestamptz) IS NULL OR e.created >= :since)"
    "  AND (CAST(:until AS timestamptz) IS NULL OR e.created < :until)"
    " ORDER BY e.sequence"
    " ON CONFLICT (event_sequence, endpoint_id, replay_id) DO NOTHING"
)
_ENDPOINT = sa.text(
    "SELECT id FROM webhook_endpoints WHERE id = :endpoint AND account_id = :account"
)


@dataclass(frozen=True)
class Replay:
    id: str
    endpoint_id: str
    account_id: str
    deliveries: int
    from_sequence: int | None
    to_sequence: int | None
    since: datetime | None
    until: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "webhook_replay",
            "endpoint": self.endpoint_id,
            "account": self.account_id,
            "deliveries": self.deliveries,
            "from_sequence": self.from_sequence,
            "to_sequence": self.to_sequence,
            "since": None if self.since is None else int(self.since.timestamp()),
            "until": None if self.until is None else int(self.until.timestamp()),
        }


def replay(
    conn: sa.Connection,
    *,
    account_id: str,
    endpoint_id: str,
    from_sequence: int | None = None,
    to_sequence: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Replay:
    """Queue the events of a sequence range (inclusive) or time range ([since, until)).

    Exactly one kind of range must be given; call inside a transaction."""
    by_sequence = from_sequence is not None or to_sequence is not None
    by_time = since is not None or until is not None
    if by_sequence == by_time:
        raise EndpointError("give either a sequence range or a time range")
    if by_sequence and (
        from_sequence is None or to_sequence is None or from_sequence > to_sequence
    ):
        raise EndpointError("a sequence range needs from <= to")
    if by_time and (since is None or until is None or since >= until):
        raise EndpointError("a time range needs since < until")
    if by_sequence and to_sequence - from_sequence >= MAX_REPLAY_EVENTS:  # type: ignore[operator]
        raise EndpointError(f"replay at most {MAX_REPLAY_EVENTS} sequences at a time")
    if conn.execute(_ENDPOINT, {"endpoint": endpoint_id, "account": account_id}).first() is None:
        raise EndpointError(f"no such webhook endpoint: {endpoint_id}")
    replay_id = "wr_" + secrets.token_hex(12)
    count = conn.execute(
        _INSERT,
        {
            "replay_id": replay_id,
            "endpoint": endpoint_id,
            "account": account_id,
            "from_seq": from_sequence,
            "to_seq": to_sequence,
            "since": since,
            "until": until,
            "now": now,
        },
    ).rowcount
    return Replay(
        replay_id, endpoint_id, account_id, count, from_sequence, to_sequence, since, until
    )


_EVENT_SEQUENCE = sa.text("SELECT sequence FROM events WHERE account_id = :account AND id = :id")


class UnknownEvent(EndpointError):
    """An event id of the range is not one of the account's events."""


def replay_events(
    conn: sa.Connection,
    *,
    account_id: str,
    endpoint_id: str,
    from_event: str,
    to_event: str | None = None,
) -> Replay:
    """Queue the events from `from_event` to `to_event` (both included; the account's latest
    event when `to_event` is None), by event id as the API and the dashboard show them."""
    sequences = []
    for event_id in (from_event, to_event):
        if event_id is None:
            sequences.append(account_head(conn, account_id))
            continue
        found = conn.execute(_EVENT_SEQUENCE, {"account": account_id, "id": event_id}).scalar()
        if found is None:
            raise UnknownEvent(f"no such event: {event_id}")
        sequences.append(found)
    low, high = sequences
    if low is None or high is None or low > high:
        raise EndpointError("the first event of the range comes after the last one")
    return replay(
        conn,
        account_id=account_id,
        endpoint_id=endpoint_id,
        from_sequence=int(low),
        to_sequence=int(high),
    )
