"""Sources: named external systems, their connector kind, mapping and ownership policy.

A source is a versioned object like a product: every change (kind, ownership, mapping,
config, archiving) writes a new row in `source_versions` and a `source.created` or
`source.updated` event, in the same transaction. Sources are archived, never deleted; an
archived source refuses imports (`SourceArchived`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.connectors.registry import KINDS
from catalog_pipelines.mapping.model import mapping_from_dict, mapping_to_dict
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound
from catalog_pipelines.store.events import Cause, append_row, event_row

GROUPS: tuple[str, ...] = ("content", "pricing", "inventory")


# A change with no request or run behind it (a script, a test): still an event.
NO_CAUSE = Cause()


class SourceArchived(InvalidRequest):
    """The source was archived (`sources remove`): it takes no imports."""

    code = "source_archived"


# The config keys that say where a source's input lives, not how to read it: a snapshot of
# the same rows stays good when only these change (skip_unchanged.py, store/snapshots.py).
WHERE_INPUT_LIVES = frozenset({"path", "url"})


@dataclass(frozen=True)
class Source:
    account_id: str
    name: str
    kind: str
    owns: frozenset[str]
    mapping: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    version: int = 1
    active: bool = True
    obj: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def mode(self) -> str:
        """mirror (owns all), catalog (owns none) or hybrid, as docs/ownership.md names them."""
        if self.owns == frozenset(GROUPS):
            return "mirror"
        return "catalog" if not self.owns else "hybrid"

    def as_json(self) -> dict[str, Any]:
        """The source object (`source_object` in SQL): what the API and `--json` print."""
        if self.obj:
            return dict(self.obj)
        return {
            "object": "source",
            "account": self.account_id,
            "name": self.name,
            "kind": self.kind,
            "owns": [g for g in GROUPS if g in self.owns],
            "mode": self.mode,
            "mapping": self.mapping,
            "config": self.config,
        }


def parse_owns(text: str) -> frozenset[str]:
    """'content,pricing' -> {'content', 'pricing'}; '' or 'none' -> nothing (catalog mode)."""
    items = [t.strip() for t in text.split(",") if t.strip() and t.strip() != "none"]
    unknown = sorted(set(items) - set(GROUPS))
    if unknown:
        raise ValueError(f"--owns: unknown group(s) {', '.join(unknown)}; use {', '.join(GROUPS)}")
    return frozenset(items)


_SELECT = "SELECT s.account_id, s.name, s.kind, s.owns, s.mapping, s.config, s.id, s.version,"
_SELECT += " s.archived IS NULL AS active, source_object(s) AS obj FROM sources s"
_GET = sa.text(f"{_SELECT} WHERE s.account_id = :a AND s.name = :n")
_GET_BY_ID = sa.text(f"{_SELECT} WHERE s.account_id = :a AND (s.id = :n OR s.name = :n)")
_LIST = sa.text(f"{_SELECT} WHERE s.account_id = :a ORDER BY s.name")
_INSERT = sa.text(
    "INSERT INTO sources (account_id, name, kind, owns, mapping, config)"
    " VALUES (:a, :n, :k, :owns, CAST(:mapping AS jsonb), CAST(:config AS jsonb))"
    " ON CONFLICT (account_id, name) DO NOTHING RETURNING id"
)
_UPDATE = sa.text(
    "UPDATE sources SET kind = :k, owns = :owns, mapping = CAST(:mapping AS jsonb),"
    " config = CAST(:config AS jsonb),"
    " archived = CASE WHEN :archive THEN coalesce(archived, now()) ELSE NULL END,"
    " version = version + 1, updated = now()"
    " WHERE account_id = :a AND name = :n RETURNING id"
)
_LOCK = sa.text("SELECT 1 FROM sources WHERE account_id = :a AND name = :n FOR UPDATE")
_VERSION = sa.text(
    "INSERT INTO source_versions (source_id, version, account_id, state)"
    " SELECT s.id, s.version, s.account_id, source_object(s) FROM sources s WHERE s.id = :id"
    " RETURNING state"
)
_VERSIONS = sa.text(
    "SELECT v.version, v.state, epoch(v.created) AS created FROM source_versions v"
    " JOIN sources s ON s.id = v.source_id"
    " WHERE s.account_id = :a AND s.id = :id ORDER BY v.version"
)
_ACCOUNT_VERSIONS = sa.text(
    "SELECT s.name, v.version, v.state -> 'mapping' AS mapping FROM source_versions v"
    " JOIN sources s ON s.id = v.source_id"
    " WHERE s.account_id = :a AND v.state -> 'mapping' IS NOT NULL"
    " AND jsonb_typeof(v.state -> 'mapping') = 'object'"
    " ORDER BY v.created DESC, v.version DESC"
)
_ENSURE_ACCOUNT = sa.text("INSERT INTO accounts (id) VALUES (:a) ON CONFLICT DO NOTHING")


def _row_to_source(row: Any) -> Source:
    return Source(
        account_id=row.account_id,
        name=row.name,
        kind=row.kind,
        owns=frozenset(row.owns),
        mapping=row.mapping,
        config=row.config or {},
        id=row.id,
        version=row.version,
        active=row.active,
        obj=row.obj,
    )


def ensure_account(conn: sa.Connection, account_id: str) -> None:
    conn.execute(_ENSURE_ACCOUNT, {"a": account_id})


def get_source(conn: sa.Connection, account_id: str, name: str) -> Source | None:
    row = conn.execute(_GET, {"a": account_id, "n": name}).first()
    return _row_to_source(row) if row else None


def find_source(conn: sa.Connection, account_id: str, id_or_name: str) -> Source | None:
    """A source of this account by its id (`src_...`) or its name."""
    rows = conn.execute(_GET_BY_ID, {"a": account_id, "n": id_or_name}).all()
    by_id = [r for r in rows if r.id == id_or_name]
    row = by_id[0] if by_id else (rows[0] if rows else None)
    return _row_to_source(row) if row else None


def list_sources(
    conn: sa.Connection, account_id: str, *, include_archived: bool = True
) -> list[Source]:
    sources = [_row_to_source(r) for r in conn.execute(_LIST, {"a": account_id})]
    return sources if include_archived else [s for s in sources if s.active]


def check_mapping(mapping: Any, *, where: str = "mapping") -> dict[str, Any] | None:
    """A mapping document validated (MappingError names the key) and normalized for storage."""
    if mapping is None:
        return None
    return mapping_to_dict(mapping_from_dict(mapping, where=where))


def _params(
    account_id: str,
    name: str,
    kind: str,
    owns: frozenset[str] | set[str],
    mapping: dict[str, Any] | None,
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    if kind not in KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", param="kind")
    unknown = sorted(set(owns) - set(GROUPS))
    if unknown:
        raise InvalidRequest(
            f"owns: unknown group(s) {', '.join(unknown)}; use {', '.join(GROUPS)}", param="owns"
        )
    return {
        "a": account_id,
        "n": name,
        "k": kind,
        "owns": [g for g in GROUPS if g in owns],
        "mapping": json.dumps(mapping) if mapping is not None else None,
        "config": json.dumps(config or {}),
    }


def _record(
    conn: sa.Connection,
    source_id: str,
    before: Source | None,
    cause: Cause | None,
) -> Source:
    """The new version's row and event, once the source row holds the change. Without a
    `cause` (an import creating its source) only the version is kept: the import run records
    that it created the source, and its event count stays the catalog's."""
    state = conn.execute(_VERSION, {"id": source_id}).scalar_one()
    if cause is None:
        source = get_source(conn, state["account"], state["name"])
        assert source is not None
        return source
    previous = None
    if before is not None:
        old = before.as_json()
        previous = {
            k: old.get(k)
            for k in state
            if k not in ("version", "updated") and old.get(k) != state[k]
        }
    append_row(
        conn,
        event_row(
            account_id=state["account"],
            type="source.created" if before is None else "source.updated",
            object_type="source",
            object_id=source_id,
            version=state["version"],
            obj=state,
            previous_attributes=previous,
            cause=cause,
        ),
    )
    source = get_source(conn, state["account"], state["name"])
    assert source is not None
    return source


