"""What `catalog_drift` records: the drift counts and a sample, from validated_rows' plan.

Kept apart from the asset so that validated_rows can record them too, when one of its blocking
checks stops a reconcile run before `catalog_drift`'s step: a source that lost most of its
products is the night the drift's timeline must not miss.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from dagster_defs import previews
from dagster_defs.assets.staging import StagedImport

DRIFT_KEY = dg.AssetKey("catalog_drift")


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


def drift_metadata(staged: StagedImport, sample_size: int) -> dict[str, Any]:
    """The counts per kind, the rejects and a sample of the changes of a plan."""
    plan = staged.plan
    return {
        "drift_total": dg.MetadataValue.int(drift_total(plan)),
        **{
            f"{kind}_{count}": dg.MetadataValue.int(value)
            for kind, counts in previews.plan_counts(plan).items()
            for count, value in counts.items()
            if count != "unchanged"
        },
        "rows_rejected": dg.MetadataValue.int(staged.rows_rejected),
        "sample": dg.MetadataValue.md(previews.changes_markdown(staged.plan_changes, sample_size)),
    }


def record_blocked_drift(
    context: dg.AssetExecutionContext, staged: StagedImport, blocked: list[str]
) -> None:
    """In a run that selects `catalog_drift` (the reconcile job), record the drift that
    validated_rows' blocking checks stopped: the run still fails, and nothing is healed."""
    if DRIFT_KEY not in context.job_def.asset_layer.selected_asset_keys:
        return
    run_config: dict[str, Any] = dict(context.run.run_config or {})
    step = run_config.get("ops", {}).get(DRIFT_KEY.path[-1], {}).get("config", {})
    config = ReconcileConfig(**step)
    context.log_event(
        dg.AssetMaterialization(
            asset_key=DRIFT_KEY,
            partition=context.partition_key,
            description="Recorded by validated_rows: its blocking checks stopped the run.",
            metadata={
                **drift_metadata(staged, config.sample_size),
                "healed": False,
                "blocked_by": ", ".join(blocked),
            },
        )
    )
