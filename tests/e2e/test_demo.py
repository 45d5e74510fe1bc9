"""`catalog-sync demo`, the main job, end to end as a user runs it (on the run's database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def _demo(cwd: Path) -> str:
    env = {**os.environ, "DAGSTER_HOME": str(cwd / ".dagster_home")}
    out = subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", "demo", "--account", "acct_demo_e2e"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _row(stdout: str, source: str, asset: str) -> list[int]:
    m = re.search(rf"^{source}\s+{asset}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", stdout, re.M)
    assert m, stdout
    return [int(g) for g in m.groups()]


def test_demo_imports_both_samples_delivers_webhooks_and_reruns_unchanged(
    database_url: str, tmp_path: Path
) -> None:
    first = _demo(tmp_path)
    # created, updated, unchanged, archived (counts derived in tests/e2e/test_dagster_assets.py)
    assert _row(first, "shopify-demo", "products") == [3, 0, 0, 0]
    assert _row(first, "shopify-demo", "prices") == [16, 0, 0, 0]
    assert _row(first, "woocommerce-demo", "products") == [18, 0, 0, 0]
    assert _row(first, "woocommerce-demo", "inventory") == [21, 0, 0, 0]
    # 96 catalog events (3 + 16 + 16 and 18 + 22 + 21) and the two sources' source.created
    assert "webhooks: 98 delivered to a local receiver, 98 requests received" in first
    assert "uv run dagster dev" in first

    second = _demo(tmp_path)
    assert _row(second, "shopify-demo", "products") == [0, 0, 3, 0]
    assert _row(second, "woocommerce-demo", "prices") == [0, 0, 22, 0]
    assert "webhooks: 0 delivered" in second
