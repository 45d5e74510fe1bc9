"""Markdown and counts for the UI: what a run changed, what it rejected, what it plans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from catalog_pipelines.normalized import Reject
from catalog_pipelines.validation import ValidationReport

KINDS = ("products", "prices", "inventory_items")
COUNTS = ("created", "updated", "unchanged", "archived")
_OBJECT_TYPE = {"products": "product", "prices": "price", "inventory_items": "inventory_item"}
_CELL = 60


def _cell(value: Any) -> str:
    """One table cell: short, single-line and with pipes escaped."""
    text = "∅" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def plan_counts(report_json: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {k: {c: int(report_json.get(k, {}).get(c, 0)) for c in COUNTS} for k in KINDS}


def kind_counts(report_json: dict[str, Any], kind: str) -> dict[str, int]:
    return {c: int(report_json.get(kind, {}).get(c, 0)) for c in COUNTS}


def changes_for(changes: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    object_type = _OBJECT_TYPE[kind]
    return [c for c in changes if c.get("object_type") == object_type]


def changes_markdown(changes: Sequence[dict[str, Any]], limit: int) -> str:
    """A table of the first `limit` changes, with before → after for each changed field."""
    if not changes:
        return "_No changes._"
    lines = ["| object | external id | action | changed fields |", "|---|---|---|---|"]
    for change in changes[:limit]:
        fields = change.get("fields") or {}
        shown = "; ".join(
            f"{name}: {_cell(pair[0])} → {_cell(pair[1])}"
            for name, pair in list(fields.items())[:4]
        )
        if len(fields) > 4:
            shown += f"; +{len(fields) - 4} more"
        shown = shown or "—"
        lines.append(
            f"| {_cell(change.get('id'))} | {_cell(change.get('external_id'))}"
            f" | {change.get('action')} | {shown} |"
        )
    if len(changes) > limit:
        lines.append(f"\n_…and {len(changes) - limit} more in this preview._")
    return "\n".join(lines)


def rejects_markdown(rejects: Sequence[Reject], limit: int) -> str:
    if not rejects:
        return "_No rejected rows._"
    lines = ["| row | reasons |", "|---|---|"]
    for reject in rejects[:limit]:
        lines.append(f"| {reject.row_number} | {_cell('; '.join(reject.reasons))} |")
    if len(rejects) > limit:
        lines.append(f"\n_…and {len(rejects) - limit} more: `catalog-sync rejects export RUN_ID`._")
    return "\n".join(lines)


def validation_summary(report: ValidationReport) -> dict[str, Any]:
    """The pandera outcome, JSON-ready: failing rows per check, and the first failures."""
    return {
        "failures_by_check": dict(report.checks),
        "rows_rejected_by_validation": report.rows_rejected_here,
        "sample": [{k: _cell(v) for k, v in row.items()} for row in report.sample[:10]],
    }
