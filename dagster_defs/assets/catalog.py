"""Validate, plan, check and publish: one step, one diff, one transaction.

`validated_rows` and the three catalog assets are one multi-asset. The step validates the
batch, then the importer plans the diff under the source's lock; the asset checks are evaluated
on that plan through the importer's `gate`, inside the transaction and before any write (a
first import into an empty account writes in parts first, then is judged before the commit),
and a failed blocking check refuses the import. Otherwise the same plan is applied and committed. So
the preview in the metadata is the plan that was applied, the diff is computed once per run,
and no other write can slip in between a plan and its apply (docs/dagster.md).

The op keeps the name `validated_rows`, so run config (`ops: validated_rows: config:`) is
unchanged. Selected without the catalog assets (the reconcile job), it plans and writes nothing.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import dagster as dg
import sqlalchemy as sa

from catalog_pipelines.importer import (
    Gate,
    Handover,
    ImportOptions,
    ImportRefused,
    ImportReport,
)
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.store.events import account_head
from catalog_pipelines.validation import validate_batch
from dagster_defs import checks, previews
from dagster_defs.assets.drift import record_blocked_drift
from dagster_defs.assets.staging import (
    CATALOG_KEYS,
    GROUP,
    SAMPLE_SIZE,
    SNAPSHOT,
    VALIDATED_KEY,
    ImportRunConfig,
    Snapshot,
    StagedImport,
    import_staged,
    run_origin,
    snapshot_of_run,
)
from dagster_defs.inbox import INBOX_FILE_TAG, finish_inbox_file_on_error, move_inbox_file
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase, InboxResource

_DESCRIPTIONS = {
    "products": "Products of this source in the versioned catalog (Stripe-shaped, prod_...).",
    "prices": "Prices of this source's variants; immutable, a new amount is a new price.",
    "inventory_items": "Inventory items, one per SKU, with their adjustments ledger.",
}

# The checks a data team reads on every import. The first three gate publishing.
CHECK_SPECS = [
    dg.AssetCheckSpec(
        name="row_reconciliation",
        asset=VALIDATED_KEY,
        blocking=True,
        description="rows read = rows valid + rows rejected, against an independent row count.",
    ),
    dg.AssetCheckSpec(
        name="reject_rate",
        asset=VALIDATED_KEY,
        blocking=True,
        description="Share of rejected rows is at most max_reject_rate (run config).",
    ),
    dg.AssetCheckSpec(
        name="mass_archive_guard",
        asset=VALIDATED_KEY,
        blocking=True,
        description="A full import archives at most max_archive_fraction of the source's active"
        " products, unless allow_mass_archive is set.",
    ),
    dg.AssetCheckSpec(
        name="schema_drift",
        asset=VALIDATED_KEY,
        blocking=False,
        description="Unmapped columns that the source's previous import did not have. They are"
        " kept in metadata; a warning asks whether the mapping should use them.",
    ),
]

OUTS = {
    "validated_rows": dg.AssetOut(
        key=VALIDATED_KEY,
        group_name=GROUP,
        kinds={"python", "pandera"},
        tags={"layer": "stage"},
        code_version="2",
        description="Rows that passed the pandera models, the rejects with their reasons (rows"
        " that touch another source's objects included), and the plan against the catalog,"
        " which is the plan the catalog assets apply. Its blocking checks decide whether the"
        " catalog is written.",
    ),
    **{
        key.path[-1]: dg.AssetOut(
            key=key,
            # Nothing: the catalog is the value. A dry run, a blocked check or an import
            # that changes nothing publishes nothing; the outputs are then omitted and
            # downstream steps skip.
            dagster_type=dg.Nothing,
            is_required=False,
            group_name=GROUP,
            kinds={"postgres"},
            tags={"layer": "publish"},
            code_version="2",
            description=_DESCRIPTIONS[kind],
        )
        for kind, key in CATALOG_KEYS.items()
    },
}


# The account's latest event: the run's own events all come after it (store/events.py: the
# log is appended in sequence order), so webhook_deliveries reads them by index range.
def catalog_metadata(
    report: dict[str, Any],
    changes: list[dict[str, Any]],
    rejects: list[Reject],
    input_name: str,
    kind: str,
) -> dict[str, Any]:
    """What one catalog asset records: its counts, the run's rejects, and a preview."""
    counts = previews.kind_counts(report, kind)
    mine = previews.changes_for(changes, kind)
    return {
        **{name: dg.MetadataValue.int(value) for name, value in counts.items()},
        "rejected": dg.MetadataValue.int(int(report.get("rows_rejected", 0))),
        "import_run_id": str(report.get("run_id", "")),
        "mode": str(report.get("mode", "")),
        "dry_run": bool(report.get("dry_run", False)),
        "input": input_name,
        "events": dg.MetadataValue.int(int(report.get("events", 0))),
        "ignored_not_owned": dg.MetadataValue.int(int(report.get("ignored_not_owned", 0))),
        "changes": dg.MetadataValue.md(previews.changes_markdown(mine, SAMPLE_SIZE)),
        "reject_sample": dg.MetadataValue.md(previews.rejects_markdown(rejects, SAMPLE_SIZE)),
        "warnings": dg.MetadataValue.json(list(report.get("warnings", []))),
    }


