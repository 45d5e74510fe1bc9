"""One import: plan the diff against the catalog, guard it, and apply it in one transaction.

docs/import-semantics.md: all or nothing; unchanged objects write nothing; `full` archives what is
missing unless that would archive too much; a dry run computes the same diff and writes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import polars as pl
import sqlalchemy as sa

from catalog_pipelines import allocator, first_import, ownership, plan_parts, skip_unchanged
from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.http_json import fetch_products_feed
from catalog_pipelines.connectors.registry import DEFAULT_CURRENCY, EXPORTS
from catalog_pipelines.diff import Counts, Plan, plan_import
from catalog_pipelines.mapping import Mapping, load_mapping, mapping_from_dict
from catalog_pipelines.normalized import InputError, ParsedBatch, Reject
from catalog_pipelines.preflight import protected_keys, refusal, reject_rate_refusal
from catalog_pipelines.progress import ProgressFn, never_back, quiet
from catalog_pipelines.stock_feed import plan_stock_feed
from catalog_pipelines.store import imports as store
from catalog_pipelines.store import run_log, stored_parts
from catalog_pipelines.store.events import head_sequence
from catalog_pipelines.store.run_log import RunStart
from catalog_pipelines.store.sources import (
    GROUPS,
    Source,
    add_source,
    ensure_account,
    get_source,
    list_sources,
    refuse_if_archived,
)
from catalog_pipelines.store.unit_of_work import UnitOfWork
from catalog_pipelines.validated_chunks import ValidatedChunks
from catalog_pipelines.validation import validate_batch

PREVIEW_LIMIT = 1000  # changes listed per import; the counts are always complete

# A caller's last word on a plan, inside the import's transaction and before any write (or,
# for a plan written in parts, before the commit): the reason to refuse the import, or None.
# Dagster's blocking checks use it (dagster_defs).
Gate = Callable[["ImportReport"], str | None]


@runtime_checkable
class BatchGate(Protocol):
    """A gate that can also judge the batch alone. A plan written in parts is judged whole
    only before the commit; a refusal this gives before that (a reject rate, say) saves
    writing every part only to roll it back: the parts are then planned, not written. The
    gate must still refuse the whole plan for the same reason."""

    def __call__(self, report: ImportReport) -> str | None: ...

    def judge_batch(self, batch: ParsedBatch) -> str | None: ...


class ImportRefused(Exception):
    """A guard refused the import (mass archive, ownership). Nothing was written."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ImportOptions:
    source: str
    account_id: str = "acct_default"
    mode: Literal["full", "incremental"] = "full"
    dry_run: bool = False
    allow_mass_archive: bool = False
    max_archive_fraction: float = 0.2
    # Refuse the import when more than this share of its rows is rejected (None: no limit).
    max_reject_rate: float | None = None
    source_kind: str = "csv"  # used only when the import creates the source
    run_id: str | None = None  # set by a caller that recorded the run first (the API)
    trigger: str | None = None  # who started it: cli, dagster, inbox, ... (import_runs.trigger)
    dagster_run_id: str | None = None  # the Dagster run that ran it, if one did


@dataclass
class ImportReport:
    run_id: str
    source: str
    mode: str
    dry_run: bool
    rows_read: int
    rows_valid: int
    rows_rejected: int
    products: Counts
    prices: Counts
    inventory_items: Counts
    ignored_not_owned: int
    events: int
    warnings: list[str]
    changes: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    archive_fraction: float = 0.0
    refused: str | None = None
    source_created: bool = False
    # The batch as imported: after the rows that touch another source's objects were
    # rejected (ownership.py), so checks on rejects see those rows too.
    batch: ParsedBatch | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Exactly the object `catalog-sync import --json` prints (docs/cli.md)."""
        return {
            "run_id": self.run_id,
            "source": self.source,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "products": self.products.as_dict(),
            "prices": self.prices.as_dict(),
            "inventory_items": self.inventory_items.as_dict(),
            "ignored_not_owned": self.ignored_not_owned,
            "events": self.events,
            "warnings": self.warnings,
        }


def new_run_id() -> str:
    return f"run_{secrets.token_hex(12)}"


def _field_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, list[Any]]:
    before = before or {}
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def _content_fields(content: str | None) -> dict[str, Any]:
    """Plan content JSON -> the object's field names and shapes (metadata as a dict)."""
    if content is None:
        return {}
    fields = json.loads(content)
    if "metadata" in fields:
        fields["metadata"] = {kv["key"]: kv["value"] for kv in fields["metadata"]}
    return fields


