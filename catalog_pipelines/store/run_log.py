"""The life of an import run in `import_runs`: started, then applied, refused, failed or abandoned.

A run's row is written when it starts, in its own committed transaction, so that every attempt
leaves a trace: a failure is recorded after the rollback, in a new transaction; a run whose
process was killed stays `running`, and the next run of its source marks it `abandoned` once
the session that ran it is gone (docs/import-failures.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from catalog_pipelines.store.sources import ensure_account
from catalog_pipelines.text_safety import escape_unstorable

ERROR_MAX_CHARS = 2000  # an error is a message, not a dump


@dataclass(frozen=True)
class RunStart:
    """What is known of a run before its input is read."""

    run_id: str
    account_id: str
    source: str
    mode: str
    input_name: str
    started: datetime
    trigger: str | None = None  # cli, dagster, inbox, ... (the API records its own)
    dagster_run_id: str | None = None


_EMPTY_SUMMARY = json.dumps({"rows_read": 0, "rows_valid": 0, "rows_rejected": 0})

_START = sa.text(
    "INSERT INTO import_runs (id, account_id, source, mode, dry_run, status, input, rows_read,"
    " rows_valid, rows_rejected, summary, started, backend_pid, backend_start, trigger,"
    " dagster_run_id)"
    " SELECT :id, :account, :source, :mode, false, 'running', :input, 0, 0, 0,"
    " CAST(:summary AS jsonb), :started, a.pid, a.backend_start, :trigger, :dagster_run_id"
    " FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()"
    # The API records its runs first as `queued` (catalog_pipelines/import_jobs.py).
    " ON CONFLICT (id) DO UPDATE SET status = 'running', backend_pid = excluded.backend_pid,"
    " backend_start = excluded.backend_start WHERE import_runs.status = 'queued'"
)

# A run is dead when no session has its (pid, backend_start) any more: pids are reused,
# backend_start tells a new session with the same pid apart.
_ABANDON = sa.text(
    "UPDATE import_runs r SET status = 'abandoned', finished = now(),"
    " error = 'the process running this import stopped before it finished; nothing of it was"
    " written'"
    " WHERE r.account_id = :account AND r.source = :source AND r.status = 'running'"
    " AND r.id <> :id AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
    " WHERE a.pid = r.backend_pid AND a.backend_start = r.backend_start)"
    " RETURNING r.id"
)

_FAIL = sa.text(
    "INSERT INTO import_runs (id, account_id, source, mode, dry_run, status, input, rows_read,"
    " rows_valid, rows_rejected, summary, error, started, trigger, dagster_run_id)"
    " VALUES (:id, :account, :source, :mode, false, 'failed', :input, 0, 0, 0,"
    " CAST(:summary AS jsonb), :error, :started, :trigger, :dagster_run_id)"
    " ON CONFLICT (id) DO UPDATE SET status = 'failed', error = excluded.error,"
    " finished = now()"
)


def start_run(conn: sa.Connection, run: RunStart) -> list[str]:
    """Record the run as `running` on `conn`'s session and commit; mark the source's dead
    runs `abandoned`. Returns the ids of the runs abandoned now."""
    with conn.begin():
        ensure_account(conn, run.account_id)
        abandoned = abandon_dead_runs(conn, run.account_id, run.source, except_run=run.run_id)
        conn.execute(
            _START,
            {
                "id": run.run_id,
                "account": run.account_id,
                "source": run.source,
                "mode": run.mode,
                "input": escape_unstorable(run.input_name),
                "summary": _EMPTY_SUMMARY,
                "started": run.started,
                "trigger": run.trigger,
                "dagster_run_id": run.dagster_run_id,
            },
        )
    return abandoned


def abandon_dead_runs(
    conn: sa.Connection, account_id: str, source: str, *, except_run: str
) -> list[str]:
    """Mark `abandoned` the source's `running` runs whose database session is gone."""
    rows = conn.execute(_ABANDON, {"account": account_id, "source": source, "id": except_run})
    return [r.id for r in rows]


def fail_run(engine: sa.Engine, run: RunStart, error: BaseException | str) -> None:
    """Record the run as `failed` with its error, in a transaction of its own (the run's own
    transaction has been rolled back). Never raises: the original error matters more."""
    message = error if isinstance(error, str) else describe_error(error)
    try:
        with engine.begin() as conn:
            ensure_account(conn, run.account_id)
            conn.execute(
                _FAIL,
                {
                    "id": run.run_id,
                    "account": run.account_id,
                    "source": run.source,
                    "mode": run.mode,
                    "input": escape_unstorable(run.input_name),
                    "summary": _EMPTY_SUMMARY,
                    "error": escape_unstorable(message)[:ERROR_MAX_CHARS],
                    "started": run.started,
                    "trigger": run.trigger,
                    "dagster_run_id": run.dagster_run_id,
                },
            )
    except sa.exc.SQLAlchemyError:
        pass  # the database itself is failing; the caller reports the original error


def describe_error(error: BaseException) -> str:
    """One line naming the error: its type and the first line of its message."""
    orig = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error
    err = orig if isinstance(orig, BaseException) else error
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
