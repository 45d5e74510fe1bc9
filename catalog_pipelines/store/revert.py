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
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import new_run_id
from catalog_pipelines.store import objects
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound
from catalog_pipelines.store.events import Cause, append_events
from catalog_pipelines.store.imports import lock_source
from catalog_pipelines.store.pipelined import execute_many

LISTED_LIMIT = 1000  # objects listed per action in a preview; the counts are complete
_BOOKKEEPING = ("id", "object", "version", "created", "updated", "livemode")

_RUN = sa.text(
    "SELECT id, source, mode, dry_run, status, reverted_by, started, events_after,"
    " events_through FROM import_runs WHERE account_id = :account AND id = :id"
)
_RUN_EVENTS_SELECT = (
    "SELECT object_type, object_id, min(object_version) AS first_version,"
    " max(object_version) AS last_version, bool_or(type LIKE '%.created') AS created,"
    " (array_agg((data -> 'previous_attributes')::text ORDER BY sequence))[1] AS prev"
    " FROM events WHERE account_id = :account AND run_id = :run"
)
_RUN_EVENTS = {
    # the run's range of the log (sql/0013): an index range, however long the log
    True: sa.text(
        _RUN_EVENTS_SELECT + " AND sequence > :after AND sequence <= :through"
        " GROUP BY object_type, object_id"
    ),
    # a run recorded before its range was: every event of the account is looked at
    False: sa.text(_RUN_EVENTS_SELECT + " GROUP BY object_type, object_id"),
}
_CURRENT = {
    "product": "SELECT id, product_object(p) AS obj, NULL::text AS replaced_by FROM products p",
    "price": "SELECT id, price_object(p) AS obj, replaced_by FROM prices p",
    "inventory_item": (
        "SELECT id, inventory_item_object(p) AS obj, NULL::text AS replaced_by"
        " FROM inventory_items p"
    ),
}
_LATEST_CAUSE = sa.text(
    "SELECT run_id, request ->> 'id' AS request_id FROM events"
    " WHERE account_id = :account AND object_id = :id ORDER BY sequence DESC LIMIT 1"
)
_UPDATE_PRICE = sa.text(
    "UPDATE prices SET active = :active, lookup_key = :lookup_key, nickname = :nickname,"
    " metadata = CAST(:metadata AS jsonb), replaced_by = :replaced_by,"
    " version = version + 1, updated = now(), content_hash = :hash"
    " WHERE account_id = :account AND id = :id RETURNING price_object(prices) AS obj"
)
_UPDATE_INVENTORY = sa.text(
    "UPDATE inventory_items SET quantity = :quantity, policy = :policy, price_id = :price,"
    " product_id = :product, version = version + 1, updated = now(), content_hash = :hash"
    " WHERE account_id = :account AND id = :id"
    " RETURNING inventory_item_object(inventory_items) AS obj"
)
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
    """What the revert does (or would do) to one object."""

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


@dataclass
class RevertResult:
    run_id: str
    source: str
    dry_run: bool
    steps: list[Step]
    revert_run_id: str | None = None
    events: int = 0

    def _of(self, action: str) -> list[Step]:
        return [s for s in self.steps if s.action == action]

    def to_json(self) -> dict[str, Any]:
        restored, archived, skipped = self._of("restore"), self._of("archive"), self._of("skip")
        counts = {
            "restored": len(restored),
            "archived": len(archived),
            "skipped": len(skipped),
        }
        return {
            "object": "import_run_revert",
            "run": self.run_id,
            "source": self.source,
            "dry_run": self.dry_run,
            "revert_run": self.revert_run_id,
            "counts": counts,
            "events": self.events,
            "restored": [s.describe() for s in restored[:LISTED_LIMIT]],
            "archived": [s.describe() for s in archived[:LISTED_LIMIT]],
            "skipped": [s.describe() for s in skipped[:LISTED_LIMIT]],
        }