_NOT_CONTENT = {"id", "row_number", "content_hash", "product_id", "variant_key", "external_id"}


def _as_ops(creates: pl.DataFrame) -> pl.DataFrame:
    """Create rows in the shape of the op frames (content as JSON), for the preview."""
    fields = [c for c in creates.columns if c not in _NOT_CONTENT]
    return creates.with_columns(op=pl.lit("create"), content=pl.struct(fields).struct.json_encode())


def preview_changes(conn: sa.Connection, account_id: str, plan: Plan) -> list[dict[str, Any]]:
    """Up to PREVIEW_LIMIT changes, with per-field [before, after] for updates."""
    out: list[dict[str, Any]] = []
    frames = (
        ("product", plan.product_creates, "external_id", True),
        ("product", plan.products, "external_id", False),
        ("price", plan.price_creates, "variant_key", True),
        ("price", plan.prices, "variant_key", False),
        ("inventory_item", plan.inventory_creates, "sku", True),
        ("inventory_item", plan.inventory, "sku", False),
    )
    for object_type, frame, key, creates in frames:
        # the head first: the JSON of a million creates took 500 MB and 3 s to throw away
        head = frame.head(max(0, PREVIEW_LIMIT - len(out)))
        rows = (_as_ops(head) if creates else head).to_dicts()
        existing = [r["id"] for r in rows if r["op"] != "create"]
        before = store.stored_objects(conn, account_id, object_type, existing)
        for r in rows:
            action = {"create": "created", "update": "updated", "retire": "archived"}.get(
                r["op"], "archived"
            )
            if object_type == "inventory_item":
                after: dict[str, Any] = {
                    "quantity": r["quantity"],
                    "policy": r["policy"],
                    "price": r["price_id"],  # a new price for the SKU moves its stock item
                    "product": r["product_id"],
                }
            else:
                after = _content_fields(r.get("content"))
            if object_type != "inventory_item" and r.get("active") is not None:
                after["active"] = r["active"]
            if r["op"] in ("archive", "retire"):
                after = {"active": False}
            if object_type == "product" and r["op"] == "update":
                if r.get("set_content") is False:
                    # The source does not own content (or the content is unchanged): the
                    # apply keeps the catalog's name, description, ... so the preview must
                    # not show the file's values (or None for columns it does not map).
                    after = {}
                after["default_price"] = r["default_price"]
            if object_type == "price" and r["op"] == "retire":
                after["lookup_key"] = None
            out.append(
                {
                    "object_type": object_type,
                    "id": r["id"],
                    "key": r[key],
                    "action": action,
                    "fields": _field_changes(before.get(r["id"]), after)
                    if r["op"] != "create"
                    else {k: [None, v] for k, v in after.items() if v not in (None, [], {})},
                }
            )
    _add_amounts(conn, account_id, out)
    return out


def _amount(price: dict[str, Any] | None) -> dict[str, Any] | None:
    if not price or price.get("unit_amount") is None:
        return None
    return {"unit_amount": price["unit_amount"], "currency": price["currency"]}


_PRICE_LINKS = {"product": "default_price", "inventory_item": "price"}


def _add_amounts(conn: sa.Connection, account_id: str, changes: list[dict[str, Any]]) -> None:
    """Price ids are opaque: add the amounts a person reads. Each price change gets its
    `amount`; a product whose default price changes (a stock item whose price changes) gets
    `amounts` {field: [before, after]} (a price the run creates has no row yet: its amount is
    in the plan)."""
    planned: dict[str, dict[str, Any]] = {}
    for c in changes:
        if c["object_type"] == "price" and "unit_amount" in c["fields"]:
            fields = c["fields"]
            currency = fields.get("currency", [None, None])[1]
            planned[c["id"]] = {"unit_amount": fields["unit_amount"][1], "currency": currency}
    wanted = {c["id"] for c in changes if c["object_type"] == "price"}
    for c in changes:
        link = _PRICE_LINKS.get(c["object_type"])
        if link in c["fields"]:
            wanted.update(p for p in c["fields"][link] if p)
    stored = store.stored_objects(conn, account_id, "price", sorted(wanted - set(planned)))
    known = {**{k: _amount(v) for k, v in stored.items()}, **planned}
    for c in changes:
        link = _PRICE_LINKS.get(c["object_type"])
        if c["object_type"] == "price":
            c["amount"] = known.get(c["id"])
        elif link in c["fields"]:
            c["amounts"] = {link: [known.get(p) if p else None for p in c["fields"][link]]}


