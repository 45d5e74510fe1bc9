"""Undo an import run: new versions that put each object the run changed back as it was.

The run's events are the record of what it did: each names the object, the version the run
wrote and, for updates, the `previous_attributes` it overwrote. For every such object:

- still at the version the run wrote: restored (a new version whose changed fields are the
  previous attributes), or, if the run created it, archived (`active=false`; nothing is
  ever deleted);
- changed again since (a later import, an API write, a sale): left alone and listed.

Prices are immutable in amount, so an amount change was an archive of the old price plus a
new one; it is undone by archiving the new price (its lookup_key released, `replaced_by`
pointing back) and re-activating the old one with its lookup_key, and the product's
default_price follows. Stock goes back to its prior quantity with a ledger row whose reason
names the revert. Everything is one transaction, recorded as a run (`mode = 'revert'`,
`trigger = 'revert'`, `reverts` = the undone run) whose id is the `run_id` of every event it
writes. A dry run computes the same plan and writes nothing. See docs/imports-api.md.

The plan is made on the server, in temp tables (store/sql/plan_revert.sql), and written a
batch at a time (store/sql/revert_writes.sql): the client holds one batch and the listed
preview, however many objects the run wrote.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import new_run_id
from catalog_pipelines.store import objects
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound
from catalog_pipelines.store.events import Cause, append_events, lock_event_log
from catalog_pipelines.store.imports import (
    PROBE_LIMIT,
    driver,
    index_probes,
    lock_source,
    named_statements,
)
from catalog_pipelines.store.pipelined import execute_many

log = logging.getLogger(__name__)

LISTED_LIMIT = 1000  # objects listed per action in a preview; the counts are complete

_RUN = sa.text(
    "SELECT id, source, mode, dry_run, status, reverted_by, started, events_after,"
    " events_through FROM import_runs WHERE account_id = :account AND id = :id"
)
_CURRENT = {
    "product": "SELECT id, product_object(p) AS obj, NULL::text AS replaced_by FROM products p",
    "price": "SELECT id, price_object(p) AS obj, replaced_by FROM prices p",
    "inventory_item": (
        "SELECT id, inventory_item_object(p) AS obj, NULL::text AS replaced_by"
        " FROM inventory_items p"
    ),
}
_LEDGER = sa.text(
    "INSERT INTO inventory_adjustments (account_id, inventory_item_id, kind, delta,"
    " quantity_after, reason, reference, source, run_id)"
    " VALUES (:account, :item, 'set', :delta, :after, :reason, :reference, :source, :run_id)"
)
_RECORD = sa.text(
    "INSERT INTO import_runs (id, account_id, source, mode, dry_run, status, input, rows_read,"
    " rows_valid, rows_rejected, summary, started, finished, trigger, reverts, changes)"
    " VALUES (:id, :account, :source, 'revert', false, 'applied', :input, 0, 0, 0,"
    " CAST(:summary AS jsonb), :started, now(), 'revert', :reverts, CAST(:changes AS jsonb))"
)


@dataclass
class Step:
    """What the revert does (or would do) to one object: a row of the plan with the object's
    current state, for a listed preview or a batch being written."""

    object_type: str
    id: str
    action: str  # restore | archive | skip
    current: dict[str, Any]
    target: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    replaced_by: str | None = None  # prices: the new value of prices.replaced_by

    def fields(self) -> dict[str, list[Any]]:
        """Per field: [now, after the revert]."""
        return {k: [self.current.get(k), v] for k, v in self.target.items()}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object_type": self.object_type, "id": self.id}
        if self.action == "skip":
            out["reason"] = self.reason
        else:
            out["fields"] = self.fields()
            if self.reason:
                out["note"] = self.reason
        return out


# action -> the key its objects are counted and listed under
_ACTIONS = {"restore": "restored", "archive": "archived", "skip": "skipped"}


@dataclass
class RevertResult:
    """The plan's counts per object type and action, and the first LISTED_LIMIT steps of each
    action in write order: the whole plan stays on the server (store/sql/plan_revert.sql)."""

    run_id: str
    source: str
    dry_run: bool
    counts: dict[tuple[str, str], int]  # (object_type, action) -> objects
    listed: list[Step]
    revert_run_id: str | None = None
    events: int = 0

    def count(self, action: str, object_type: str | None = None) -> int:
        return sum(
            n
            for (kind, act), n in self.counts.items()
            if act == action and object_type in (None, kind)
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": "import_run_revert",
            "run": self.run_id,
            "source": self.source,
            "dry_run": self.dry_run,
            "revert_run": self.revert_run_id,
            "counts": {key: self.count(action) for action, key in _ACTIONS.items()},
            "events": self.events,
        }
        for action, key in _ACTIONS.items():
            out[key] = [s.describe() for s in self.listed if s.action == action]
        return out


_PLAN_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS revert_touched (object_type text, id text PRIMARY KEY,"
    " last_version integer, created boolean, prev jsonb) ON COMMIT DROP",
    "CREATE TEMP TABLE IF NOT EXISTS revert_plan (n bigint, ord integer, object_type text,"
    " id text PRIMARY KEY, version integer, last_version integer, created boolean,"
    " active boolean, default_price text, cur_replaced_by text, action text, reason text,"
    " replaced_by text, target jsonb) ON COMMIT DROP",
    "TRUNCATE revert_touched, revert_plan",
)
_LOG_END = 2**63 - 1  # past the last sequence a bigint can hold
_COUNTS = sa.text("SELECT object_type, action, count(*) FROM revert_plan GROUP BY 1, 2")
_LISTED = sa.text(
    "SELECT object_type, id, action, reason, replaced_by, target FROM ("
    " SELECT *, row_number() OVER (PARTITION BY action ORDER BY n) AS k FROM revert_plan"
    ") r WHERE k <= :limit ORDER BY n"
)
_TO_WRITE = sa.text(
    "SELECT n, object_type, id, action, reason, replaced_by, target FROM revert_plan"
    " WHERE action <> 'skip' AND n > :after ORDER BY n LIMIT :limit"
)


def plan_revert(conn: sa.Connection, account_id: str, run_id: str, *, lock: bool) -> Any:
    """Check the run can be reverted, and plan what reverting it does to each object it
    changed, into the revert_plan temp table. `lock` takes the rows' locks (for the real
    revert); a dry run reads without them. Returns the run."""
    # The real revert locks the run first: a concurrent revert of it waits, then sees
    # reverted_by (the unique index on `reverts` backs this up).
    query = _RUN.text + (" FOR UPDATE" if lock else "")
    run = conn.execute(sa.text(query), {"account": account_id, "id": run_id}).first()
    if run is None:
        raise NotFound(f"No such import run: '{run_id}'", param="id")
    if run.reverted_by is not None:
        raise Conflict(
            f"Import run '{run_id}' was already reverted by '{run.reverted_by}'; a run is"
            " reverted once.",
            code="run_already_reverted",
        )
    if run.mode == "revert":
        raise InvalidRequest(
            f"'{run_id}' is itself a revert; import the file again to redo its run.",
            param="id",
            code="run_not_revertible",
        )
    if run.dry_run or run.status != "applied":
        raise InvalidRequest(
            f"Import run '{run_id}' {'was a dry run' if run.dry_run else 'is ' + run.status}"
            " and wrote nothing; only applied runs can be reverted.",
            param="id",
            code="run_not_revertible",
        )
    if lock:
        lock_source(conn, account_id, run.source)
    for ddl in _PLAN_DDL:
        conn.execute(sa.text(ddl))
    params = {
        "account": account_id,
        "run": run_id,
        # a run recorded before its range of the log was (sql/0013) reads all the account's log
        "after": run.events_after or 0,
        "through": run.events_through if run.events_through is not None else _LOG_END,
    }
    (_, touched), *statements = named_statements("plan_revert.sql")
    objects_touched = conn.execute(sa.text(touched), params).rowcount
    # a run of up to PROBE_LIMIT objects is planned by index probes, as the importer does
    with driver(conn).cursor() as cur, index_probes(cur, objects_touched <= PROBE_LIMIT):
        for name, statement in statements:
            if name.startswith("plan_") and lock:
                statement += " FOR UPDATE OF p"  # constant text: the rows' locks, in id order
            started = time.perf_counter()
            rows = conn.execute(sa.text(statement), params).rowcount
            log.debug("revert plan %s: %.3fs, %d rows", name, time.perf_counter() - started, rows)
    return run


def _current(conn: sa.Connection, account_id: str, object_type: str, ids: list[str]) -> Any:
    """id -> (object, replaced_by) of the objects of one type, as stored now."""
    # by id: the account alone (IS TRUE: no index serves it) never steers the plan
    query = sa.text(
        _CURRENT[object_type] + " WHERE id = ANY(:ids) AND (account_id = :account) IS TRUE"
    )
    return {r.id: r for r in conn.execute(query, {"account": account_id, "ids": ids})}


def _steps(conn: sa.Connection, account_id: str, rows: list[Any]) -> list[Step]:
    """The plan's rows as steps, with each object's current state."""
    current = {}
    for object_type in {r.object_type for r in rows}:
        ids = [r.id for r in rows if r.object_type == object_type]
        current.update(_current(conn, account_id, object_type, ids))
    return [
        Step(
            r.object_type,
            r.id,
            r.action,
            current[r.id].obj if r.id in current else {},  # {}: deleted since the run
            target=r.target,
            reason=r.reason,
            replaced_by=r.replaced_by,
        )
        for r in rows
    ]


def revert_run(
    engine: sa.Engine,
    account_id: str,
    run_id: str,
    *,
    dry_run: bool = False,
    request_id: str | None = None,
) -> RevertResult:
    """Revert (or, with dry_run, preview reverting) one import run, in one transaction."""
    started = datetime.now(UTC)
    with engine.begin() as conn:
        clock = time.perf_counter()
        run = plan_revert(conn, account_id, run_id, lock=not dry_run)
        counts = {(t, a): int(n) for t, a, n in conn.execute(_COUNTS)}
        listed = _steps(conn, account_id, list(conn.execute(_LISTED, {"limit": LISTED_LIMIT})))
        log.debug("revert %s: planned and listed in %.1fs", run_id, time.perf_counter() - clock)
        result = RevertResult(
            run_id=run_id, source=run.source, dry_run=dry_run, counts=counts, listed=listed
        )
        if dry_run:
            return result
        revert_id = new_run_id()
        cause = Cause(source=run.source, run_id=revert_id, request_id=request_id)
        # Each batch's statements probe by id: right after a bulk import the statistics still
        # call the catalog small, and a scan of the account a batch made a revert quadratic.
        clock = time.perf_counter()
        with driver(conn).cursor() as cur, index_probes(cur):
            result.events = _write(conn, account_id, cause, reverted=run_id)
        log.debug(
            "revert %s: %d events written in %.1fs",
            run_id,
            result.events,
            time.perf_counter() - clock,
        )
        result.revert_run_id = revert_id
        preview = result.to_json()
        summary = {
            "run_id": revert_id,
            "source": run.source,
            "mode": "revert",
            "dry_run": False,
            "rows_read": 0,
            "rows_valid": 0,
            "rows_rejected": 0,
            **{
                kind: {
                    "created": 0,
                    "updated": result.count("restore", obj),
                    "unchanged": result.count("skip", obj),
                    "archived": result.count("archive", obj),
                }
                for kind, obj in (
                    ("products", "product"),
                    ("prices", "price"),
                    ("inventory_items", "inventory_item"),
                )
            },
            "ignored_not_owned": 0,
            "events": result.events,
            "warnings": [],
            "revert": {k: preview[k] for k in ("run", "counts", "skipped")},
        }
        conn.execute(
            _RECORD,
            {
                "id": revert_id,
                "account": account_id,
                "source": run.source,
                "input": f"revert of {run_id}",
                "summary": json.dumps(summary, default=str),
                "started": started,
                "reverts": run_id,
                "changes": json.dumps(
                    [{**d, "action": "restored"} for d in preview["restored"][:100]]
                    + [{**d, "action": "archived"} for d in preview["archived"][:100]],
                    default=str,
                ),
            },
        )
        conn.execute(
            sa.text("UPDATE import_runs SET reverted_by = :by WHERE id = :id"),
            {"by": revert_id, "id": run_id},
        )
    return result


# Objects written per statement, and held in memory at once (undoing a 100,000-product first
# import: 191 s a row at a time, 24 s a batch at a time; see BENCHMARKS.md).
WRITE_BATCH = 1000


def _write(conn: sa.Connection, account_id: str, cause: Cause, reverted: str) -> int:
    """Apply the plan's steps that are not skipped, in its order, WRITE_BATCH at a time. Each
    run of one object type (prices that get a replaced_by apart from the others, for the
    unique indexes) is one update, then its events, then its stock ledger rows; a run of
    plain archives is one statement on the server. Only a batch is in memory. Returns events
    written."""
    statements = {k: sa.text(v) for k, v in named_statements("revert_writes.sql")}
    lock_event_log(conn)  # the server-side archives append events without taking it
    written, after = 0, 0
    while True:
        rows = list(conn.execute(_TO_WRITE, {"after": after, "limit": WRITE_BATCH}))
        if not rows:
            return written
        after = rows[-1].n
        for (object_type, _, plain), run in itertools.groupby(
            rows, key=lambda r: (r.object_type, r.replaced_by is None, _plain_archive(r))
        ):
            if plain:
                written += _archive(conn, statements["archive"], account_id, list(run), cause)
                continue
            batch = _steps(conn, account_id, list(run))
            updates = [_update_row(step) for step in batch]
            columns = {k: [u[k] for u in updates] for k in updates[0]}
            written_objs = conn.execute(statements[object_type], {"account": account_id, **columns})
            new = {obj["id"]: obj for (obj,) in written_objs}
            events = []
            ledger = []
            for step in batch:
                obj = new[step.id]
                events.append(
                    objects.record_row(account_id, object_type, obj, cause, old=step.current)
                )
                if object_type == "inventory_item":
                    ledger += _ledger_rows(account_id, step, cause, reverted)
            append_events(conn, events)
            execute_many(conn, _LEDGER, ledger)
            written += len(batch)


def _plain_archive(row: Any) -> bool:
    """Archiving a product or price the run created: only `active` changes, and no content
    hash covers it (objects.product_hash, price_hash), so the server does it alone."""
    return row.action == "archive" and row.target == {"active": False}


def _archive(
    conn: sa.Connection, statement: sa.TextClause, account_id: str, rows: list[Any], cause: Cause
) -> int:
    """Archive the objects of `rows` (one type) and append their events, in plan order."""
    params = {
        "n": [r.n for r in rows],
        "account": account_id,
        "request": cause.request_json(),
        "source": cause.source,
        "run_id": cause.run_id,
    }
    written = conn.execute(statement, params).rowcount
    if written != len(rows):  # every object is locked by the plan: this is a bug, not a race
        raise LookupError(f"archived {written} of {len(rows)} objects")
    return written


def _update_row(step: Step) -> dict[str, Any]:
    """The values of the object type's update (revert_writes.sql) that puts `step`'s target
    in place."""
    state = {**step.current, **step.target}
    key = {"id": step.id}
    if step.object_type == "product":
        return {**key, "default_price": state["default_price"], **objects._product_values(state)}
    if step.object_type == "price":
        return {
            **key,
            "active": state["active"],
            "lookup_key": state["lookup_key"],
            "nickname": state["nickname"],
            "metadata": json.dumps(state["metadata"]),
            "replaced_by": step.replaced_by,
            "hash": objects.price_hash(state),
        }
    return {
        **key,
        "quantity": state["quantity"],
        "policy": state["policy"],
        "price": state["price"],
        "product": state["product"],
        "hash": objects.inventory_hash(state["quantity"], state["policy"]),
    }


def _ledger_rows(account_id: str, step: Step, cause: Cause, reverted: str) -> list[dict[str, Any]]:
    """The stock ledger row of an inventory step whose quantity moves (none otherwise)."""
    before = step.current["quantity"]
    after = step.target.get("quantity", before)
    if after == before:
        return []
    return [
        {
            "account": account_id,
            "item": step.id,
            "delta": after - before,
            "after": after,
            "reason": f"revert of import run {reverted}",
            "reference": reverted,
            "source": cause.source,
            "run_id": cause.run_id,
        }
    ]