def _prior(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The fields the run overwrote, with the values they had before it."""
    return {k: v for k, v in previous.items() if k not in _BOOKKEEPING and current.get(k) != v}


def _changed_since(conn: sa.Connection, account_id: str, object_id: str, version: int) -> str:
    cause = conn.execute(_LATEST_CAUSE, {"account": account_id, "id": object_id}).first()
    who = ""
    if cause is not None and cause.run_id:
        who = f" by run {cause.run_id}"
    elif cause is not None and cause.request_id:
        who = f" by request {cause.request_id}"
    return f"changed since the run (now version {version}{who}); left as it is"


def plan_revert(
    conn: sa.Connection, account_id: str, run_id: str, *, lock: bool
) -> tuple[Any, list[Step]]:
    """The run and what reverting it does to each object it changed. `lock` takes the
    rows' locks (for the real revert); a dry run reads without them."""
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
    ranged = run.events_through is not None
    touched = list(
        conn.execute(
            _RUN_EVENTS[ranged],
            {
                "account": account_id,
                "run": run_id,
                "after": run.events_after,
                "through": run.events_through,
            },
        )
    )
    current: dict[str, Any] = {}
    for object_type, sql in _CURRENT.items():
        ids = [t.object_id for t in touched if t.object_type == object_type]
        if ids:
            query = sql + " WHERE account_id = :account AND id = ANY(:ids)"
            if lock:
                query += " ORDER BY id FOR UPDATE"
            for r in conn.execute(sa.text(query), {"account": account_id, "ids": ids}):
                current[r.id] = r
    steps = {t.object_id: _step(conn, account_id, t, current[t.object_id]) for t in touched}
    _protect_skipped_products(steps)
    _pair_replaced_prices(steps, current)
    _drop_retired_targets(steps)
    order = {"price": 0, "product": 1, "inventory_item": 2}
    ordered = sorted(
        steps.values(),
        key=lambda s: (order[s.object_type], s.replaced_by is None, s.id),
    )
    return run, ordered


def _step(conn: sa.Connection, account_id: str, touched: Any, row: Any) -> Step:
    obj = row.obj  # read only: shared with the row, not copied (a revert holds every object)
    step = Step(touched.object_type, touched.object_id, "restore", obj)
    step.replaced_by = row.replaced_by
    if obj["version"] != touched.last_version:
        step.action = "skip"
        step.reason = _changed_since(conn, account_id, step.id, obj["version"])
    elif touched.created:
        if touched.object_type == "inventory_item":
            step.action = "skip"
            step.reason = (
                "created by the run; a stock item has no archived state, so it is kept"
                " (its product is archived)"
            )
        elif obj.get("active") is False:
            step.action = "skip"
            step.reason = "created by the run and already archived"
        else:
            step.action = "archive"
            step.target = {"active": False}
    else:
        previous = json.loads(touched.prev) if touched.prev else {}
        step.target = _prior(obj, previous or {})
        if not step.target:
            step.action = "skip"
            step.reason = "already as it was before the run"
    return step


def _pair_replaced_prices(steps: dict[str, Step], current: dict[str, Any]) -> None:
    """An amount change retired the old price (replaced_by = the new one, created by the
    same run): undo both together, or neither."""
    for old in [s for s in steps.values() if s.object_type == "price"]:
        new_id = current[old.id].replaced_by
        new = steps.get(new_id) if new_id else None
        if new is None or old.action == "skip" and new.action == "skip":
            continue
        if old.action == "skip" or new.action == "skip":
            blocker = new if new.action == "skip" else old
            for s in (old, new):
                if s.action != "skip":
                    s.action = "skip"
                    s.target = {}
                    s.reason = (
                        f"replaced price pair: {blocker.id} {blocker.reason}; the pair is"
                        " left as it is"
                    )
            continue
        old.replaced_by = None  # current again
        new.action = "archive"
        new.replaced_by = old.id
        new.target = {"active": False, "lookup_key": None}
        new.reason = f"the price the run replaced, {old.id}, is active again"


def _protect_skipped_products(steps: dict[str, Step]) -> None:
    """A product left alone keeps a working default price: the price it points at is not
    archived (nor, through the pairing below, the pair it belongs to)."""
    for product in [s for s in steps.values() if s.object_type == "product"]:
        if product.action != "skip":
            continue
        default = product.current.get("default_price")
        price = steps.get(default) if default else None
        if price is not None and price.action == "archive":
            price.action = "skip"
            price.target = {}
            price.reason = f"it is the default price of {product.id}, which changed since the run"


def _drop_retired_targets(steps: dict[str, Step]) -> None:
    """A product or stock item must not point back at a price that stays retired."""
    retired = {
        s.id
        for s in steps.values()
        if s.object_type == "price" and s.action == "skip" and s.current.get("active") is False
    }
    for s in steps.values():
        if s.action != "restore":
            continue
        for key in ("default_price", "price"):
            if key in s.target and s.target[key] in retired:
                del s.target[key]
                s.reason = f"{key} kept: the price it pointed at stays retired"
        if not s.target:
            s.action = "skip"
            s.reason = s.reason or "nothing left to restore"


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
        run, steps = plan_revert(conn, account_id, run_id, lock=not dry_run)
        result = RevertResult(run_id=run_id, source=run.source, dry_run=dry_run, steps=steps)
        if dry_run:
            return result
        revert_id = new_run_id()
        cause = Cause(source=run.source, run_id=revert_id, request_id=request_id)
        result.events = _write(conn, account_id, steps, cause, reverted=run_id)
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
                    "updated": sum(
                        1 for s in steps if s.object_type == obj and s.action == "restore"
                    ),
                    "unchanged": sum(
                        1 for s in steps if s.object_type == obj and s.action == "skip"
                    ),
                    "archived": sum(
                        1 for s in steps if s.object_type == obj and s.action == "archive"
                    ),
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


# Steps written per round trip: each batch is one pipelined run of its updates, then one of
# their events (undoing a 20,000-product first import took 32 s a row at a time, now 8 s).
WRITE_BATCH = 1000
_UPDATES = {
    "product": objects._UPDATE_PRODUCT,
    "price": _UPDATE_PRICE,
    "inventory_item": _UPDATE_INVENTORY,
}


def _write(
    conn: sa.Connection, account_id: str, steps: list[Step], cause: Cause, reverted: str
) -> int:
    """Apply the steps that are not skipped, in their order, a batch of one object type at a
    time: its updates, then its events, then its stock ledger rows. Returns events written."""
    todo = [s for s in steps if s.action != "skip"]
    for object_type, batch in _batches(todo):
        rows = [_update_row(account_id, step) for step in batch]
        objs = execute_many(conn, _UPDATES[object_type], rows, returning=True)
        events = []
        ledger = []
        for step, obj in zip(batch, objs, strict=True):
            events.append(objects.record_row(account_id, object_type, obj, cause, old=step.current))
            if object_type == "inventory_item":
                ledger += _ledger_rows(account_id, step, cause, reverted)
        append_events(conn, events)
        execute_many(conn, _LEDGER, ledger)
    return len(todo)


def _batches(steps: list[Step]) -> Iterator[tuple[str, list[Step]]]:
    """Consecutive steps of one object type, at most WRITE_BATCH at a time."""
    for object_type, run in itertools.groupby(steps, key=lambda s: s.object_type):
        ordered = list(run)
        for start in range(0, len(ordered), WRITE_BATCH):
            yield object_type, ordered[start : start + WRITE_BATCH]


def _update_row(account_id: str, step: Step) -> dict[str, Any]:
    """The parameters of the object type's update that puts `step`'s target in place."""
    state = {**step.current, **step.target}
    key = {"account": account_id, "id": step.id}
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
