"""`catalog-sync import` on Magento's own sample export, as a user runs it: detected with no
flags, read with `--format magento`, priced in the source's `--currency`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "magento2_catalog_product.csv"
CATALOG_SYNC = Path(sys.executable).parent / "catalog-sync"  # the installed command


def catalog_sync(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CATALOG_SYNC), *argv], env=os.environ, capture_output=True, text=True, timeout=120
    )


def report(*argv: str) -> dict[str, Any]:
    out = catalog_sync(*argv)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_magento_sample_imports_with_nothing_rejected(database_url: str, account: str) -> None:
    first = report("import", str(REAL), "--source", "magento", "--account", account, "--json")
    assert (first["rows_read"], first["rows_valid"], first["rows_rejected"]) == (6, 6, 0)
    assert first["products"]["created"] == 6
    assert first["prices"]["created"] == 4
    assert first["inventory_items"]["created"] == 3

    again = report(
        "import", str(REAL), "--source", "magento", "--format", "magento",
        "--account", account, "--json",
    )  # fmt: skip
    assert again["rows_rejected"] == 0 and again["events"] == 0
    assert again["products"]["unchanged"] == 6 and again["prices"]["unchanged"] == 4


def test_source_currency_setting(database_url: str, account: str) -> None:
    added = report(
        "sources", "add", "m-gbp", "--kind", "magento", "--owns", "content,pricing,inventory",
        "--currency", "GBP", "--account", account, "--json",
    )  # fmt: skip
    assert added["config"] == {"currency": "gbp"}
    report("import", str(REAL), "--source", "m-gbp", "--account", account, "--json")
    prices = report("prices", "list", "--account", account, "--json")["data"]
    assert {p["currency"] for p in prices} == {"gbp"}
    bad = catalog_sync(
        "sources", "add", "m-x", "--kind", "magento", "--owns", "content", "--currency", "pounds",
        "--account", account,
    )  # fmt: skip
    assert bad.returncode == 2 and "--currency: 'pounds' is not an ISO 4217" in bad.stderr
