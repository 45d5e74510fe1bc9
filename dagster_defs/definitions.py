"""The `catalog_sync` code location (`workspace.yaml` loads this module).

One place that assembles the domains: the import graph (assets and their checks, the two jobs,
the inbox and partition sensors, the nightly reconciliation, the resources read from the
environment) and webhook delivery (`dagster_defs.webhooks`: its sensor, replay job and lag
asset), merged into one Definitions.
"""

from __future__ import annotations

import dagster as dg

from dagster_defs.assets import ALL_ASSETS
from dagster_defs.jobs import import_source_job, reconcile_source_job
from dagster_defs.resources import default_resources
from dagster_defs.schedules import nightly_reconciliation
from dagster_defs.sensors import inbox_sensor, source_partitions_sensor
from dagster_defs.webhooks import webhook_definitions


def catalog_import_definitions() -> dg.Definitions:
    # In-process executor: an import is a linear chain of steps, so a process per step would
    # only re-import polars/pandera/dagster for each. Throughput comes from running source
    # partitions in parallel, one run each (see docs/dagster.md).
    return dg.Definitions(
        executor=dg.in_process_executor,
        assets=ALL_ASSETS,
        jobs=[import_source_job, reconcile_source_job],
        schedules=[nightly_reconciliation],
        sensors=[inbox_sensor, source_partitions_sensor],
        resources=default_resources(),
    )


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(catalog_import_definitions(), webhook_definitions())


defs = build_definitions()
