"""Import runs started through the API: recorded as `running`, then run by the real importer
(`import_path`, exactly what `catalog-sync import` runs) on a background worker pool
(CATALOG_IMPORT_WORKERS threads, default 2).

The request only checks its parameters and records the run; the thread writes the outcome
to the same import_runs row: the counts of `catalog-sync import --json`, a sample of the
changes (with per-field before/after for updates), the rejected rows and any error.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from catalog_pipelines.importer import (
    ImportOptions,
    ImportRefused,
    ImportReport,
    import_path,
    new_run_id,
)
from catalog_pipelines.mapping import FORMATS, MappingError, mapping_from_dict
from catalog_pipelines.progress import ProgressFn
from catalog_pipelines.store import imports as import_store
from catalog_pipelines.store import runs
from catalog_pipelines.store.errors import InvalidRequest
from catalog_pipelines.store.sources import ensure_account

log = logging.getLogger(__name__)

MODES = ("full", "incremental")
FORMAT_CHOICES = ("auto", *FORMATS)
SAMPLE_PER_KIND = 20  # changes kept per (object type, action) in the run's sample
SAMPLE_LIMIT = 100
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Runs execute on a small pool: each holds database connections (and a source's lock) for
# its whole length, so a burst of requests queues here instead of draining the API's pool.
WORKERS = int(os.environ.get("CATALOG_IMPORT_WORKERS", "2"))
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="import-run")
_futures: dict[str, Future[None]] = {}


def parse_mapping(text: str) -> str:
    """Check a mapping given as YAML or JSON text; returns it (the importer reads it again)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidRequest(f"mapping: not valid YAML or JSON: {e}", param="mapping") from None
    try:
        mapping_from_dict(data, where="mapping")
    except MappingError as e:
        raise InvalidRequest(str(e), param="mapping") from None
    return text


def check_params(source: str, fmt: str, mode: str) -> None:
    if not _SOURCE_NAME.match(source):
        raise InvalidRequest(
            f"Invalid source {source!r}: letters, digits, '_', '.', '-', at most 64",
            param="source",
        )
    if fmt not in FORMAT_CHOICES:
        raise InvalidRequest(
            f"Invalid format {fmt!r}: one of {', '.join(FORMAT_CHOICES)}", param="format"
        )
    if mode not in MODES:
        raise InvalidRequest(f"Invalid mode {mode!r}: full or incremental", param="mode")


def sample_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few changes of every (object type, action), so a sample shows updates even when
    the run created thousands of objects first."""
    seen: Counter[tuple[str, str]] = Counter()
    out: list[dict[str, Any]] = []
    for c in changes:
        kind = (c["object_type"], c["action"])
        if seen[kind] < SAMPLE_PER_KIND and len(out) < SAMPLE_LIMIT:
            seen[kind] += 1
            out.append(c)
    return out


def start_import(
    engine: sa.Engine,
    *,
    account_id: str,
    path: Path,
    file_id: str,
    filename: str | None,
    source: str,
    mapping: str | None = None,
    fmt: str = "auto",
    mode: str = "full",
    dry_run: bool = False,
    trigger: str = "api",
) -> dict[str, Any]:
    """Record a `running` run and queue the import on the worker pool; returns the run as
    it was recorded (status `running`, stage `queued`). `trigger` says who asked: `api`, or
    `dashboard` for the merchant dashboard."""
    check_params(source, fmt, mode)
    if mapping is not None:
        parse_mapping(mapping)
    run_id = new_run_id()
    with engine.begin() as conn:
        ensure_account(conn, account_id)
        runs.insert_running(
            conn,
            run_id=run_id,
            account_id=account_id,
            source=source,
            mode=mode,
            dry_run=dry_run,
            input_name=filename or file_id,
            file_id=file_id,
            trigger=trigger,
        )
        obj = runs.get_run(conn, account_id, run_id)
    assert obj is not None
    options = ImportOptions(
        source=source,
        account_id=account_id,
        mode="full" if mode == "full" else "incremental",  # checked above
        dry_run=dry_run,
        run_id=run_id,
    )
    future = _pool.submit(_run, engine, options, path, filename or file_id, mapping, fmt)
    _futures[run_id] = future
    future.add_done_callback(lambda _: _futures.pop(run_id, None))
    return obj


def wait(run_id: str, timeout: float | None = None) -> None:
    """Wait for a run this process started (no-op for others)."""
    future = _futures.get(run_id)
    if future is not None:
        futures_wait([future], timeout)


def _run(
    engine: sa.Engine,
    options: ImportOptions,
    path: Path,
    display_name: str,
    mapping: str | None,
    fmt: str,
) -> None:
    run_id = options.run_id
    assert run_id is not None
    try:
        with tempfile.TemporaryDirectory(prefix="catalog-mapping-") as tmp:
            mapping_path = None
            if mapping is not None:
                mapping_path = Path(tmp) / "mapping.yaml"
                mapping_path.write_text(mapping, encoding="utf-8")
            report = import_path(
                engine,
                path,
                options,
                format=fmt,
                mapping_path=mapping_path,
                progress=_progress(engine, run_id),
            )
    except ImportRefused as e:  # the importer recorded the refusal (and its rejects)
        _finish(engine, run_id, e.report, display_name, path, status="refused")
    except Exception as e:  # noqa: BLE001 - every failure is the run's outcome, not a crash
        log.warning("import run %s failed: %s", run_id, e)
        message = str(e).replace(str(path), display_name) or type(e).__name__
        with engine.begin() as conn:
            runs.finish_run(conn, run_id, status="failed", error=message)
    else:
        _finish(engine, run_id, report, display_name, path, status=None)


def _progress(engine: sa.Engine, run_id: str) -> ProgressFn:
    def report(stage: str, fraction: float) -> None:
        try:
            with engine.begin() as conn:
                runs.set_progress(conn, run_id, stage, fraction)
        except sa.exc.SQLAlchemyError as e:  # progress is a nicety: never fail the run on it
            log.warning("import run %s: progress not recorded: %s", run_id, e)

    return report


def _finish(
    engine: sa.Engine,
    run_id: str,
    report: ImportReport,
    display_name: str,
    path: Path,
    *,
    status: str | None,
) -> None:
    summary = report.to_json()
    summary["warnings"] = [w.replace(str(path), display_name) for w in summary["warnings"]]
    with engine.begin() as conn:
        if report.dry_run:  # the importer records applied and refused runs, not dry runs
            import_store.record_run(
                conn,
                run_id=run_id,
                account_id=_run_account(conn, run_id),
                source=report.source,
                mode=report.mode,
                dry_run=True,
                status="refused" if report.refused else "previewed",
                input_name=display_name,
                summary=summary,
                unmapped_columns=report.unmapped_columns,
                rejects=report.rejects,
                started=_run_started(conn, run_id),
                error=report.refused,
            )
        runs.finish_run(
            conn,
            run_id,
            status=status,
            summary=summary,
            changes=sample_changes(report.changes),
            error=report.refused,
        )
        conn.execute(
            sa.text("UPDATE import_runs SET input = :input WHERE id = :id"),
            {"input": display_name, "id": run_id},
        )


def _run_account(conn: sa.Connection, run_id: str) -> str:
    return conn.execute(
        sa.text("SELECT account_id FROM import_runs WHERE id = :id"), {"id": run_id}
    ).scalar_one()


def _run_started(conn: sa.Connection, run_id: str) -> Any:
    return conn.execute(
        sa.text("SELECT started FROM import_runs WHERE id = :id"), {"id": run_id}
    ).scalar_one()
