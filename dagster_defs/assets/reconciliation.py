"""Nightly reconciliation: how far the catalog has drifted from each source, optionally healed.

The drift is the diff of a full re-read of the source against the catalog, which
`validated_rows` already planned (without writing: the reconcile job does not select the
catalog assets). Recording it as its own asset gives the data team a per-source time series of
drift counts in the UI. `heal: true` reads the source again and imports it in full, and records
the resulting writes on the catalog assets; that import plans again under the source's lock, so
it never applies a drift report that went stale in between.
"""

from dataclasses import replace
from typing import Any

import dagster as dg

from catalog_pipelines.importer import ImportOptions, ImportReport
from dagster_defs import checks
from dagster_defs.assets.catalog import CATALOG_KEYS, CheckGate, catalog_metadata, import_snapshot
from dagster_defs.assets.drift import ReconcileConfig, drift_metadata, drift_total
from dagster_defs.assets.staging import (
    Snapshot,
    StagedImport,
    read_snapshot,
    run_import_config,
    snapshot_path,
)
from dagster_defs.partitions import sources_partitions
from dagster_defs.resources import CatalogDatabase

GROUP = "reconciliation"


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
    metadata: dict[str, Any] = {
        **drift_metadata(staged, config.sample_size),
        "healed": config.heal,
    }
    if config.heal and drift_total(plan):
        report = healed(context, catalog_db, replace(staged.options, mode="full", dry_run=False))
        data, changes = report.to_json(), list(report.changes)
        screened = report.batch
        assert screened is not None  # every report of an import carries its batch
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


def healed(
    context: dg.AssetExecutionContext, catalog_db: CatalogDatabase, options: ImportOptions
) -> ImportReport:
    """The source read again and imported in full, as the import job would: in pieces when it
    is large, so that healing holds no more than an import does. The drift was planned from
    the first read (a feed is fetched twice when it heals); this import plans again under the
    source's lock, from what the source holds now. That read is judged by validated_rows'
    checks as this run configured them: it need not be the one they passed."""

    def read() -> Snapshot:
        path = snapshot_path(context)
        return read_snapshot(context, catalog_db, path, stream=True, mode=options.mode)

    config = run_import_config(context).model_copy(update={"mode": options.mode})
    unmapped = checks.previous_unmapped_columns(
        catalog_db.engine(), catalog_db.account_id, context.partition_key
    )
    gate = CheckGate(config, unmapped)
    report = import_snapshot(context, catalog_db, read, options, gate).report
    if report.refused:
        failed = [r for r in gate.results if not r.passed]
        raise dg.Failure(
            description=f"the heal was refused, nothing was written: {report.refused}",
            metadata={
                f"{r.check_name}.{name}": value
                for r in failed
                for name, value in (r.metadata or {}).items()
            },
        )
    return report