def create_source(
    conn: sa.Connection,
    *,
    account_id: str,
    name: str,
    kind: str,
    owns: frozenset[str] | set[str],
    mapping: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    cause: Cause | None = NO_CAUSE,
) -> Source:
    """A new source (version 1, a `source.created` event); Conflict (409) if it exists.
    `cause=None` keeps the version without an event (see `_record`)."""
    params = _params(account_id, name, kind, owns, check_mapping(mapping), config)
    ensure_account(conn, account_id)
    source_id = conn.execute(_INSERT, params).scalar()
    if source_id is None:
        raise Conflict(  # a state conflict, as a taken lookup key is: 409
            f"source {name!r} already exists; update it instead",
            param="name",
            code="resource_exists",
        )
    return _record(conn, source_id, None, cause)


def update_source(
    conn: sa.Connection,
    account_id: str,
    name: str,
    *,
    kind: str | None = None,
    owns: frozenset[str] | set[str] | None = None,
    mapping: dict[str, Any] | None = None,
    clear_mapping: bool = False,
    config: dict[str, Any] | None = None,
    archive: bool | None = None,
    cause: Cause | None = NO_CAUSE,
) -> Source:
    """Change a source; a new version and a `source.updated` event only if something changed.
    An archived source stays archived unless `archive=False` restores it."""
    conn.execute(_LOCK, {"a": account_id, "n": name})
    before = get_source(conn, account_id, name)
    if before is None:
        raise NotFound(f"No such source: '{name}'", param="id")
    new_mapping = (
        None
        if clear_mapping
        else (check_mapping(mapping) if mapping is not None else before.mapping)
    )
    params = _params(
        account_id,
        name,
        kind or before.kind,
        before.owns if owns is None else owns,
        new_mapping,
        before.config if config is None else config,
    )
    archived = (not before.active) if archive is None else archive
    unchanged = (
        params["k"] == before.kind
        and params["owns"] == [g for g in GROUPS if g in before.owns]
        and new_mapping == before.mapping
        and (config is None or config == before.config)
        and archived == (not before.active)
    )
    if unchanged:
        return before
    source_id = conn.execute(_UPDATE, {**params, "archive": archived}).scalar_one()
    return _record(conn, source_id, before, cause)


