"""The asset graph: stage (snapshot, validated rows) → publish (catalog, webhook deliveries),
plus the reconciliation asset fed by the same staging assets."""

from dagster_defs.assets.catalog import catalog, webhook_deliveries
from dagster_defs.assets.reconciliation import catalog_drift
from dagster_defs.assets.staging import source_snapshot, validated_rows

IMPORT_ASSETS = [source_snapshot, validated_rows, catalog, webhook_deliveries]
ALL_ASSETS = [*IMPORT_ASSETS, catalog_drift]

__all__ = [
    "ALL_ASSETS",
    "IMPORT_ASSETS",
    "catalog",
    "catalog_drift",
    "source_snapshot",
    "validated_rows",
    "webhook_deliveries",
]
