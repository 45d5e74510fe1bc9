"""Webhook endpoints: store code scoped by account, and their Stripe-shaped JSON.

Creating an endpoint locks the fan-out cursor row and records the cursor as the endpoint's
`after_sequence`: the follower holds the same lock while it fans a batch out, so every event
after that point is fanned out with the endpoint present, and none is missed or doubled.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.webhooks.signing import new_secret
from catalog_pipelines.webhooks.ssrf import check_url

EVENT_TYPES = (
    "product.created",
    "product.updated",
    "product.deleted",
    "price.created",
    "price.updated",
    "inventory_item.created",
    "inventory_item.updated",
)
_EVENT_PATTERN = re.compile(r"^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$")


class EndpointError(ValueError):
    """Bad input for an endpoint (unknown event pattern, unknown id)."""


@dataclass(frozen=True)
class Endpoint:
    id: str
    account_id: str
    url: str
    description: str | None
    enabled_events: list[str]
    skip_sources: list[str]
    secret: str
    status: str
    disabled_reason: str | None
    failing_since: Any
    after_sequence: int
    created: Any

    def to_json(self, *, include_secret: bool = False) -> dict[str, Any]:
        """Stripe's WebhookEndpoint object (the secret only when just created), plus ours."""
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": None,
            "application": None,
            "created": int(self.created.timestamp()),
            "description": self.description,
            "enabled_events": list(self.enabled_events),
            "livemode": False,
            "metadata": {},
            "status": self.status,
            "url": self.url,
            "account": self.account_id,
            "skip_sources": list(self.skip_sources),
            "disabled_reason": self.disabled_reason,
        }
        if include_secret:
            obj["secret"] = self.secret
        return obj


_COLUMNS = (
    "id, account_id, url, description, enabled_events, skip_sources, secret, status,"
    " disabled_reason, failing_since, after_sequence, created"
)


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        account_id=row.account_id,
        url=row.url,
        description=row.description,
        enabled_events=list(row.enabled_events),
        skip_sources=list(row.skip_sources),
        secret=row.secret,
        status=row.status,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        after_sequence=int(row.after_sequence),
        created=row.created,
    )


def validate_events(events: Sequence[str]) -> list[str]:
    """`*`, `product.*` or an exact known type; duplicates dropped, order kept."""
    out: list[str] = []
    for raw in events:
        pattern = raw.strip()
        if not _EVENT_PATTERN.match(pattern):
            raise EndpointError(f"invalid event type {raw!r}")
        if pattern != "*" and not any(matches([pattern], t) for t in EVENT_TYPES):
            raise EndpointError(f"{raw!r} matches no event type ({', '.join(EVENT_TYPES)})")
        if pattern not in out:
            out.append(pattern)
    if not out:
        raise EndpointError("enabled_events must not be empty")
    return out


def matches(enabled_events: Sequence[str], event_type: str) -> bool:
    """The same rule as the fan-out SQL, for callers and tests."""
    prefix = event_type.split(".", 1)[0] + ".*"
    return any(p in ("*", event_type, prefix) for p in enabled_events)


_LOCK_CURSOR = sa.text("SELECT last_sequence FROM webhook_fanout_cursor FOR UPDATE")
_INSERT = sa.text(
    "INSERT INTO webhook_endpoints (id, account_id, url, description, enabled_events,"  # noqa: S608 - constant fragments only
    " skip_sources, secret, after_sequence)"
    " VALUES (:id, :account, :url, :description, :events, :skip, :secret, :after)"
    f" RETURNING {_COLUMNS}"
)


def create_endpoint(
    conn: sa.Connection,
    *,
    account_id: str,
    url: str,
    enabled_events: Sequence[str] = ("*",),
    skip_sources: Sequence[str] = (),
    description: str | None = None,
) -> Endpoint:
    """Add an endpoint (SSRF-checked URL, new `whsec_` secret). Call inside a transaction."""
    check_url(url)
    events = validate_events(enabled_events)
    after = conn.execute(_LOCK_CURSOR).scalar_one()
    row = conn.execute(
        _INSERT,
        {
            "id": "we_" + secrets.token_hex(12),
            "account": account_id,
            "url": url,
            "description": description,
            "events": events,
            "skip": sorted(set(skip_sources)),
            "secret": new_secret(),
            "after": after,
        },
    ).one()
    return _endpoint(row)


