"""Stage: read a source into normalized frames, without writing to the catalog.

`source_snapshot` reads the partition's source (a file, an inbox drop, or an HTTP feed). Its
frames go to `validated_rows` (assets/catalog.py) through this run's memory (dagster_defs.handoff),
not through the IO manager: pickling a million-row batch cost more than reading it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

import dagster as dg
from pydantic import Field

from catalog_pipelines import first_import, plan_parts, skip_unchanged
from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.registry import CONNECTORS, DEFAULT_CURRENCY, FORMATS
from catalog_pipelines.fingerprints import SkipRequest
from catalog_pipelines.importer import (
    Gate,
    Handover,
    ImportOptions,
    ImportReport,
    import_batch,
    new_run_id,
    read_feed_stream,
    read_stream,
)
from catalog_pipelines.mapping import Mapping, mapping_from_dict
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.store import run_log
from catalog_pipelines.store.imports import holds_nothing
from catalog_pipelines.store.sources import Source, get_source
from catalog_pipelines.validated_chunks import ValidatedChunks
from catalog_pipelines.validation import validate_batch
from dagster_defs import handoff
from dagster_defs.inbox import TRIGGER_TAG, finish_inbox_file_on_error
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase, InboxResource

GROUP = "catalog_import"
SAMPLE_SIZE = 20
VALIDATED_KEY = dg.AssetKey("validated_rows")
# the assets validated_rows publishes to, in one transaction (assets/catalog.py)
CATALOG_KEYS: dict[str, dg.AssetKey] = {
    "products": dg.AssetKey("catalog_products"),
    "prices": dg.AssetKey("catalog_prices"),
    "inventory_items": dg.AssetKey("catalog_inventory"),
}


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

    batch: ParsedBatch  # a stream's summary, without rows, when `stream` is set
    kind: str
    kind_note: str | None = None  # how the metadata names the kind, when it was detected
    # a first import read in pieces (catalog_pipelines/first_import.py), mapped and validated
    stream: first_import.Stream | None = None
    # a re-import mapped a chunk at a time: validated already, its products on disk
    # (catalog_pipelines/validated_chunks.py); a feed's re-import, its pieces (Stream.validated)
    chunks: ValidatedChunks | first_import.Stream | None = None


@dataclass
class StagedImport:
    """`validated_rows`' value (for `catalog_drift`): the plan as counts and a preview. It holds
    no frames, so the IO manager stores it cheaply and any executor can pass it on."""

    source: str
    account_id: str
    input_name: str
    options: ImportOptions  # as the run asked (dry_run, mode, guards)
    plan: dict[str, Any]  # ImportReport.to_json() of the plan
    plan_changes: list[dict[str, Any]]  # the first changes of the plan, for previews
    archive_fraction: float
    refused: str | None  # why the import was refused, when it was
    rows_rejected: int
    validation: dict[str, Any] = field(default_factory=dict)


SkipAsk = Callable[[str, dict[str, Any]], SkipRequest | None]
StreamAsk = Callable[[Path, str, Mapping | None, dict[str, Any]], first_import.Stream | None]
FeedStreamAsk = Callable[[str, str], "Snapshot | None"]


def read_source(
    source: Source | None,
    name: str,
    path_override: str | None,
    skip: SkipAsk | None = None,
    stream: StreamAsk | None = None,
    feed_stream: FeedStreamAsk | None = None,
) -> Snapshot:
    """Load the partition's input: an explicit file, or the source's configured path or URL.
    `skip(format, read settings)` asks for the products the last import left unchanged to be
    skipped (catalog_pipelines/skip_unchanged.py), as the CLI does. `stream(path, format,
    mapping, read settings)` reads a first import in pieces, when it can be, and
    `feed_stream(url, currency)` a feed, whatever the import."""
    config = source.config if source else {}
    currency = config.get("currency")  # the shop's currency, for inputs that carry none
    if not path_override and config.get("url"):
        feed = CONNECTORS["http_json"]
        url = str(config["url"])
        snapshot = feed_stream(url, currency or DEFAULT_CURRENCY) if feed_stream else None
        if snapshot is not None:
            return snapshot
        batch = feed.read(url, mapping=None, encoding=None, currency=currency)
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
    read = {"encoding": config.get("encoding"), "currency": currency}
    pieces = stream(path, fmt, mapping, read) if stream else None
    if pieces is not None:
        return Snapshot(pieces.summary, fmt, stream=pieces)
    request = skip(fmt, read) if skip else None
    # with skipping off, a JSON Lines file is still mapped a chunk at a time (registry.Reader)
    chunks = request.chunks if request is not None else ValidatedChunks() if stream else None
    batch = load_batch(path, format=fmt, mapping=mapping, skip=request, chunks=chunks, **read)
    if isinstance(chunks, ValidatedChunks) and chunks.used:
        return Snapshot(batch, fmt, chunks=chunks)
    return Snapshot(batch, fmt)


SNAPSHOT = "source_snapshot"  # the handoff name of the parsed batch


def run_import_config(context: dg.AssetExecutionContext) -> ImportRunConfig:
    """The config this run gives validated_rows, with ImportRunConfig's defaults."""
    run_config: dict[str, Any] = dict(context.run.run_config or {})
    step = run_config.get("ops", {}).get("validated_rows", {}).get("config", {})
    return ImportRunConfig(**step)