@dataclass
class CheckGate:
    """validated_rows' checks, evaluated on the importer's plan before it commits (its `gate`).
    A failed blocking check is the reason the import is refused."""

    config: ImportRunConfig
    previous_unmapped: list[str] | None
    results: list[dg.AssetCheckResult] = field(default_factory=list)

    def __call__(self, report: ImportReport) -> str | None:
        batch = report.batch
        assert batch is not None  # the importer always reports the batch it planned
        cfg = self.config
        self.results = [
            *self._on_batch(batch),
            checks.check_mass_archive(
                mode=cfg.mode,
                archive_fraction=float(report.archive_fraction),
                max_archive_fraction=cfg.max_archive_fraction,
                allow_mass_archive=cfg.allow_mass_archive,
                refused=report.refused,
                plan=report.to_json(),
            ),
            checks.check_schema_drift(batch.unmapped_columns, self.previous_unmapped),
        ]
        return _refusal(_blocking(self.results))

    def judge_batch(self, batch: ParsedBatch) -> str | None:
        """The checks that need no plan, before a plan written in parts is written (the
        importer's BatchGate). The results reported are still those of the whole plan."""
        return _refusal(_blocking(self._on_batch(batch)))

    def _on_batch(self, batch: ParsedBatch) -> list[dg.AssetCheckResult]:
        return [
            checks.check_row_reconciliation(batch),
            checks.check_reject_rate(batch, self.config.max_reject_rate),
        ]

    def blocked(self) -> list[str]:
        return _blocking(self.results)


def _blocking(results: list[dg.AssetCheckResult]) -> list[str]:
    return [
        str(r.check_name)
        for r in results
        if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR
    ]


def _refusal(blocked: list[str]) -> str | None:
    if not blocked:
        return None
    return (
        f"blocked by the check(s) {', '.join(blocked)} of validated_rows;"
        " nothing was written (see the checks' metadata)"
    )


def _selection(context: dg.AssetExecutionContext) -> bool:
    """Whether this run publishes: all three catalog assets selected (they commit together)."""
    chosen = [key in context.selected_asset_keys for key in CATALOG_KEYS.values()]
    if any(chosen) and not all(chosen):
        raise dg.Failure(
            description="catalog_products, catalog_prices and catalog_inventory are written in"
            " one transaction: select all three, or none of them for a plan only"
        )
    return all(chosen)


class Imported(NamedTuple):
    report: ImportReport  # refused or not
    options: ImportOptions  # as run: with the kind of connector that read the source
    validation: dict[str, Any]  # previews.validation_summary


def import_snapshot(
    context: dg.AssetExecutionContext,
    catalog_db: CatalogDatabase,
    read: Callable[[], Snapshot],
    options: ImportOptions,
    gate: Gate | None = None,
) -> Imported:
    """Validate the source as `read` gives it and import it (plan only when dry): a first
    import read in pieces, or a re-import's chunks, come validated already. `read` is called
    here so that no caller holds the raw batch while the import runs. A refusal is returned
    in the report, not raised."""
    snapshot = read()
    stream, spilled = snapshot.stream, None
    validation = stream.validation if stream else None
    if snapshot.chunks is not None:  # validated chunk by chunk, the products on disk
        validation, spilled = snapshot.chunks.validated(snapshot.batch)
    elif validation is None:
        validation = validate_batch(snapshot.batch)
    options = replace(options, source_kind=snapshot.kind)
    del snapshot  # only the validated frames from here on
    summary = previews.validation_summary(validation)
    # The importer takes the batch, so that a large one's products can wait on disk while the
    # stored rows are read (importer.Handover).
    given = Handover(validation.batch)
    del validation
    try:
        report = import_staged(
            context, catalog_db, given, options, gate=gate, stream=stream, spilled=spilled
        )
    except ImportRefused as refused:  # by a check, a guard, or an owner that changed
        report = refused.report
    return Imported(report, options, summary)


