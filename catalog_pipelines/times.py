"""Points in time as users write them: ISO 8601 or unix seconds; naive times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """'2026-11-01T00:00:00Z', '2026-11-01 12:00' (UTC) or '1793491200' -> an aware datetime.

    Raises ValueError with the value in the message when it is none of these."""
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{value!r} is not an ISO 8601 time or unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
