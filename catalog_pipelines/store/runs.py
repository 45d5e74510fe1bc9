"""Import runs as the API shows them: the `import_run` object, lists, and the records the
API writes around the importer (a `running` row first, the outcome after).

Table statuses map to the API's three: `running` (or any run not `finished` yet);
`applied` and `previewed` (a dry run) are `succeeded`; `refused` and `failed` are `failed`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.reads import CursorNotFound, ListPage

API_STATUS = {
    "queued": "running",
    "running": "running",
    "abandoned": "failed",
    "applied": "succeeded",
    "previewed": "succeeded",
    "refused": "failed",
    "failed": "failed",
}
# Runs recorded by `import_jobs.start_import` (the API, the dashboard): over only once the
# outcome is stored, after the importer's own record.
BACKGROUND_TRIGGERS = ("api", "dashboard")
_COUNT_KEYS = (
    "rows_read",
    "rows_valid",
    "rows_rejected",
    "products",
    "prices",
    "inventory_items",
    "ignored_not_owned",
    "events",
    "warnings",
)

_COLUMNS = (
    "id, account_id, source, mode, dry_run, status, input, rows_read, rows_valid, rows_rejected,"
    " summary, error, started, finished, trigger, file_id, reverts, reverted_by, changes,"
    " progress, dagster_run_id"
)
_GET = sa.text(
    f"SELECT {_COLUMNS} FROM import_runs"  # noqa: S608 - constant column list
    " WHERE account_id = :account AND id = :id"
)
_LIST = sa.text(
    f"SELECT {_COLUMNS} FROM import_runs"  # noqa: S608 - constant column list
    " WHERE account_id = :account AND (CAST(:source AS text) IS NULL OR source = :source)"
    " AND (CAST(:after_started AS timestamptz) IS NULL"
    "      OR (started, id) < (CAST(:after_started AS timestamptz), CAST(:after_id AS text)))"
    " AND (CAST(:before_started AS timestamptz) IS NULL"
    "      OR (started, id) > (CAST(:before_started AS timestamptz), CAST(:before_id AS text)))"
    " ORDER BY started DESC, id DESC LIMIT :limit"
)
# ending_before: the page just newer than the cursor, read oldest first, shown newest first.
_LIST_BEFORE = sa.text(
    f"SELECT {_COLUMNS} FROM import_runs"  # noqa: S608 - constant column list
    " WHERE account_id = :account AND (CAST(:source AS text) IS NULL OR source = :source)"
    " AND (CAST(:after_started AS timestamptz) IS NULL"
    "      OR (started, id) < (CAST(:after_started AS timestamptz), CAST(:after_id AS text)))"
    " AND (started, id) > (CAST(:before_started AS timestamptz), CAST(:before_id AS text))"
    " ORDER BY started, id LIMIT :limit"
)


def run_object(row: Any) -> dict[str, Any]:
    """Stripe-shaped `import_run`: the counts of `catalog-sync import --json`, the run's
    lifecycle, and a sample of its changes."""
    summary = dict(row.summary or {})
    # An API (or dashboard) run is over once the API has stored its outcome (progress `done`), after the
    # importer's own record: a client never sees a finished run without its changes.
    stage = (row.progress or {}).get("stage")
    running = row.status in ("queued", "running") or (
        row.trigger in BACKGROUND_TRIGGERS and row.status != "abandoned" and stage != "done"
    )
    counts = {k: summary[k] for k in _COUNT_KEYS if k in summary}
    obj: dict[str, Any] = {
        "id": row.id,
        "object": "import_run",
        "status": "running" if running else API_STATUS[row.status],
        "outcome": "running" if running else row.status,
        "source": row.source,
        "mode": row.mode,
        "dry_run": row.dry_run,
        "trigger": row.trigger,
        "dagster_run": row.dagster_run_id,
        "file": row.file_id,
        "input": row.input,
        "created": int(row.started.timestamp()),
        "finished": None if row.finished is None else int(row.finished.timestamp()),
        "error": row.error,
        "progress": (
            (row.progress or {"stage": "queued", "fraction": 0.0})
            if running
            else {"stage": "done", "fraction": 1.0}
        ),
        "rows_read": row.rows_read,
        "rows_valid": row.rows_valid,
        "rows_rejected": row.rows_rejected,
        **counts,
        "changes": row.changes or [],
        "reverts": row.reverts,
        "reverted_by": row.reverted_by,
        "account": row.account_id,
    }
    if row.mode == "revert":
        obj["revert"] = summary.get("revert")
    return obj


def get_run(conn: sa.Connection, account_id: str, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(_GET, {"account": account_id, "id": run_id}).first()
    return None if row is None else run_object(row)


def list_runs(
    conn: sa.Connection,
    account_id: str,
    *,
    limit: int = 10,
    starting_after: str | None = None,
    ending_before: str | None = None,
    source: str | None = None,
) -> ListPage:
    """Newest first. `starting_after` pages to older runs, `ending_before` to newer ones
    (both together: the runs between them)."""

    def cursor(param: str, run_id: str | None) -> datetime | None:
        if run_id is None:
            return None
        found = conn.execute(
            sa.text("SELECT started FROM import_runs WHERE account_id = :a AND id = :id"),
            {"a": account_id, "id": run_id},
        ).first()
        if found is None:
            raise CursorNotFound(param, run_id)
        return found.started

    params = {
        "account": account_id,
        "source": source,
        "after_started": cursor("starting_after", starting_after),
        "after_id": starting_after,
        "before_started": cursor("ending_before", ending_before),
        "before_id": ending_before,
        "limit": limit + 1,
    }
    if ending_before is not None and starting_after is None:
        rows = list(conn.execute(_LIST_BEFORE, params))
        return ListPage([run_object(r) for r in reversed(rows[:limit])], len(rows) > limit)
    rows = list(conn.execute(_LIST, params))
    return ListPage([run_object(r) for r in rows[:limit]], len(rows) > limit)


_INSERT_RUNNING = sa.text(
    "INSERT INTO import_runs (id, account_id, source, mode, dry_run, status, input, rows_read,"
    " rows_valid, rows_rejected, summary, started, finished, trigger, file_id)"
    " VALUES (:id, :account, :source, :mode, :dry_run, 'queued', :input, 0, 0, 0, '{}',"
    " now(), NULL, :trigger, :file_id)"
)


def insert_running(
    conn: sa.Connection,
    *,
    run_id: str,
    account_id: str,
    source: str,
    mode: str,
    dry_run: bool,
    input_name: str | None,
    file_id: str | None,
    trigger: str = "api",
) -> None:
    conn.execute(
        _INSERT_RUNNING,
        {
            "id": run_id,
            "account": account_id,
            "source": source,
            "mode": mode,
            "dry_run": dry_run,
            "input": input_name,
            "trigger": trigger,
            "file_id": file_id,
        },
    )


def finish_run(
    conn: sa.Connection,
    run_id: str,
    *,
    status: str | None = None,
    summary: dict[str, Any] | None = None,
    changes: list[dict[str, Any]] | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome; None leaves a column as the importer wrote it."""
    conn.execute(
        sa.text(
            "UPDATE import_runs SET status = coalesce(:status, status),"
            " summary = coalesce(CAST(:summary AS jsonb), summary),"
            " rows_read = coalesce(CAST(:rows_read AS integer), rows_read),"
            " rows_valid = coalesce(CAST(:rows_valid AS integer), rows_valid),"
            " rows_rejected = coalesce(CAST(:rows_rejected AS integer), rows_rejected),"
            " changes = coalesce(CAST(:changes AS jsonb), changes),"
            " error = coalesce(:error, error), finished = coalesce(finished, now()),"
            " progress = CAST(:done AS jsonb)"
            " WHERE id = :id"
        ),
        {
            "id": run_id,
            "status": status,
            "summary": None if summary is None else json.dumps(summary, default=str),
            "rows_read": None if summary is None else summary.get("rows_read"),
            "rows_valid": None if summary is None else summary.get("rows_valid"),
            "rows_rejected": None if summary is None else summary.get("rows_rejected"),
            "changes": None if changes is None else json.dumps(changes, default=str),
            "error": error,
            "done": json.dumps({"stage": "done", "fraction": 1.0}),
        },
    )


def set_progress(conn: sa.Connection, run_id: str, stage: str, fraction: float) -> None:
    """Where a running run is (the importer's phases), for a live progress bar."""
    conn.execute(
        sa.text(
            "UPDATE import_runs SET progress = CAST(:p AS jsonb)"
            " WHERE id = :id AND status IN ('queued', 'running')"
        ),
        {"id": run_id, "p": json.dumps({"stage": stage, "fraction": round(fraction, 3)})},
    )


def rejected_rows(conn: sa.Connection, account_id: str, run_id: str) -> list[Any] | None:
    """The run's rejected rows in row order, or None when the account has no such run."""
    found = conn.execute(
        sa.text("SELECT 1 FROM import_runs WHERE account_id = :a AND id = :r"),
        {"a": account_id, "r": run_id},
    ).first()
    if found is None:
        return None
    return list(
        conn.execute(
            sa.text(
                "SELECT row_number, raw, reasons FROM rejected_rows WHERE run_id = :r"
                " ORDER BY row_number"
            ),
            {"r": run_id},
        )
    )
