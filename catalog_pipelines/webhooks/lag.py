"""How far webhook delivery trails the event log (reported by `catalog-sync webhooks status`
and the Dagster sensor's `webhook_delivery_lag` asset)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

_PENDING_FLOOR = sa.text(
    "SELECT min(event_sequence) FROM webhook_deliveries WHERE status = 'pending' AND replay_id = ''"
)
_HEAD = sa.text("SELECT coalesce(max(sequence), 0) FROM events")
_CURSOR = sa.text("SELECT last_sequence FROM webhook_fanout_cursor")


@dataclass(frozen=True)
class Lag:
    head_sequence: int
    fanned_out_through: int
    delivered_through: int
    pending_deliveries: int = field(default=0)

    @property
    def lag(self) -> int:
        return self.head_sequence - self.delivered_through


_PENDING_COUNT = sa.text(
    "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id"
    " WHERE d.status = 'pending' AND w.status = 'enabled'"
)


def delivery_lag(conn: sa.Connection) -> Lag:
    """How far deliveries trail the log. `delivered_through` is the highest sequence with no
    live delivery still pending at or below it (pending ones of disabled endpoints count:
    they are not delivered)."""
    head = int(conn.execute(_HEAD).scalar_one())
    cursor = int(conn.execute(_CURSOR).scalar_one())
    floor = conn.execute(_PENDING_FLOOR).scalar_one_or_none()
    through = cursor if floor is None else min(cursor, int(floor) - 1)
    pending = int(conn.execute(_PENDING_COUNT).scalar_one())
    return Lag(head, cursor, through, pending)