def mass_archive_refusal(plan: Plan, options: ImportOptions) -> str | None:
    """Why a full import may not archive this much, or None when the guard lets it through."""
    return refusal(
        plan.product_counts.archived,
        plan.active_products_of_source,
        source=options.source,
        max_archive_fraction=options.max_archive_fraction,
        allow_mass_archive=options.allow_mass_archive,
    )


def _resolve_source(conn: sa.Connection, options: ImportOptions) -> tuple[Source, bool]:
    ensure_account(conn, options.account_id)
    src = get_source(conn, options.account_id, options.source)
    if src is not None:
        refuse_if_archived(src)
        return src, False
    created = add_source(
        conn,
        account_id=options.account_id,
        name=options.source,
        kind=options.source_kind,
        owns=frozenset(GROUPS),
        cause=None,  # the run records the creation; its events are the catalog's
    )
    return created, True


class Handover:
    """A batch the importer takes out of its caller's hands. A caller that kept its own
    reference would hold a large batch's products through the whole import, after they were
    written to disk to wait for their part (plan_parts.spill_products)."""

    def __init__(self, batch: ParsedBatch) -> None:
        self._batch: ParsedBatch | None = batch
        self.input_name = batch.input_name

    def take(self) -> ParsedBatch:
        batch, self._batch = self._batch, None
        if batch is None:
            raise RuntimeError("this batch was handed over already")
        return batch


def import_batch(
    engine: sa.Engine,
    batch: ParsedBatch | Handover,
    options: ImportOptions,
    *,
    progress: ProgressFn = quiet,
    gate: Gate | None = None,
    stream: first_import.Stream | None = None,
    spilled: plan_parts.Spilled | None = None,
    read_whole: Callable[[], ParsedBatch] | None = None,
) -> ImportReport:
    """Diff the batch against the catalog and apply it in one transaction (or not at all).

    The run is recorded from its start: `failed` with its error if anything goes wrong,
    `abandoned` (by the next run of the source) if its process dies. `gate` sees the plan's
    report before anything is written (a plan written in parts: before the commit); a reason
    from it refuses the import like the mass-archive guard does (`refused`, ImportRefused).
    With `stream` (a first import read in pieces, whose summary `batch` is), the pieces are
    imported, or, if they cannot be after all, the validated batch `read_whole()` returns.
    `spilled`: the batch's products, when they wait on disk (validated_chunks.py)."""
    run = _run_start(options, batch.input_name)
    with engine.connect() as conn, _tracked(engine, conn, run, options):
        if stream is not None:
            if read_whole is None:  # the summary has no rows: never import it as a batch
                raise TypeError("import_batch(stream=...) needs read_whole")
            report = _import_stream(engine, conn, stream, options, run, progress, gate)
            if report is not None:
                return report
            batch = Handover(read_whole())
        # a batch handed over is referenced by _import's frame only (no local here)
        return _import(engine, conn, _taken(batch), options, run, progress, gate, spilled=spilled)


def _taken(batch: ParsedBatch | Handover) -> ParsedBatch:
    return batch.take() if isinstance(batch, Handover) else batch


def _import_stream(
    engine: sa.Engine,
    conn: sa.Connection,
    stream: first_import.Stream,
    options: ImportOptions,
    run: RunStart,
    progress: ProgressFn,
    gate: Gate | None = None,
) -> ImportReport | None:
    """Import `stream`; None when it has to be read whole after all (nothing was written)."""
    with stream:
        try:
            return _import(engine, conn, stream.summary, options, run, progress, gate, stream)
        except first_import.Unusable as e:
            first_import.log_read_whole(stream.summary.input_name, e)
            return None


def _run_start(options: ImportOptions, input_name: str) -> RunStart:
    return RunStart(
        run_id=options.run_id or new_run_id(),
        account_id=options.account_id,
        source=options.source,
        mode=options.mode,
        input_name=input_name,
        started=datetime.now(UTC),
        trigger=options.trigger,
        dagster_run_id=options.dagster_run_id,
    )


