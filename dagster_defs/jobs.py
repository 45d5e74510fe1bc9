"""Jobs: import one source partition, or reconcile it. Both run per partition (= per source)."""

from __future__ import annotations

import dagster as dg

from dagster_defs.assets.catalog import CATALOG_KEYS

import_source_job = dg.define_asset_job(
    name="import_source_job",
    selection=dg.AssetSelection.assets(
        "source_snapshot", "validated_rows", *CATALOG_KEYS.values(), "webhook_deliveries"
    ),
    description="Import one source: snapshot → validate and plan → publish → hand events to"
    " webhook delivery. Launched per source partition by the inbox sensor, or from the UI.",
    tags={"catalog-sync/job": "import"},
)

reconcile_source_job = dg.define_asset_job(
    name="reconcile_source_job",
    selection=dg.AssetSelection.assets("source_snapshot", "validated_rows", "catalog_drift"),
    description="Re-read one source in full and record its drift from the catalog;"
    " `catalog_drift: {config: {heal: true}}` applies the diff.",
    config={"ops": {"validated_rows": {"config": {"mode": "full"}}}},
    tags={"catalog-sync/job": "reconcile"},
)
