"""The guards' rules, shared by every path that applies an import.

`protected_keys` names what a full import must never archive (keys seen in rejected rows),
`refusal` says whether the share of products it would archive is too large, and
`reject_rate_refusal` whether too many of its rows were rejected (docs/import-semantics.md).
The Dagster checks apply the same rules.
"""

from __future__ import annotations

from catalog_pipelines.normalized import Reject


def protected_keys(rejects: list[Reject]) -> frozenset[str]:
    """Values seen in rejected rows: a full import never archives an object named there."""
    return frozenset(str(v).strip() for r in rejects for v in r.raw.values() if v is not None)


def refusal(
    archived: int,
    active: int,
    *,
    source: str,
    max_archive_fraction: float,
    allow_mass_archive: bool,
) -> str | None:
    """The guard of docs/import-semantics.md: None when it lets the import through."""
    fraction = archived / active if active else 0.0
    if allow_mass_archive or fraction <= max_archive_fraction:
        return None
    return (
        f"a full import would archive {archived} of {active} active products of source"
        f" {source!r} ({fraction:.0%}), more than max_archive_fraction="
        f"{max_archive_fraction:.0%}; pass --allow-mass-archive if that is intended"
    )


def reject_rate(rows_read: int, rejected: int) -> float:
    return rejected / rows_read if rows_read else 0.0


def reject_rate_refusal(rows_read: int, rejected: int, max_reject_rate: float | None) -> str | None:
    """None when no limit is set or the share of rejected rows is within it."""
    rate = reject_rate(rows_read, rejected)
    if max_reject_rate is None or rate <= max_reject_rate:
        return None
    return (
        f"{rejected} of {rows_read} rows were rejected ({rate:.2%}), more than"
        f" max_reject_rate={max_reject_rate:.2%}; fix the file, or raise --max-reject-rate"
    )
