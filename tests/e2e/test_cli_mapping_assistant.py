"""The mapping assistant and saved source mappings from the command line, as processes:
suggest, save, show, import with the saved mapping, archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

UNSEEN = Path(__file__).resolve().parents[1] / "fixtures" / "unseen"


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", *argv],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mapping_suggest_json(database_url: str, account: str) -> None:
    out = cli("mapping", "suggest", str(UNSEEN / "pim_export.csv"), "--account", account, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= {"format", "dialect", "mapping", "columns", "needs_review"}
    assert doc["format"] == "csv"
    assert doc["dialect"]["delimiter"] == ","
    assert doc["mapping"]["key"] == "sku_code"
    assert doc["mapping"]["fields"]["price"] == "price_amount"
    by_column = {c["column"]: c for c in doc["columns"]}
    assert set(by_column["curr"]) >= {"column", "field", "confidence", "reason", "samples"}
    assert by_column["curr"]["field"] == "currency" and by_column["curr"]["samples"] == ["USD"]
    assert 0 <= by_column["curr"]["confidence"] <= 1
    assert by_column["category"]["field"] == "metadata"


def test_suggest_save_show_import_remove(database_url: str, account: str, tmp_path: Path) -> None:
    data = UNSEEN / "de_excel_export.csv"
    # nothing saved yet: the import refuses and says how to get a mapping
    refused = cli("import", str(data), "--source", "de-shop", "--account", account)
    assert refused.returncode == 2
    assert "mapping suggest" in refused.stderr and "sources set-mapping" in refused.stderr

    suggested = cli("mapping", "suggest", str(data), "--account", account)
    assert suggested.returncode == 0, suggested.stderr
    assert suggested.stdout.startswith("# suggested by")
    mapping_file = tmp_path / "de.yaml"
    mapping_file.write_text(suggested.stdout, encoding="utf-8")
    assert yaml.safe_load(suggested.stdout)["decimal_separator"] == ","

    saved = cli("sources", "set-mapping", "de-shop", str(mapping_file), "--account", account)
    assert saved.returncode == 0, saved.stderr
    assert "created as a mirror source" in saved.stdout

    imported = cli("import", str(data), "--source", "de-shop", "--account", account, "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["prices"]["created"] == 5
    prices = cli("prices", "list", "--account", account, "--json")
    amounts = {p["lookup_key"]: p["unit_amount"] for p in json.loads(prices.stdout)["data"]}
    assert amounts["AX-1001"] == 124900 and amounts["AX-1004"] == 239999

    # a changed mapping is a new version
    changed = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
    changed["fields"]["metadata.brand"] = "Hersteller"
    mapping_file.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    assert (
        cli("sources", "set-mapping", "de-shop", str(mapping_file), "--account", account).returncode
        == 0
    )

    shown = cli("sources", "show", "de-shop", "--account", account)
    assert shown.returncode == 0, shown.stderr
    assert "kind=csv" in shown.stdout and "(mirror)" in shown.stdout
    assert "metadata.brand: Hersteller" in shown.stdout
    assert "v1 " in shown.stdout and "v2 " in shown.stdout and "mapping" in shown.stdout
    shown_json = json.loads(
        cli("sources", "show", "de-shop", "--account", account, "--json").stdout
    )
    assert shown_json["version"] == 2 and len(shown_json["versions"]) == 2
    assert shown_json["mapping"]["fields"]["metadata.brand"] == "Hersteller"

    listed = json.loads(cli("sources", "list", "--account", account, "--json").stdout)
    assert [s["name"] for s in listed["data"]] == ["de-shop"]

    removed = cli("sources", "remove", "de-shop", "--account", account)
    assert removed.returncode == 0 and "archived" in removed.stdout
    again = cli("import", str(data), "--source", "de-shop", "--account", account)
    assert again.returncode == 3
    assert "archived and takes no imports" in again.stderr
    listed = json.loads(cli("sources", "list", "--account", account, "--json").stdout)
    assert listed["data"] == []  # archived sources are hidden unless --all
    everything = cli("sources", "list", "--all", "--account", account)
    assert "archived" in everything.stdout
    # archived, never deleted: its products are still in the catalog
    products = json.loads(cli("products", "list", "--account", account, "--json").stdout)
    assert len(products["data"]) == 5


def test_set_mapping_refuses_a_bad_file(database_url: str, account: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: id\ndecimal_separator: ';'\n", encoding="utf-8")
    out = cli("sources", "set-mapping", "x", str(bad), "--account", account)
    assert out.returncode == 2
    assert "decimal_separator: must be '.' or ','" in out.stderr and str(bad) in out.stderr