@dg.multi_asset(
    name="validated_rows",
    outs=OUTS,
    deps=[SNAPSHOT],
    internal_asset_deps={
        "validated_rows": {dg.AssetKey(SNAPSHOT)},
        **{key.path[-1]: {VALIDATED_KEY} for key in CATALOG_KEYS.values()},
    },
    check_specs=CHECK_SPECS,
    partitions_def=sources_partitions,
    can_subset=True,
    op_tags={"catalog-sync/step": "validate-plan-publish"},
)
def validated_rows(
    context: dg.AssetExecutionContext,
    config: ImportRunConfig,
    catalog_db: CatalogDatabase,
    inbox: InboxResource,
) -> Iterator[Any]:
    name = context.partition_key
    engine = catalog_db.engine()
    with finish_inbox_file_on_error(context, inbox):
        publish = _selection(context)
        options = ImportOptions(
            source=name,
            account_id=catalog_db.account_id,
            mode=config.mode,
            dry_run=config.dry_run or not publish,
            allow_mass_archive=config.allow_mass_archive,
            max_archive_fraction=config.max_archive_fraction,
            **run_origin(context),
        )
        gate = CheckGate(config, checks.previous_unmapped_columns(engine, options.account_id, name))
        with engine.connect() as conn:
            events_after = account_head(conn, options.account_id) or 0
        imported = import_snapshot(
            context, catalog_db, lambda: snapshot_of_run(context, catalog_db), options, gate
        )
    report, options = imported.report, imported.options
    batch = report.batch  # screened: other sources' rows are rejects
    assert batch is not None  # every report of an import carries its batch
    data, changes = report.to_json(), list(report.changes)
    staged = StagedImport(
        source=name,
        account_id=options.account_id,
        input_name=batch.input_name,
        options=replace(options, dry_run=config.dry_run),
        plan=data,
        plan_changes=changes[:200],
        archive_fraction=float(report.archive_fraction),
        refused=report.refused,
        rows_rejected=len(batch.rejects),
        validation=imported.validation,
    )
    if VALIDATED_KEY in context.selected_asset_keys:
        yield dg.Output(
            staged,
            output_name="validated_rows",
            metadata={
                "rows_read": batch.rows_read,
                "rows_valid": int(batch.rows_valid or 0),
                "rows_rejected": len(batch.rejects),
                "mode": config.mode,
                "dry_run": config.dry_run,
                "published": publish and not config.dry_run and report.refused is None,
                # also when refused: the run and its rejects are kept (`rejects export`)
                "import_run_id": "" if options.dry_run else report.run_id,
                "planned_changes": dg.MetadataValue.json(previews.plan_counts(data)),
                "validation": dg.MetadataValue.json(staged.validation),
                "reject_sample": dg.MetadataValue.md(
                    previews.rejects_markdown(batch.rejects, SAMPLE_SIZE)
                ),
                "plan_preview": dg.MetadataValue.md(
                    previews.changes_markdown(changes, SAMPLE_SIZE)
                ),
            },
        )
    reported = [
        r
        for r in gate.results
        if VALIDATED_KEY in context.selected_asset_keys
        and dg.AssetCheckKey(VALIDATED_KEY, str(r.check_name)) in context.selected_asset_check_keys
    ]
    yield from reported
    if gate.blocked():
        record_blocked_drift(context, staged, gate.blocked())
        if context.run.tags.get(INBOX_FILE_TAG):
            # The step fails on the blocking check: the end of the run for the file.
            move_inbox_file(context, inbox, succeeded=False)
        if not set(gate.blocked()) & {str(r.check_name) for r in reported}:
            # Dagster fails the step only on check results it sees: here none was selected.
            raise dg.Failure(description=report.refused)
        return
    if report.refused:  # refused after the checks passed: another source took an object
        with finish_inbox_file_on_error(context, inbox):
            raise dg.Failure(description=report.refused)
    if not publish:
        return
    if config.dry_run:
        # Recorded as observations: visible on each asset's timeline without claiming a write.
        for kind, key in CATALOG_KEYS.items():
            context.log_event(
                dg.AssetObservation(
                    asset_key=key,
                    partition=name,
                    metadata=catalog_metadata(data, changes, batch.rejects, batch.input_name, kind),
                )
            )
        context.log.info(f"dry run of {name}: nothing written")
        return
    move_inbox_file(context, inbox, succeeded=True)
    if report.events == 0:
        # Nothing in the catalog changed: no new materialization claims it did, and
        # webhook_deliveries, with no events to deliver, skips.
        context.log.info(f"{name}: the catalog already matches the source; nothing written")
        return
    for kind, key in CATALOG_KEYS.items():
        metadata = catalog_metadata(data, changes, batch.rejects, batch.input_name, kind)
        metadata["events_after_sequence"] = dg.MetadataValue.int(events_after)
        yield dg.Output(None, output_name=key.path[-1], metadata=metadata)


