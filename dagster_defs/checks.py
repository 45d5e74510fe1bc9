"""Asset check rules, as pure functions of a batch and a plan, so each can be unit-tested.

The step that materializes `validated_rows` evaluates them on the importer's plan, before
anything is written (assets/catalog.py, `CheckGate`), and yields their results; the specs live
next to that asset.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import sqlalchemy as sa

from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.preflight import reject_rate, reject_rate_refusal
from dagster_defs import previews

# Previous real imports of the source, newest first: the baseline for schema drift.
# Dry runs and refused runs do not move the baseline.
_PREVIOUS_UNMAPPED = sa.text(
    "SELECT unmapped_columns FROM import_runs"
    " WHERE account_id = :a AND source = :s AND NOT dry_run AND status = 'applied'"
    " ORDER BY started DESC LIMIT 1"
)


def previous_unmapped_columns(engine: sa.Engine, account_id: str, source: str) -> list[str] | None:
    """The unmapped columns of the source's last applied import; None before its first."""
    with engine.connect() as conn:
        row = conn.execute(_PREVIOUS_UNMAPPED, {"a": account_id, "s": source}).first()
    if row is None:
        return None
    value = row.unmapped_columns
    return list(json.loads(value) if isinstance(value, str) else value or [])


def check_row_reconciliation(batch: ParsedBatch) -> dg.AssetCheckResult:
    rows_valid = int(batch.rows_valid or 0)
    rejected = len(batch.rejects)
    return dg.AssetCheckResult(
        check_name="row_reconciliation",
        passed=batch.rows_read == rows_valid + rejected,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_read": batch.rows_read,
            "rows_valid": rows_valid,
            "rows_rejected": rejected,
        },
    )


def check_reject_rate(batch: ParsedBatch, max_reject_rate: float) -> dg.AssetCheckResult:
    rejected = len(batch.rejects)
    rate = reject_rate(batch.rows_read, rejected)
    return dg.AssetCheckResult(
        check_name="reject_rate",
        # the CLI's --max-reject-rate rule, so both refuse the same files
        passed=reject_rate_refusal(batch.rows_read, rejected, max_reject_rate) is None,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "reject_rate": dg.MetadataValue.float(round(rate, 6)),
            "max_reject_rate": dg.MetadataValue.float(max_reject_rate),
            "rows_rejected": rejected,
            "reject_sample": dg.MetadataValue.md(previews.rejects_markdown(batch.rejects, 10)),
        },
    )


def check_mass_archive(
    *,
    mode: str,
    archive_fraction: float,
    max_archive_fraction: float,
    allow_mass_archive: bool,
    refused: str | None,
    plan: dict[str, Any],
) -> dg.AssetCheckResult:
    """Fails when the importer refused the plan, or the plan archives too large a share."""
    archived = int(plan.get("products", {}).get("archived", 0)) if plan else 0
    within = archive_fraction <= max_archive_fraction or allow_mass_archive
    return dg.AssetCheckResult(
        check_name="mass_archive_guard",
        passed=refused is None and (mode != "full" or within),
        severity=dg.AssetCheckSeverity.ERROR,
        description=refused,
        metadata={
            "mode": mode,
            "products_to_archive": archived,
            "archive_fraction": dg.MetadataValue.float(round(archive_fraction, 6)),
            "max_archive_fraction": dg.MetadataValue.float(max_archive_fraction),
            "allow_mass_archive": allow_mass_archive,
        },
    )


def new_unmapped_columns(current: list[str], previous: list[str] | None) -> list[str]:
    """Columns unmapped now that the previous import did not have (none before a first import)."""
    if previous is None:
        return []
    known = set(previous)
    return [c for c in current if c not in known]


def check_schema_drift(current: list[str], previous: list[str] | None) -> dg.AssetCheckResult:
    new = new_unmapped_columns(current, previous)
    return dg.AssetCheckResult(
        check_name="schema_drift",
        passed=not new,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "first import of this source: its unmapped columns become the baseline"
            if previous is None
            else None
        ),
        metadata={
            "new_unmapped_columns": dg.MetadataValue.json(new),
            "unmapped_columns": len(current),
            "previous_unmapped_columns": len(previous or []),
        },
    )