def add_source(
    conn: sa.Connection,
    *,
    account_id: str,
    name: str,
    kind: str,
    owns: frozenset[str] | set[str],
    mapping: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    cause: Cause | None = NO_CAUSE,
) -> Source:
    """Create a source, or redefine it (kind, ownership, mapping, config) if it exists."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if get_source(conn, account_id, name) is None:
        try:
            return create_source(
                conn,
                account_id=account_id,
                name=name,
                kind=kind,
                owns=owns,
                mapping=mapping,
                config=config,
                cause=cause,
            )
        except Conflict:  # created concurrently: redefine it below
            pass
    return update_source(
        conn,
        account_id,
        name,
        kind=kind,
        owns=owns,
        mapping=mapping,
        clear_mapping=mapping is None,
        config=config or {},
        cause=cause,
    )


def source_versions(conn: sa.Connection, source: Source) -> list[dict[str, Any]]:
    """Every version of the source, oldest first: {version, created, source object}."""
    rows = conn.execute(_VERSIONS, {"a": source.account_id, "id": source.id})
    return [{"version": r.version, "created": r.created, "source": r.state} for r in rows]


def mapping_history(
    conn: sa.Connection, account_id: str, *, prefer: str | None = None
) -> dict[str, tuple[str, str]]:
    """header -> (catalog field, where) from every saved mapping of the account, newest first;
    the `prefer` source's own mappings come before the others'. For the mapping assistant."""
    rows = list(conn.execute(_ACCOUNT_VERSIONS, {"a": account_id}))
    rows.sort(key=lambda r: r.name != prefer)  # stable: newest first within each group
    history: dict[str, tuple[str, str]] = {}
    for r in rows:
        where = f"source {r.name}, mapping version {r.version}"
        m = r.mapping
        fields = dict(m.get("fields") or {})
        # a key column that is also the SKU is remembered as the SKU: the assistant makes a
        # unique SKU column the key again, and keeps it as the SKU
        key_target = "sku" if m.get("key") and fields.get("sku") == m.get("key") else "external_id"
        pairs = [(key_target, m.get("key")), ("parent_external_id", m.get("parent_key"))]
        pairs += list(fields.items())
        for target, column in pairs:
            if isinstance(column, str) and column and column not in history:
                history[column] = (target, where)
    return history


def refuse_if_archived(source: Source) -> None:
    if not source.active:
        raise SourceArchived(
            f"source {source.name!r} is archived and takes no imports; restore it with"
            f" `catalog-sync sources restore {source.name}` or import into another source",
            param="source",
        )


_SET_WEBHOOK_SECRET = sa.text(
    "UPDATE sources SET webhook_secret = :secret WHERE account_id = :a AND name = :n RETURNING id"
)


def set_webhook_secret(conn: sa.Connection, account_id: str, name: str, secret: str | None) -> None:
    """Store (or, with None, clear) the secret that signs the source's incoming webhooks
    (Shopify's app secret). Not versioned and never in an event: it is a credential."""
    if secret is not None and not 16 <= len(secret) <= 512:
        raise InvalidRequest("a webhook secret must be 16 to 512 characters", param="secret")
    found = conn.execute(_SET_WEBHOOK_SECRET, {"secret": secret, "a": account_id, "n": name})
    if found.first() is None:
        raise NotFound(f"No such source: '{name}'", param="id")
