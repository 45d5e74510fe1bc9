"""Nightly reconciliation: how far the catalog has drifted from each source, optionally healed.

The drift is the diff of a full re-read of the source against the catalog, computed once: as
a dry run when only reporting, or as the full import that `heal: true` applies (its counts are
then the drift that was healed). Recording it as its own asset gives the data team a
per-source time series of drift counts in the UI; a heal also records the resulting writes on
the catalog assets.
"""

from dataclasses import replace
from typing import Any

import dagster as dg
from pydantic import Field

from catalog_pipelines.importer import import_batch
from dagster_defs import previews
from dagster_defs.assets.catalog import CATALOG_KEYS, catalog_metadata
from dagster_defs.assets.staging import StagedImport
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
    code_version="1",
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
    options = replace(staged.options, mode="full", dry_run=not config.heal)
    report = import_batch(catalog_db.engine(), staged.batch, options)
    plan, changes = report.to_json(), list(report.changes)
    metadata: dict[str, Any] = {
        "drift_total": dg.MetadataValue.int(drift_total(plan)),
        **{
            f"{kind}_{count}": dg.MetadataValue.int(value)
            for kind, counts in previews.plan_counts(plan).items()
            for count, value in counts.items()
            if count != "unchanged"
        },
        "rows_rejected": dg.MetadataValue.int(len(staged.batch.rejects)),
        "sample": dg.MetadataValue.md(previews.changes_markdown(changes, config.sample_size)),
        "healed": config.heal,
    }
    if config.heal and drift_total(plan):
        metadata["heal_import_run_id"] = str(plan.get("run_id", ""))
        for kind, key in CATALOG_KEYS.items():
            # The catalog really changed: say so on the catalog assets' own timelines.
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=context.partition_key,
                    metadata=catalog_metadata(plan, changes, staged, kind),
                )
            )
    return dg.MaterializeResult(metadata=metadata)