@contextmanager
def _tracked(
    engine: sa.Engine, conn: sa.Connection, run: RunStart, options: ImportOptions
) -> Iterator[None]:
    """Record the run as `running` now, and as `failed` (in a new transaction, after the
    import's own rolled back) if the block raises. A dry run writes nothing, not even this."""
    if options.dry_run:
        yield
        return
    run_log.start_run(conn, run)
    try:
        yield
    except ImportRefused:
        raise  # recorded as `refused` already
    except Exception as e:
        run_log.fail_run(engine, run, e)
        e.import_run_id = run.run_id  # type: ignore[attr-defined]  # for the CLI's message
        raise


def _import(
    engine: sa.Engine,
    conn: sa.Connection,
    batch: ParsedBatch,
    options: ImportOptions,
    run: RunStart,
    progress: ProgressFn,
    gate: Gate | None = None,
    stream: first_import.Stream | None = None,
    spilled: plan_parts.Spilled | None = None,
) -> ImportReport:
    """The import of `batch`, or of `stream` (whose summary `batch` is). `spilled`: the
    batch's products, when they wait on disk already (validated_chunks.py)."""
    batch.check_reconciles()
    with UnitOfWork(conn) as uow:
        source, source_created = _resolve_source(conn, options)
        store.lock_source(conn, options.account_id, options.source)
        if not options.dry_run:
            # The source's lock is ours: a run still marked running is dead.
            run_log.abandon_dead_runs(
                conn, options.account_id, options.source, except_run=run.run_id
            )
        progress("diffing", 0.4)
        if stream is not None and not store.holds_nothing(conn, options.account_id):
            raise first_import.Unusable("the account stores objects now")
        # rebinding `batch` here lets its products go while the stored rows are read
        if spilled is None:
            batch, spilled = _spill_if_large(conn, batch, options, stream)
        batch, stored, spilled = _stored_and_screened(conn, batch, options, source.owns, spilled)
        now = _run_time(conn)
        written: _Written | None = None  # set when the plan was written while it was made
        # Known before the plan: then no part of a plan made in parts is written.
        too_many_rejects = reject_rate_refusal(
            batch.rows_read, len(batch.rejects), options.max_reject_rate
        )
        refused_early: str | None = None  # a BatchGate's reason: then no part was written
        limit_problems = None  # the snapshot's, when the batch no longer holds its products
        if batch.stock_only:
            plan, batch = plan_stock_feed(
                batch, _rows(stored), source=options.source, owns=source.owns
            )
        elif parts := (
            stream.as_parts(_rows(stored))
            if stream is not None
            else plan_parts.of_batch(batch, stored, spilled)
            if spilled is not None or plan_parts.wanted(batch)
            else None
        ):
            if parts.batch is not None:  # its products are on disk, read back part by part
                batch, limit_problems = parts.batch, parts.limit_problems
                del stored  # so are each part's stored rows: the account's read can go
            if isinstance(gate, BatchGate) and not (options.dry_run or too_many_rejects):
                refused_early = gate.judge_batch(batch)
            written = _plan_and_write_parts(
                conn, parts, batch, options, source.owns, run, now, progress,
                write=not (options.dry_run or too_many_rejects or refused_early),
            )  # fmt: skip
            plan = written.plan
        else:
            if spilled is not None:  # two parts lead to the same stored row: plan it whole
                batch = plan_parts.restore(batch, spilled)
            whole = (batch.products, batch.variants, _rows(stored))
            plan = _plan(batch, options, source.owns, protected_keys(batch.rejects), 0, whole)
        if not batch.stock_only:
            skip_unchanged.count_skipped(conn, plan, batch, options)
        report = _report(run.run_id, batch, options, plan, source_created)
        report.changes = (
            written.changes if written else preview_changes(conn, options.account_id, plan)
        )
        report.refused = (written.refused if written else None) or mass_archive_refusal(
            plan, options
        )
        if gate is not None:  # called even when refused: the caller reports on every plan
            reason = gate(report)
            report.refused = report.refused or reason or refused_early
        report.refused = report.refused or too_many_rejects
        if report.refused:
            report.warnings.append(report.refused)
        if not (options.dry_run or report.refused):
            if not written:
                progress("writing", 0.6)
            try:
                report.events = (
                    written.events
                    if written
                    else _apply(conn, plan, options, run, now, source.owns)
                )
            except store.OwnerChanged as e:  # refused as the ownership guard would have
                report.refused = str(e)
                report.warnings.append(report.refused)
            else:
                snapshot = stream.snapshot() if stream is not None else None
                skip_unchanged.save_snapshot(
                    conn, options, run.run_id, batch, plan, snapshot, limit_problems
                )
                # still holding the event log's lock: its head is this run's last event
                events = (plan.log_head_before_events, head_sequence(conn))
                _record_run(
                    conn, report, options, batch, run.started, status="applied", events=events
                )
                uow.commit()
                progress("done", 1.0)
    # Leaving the unit of work without commit() rolled everything back.
    if report.refused and not options.dry_run:
        _record_refusal(engine, report, options, batch, run.started)
        raise ImportRefused(report.refused, report)
    return report


