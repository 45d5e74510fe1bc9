"""Sensors: files dropped into the inbox, and sources added with the CLI.

Both are small and bounded: each tick lists a folder or one table and returns. The real state
lives elsewhere (files on disk, the `sources` table); cursors and run keys only avoid repeats.
"""

import dagster as dg

from catalog_pipelines.store.sources import list_sources
from dagster_defs import inbox as inbox_rules
from dagster_defs.jobs import import_source_job
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME, sources_partitions
from dagster_defs.resources import CatalogDatabase, InboxResource


@dg.sensor(
    name="inbox_sensor",
    job=import_source_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A file in <inbox>/<source>/ starts one import of that source partition. The run"
    " moves the file to processed/ or failed/ when it ends.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource) -> dg.SensorResult:
    files = inbox_rules.scan(inbox.root(), settle_seconds=inbox.settle_seconds)
    cursor = inbox_rules.InboxCursor.parse(context.cursor)
    new, next_cursor = inbox_rules.plan_tick(files, cursor, limit=inbox.max_runs_per_tick)
    known = set(context.instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME))
    missing = sorted({f.source for f in new} - known)
    run_requests = [
        dg.RunRequest(
            run_key=f.run_key,
            partition_key=f.source,
            run_config={"ops": {"source_snapshot": {"config": {"path": str(f.path)}}}},
            tags={
                inbox_rules.INBOX_FILE_TAG: str(f.path),
                inbox_rules.TRIGGER_TAG: "inbox",
                inbox_rules.SOURCE_TAG: f.source,
            },
        )
        for f in new
    ]
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=next_cursor.serialize(),
        dynamic_partitions_requests=(
            [sources_partitions.build_add_request(missing)] if missing else []
        ),
        skip_reason=None if run_requests else "no new files in the inbox",
    )


@dg.sensor(
    name="source_partitions_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `sources` partition for every source in the catalog, so a source"
    " created with `catalog-sync sources add` appears in the UI without a run.",
)
def source_partitions_sensor(
    context: dg.SensorEvaluationContext, catalog_db: CatalogDatabase
) -> dg.SensorResult:
    with catalog_db.engine().connect() as conn:
        names = {s.name for s in list_sources(conn, catalog_db.account_id)}
    known = set(context.instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME))
    missing = sorted(names - known)
    return dg.SensorResult(
        dynamic_partitions_requests=(
            [sources_partitions.build_add_request(missing)] if missing else []
        ),
        skip_reason=None if missing else "every source already has a partition",
    )
