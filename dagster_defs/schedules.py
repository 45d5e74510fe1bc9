"""The nightly reconciliation: one dry-run diff per source partition.

`build_schedule_from_partitioned_job` rejects dynamic partitions (docs/maintainers.md), so this
schedule lists the partitions itself and emits one run request per source it can re-read.
"""

import dagster as dg

from catalog_pipelines.store.sources import list_sources
from dagster_defs.inbox import SOURCE_TAG, TRIGGER_TAG
from dagster_defs.jobs import reconcile_source_job
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase


@dg.schedule(
    name="nightly_reconciliation",
    cron_schedule="0 3 * * *",
    job=reconcile_source_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, re-read each source that has a path or URL and record how far the"
    " catalog drifted from it. Report only; launch with `heal: true` to apply.",
)
def nightly_reconciliation(
    context: dg.ScheduleEvaluationContext, catalog_db: CatalogDatabase
) -> dg.SkipReason | list[dg.RunRequest]:
    partitions = context.instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME)
    with catalog_db.engine().connect() as conn:
        sources = {s.name: s for s in list_sources(conn, catalog_db.account_id)}
    # Inbox-fed sources have no location to re-read: there is nothing to compare against.
    readable = [
        name
        for name in partitions
        if name in sources and (sources[name].config.get("path") or sources[name].config.get("url"))
    ]
    if not readable:
        return dg.SkipReason("no source partition has a config.path or config.url to re-read")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        dg.RunRequest(
            run_key=f"reconcile:{name}:{day}",
            partition_key=name,
            run_config={
                "ops": {
                    "validated_rows": {"config": {"mode": "full"}},
                    "catalog_drift": {"config": {"heal": False}},
                }
            },
            tags={SOURCE_TAG: name, TRIGGER_TAG: "nightly_reconciliation"},
        )
        for name in readable
    ]