def _run_time(conn: sa.Connection) -> datetime:
    """The time of the run's writes: its transaction's own, which the tables' created and
    updated columns default to, so creates leave those columns to the server (store/bulk.py)."""
    return store.transaction_now(conn)


def _rows(stored: plan_parts.Stored | plan_parts.LedTo) -> plan_parts.Stored:
    """The stored rows of a batch that is not planned in parts found on the server (only a
    spilled batch is, and a stock feed or a stream never spills)."""
    if isinstance(stored, plan_parts.LedTo):
        raise TypeError("this batch's stored rows were found a part at a time")
    return stored


def _spill_if_large(
    conn: sa.Connection,
    batch: ParsedBatch,
    options: ImportOptions,
    stream: first_import.Stream | None,
) -> tuple[ParsedBatch, plan_parts.Spilled | None]:
    """A batch of more than a part, into an account that holds anything, without its
    products, which wait on disk (plan_parts.Spilled): with them and the account's stored rows
    in memory at once, a million changed products peaked at 2.3 GiB."""
    if (
        stream is not None
        or batch.stock_only
        or not plan_parts.wanted(batch)
        or store.holds_nothing(conn, options.account_id)
    ):
        return batch, None
    return plan_parts.spill_products(batch)


def _stored_and_screened(
    conn: sa.Connection,
    batch: ParsedBatch,
    options: ImportOptions,
    owns: frozenset[str],
    spilled: plan_parts.Spilled | None,
) -> tuple[ParsedBatch, plan_parts.Stored | plan_parts.LedTo, plan_parts.Spilled | None]:
    """The stored rows the import diffs against, and the batch without the rows that touch
    what another source owns (ownership.py). Spilled products are read back when the screen
    needs them, or when their parts lead to the same stored rows."""
    wanted = skip_unchanged.stored_keys(conn, options, batch)
    if spilled is not None and (
        wanted is None or store.reads_whole_account(conn, options.account_id, wanted)
    ):
        led_to = _found_on_server(conn, batch, options, spilled, wanted)
        if led_to is not None:
            return batch, led_to, spilled
        batch, spilled = plan_parts.restore(batch, spilled), None
    stored = skip_unchanged.read_stored(conn, options, batch, wanted)
    if spilled is not None and ownership.screens(stored, options.source):
        batch, spilled = plan_parts.restore(batch, spilled), None
    owners = {s.name: s.owns for s in list_sources(conn, options.account_id)}
    batch = ownership.screen(batch, stored, source=options.source, owns=owns, owners=owners)
    return batch, stored, spilled


def _found_on_server(
    conn: sa.Connection,
    batch: ParsedBatch,
    options: ImportOptions,
    spilled: plan_parts.Spilled,
    wanted: dict[str, pl.Series] | None,
) -> plan_parts.LedTo | None:
    """What each part of a spilled batch leads to among the stored rows `wanted` leads to (all
    of the account's when None), found on the server (store/stored_parts.py): the client never
    holds all of the account's. None when the batch must be planned whole: its parts share a
    stored row, or another source wrote some of the rows (ownership.screen reads them all)."""
    parts = plan_parts.part_keys(batch, spilled)
    others = None if wanted is None else plan_parts.keys_of_no_part(wanted, parts)
    found = stored_parts.Found(conn, options.account_id, parts, others)
    if wanted is not None:
        skipped = skip_unchanged.skipped_products(batch)
        if found.any_product_in(f["product_id"] for f in skipped.frames()):
            raise skip_unchanged.SkipUnusable(skip_unchanged.SKIPPED_READ)
    if found.overlap() or found.written_by_others(options.source):
        return None
    return plan_parts.of_found(found)