# `sequence > :after` lets the (account_id, sequence) index find the run's events: there is no
# index on run_id, and a scan of the whole log took 17 s at 3M events.
_RUN_EVENTS = sa.text(
    "SELECT type, count(*) AS n, min(sequence) AS first, max(sequence) AS last FROM events"
    " WHERE account_id = :a AND sequence > :after AND run_id = :r GROUP BY type ORDER BY type"
)
_ENDPOINTS = sa.text(
    "SELECT count(*) FROM webhook_endpoints WHERE account_id = :a AND status = 'enabled'"
)
_FANNED_OUT = sa.text(
    "SELECT count(*) FROM webhook_deliveries d JOIN events e ON e.sequence = d.event_sequence"
    " WHERE e.account_id = :a AND e.sequence > :after AND e.run_id = :r AND d.replay_id = ''"
)


def latest_import_run(context: dg.AssetExecutionContext) -> tuple[str | None, int]:
    """The import run that this partition's latest catalog_products materialization recorded,
    and the event sequence its events come after (0 when not recorded)."""
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=CATALOG_KEYS["products"], asset_partitions=[context.partition_key]
        ),
        limit=1,
    )
    if not result.records:
        return None, 0
    materialization = result.records[0].asset_materialization
    metadata = materialization.metadata if materialization else {}
    run_id, after = metadata.get("import_run_id"), metadata.get("events_after_sequence")
    return (
        str(run_id.value) if run_id is not None else None,
        int(after.value) if after is not None and isinstance(after.value, int) else 0,
    )


@dg.asset(
    name="webhook_deliveries",
    deps=list(CATALOG_KEYS.values()),
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    tags={"layer": "publish"},
    code_version="1",
    description="The events this import appended to the log, which the webhook delivery sensor"
    " fans out to every subscribed endpoint and delivers (at least once, in order per object).",
)
def webhook_deliveries(
    context: dg.AssetExecutionContext, catalog_db: CatalogDatabase
) -> dg.MaterializeResult:
    run_id, after = latest_import_run(context)
    params = {"a": catalog_db.account_id, "r": run_id, "after": after}
    with catalog_db.engine().connect() as conn:
        by_type = conn.execute(_RUN_EVENTS, params).all()
        endpoints = int(conn.execute(_ENDPOINTS, params).scalar_one())
        fanned_out = int(conn.execute(_FANNED_OUT, params).scalar_one())
    total = sum(int(r.n) for r in by_type)
    return dg.MaterializeResult(
        metadata={
            "import_run_id": str(run_id),
            "events": dg.MetadataValue.int(total),
            "events_by_type": dg.MetadataValue.json({r.type: int(r.n) for r in by_type}),
            "first_sequence": dg.MetadataValue.int(min((int(r.first) for r in by_type), default=0)),
            "last_sequence": dg.MetadataValue.int(max((int(r.last) for r in by_type), default=0)),
            "enabled_endpoints": dg.MetadataValue.int(endpoints),
            "deliveries_created_so_far": dg.MetadataValue.int(fanned_out),
        }
    )
