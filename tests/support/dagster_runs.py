"""What an import job's run showed, as two ways of importing the same input compare it."""

from __future__ import annotations

from typing import Any

import dagster as dg


def import_run_view(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """`source_snapshot`'s metadata (without its input's name), and `validated_rows`' plan
    (without its run id), validation summary and rejects."""
    assert result.success
    staged = result.asset_materializations_for_node("source_snapshot")[0].metadata
    output = result.output_for_node("validated_rows", "validated_rows")
    plan = dict(output.plan)
    plan.pop("run_id")
    return {
        "snapshot": {k: v.value for k, v in staged.items() if k != "input"},
        "plan": plan,
        "validation": output.validation,
        "rows_rejected": output.rows_rejected,
    }


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Each asset's last materialization's metadata, by asset key."""
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


RECONCILE = ["source_snapshot", "validated_rows", "catalog_drift"]  # the reconcile job's assets


def reconcile(
    instance: dg.DagsterInstance, resources: dict[str, Any], partition: str, *, heal: bool
) -> dict[str, Any]:
    """A run of the reconcile job's assets: `catalog_drift`'s metadata."""
    from dagster_defs.assets import ALL_ASSETS

    result = dg.materialize(
        ALL_ASSETS,
        selection=RECONCILE,
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config={"ops": {"catalog_drift": {"config": {"heal": heal}}}},
    )
    assert result.success
    return materialized(result)["catalog_drift"]