def _plan(
    batch: ParsedBatch,
    options: ImportOptions,
    owns: frozenset[str],
    protected: frozenset[str],
    in_other_parts: int,
    part: plan_parts.Part,
) -> Plan:
    """The plan of a part's products and variants against its stored rows: the batch's
    whole, or one part of them (plan_parts.py). `protected`: protected_keys of the batch's
    rejects, computed once for all parts; `in_other_parts`: the products of the other parts,
    present in the file as the skipped ones are."""
    products, variants, stored = part
    skipped = skip_unchanged.skipped_products(batch)
    return plan_import(
        products,
        variants,
        stored["products"],
        stored["prices"],
        stored["inventory"],
        source=options.source,
        owns=owns,
        full=options.mode == "full",
        protected_keys=protected,
        present_keys=skipped.keys_among(stored["products"]["external_id"]),
        present_count=skipped.height + in_other_parts,
    )


def _apply(
    conn: sa.Connection,
    plan: Plan,
    options: ImportOptions,
    run: RunStart,
    now: datetime,
    owns: frozenset[str],
) -> int:
    try:
        return store.apply_plan(
            conn,
            plan,
            account_id=options.account_id,
            source=options.source,
            run_id=run.run_id,
            now=now,
            owns=owns,
        )
    except store.LookupKeyTaken as e:
        raise InputError(_lookup_key_taken(run.input_name, plan, e.lookup_key)) from e


def _lookup_key_taken(input_name: str, plan: Plan, key: str) -> str:
    """The error of a SKU that another price holds as its lookup key, with its row."""
    creates = plan.price_creates.filter(pl.col("lookup_key") == key)["row_number"]
    updates = plan.prices.filter(pl.col("content").str.json_path_match("$.lookup_key") == key)[
        "row_number"
    ]
    rows = pl.concat([creates, updates]).drop_nulls()
    where = f"row {rows[0]}: " if rows.len() else ""
    return (
        f"{input_name}: {where}sku {key!r} is the lookup key of another price of the account,"
        " which this import leaves as it is (an archived price keeps its SKU); nothing was"
        " written. Give the variant another SKU, or clear that price's lookup key first"
        " (the API's POST /v1/prices/{id} with lookup_key set to an empty string)"
    )


@dataclass
class _Written:
    plan: Plan  # the parts' plans combined, without their rows
    changes: list[dict[str, Any]]
    events: int
    refused: str | None = None


def _plan_and_write_parts(
    conn: sa.Connection,
    parts: plan_parts.Parts,
    batch: ParsedBatch,
    options: ImportOptions,
    owns: frozenset[str],
    run: RunStart,
    now: datetime,
    progress: ProgressFn,
    *,
    write: bool,
) -> _Written:
    """Plan each part and, if `write`, write it at once (plan_parts.py). The guard and the
    gate then judge the combined plan before the transaction commits: a refusal rolls the
    parts back, so nothing is written, as when they judge a plan before writing."""
    total: Plan | None = None
    changes: list[dict[str, Any]] = []
    events = 0
    protected = protected_keys(batch.rejects)

    def plan_part(part: plan_parts.Part) -> Plan:
        in_other_parts = parts.products - part[0].height
        return _plan(batch, options, owns, protected, in_other_parts, part)

    planned = plan_parts.planned_ahead(parts.split, plan_part)
    with closing(planned):  # a part still being planned is waited for
        for i, plan in enumerate(planned):
            progress("writing" if write else "diffing", 0.4 + 0.55 * i / parts.count)
            if len(changes) < PREVIEW_LIMIT:
                changes += preview_changes(conn, options.account_id, plan)[
                    : PREVIEW_LIMIT - len(changes)
                ]
            if write:
                try:
                    events += _apply(conn, plan, options, run, now, owns)
                except store.OwnerChanged as e:
                    return _Written(plan_parts.combine(total, plan), changes, events, str(e))
            if parts.after_part is not None:
                parts.after_part(plan)
            if parts.after_part is not None or batch.fingerprints is None:
                # what a snapshot is made of: kept already, or not wanted (one id a product)
                plan = replace(plan, product_ids=plan.product_ids.clear())
            total = plan_parts.combine(total, plan)
            del plan  # this part's plan; the next one's is being made
    assert total is not None  # wanted() only splits a batch larger than a part
    return _Written(total, changes, events)


def _record_run(
    conn: sa.Connection,
    report: ImportReport,
    options: ImportOptions,
    batch: ParsedBatch,
    started: datetime,
    *,
    status: str,
    events: tuple[int, int] | None = None,
) -> None:
    store.record_run(
        conn,
        run_id=report.run_id,
        account_id=options.account_id,
        source=options.source,
        mode=options.mode,
        dry_run=False,
        status=status,
        input_name=batch.input_name,
        summary=report.to_json(),
        unmapped_columns=batch.unmapped_columns,
        rejects=batch.rejects,
        started=started,
        error=report.refused,
        events=events,
    )


