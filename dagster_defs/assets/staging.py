"""Stage: read a source, validate it and plan the import, without writing to the catalog.

`source_snapshot` reads the partition's source (a file, an inbox drop, or an HTTP feed);
`validated_rows` runs the pandera checks and a dry-run diff against the catalog, and carries the
asset checks. Blocking checks do not undo a write (docs/maintainers.md), so every check that can stop an
import runs here, before `catalog_*` publishes anything.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.registry import CONNECTORS, FORMATS
from catalog_pipelines.importer import ImportOptions, import_batch, new_run_id
from catalog_pipelines.mapping import mapping_from_dict
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.store import run_log
from catalog_pipelines.store.sources import Source, get_source
from catalog_pipelines.validation import validate_batch
from dagster_defs import checks, previews
from dagster_defs.inbox import (
    INBOX_FILE_TAG,
    TRIGGER_TAG,
    finish_inbox_file_on_error,
    move_inbox_file,
)
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase, InboxResource

GROUP = "catalog_import"
SAMPLE_SIZE = 20


class SnapshotConfig(dg.Config):
    """Where to read this run's input, when it is not the source's configured location."""

    path: str | None = Field(
        default=None,
        description="Read this file instead of the source's `config.path`/`config.url`."
        " The inbox sensor sets it to the dropped file.",
    )


class ImportRunConfig(dg.Config):
    """How to import: the run config a data team edits in the launchpad."""

    mode: Literal["full", "incremental"] = Field(
        default="full",
        description="full: the input is the complete catalog of the source, missing objects are"
        " archived. incremental: upsert only.",
    )
    dry_run: bool = Field(
        default=False, description="Compute and record the diff; write nothing to the catalog."
    )
    allow_mass_archive: bool = Field(
        default=False, description="Let a full import archive more than max_archive_fraction."
    )
    max_archive_fraction: float = Field(
        default=0.2, description="Share of the source's active products a full import may archive."
    )
    max_reject_rate: float = Field(
        default=0.05,
        description="Share of rejected rows above which the reject_rate check blocks publishing.",
    )


@dataclass
class Snapshot:
    """The source as read: the parsed batch and the connector kind that read it."""

    batch: ParsedBatch
    kind: str


@dataclass
class StagedImport:
    """What `validated_rows` hands to the publishing steps: the valid rows and the plan."""

    source: str
    account_id: str
    input_name: str
    batch: ParsedBatch
    options: ImportOptions  # dry_run as the run asked; the plan below was always a dry run
    plan: dict[str, Any]  # ImportReport.to_json() of the dry run; {} when refused
    plan_changes: list[dict[str, Any]]  # the first changes of the plan, for previews
    archive_fraction: float
    refused: str | None  # the importer's guard message, when it refused the plan
    validation: dict[str, Any] = field(default_factory=dict)


def read_source(source: Source | None, name: str, path_override: str | None) -> Snapshot:
    """Load the partition's input: an explicit file, or the source's configured path or URL."""
    config = source.config if source else {}
    currency = config.get("currency")  # the shop's currency, for inputs that carry none
    if not path_override and config.get("url"):
        feed = CONNECTORS["http_json"]
        batch = feed.read(str(config["url"]), mapping=None, encoding=None, currency=currency)
        return Snapshot(batch, feed.name)
    location = path_override or config.get("path")
    if not location:
        raise dg.Failure(
            description=f"source {name!r} has no config.path or config.url to read;"
            " drop a file into its inbox folder or set one with `catalog-sync sources add`.",
        )
    path = Path(str(location))
    if not path.is_file():
        raise dg.Failure(description=f"{path} does not exist (already moved out of the inbox?)")
    # A source of a file kind reads its files with that connector; a new source (or a feed
    # source given a file) gets the connector that recognises the file, and its kind.
    fmt = source.kind if source is not None and source.kind in FORMATS else detect_format(path)
    # the source's saved mapping (`sources set-mapping`); never an unaccepted suggestion
    mapping = (
        mapping_from_dict(source.mapping, where=f"source {name!r}'s saved mapping")
        if source and source.mapping
        else None
    )
    batch = load_batch(
        path, format=fmt, mapping=mapping, encoding=config.get("encoding"), currency=currency
    )
    return Snapshot(batch, fmt)


@dg.asset(
    name="source_snapshot",
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"python", "polars"},
    tags={"layer": "stage"},
    code_version="1",
    description="The partition's source as read right now: a file, an inbox drop or a feed,"
    " parsed into normalized product and variant frames. Nothing is written to the catalog.",
)
def source_snapshot(
    context: dg.AssetExecutionContext,
    config: SnapshotConfig,
    catalog_db: CatalogDatabase,
    inbox: InboxResource,
) -> dg.Output[Snapshot]:
    name = context.partition_key
    with finish_inbox_file_on_error(context, inbox):
        with catalog_db.engine().connect() as conn:
            source = get_source(conn, catalog_db.account_id, name)
        if source is not None and not source.active:
            raise dg.Failure(
                description=f"source {name!r} is archived and takes no imports"
                f" (catalog-sync sources restore {name} undoes that)"
            )
        try:
            snapshot = read_source(source, name, config.path)
            batch = snapshot.batch
            batch.check_reconciles()
        except Exception as e:  # an unreadable input is a failed import run too
            _record_failed_read(context, catalog_db, config.path or name, e)
            raise
    return dg.Output(
        snapshot,
        metadata={
            "input": batch.input_name,
            "source_kind": snapshot.kind if source else f"{snapshot.kind} (new source, detected)",
            "rows_read": batch.rows_read,
            "products": batch.products.height,
            "variants": batch.variants.height,
            "parse_rejects": len(batch.rejects),
            "columns": dg.MetadataValue.json(batch.columns),
            "unmapped_columns": dg.MetadataValue.json(batch.unmapped_columns),
            "warnings": dg.MetadataValue.json(batch.warnings),
        },
    )


def run_origin(context: dg.AssetExecutionContext) -> dict[str, str]:
    """What import_runs records of the Dagster run: its trigger (the run's tag: inbox,
    nightly_reconciliation, ...; `dagster` for a launch by hand) and its id, for a link."""
    tags = context.run.tags or {}
    return {"trigger": tags.get(TRIGGER_TAG, "dagster"), "dagster_run_id": context.run.run_id}


def _record_failed_read(
    context: dg.AssetExecutionContext,
    catalog_db: CatalogDatabase,
    input_name: str,
    error: Exception,
) -> None:
    """`failed` in import_runs, as the CLI records an unreadable file (docs/import-failures.md)."""
    run_config: dict[str, Any] = dict(context.run.run_config or {})
    step: dict[str, Any] = run_config.get("ops", {}).get("validated_rows", {}).get("config", {})
    mode = step.get("mode", "full")
    if step.get("dry_run"):
        return  # a dry run records nothing
    run = run_log.RunStart(
        run_id=new_run_id(),
        account_id=catalog_db.account_id,
        source=context.partition_key,
        mode=mode,
        input_name=input_name,
        started=datetime.now(UTC),
        **run_origin(context),
    )
    run_log.fail_run(catalog_db.engine(), run, error)


# The checks a data team reads on every import. The first three gate publishing.
CHECK_SPECS = [
    dg.AssetCheckSpec(
        name="row_reconciliation",
        asset="validated_rows",
        blocking=True,
        description="rows read = rows valid + rows rejected, against an independent row count.",
    ),
    dg.AssetCheckSpec(
        name="reject_rate",
        asset="validated_rows",
        blocking=True,
        description="Share of rejected rows is at most max_reject_rate (run config).",
    ),
    dg.AssetCheckSpec(
        name="mass_archive_guard",
        asset="validated_rows",
        blocking=True,
        description="A full import archives at most max_archive_fraction of the source's active"
        " products, unless allow_mass_archive is set.",
    ),
    dg.AssetCheckSpec(
        name="schema_drift",
        asset="validated_rows",
        blocking=False,
        description="Unmapped columns that the source's previous import did not have. They are"
        " kept in metadata; a warning asks whether the mapping should use them.",
    ),
]


@dg.asset(
    name="validated_rows",
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"python", "pandera"},
    tags={"layer": "stage"},
    code_version="1",
    check_specs=CHECK_SPECS,
    description="Rows that passed the pandera models, the rejects with their reasons, and the"
    " dry-run diff against the catalog. Its blocking checks decide whether the catalog is written.",
)
def validated_rows(
    context: dg.AssetExecutionContext,
    config: ImportRunConfig,
    catalog_db: CatalogDatabase,
    inbox: InboxResource,
    source_snapshot: Snapshot,
) -> Any:
    name = context.partition_key
    engine = catalog_db.engine()
    with finish_inbox_file_on_error(context, inbox):
        report = validate_batch(source_snapshot.batch)
        batch = report.batch
        options = ImportOptions(
            source=name,
            account_id=catalog_db.account_id,
            mode=config.mode,
            dry_run=config.dry_run,
            allow_mass_archive=config.allow_mass_archive,
            max_archive_fraction=config.max_archive_fraction,
            source_kind=source_snapshot.kind,
            **run_origin(context),
        )
        # The plan: the importer's own dry run (same diff, same guards, rolled back).
        dry = import_batch(engine, batch, replace(options, dry_run=True))
        # Rows that touch another source's objects are rejects too (docs/hybrid-sources.md):
        # the checks below, and the publishing step, see the batch the importer screened.
        batch = dry.batch or batch
        plan, plan_changes = dry.to_json(), list(dry.changes[:200])
        archive_fraction, refused = float(dry.archive_fraction), dry.refused
        previous = checks.previous_unmapped_columns(engine, catalog_db.account_id, name)

    staged = StagedImport(
        source=name,
        account_id=catalog_db.account_id,
        input_name=batch.input_name,
        batch=batch,
        options=options,
        plan=plan,
        plan_changes=plan_changes,
        archive_fraction=archive_fraction,
        refused=refused,
        validation=previews.validation_summary(report),
    )
    rejects: list[Reject] = batch.rejects
    yield dg.Output(
        staged,
        metadata={
            "rows_read": batch.rows_read,
            "rows_valid": int(batch.rows_valid or 0),
            "rows_rejected": len(rejects),
            "mode": config.mode,
            "dry_run": config.dry_run,
            "planned_changes": dg.MetadataValue.json(previews.plan_counts(plan)),
            "validation": dg.MetadataValue.json(staged.validation),
            "reject_sample": dg.MetadataValue.md(previews.rejects_markdown(rejects, SAMPLE_SIZE)),
            "plan_preview": dg.MetadataValue.md(
                previews.changes_markdown(plan_changes, SAMPLE_SIZE)
            ),
        },
    )

    results = [
        checks.check_row_reconciliation(batch),
        checks.check_reject_rate(batch, config.max_reject_rate),
        checks.check_mass_archive(
            mode=config.mode,
            archive_fraction=archive_fraction,
            max_archive_fraction=config.max_archive_fraction,
            allow_mass_archive=config.allow_mass_archive,
            refused=refused,
            plan=plan,
        ),
        checks.check_schema_drift(batch.unmapped_columns, previous),
    ]
    blocked = [
        r.check_name for r in results if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR
    ]
    if blocked and context.run.tags.get(INBOX_FILE_TAG):
        # Nothing downstream will run, so this is the end of the run for the inbox file.
        move_inbox_file(context, inbox, succeeded=False)
    yield from results
