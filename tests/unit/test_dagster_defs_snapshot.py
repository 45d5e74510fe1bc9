"""Snapshot of the Dagster code location: a lineage change shows up in review.

Like dagster-open-platform's test_defs: asset keys with their dependencies, groups, kinds and
partitions, the asset checks, and the jobs, schedules and sensors. After an intended change,
regenerate with `UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/test_dagster_defs_snapshot.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_defs.definitions import defs

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "dagster_defs.json"


def describe(definitions: dg.Definitions) -> dict[str, Any]:
    graph = definitions.resolve_asset_graph()
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": getattr(partitions, "name", None),
            "checks": {
                c.name: {"blocking": graph.get_check_spec(c).blocking} for c in node.check_keys
            },
        }
    jobs = {
        name: sorted(
            k.to_user_string()
            for k in definitions.resolve_job_def(name).asset_layer.selected_asset_keys
        )
        for name in sorted(j.name for j in definitions.jobs or [])
    }
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
        for s in sorted(definitions.schedules or [], key=lambda s: s.name)
    }
    sensors = {
        s.name: {"jobs": sorted(j.name for j in s.jobs) if s.has_jobs else []}
        for s in sorted(definitions.sensors or [], key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_definitions_match_the_snapshot() -> None:
    current = json.loads(json.dumps(describe(defs)))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_lineage_reads_source_to_webhooks() -> None:
    """The path a data team follows in the UI (docs/dagster.md), independent of the snapshot."""
    assets = describe(defs)["assets"]
    assert assets["validated_rows"]["deps"] == ["source_snapshot"]
    for key in ("catalog_products", "catalog_prices", "catalog_inventory"):
        assert assets[key]["deps"] == ["validated_rows"]
    assert assets["webhook_deliveries"]["deps"] == [
        "catalog_inventory",
        "catalog_prices",
        "catalog_products",
    ]


def test_definitions_validate_from_workspace() -> None:
    """`dagster definitions validate -w workspace.yaml`, as CI and the issue's "done when" run it."""
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