def _record_refusal(
    engine: sa.Engine,
    report: ImportReport,
    options: ImportOptions,
    batch: ParsedBatch,
    started: datetime,
) -> None:
    """A refused run is still history: keep the run row (and its rejects), write nothing else."""
    with engine.begin() as conn:
        ensure_account(conn, options.account_id)
        _record_run(conn, report, options, batch, started, status="refused")


def _report(
    run_id: str,
    batch: ParsedBatch,
    options: ImportOptions,
    plan: Plan,
    source_created: bool,
) -> ImportReport:
    warnings = list(batch.warnings) + list(plan.warnings)
    if plan.kept_protected and plan.product_counts.archived:
        warnings.append(
            f"{plan.kept_protected} product(s) named in rejected rows were not archived"
        )
    if source_created:
        warnings.insert(
            0,
            f"source {options.source!r} did not exist and was created as a mirror source "
            "(it owns content, pricing and inventory)",
        )
    return ImportReport(
        run_id=run_id,
        source=options.source,
        mode=options.mode,
        dry_run=options.dry_run,
        rows_read=batch.rows_read,
        rows_valid=batch.rows_valid or 0,
        rows_rejected=len(batch.rejects),
        products=plan.product_counts,
        prices=plan.price_counts,
        inventory_items=plan.inventory_counts,
        ignored_not_owned=plan.ignored_not_owned,
        events=plan.events,
        warnings=warnings,
        rejects=batch.rejects,
        unmapped_columns=batch.unmapped_columns,
        archive_fraction=plan.archive_fraction,
        source_created=source_created,
        batch=batch,
    )


def saved_mapping(engine: sa.Engine, account_id: str, source: str) -> Mapping | None:
    """The source's saved mapping (`sources set-mapping`), if any. An archived source refuses
    here, before its file is read. Only saved (accepted) mappings are used, never a
    suggestion."""
    with engine.connect() as conn:
        src = get_source(conn, account_id, source)
    if src is None:
        return None
    refuse_if_archived(src)
    if src.mapping is None:
        return None
    where = f"source {source!r}'s saved mapping (version {src.version})"
    return mapping_from_dict(src.mapping, where=where)


def import_path(
    engine: sa.Engine,
    path: Path,
    options: ImportOptions,
    *,
    format: str = "auto",
    mapping_path: Path | None = None,
    encoding: str | None = None,
    progress: ProgressFn = quiet,
) -> ImportReport:
    """Read, validate and import one file (the CLI's `import`). The run is recorded before
    the file is read, so an unreadable file is a `failed` run too."""
    allocator.tune()
    run = _run_start(options, str(path))
    progress = never_back(progress)
    with engine.connect() as conn, _tracked(engine, conn, run, options):
        progress("reading", 0.05)
        mapping = (
            load_mapping(mapping_path)
            if mapping_path
            else saved_mapping(engine, options.account_id, options.source)
        )
        if format == "auto":
            fmt = mapping.format if mapping and mapping.format else detect_format(path)
        else:
            fmt = format
        if mapping is None and fmt in ("csv", "jsonl"):
            raise InputError(
                f"{path}: a {fmt} file needs a field mapping, and source {options.source!r} has"
                " none saved. Get a suggestion with `catalog-sync mapping suggest"
                f" {path}`, check it, then save it with `catalog-sync sources set-mapping"
                f" {options.source} FILE` (or pass --mapping FILE); see docs/mapping-assistant.md"
            )
        source = get_source(conn, options.account_id, options.source)
        config = source.config if source else {}
        read = {
            "encoding": encoding or config.get("encoding"),
            "currency": config.get("currency"),  # the shop's, for exports that carry none
        }

        def load(use_snapshot: bool) -> tuple[Handover, plan_parts.Spilled | None]:
            """The batch, validated (handed over: no frame here keeps its products while the
            import spills them); its products on disk when it was mapped a chunk at a time
            (validated_chunks.py)."""
            chunks = ValidatedChunks()
            skip = skip_unchanged.request(
                conn, options, fmt, use_snapshot=use_snapshot, chunks=chunks, **read
            )
            batch = load_batch(path, format=fmt, mapping=mapping, skip=skip, chunks=chunks, **read)
            progress("validating", 0.25)
            if chunks.used:
                report, spilled = chunks.validated(batch)
                return Handover(report.batch), spilled
            return Handover(validate_batch(batch).batch), None

        opts = replace(options, source_kind=fmt)  # a format is the kind of source it comes from
        stream = read_stream(conn, options, path, fmt, mapping, progress=progress, **read)
        report = None
        if stream is not None:
            report = _import_stream(engine, conn, stream, opts, run, progress)
        if report is not None:
            return report

        def load_and_import(use_snapshot: bool) -> ImportReport:
            handed, spilled = load(use_snapshot)
            return _import(engine, conn, _taken(handed), opts, run, progress, spilled=spilled)

        try:
            return load_and_import(use_snapshot=True)
        except skip_unchanged.SkipUnusable:
            return load_and_import(use_snapshot=False)


