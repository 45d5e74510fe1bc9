"""The asset graph: stage (snapshot) → validate, plan and publish (validated_rows and the
catalog assets, one step) → webhook deliveries, plus the reconciliation asset fed by the plan."""

from dagster_defs.assets.catalog import validated_rows, webhook_deliveries
from dagster_defs.assets.reconciliation import catalog_drift
from dagster_defs.assets.staging import source_snapshot

IMPORT_ASSETS = [source_snapshot, validated_rows, webhook_deliveries]
ALL_ASSETS = [*IMPORT_ASSETS, catalog_drift]

__all__ = [
    "ALL_ASSETS",
    "IMPORT_ASSETS",
    "catalog_drift",
    "source_snapshot",
    "validated_rows",
    "webhook_deliveries",
]