def _run_mode(context: dg.AssetExecutionContext) -> Literal["full", "incremental"]:
    """The import mode this run's config gives validated_rows: a read skips unchanged
    products by that mode's fingerprints (a batch read for another is read again, whole)."""
    return run_import_config(context).mode


def read_snapshot(
    context: dg.AssetExecutionContext,
    catalog_db: CatalogDatabase,
    path: str | None,
    *,
    use_snapshot: bool = True,
    stream: bool = False,
    mode: Literal["full", "incremental"] | None = None,
) -> Snapshot:
    """The partition's input, read and reconciled; an unreadable one is a failed import run.
    Products the source's last import left unchanged are skipped (`use_snapshot=False`: none).
    With `stream`, a first import is read in pieces when it can be, and a re-import that maps
    its kept rows a chunk at a time validates each chunk as it goes (Snapshot.chunks). `mode`:
    the import's, when it is not the one this run's config gives validated_rows."""
    name = context.partition_key
    with catalog_db.engine().connect() as conn:
        source = get_source(conn, catalog_db.account_id, name)
    if source is not None and not source.active:
        raise dg.Failure(
            description=f"source {name!r} is archived and takes no imports"
            f" (catalog-sync sources restore {name} undoes that)"
        )
    mode = mode or _run_mode(context)
    options = ImportOptions(source=name, account_id=catalog_db.account_id, mode=mode)

    def skip(fmt: str, read: dict[str, Any]) -> SkipRequest | None:
        chunks = ValidatedChunks() if stream else None
        with catalog_db.engine().connect() as conn:
            return skip_unchanged.request(
                conn, options, fmt, use_snapshot=use_snapshot, chunks=chunks, **read
            )

    def pieces(
        file: Path, fmt: str, mapping: Mapping | None, read: dict[str, Any]
    ) -> first_import.Stream | None:
        with catalog_db.engine().connect() as conn:
            return read_stream(conn, options, file, fmt, mapping, **read)

    def feed_pieces(url: str, currency: str) -> Snapshot | None:
        """The feed in pieces: a first import's, or a re-import's batch (Snapshot.chunks)."""
        with catalog_db.engine().connect() as conn:
            pieces = read_feed_stream(conn, options, url, currency=currency)
            first = pieces is not None and holds_nothing(conn, options.account_id)
        if pieces is None:
            return None
        kind = CONNECTORS["http_json"].name
        if first:
            return Snapshot(pieces.summary, kind, stream=pieces)
        return Snapshot(pieces.summary, kind, chunks=pieces)

    try:
        snapshot = read_source(
            source,
            name,
            path,
            skip,
            pieces if stream else None,
            feed_pieces if stream else None,
        )
        snapshot.batch.check_reconciles()
    except Exception as e:  # an unreadable input is a failed import run too
        _record_failed_read(context, catalog_db, path or name, e)
        raise
    if source is None:
        snapshot.kind_note = f"{snapshot.kind} (new source, detected)"
    return snapshot