def read_stream(
    conn: sa.Connection,
    options: ImportOptions,
    path: Path,
    fmt: str,
    mapping: Mapping | None,
    *,
    progress: ProgressFn = quiet,
    **read: Any,
) -> first_import.Stream | None:
    """The file read in pieces when it is a first import that can be (first_import.py), else
    None: the caller reads it whole."""
    if not first_import.wanted(conn, options.account_id, path, fmt, mapping, read.get("encoding")):
        return None
    # nothing stored, so nothing to skip: the fingerprints are only taken
    skip = skip_unchanged.request(conn, options, fmt, use_snapshot=False, **read)
    try:
        if fmt in EXPORTS:
            currency = read.get("currency") or (mapping.currency if mapping else None)
            return first_import.read_export(
                path, fmt, currency=currency or DEFAULT_CURRENCY, skip=skip, progress=progress
            )
        assert mapping is not None
        return first_import.read(path, mapping, skip=skip, progress=progress, fmt=fmt)
    except first_import.Unusable as e:
        first_import.log_read_whole(path, e)
        return None


def read_feed_stream(
    conn: sa.Connection,
    options: ImportOptions,
    url: str,
    *,
    currency: str,
    progress: ProgressFn = quiet,
    **fetch: Any,
) -> first_import.Stream | None:
    """The HTTP JSON feed at `url` fetched, mapped and validated a piece at a time
    (first_import.read_feed), each piece on disk; None when it has to be fetched whole (a key
    in two pieces, or streaming turned off). A first import imports the pieces; a re-import
    takes them as a batch whose products wait on disk (`Stream.validated`). A feed that
    cannot be fetched raises its FeedError."""
    if not first_import.enabled():
        return None
    try:
        return first_import.read_feed(url, currency=currency, progress=progress, **fetch)
    except first_import.Unusable as e:
        first_import.log_read_whole(url, e)
        return None


def import_feed(
    engine: sa.Engine,
    url: str,
    options: ImportOptions,
    *,
    currency: str | None = None,
    progress: ProgressFn = quiet,
    **fetch: Any,
) -> ImportReport:
    """Fetch, validate and import an HTTP JSON feed, as `import_path` imports a file: the run
    is recorded before the first page is asked for. The feed is fetched a piece at a time
    (`read_feed_stream`), or whole when it must be. `currency`: the shop's (default: the
    source's `config.currency`, else usd); `fetch`: `fetch_products_feed`'s retries, timeout
    and page limit."""
    allocator.tune()
    run = _run_start(options, url)
    progress = never_back(progress)
    opts = replace(options, source_kind="http_json")
    with engine.connect() as conn, _tracked(engine, conn, run, options):
        progress("reading", 0.05)
        source = get_source(conn, options.account_id, options.source)
        code = currency or (source.config.get("currency") if source else None) or DEFAULT_CURRENCY
        stream = read_feed_stream(conn, options, url, currency=code, progress=progress, **fetch)
        if stream is not None and not store.holds_nothing(conn, options.account_id):
            validation, spilled = stream.validated()
            given = Handover(validation.batch)
            del validation
            return _import(engine, conn, given.take(), opts, run, progress, spilled=spilled)
        if stream is not None:
            report = _import_stream(engine, conn, stream, opts, run, progress)
            if report is not None:
                return report
        # no local holds the batch: the import lets its products go once they are on disk
        whole = Handover(validate_batch(fetch_products_feed(url, currency=code, **fetch)).batch)
        return _import(engine, conn, whole.take(), opts, run, progress)