_GET = sa.text(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = :id AND account_id = :account")  # noqa: S608 - constant column list


def get_endpoint(conn: sa.Connection, *, account_id: str, endpoint_id: str) -> Endpoint | None:
    row = conn.execute(_GET, {"id": endpoint_id, "account": account_id}).one_or_none()
    return None if row is None else _endpoint(row)


# Newest first; `after` keeps older endpoints, `before` newer ones (both: the ones between).
# Read in ascending order when only `before` is given, so LIMIT keeps the nearest ones.
_LIST = sa.text(
    f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE account_id = :account"  # noqa: S608 - constant column list
    " AND (CAST(:after AS text) IS NULL OR (created, id) < ("
    "   SELECT created, id FROM webhook_endpoints WHERE id = :after AND account_id = :account))"
    " AND (CAST(:before AS text) IS NULL OR (created, id) > ("
    "   SELECT created, id FROM webhook_endpoints WHERE id = :before AND account_id = :account))"
    " ORDER BY CASE WHEN :ascending THEN created END ASC, CASE WHEN :ascending THEN id END ASC,"
    " created DESC, id DESC LIMIT :limit"
)


def list_endpoints(
    conn: sa.Connection,
    *,
    account_id: str,
    limit: int = 10,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> tuple[list[Endpoint], bool]:
    """Newest first, keyset-paginated as Stripe lists are; returns (page, has_more)."""
    ascending = ending_before is not None and starting_after is None
    rows = conn.execute(
        _LIST,
        {
            "account": account_id,
            "after": starting_after,
            "before": ending_before,
            "ascending": ascending,
            "limit": limit + 1,
        },
    ).all()
    page = [_endpoint(r) for r in rows[:limit]]
    return (page[::-1] if ascending else page), len(rows) > limit


_UPDATE = sa.text(
    "UPDATE webhook_endpoints SET"  # noqa: S608 - constant fragments only
    " url = coalesce(:url, url),"
    " description = coalesce(:description, description),"
    " enabled_events = coalesce(:events, enabled_events),"
    " skip_sources = coalesce(:skip, skip_sources),"
    " status = coalesce(:status, status),"
    " disabled_reason = CASE WHEN :status = 'enabled' THEN NULL"
    "   WHEN :status = 'disabled' THEN 'disabled by request' ELSE disabled_reason END,"
    " failing_since = CASE WHEN :status = 'enabled' THEN NULL ELSE failing_since END,"
    " updated = now()"
    f" WHERE id = :id AND account_id = :account RETURNING {_COLUMNS}"
)


def update_endpoint(
    conn: sa.Connection,
    *,
    account_id: str,
    endpoint_id: str,
    url: str | None = None,
    description: str | None = None,
    enabled_events: Sequence[str] | None = None,
    skip_sources: Sequence[str] | None = None,
    disabled: bool | None = None,
) -> Endpoint:
    """Change an endpoint. Re-enabling clears the failure clock; pending deliveries resume."""
    if url is not None:
        check_url(url)
    row = conn.execute(
        _UPDATE,
        {
            "id": endpoint_id,
            "account": account_id,
            "url": url,
            "description": description,
            "events": None if enabled_events is None else validate_events(enabled_events),
            "skip": None if skip_sources is None else sorted(set(skip_sources)),
            "status": None if disabled is None else ("disabled" if disabled else "enabled"),
        },
    ).one_or_none()
    if row is None:
        raise EndpointError(f"no such webhook endpoint: {endpoint_id}")
    return _endpoint(row)


_DELETE = sa.text("DELETE FROM webhook_endpoints WHERE id = :id AND account_id = :account")


def delete_endpoint(conn: sa.Connection, *, account_id: str, endpoint_id: str) -> bool:
    """Remove an endpoint with its deliveries and attempts; True if it existed."""
    return conn.execute(_DELETE, {"id": endpoint_id, "account": account_id}).rowcount > 0