def snapshot_path(context: dg.AssetExecutionContext) -> str | None:
    """`source_snapshot`'s `path` in this run's config (the inbox sensor sets it)."""
    run_config: dict[str, Any] = dict(context.run.run_config or {})
    step: dict[str, Any] = run_config.get("ops", {}).get(SNAPSHOT, {}).get("config", {})
    path = step.get("path")
    return str(path) if path else None


def import_staged(
    context: dg.AssetExecutionContext,
    catalog_db: CatalogDatabase,
    batch: ParsedBatch | Handover,
    options: ImportOptions,
    gate: Gate | None = None,
    stream: first_import.Stream | None = None,
    spilled: plan_parts.Spilled | None = None,
) -> ImportReport:
    """`import_batch` (`spilled`: the batch's products, on disk); when the batch skipped
    unchanged products and that can no longer be trusted (something changed them meanwhile),
    or a first import read in pieces (`stream`, whose summary `batch` is) turns out to need
    the whole file, the source is read again in full and that is imported instead, as the
    CLI does."""
    engine = catalog_db.engine()

    def read_whole() -> ParsedBatch:
        path = snapshot_path(context)
        full = read_snapshot(context, catalog_db, path, use_snapshot=False, mode=options.mode)
        return validate_batch(full.batch).batch

    try:
        return import_batch(
            engine,
            batch,
            options,
            gate=gate,
            stream=stream,
            spilled=spilled,
            read_whole=read_whole,
        )
    except skip_unchanged.SkipUnusable as e:
        context.log.info(f"reading the source again in full: {e}")
        return import_batch(engine, Handover(read_whole()), options, gate=gate)


def snapshot_of_run(context: dg.AssetExecutionContext, catalog_db: CatalogDatabase) -> Snapshot:
    """The batch `source_snapshot` read in this run and process; read again when it is not
    here (a re-execution from a later step, or an executor with a process per step)."""
    taken = handoff.take(context.run.run_id, SNAPSHOT, context.partition_key)
    if isinstance(taken, Snapshot):
        return taken
    context.log.info("source_snapshot's frames are not in this process: reading it again")
    return read_snapshot(context, catalog_db, snapshot_path(context), stream=True)


@dg.asset(
    name=SNAPSHOT,
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"python", "polars"},
    tags={"layer": "stage"},
    code_version="2",
    description="The partition's source as read right now: a file, an inbox drop or a feed,"
    " parsed into normalized product and variant frames. Nothing is written to the catalog.",
)
def source_snapshot(
    context: dg.AssetExecutionContext,
    config: SnapshotConfig,
    catalog_db: CatalogDatabase,
    inbox: InboxResource,
) -> dg.MaterializeResult:
    with finish_inbox_file_on_error(context, inbox):
        snapshot = read_snapshot(context, catalog_db, config.path, stream=True)
    batch = snapshot.batch
    handoff.put(context.run.run_id, SNAPSHOT, context.partition_key, snapshot)
    # as read, before validation (a stream's pieces are validated already: their counts)
    as_read = {
        "products": batch.products.height,
        "variants": batch.variants.height,
        "rejects": len(batch.rejects),
    }
    warnings = batch.warnings
    pieces = snapshot.stream or snapshot.chunks
    if isinstance(pieces, first_import.Stream):
        as_read, warnings = pieces.as_read, pieces.read_warnings
    elif snapshot.chunks is not None:  # its rejects so far are the mapping's
        as_read = {**snapshot.chunks.as_read, "rejects": len(batch.rejects)}
    return dg.MaterializeResult(
        metadata={
            "input": batch.input_name,
            "source_kind": snapshot.kind_note or snapshot.kind,
            "rows_read": batch.rows_read,
            "products": as_read["products"],
            "variants": as_read["variants"],
            # skipped before parsing: what the source's last import left unchanged
            "products_skipped_unchanged": batch.fingerprints.skipped.height
            if batch.fingerprints is not None
            else 0,
            "parse_rejects": as_read["rejects"],
            "columns": dg.MetadataValue.json(batch.columns),
            "unmapped_columns": dg.MetadataValue.json(batch.unmapped_columns),
            "warnings": dg.MetadataValue.json(warnings),
        },
    )


class RunOrigin(TypedDict):
    trigger: str
    dagster_run_id: str


def run_origin(context: dg.AssetExecutionContext) -> RunOrigin:
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
