"""The mass-archive guard's rule, shared by every path that applies an import.

`protected_keys` names what a full import must never archive (keys seen in rejected rows) and
`refusal` says whether the share of products it would archive is too large
(docs/import-semantics.md).
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
