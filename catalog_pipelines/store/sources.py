"""Sources: named external systems, their connector kind, mapping and ownership policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.connectors.registry import KINDS

GROUPS: tuple[str, ...] = ("content", "pricing", "inventory")


@dataclass(frozen=True)
class Source:
    account_id: str
    name: str
    kind: str
    owns: frozenset[str]
    mapping: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """mirror (owns all), catalog (owns none) or hybrid, as docs/ownership.md names them."""
        if self.owns == frozenset(GROUPS):
            return "mirror"
        return "catalog" if not self.owns else "hybrid"

    def as_json(self) -> dict[str, Any]:
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


_COLUMNS = "account_id, name, kind, owns, mapping, config"
_GET = sa.text(f"SELECT {_COLUMNS} FROM sources WHERE account_id = :a AND name = :n")  # noqa: S608
_LIST = sa.text(f"SELECT {_COLUMNS} FROM sources WHERE account_id = :a ORDER BY name")  # noqa: S608
_INSERT = sa.text(
    "INSERT INTO sources (account_id, name, kind, owns, mapping, config)"
    " VALUES (:a, :n, :k, :owns, CAST(:mapping AS jsonb), CAST(:config AS jsonb))"
    " ON CONFLICT (account_id, name) DO UPDATE SET kind = excluded.kind, owns = excluded.owns,"
    " mapping = excluded.mapping, config = excluded.config"
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
    )


def ensure_account(conn: sa.Connection, account_id: str) -> None:
    conn.execute(_ENSURE_ACCOUNT, {"a": account_id})


def get_source(conn: sa.Connection, account_id: str, name: str) -> Source | None:
    row = conn.execute(_GET, {"a": account_id, "n": name}).first()
    return _row_to_source(row) if row else None


def list_sources(conn: sa.Connection, account_id: str) -> list[Source]:
    return [_row_to_source(r) for r in conn.execute(_LIST, {"a": account_id})]


def add_source(
    conn: sa.Connection,
    *,
    account_id: str,
    name: str,
    kind: str,
    owns: frozenset[str] | set[str],
    mapping: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Source:
    """Create a source, or redefine it (kind, ownership, mapping, config) if it exists."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    ensure_account(conn, account_id)
    conn.execute(
        _INSERT,
        {
            "a": account_id,
            "n": name,
            "k": kind,
            "owns": [g for g in GROUPS if g in owns],
            "mapping": json.dumps(mapping) if mapping is not None else None,
            "config": json.dumps(config or {}),
        },
    )
    source = get_source(conn, account_id, name)
    assert source is not None
    return source
