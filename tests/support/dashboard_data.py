"""Realistic data for the dashboard tests, made through the public API as a merchant's
scripts would: a real Shopify export imported into a source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.support.dashboard import Merchant

REAL = Path(__file__).parent.parent / "fixtures" / "real"
SHOPIFY_EXPORT = REAL / "shopify_product_template.csv"


def import_file(merchant: Merchant, path: Path, source: str, **params: Any) -> dict[str, Any]:
    """Upload `path` and import it into `source` (POST /v1/files, /v1/import_runs); the
    finished run."""
    with path.open("rb") as f:
        up = merchant.api(
            "POST",
            "/v1/files",
            data={"purpose": "catalog_import"},
            files={"file": (path.name, f, "text/csv")},
        )
    assert up.status_code == 200, up.text
    started = merchant.api(
        "POST", "/v1/import_runs", json={"file": up.json()["id"], "source": source, **params}
    )
    assert started.status_code == 200, started.text
    run: dict[str, Any] = started.json()
    deadline = time.monotonic() + 120
    while run["status"] == "running":
        assert time.monotonic() < deadline, f"import {run['id']} still running"
        time.sleep(0.1)
        run = merchant.api("GET", f"/v1/import_runs/{run['id']}").json()
    assert run["status"] == "succeeded", run
    return run
