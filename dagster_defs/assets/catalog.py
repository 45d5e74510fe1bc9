"""Publish: write the staged import to the catalog, then hand its events to webhook delivery.

`catalog` is one step with three assets (products, prices, inventory) because the importer
commits all of them, their versions and events in one transaction (docs/import-semantics.md): a step per
kind could publish products without their prices. Each asset records its own counts.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa

from catalog_pipelines.importer import import_batch
from dagster_defs import previews
from dagster_defs.assets.staging import GROUP, SAMPLE_SIZE, StagedImport
from dagster_defs.inbox import finish_inbox_file_on_error, move_inbox_file
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase, InboxResource

CATALOG_KEYS: dict[str, dg.AssetKey] = {
    "products": dg.AssetKey("catalog_products"),
    "prices": dg.AssetKey("catalog_prices"),
    "inventory_items": dg.AssetKey("catalog_inventory"),
}
_DESCRIPTIONS = {
    "products": "Products of this source in the versioned catalog (Stripe-shaped, prod_...).",
    "prices": "Prices of this source's variants; immutable, a new amount is a new price.",
    "inventory_items": "Inventory items, one per SKU, with their adjustments ledger.",
}

CATALOG_SPECS = [
    dg.AssetSpec(
        key=key,
        deps=["validated_rows"],
        description=_DESCRIPTIONS[kind],
        group_name=GROUP,
        kinds={"postgres"},
        tags={"layer": "publish"},
        partitions_def=sources_partitions,
        # A dry run publishes nothing: the outputs are then omitted and downstream steps skip.
        skippable=True,
    )
    for kind, key in CATALOG_KEYS.items()
]


def catalog_metadata(
    report: dict[str, Any], changes: list[dict[str, Any]], staged: StagedImport, kind: str
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
        "input": staged.input_name,
        "events": dg.MetadataValue.int(int(report.get("events", 0))),
        "ignored_not_owned": dg.MetadataValue.int(int(report.get("ignored_not_owned", 0))),
        "changes": dg.MetadataValue.md(previews.changes_markdown(mine, SAMPLE_SIZE)),
        "reject_sample": dg.MetadataValue.md(
            previews.rejects_markdown(staged.batch.rejects, SAMPLE_SIZE)
        ),
        "warnings": dg.MetadataValue.json(list(report.get("warnings", []))),
    }


@dg.multi_asset(
    name="catalog",
    specs=CATALOG_SPECS,
    partitions_def=sources_partitions,
    can_subset=False,
    op_tags={"catalog-sync/step": "publish"},
    code_version="1",
)
def catalog(
    context: dg.AssetExecutionContext,
    catalog_db: CatalogDatabase,
    inbox: InboxResource,
    validated_rows: StagedImport,
) -> Iterator[dg.MaterializeResult]:
    staged = validated_rows
    with finish_inbox_file_on_error(context, inbox):
        report = import_batch(catalog_db.engine(), staged.batch, staged.options)
    data = report.to_json()
    changes = list(report.changes)
    if staged.options.dry_run:
        # Recorded as observations: visible on each asset's timeline without claiming a write.
        for kind, key in CATALOG_KEYS.items():
            context.log_event(
                dg.AssetObservation(
                    asset_key=key,
                    partition=context.partition_key,
                    metadata=catalog_metadata(data, changes, staged, kind),
                )
            )
        context.log.info(f"dry run of {staged.source}: nothing written")
        return
    move_inbox_file(context, inbox, succeeded=True)
    for kind, key in CATALOG_KEYS.items():
        yield dg.MaterializeResult(
            asset_key=key, metadata=catalog_metadata(data, changes, staged, kind)
        )


_RUN_EVENTS = sa.text(
    "SELECT type, count(*) AS n, min(sequence) AS first, max(sequence) AS last FROM events"
    " WHERE account_id = :a AND run_id = :r GROUP BY type ORDER BY type"
)
_ENDPOINTS = sa.text(
    "SELECT count(*) FROM webhook_endpoints WHERE account_id = :a AND status = 'enabled'"
)
_FANNED_OUT = sa.text(
    "SELECT count(*) FROM webhook_deliveries d JOIN events e ON e.sequence = d.event_sequence"
    " WHERE e.account_id = :a AND e.run_id = :r AND d.replay_id = ''"
)


def latest_import_run_id(context: dg.AssetExecutionContext) -> str | None:
    """The import run that this partition's latest catalog_products materialization recorded."""
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=CATALOG_KEYS["products"], asset_partitions=[context.partition_key]
        ),
        limit=1,
    )
    if not result.records:
        return None
    materialization = result.records[0].asset_materialization
    value = materialization.metadata.get("import_run_id") if materialization else None
    return str(value.value) if value is not None else None


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
    run_id = latest_import_run_id(context)
    params = {"a": catalog_db.account_id, "r": run_id}
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
