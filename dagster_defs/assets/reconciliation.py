"""Nightly reconciliation: how far the catalog has drifted from each source, optionally healed.

The drift is the diff of a full re-read of the source against the catalog, which
`validated_rows` already planned (without writing: the reconcile job does not select the
catalog assets). Recording it as its own asset gives the data team a per-source time series of
drift counts in the UI. `heal: true` applies the diff as a full import and records the resulting
writes on the catalog assets; that import plans again under the source's lock, so it never
applies a drift report that went stale in between.
"""

from dataclasses import replace
from typing import Any

import dagster as dg
from pydantic import Field

from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.validation import validate_batch
from dagster_defs import handoff, previews
from dagster_defs.assets.catalog import CATALOG_KEYS, VALIDATED_BATCH, catalog_metadata
from dagster_defs.assets.staging import StagedImport, import_staged, snapshot_of_run
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase

GROUP = "reconciliation"


class ReconcileConfig(dg.Config):
    heal: bool = Field(
        default=False,
        description="Apply the diff (a full import of the source) instead of only reporting it.",
    )
    sample_size: int = Field(default=20, description="Changes shown in the drift sample.")


def drift_total(plan: dict[str, Any]) -> int:
    """Objects that differ between source and catalog: everything but `unchanged`."""
    counts = previews.plan_counts(plan)
    return sum(c["created"] + c["updated"] + c["archived"] for c in counts.values())


@dg.asset(
    name="catalog_drift",
    partitions_def=sources_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    tags={"layer": "monitor"},
    code_version="2",
    description="Differences between the source, re-read now, and the catalog: counts per kind"
    " and a sample. With `heal: true` the differences are applied.",
)
def catalog_drift(
    context: dg.AssetExecutionContext,
    config: ReconcileConfig,
    catalog_db: CatalogDatabase,
    validated_rows: StagedImport,
) -> dg.MaterializeResult:
    staged = validated_rows
    plan = staged.plan
    # Taken now, so its memory goes when there is nothing to heal.
    kept = handoff.take(context.run.run_id, VALIDATED_BATCH, context.partition_key)
    metadata: dict[str, Any] = {
        "drift_total": dg.MetadataValue.int(drift_total(plan)),
        **{
            f"{kind}_{count}": dg.MetadataValue.int(value)
            for kind, counts in previews.plan_counts(plan).items()
            for count, value in counts.items()
            if count != "unchanged"
        },
        "rows_rejected": dg.MetadataValue.int(staged.rows_rejected),
        "sample": dg.MetadataValue.md(
            previews.changes_markdown(staged.plan_changes, config.sample_size)
        ),
        "healed": config.heal,
    }
    if config.heal and drift_total(plan):
        options = replace(staged.options, mode="full", dry_run=False)
        batch = kept if isinstance(kept, ParsedBatch) else revalidated(context, catalog_db)
        report = import_staged(context, catalog_db, batch, options)
        data, changes = report.to_json(), list(report.changes)
        screened = report.batch or batch
        metadata["heal_import_run_id"] = str(data.get("run_id", ""))
        for kind, key in CATALOG_KEYS.items():
            # The catalog really changed: say so on the catalog assets' own timelines.
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=context.partition_key,
                    metadata=catalog_metadata(
                        data, changes, screened.rejects, screened.input_name, kind
                    ),
                )
            )
    return dg.MaterializeResult(metadata=metadata)


def revalidated(context: dg.AssetExecutionContext, catalog_db: CatalogDatabase) -> ParsedBatch:
    """The source read and validated again, when validated_rows' frames are not in this
    process (a re-execution, or an executor with a process per step)."""
    return validate_batch(snapshot_of_run(context, catalog_db, rows=True).batch).batch
