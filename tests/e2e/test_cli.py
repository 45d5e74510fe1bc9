"""The command line as a user drives it: import a CSV with a mapping, read it back, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_pipelines.cli import main

MAPPING = """\
format: csv
key: handle
currency: usd
fields:
  name: title
  description: body
  price: price
  sku: sku
  inventory_quantity: qty
  metadata.brand: vendor
"""
HEADER = "handle,title,body,price,sku,qty,vendor,season\n"
ROWS = [
    "tee,Tee,Soft tee,19.99,TEE-1,5,Acme,summer\n",
    "mug,Mug,Big mug,8.50,MUG-1,12,Acme,all\n",
    "cap,Cap,,12.00,CAP-1,3,Globex,winter\n",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    good = tmp_path / "catalog.csv"
    good.write_text(HEADER + "".join(ROWS))
    return {"mapping": mapping, "good": good, "dir": tmp_path}


def test_import_json_is_exactly_the_documented_object(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "import", str(files["good"]), "--source", "sheet", "--mapping",
        str(files["mapping"]), "--account", account, "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)  # stdout is exactly one JSON object
    assert list(report) == [
        "run_id", "source", "mode", "dry_run", "rows_read", "rows_valid", "rows_rejected",
        "products", "prices", "inventory_items", "ignored_not_owned", "events", "warnings",
    ]  # fmt: skip
    assert report["rows_read"] == 3 and report["rows_valid"] == 3
    assert report["products"] == {"created": 3, "updated": 0, "unchanged": 0, "archived": 0}
    assert report["events"] == 9
    assert "created as a mirror source" in report["warnings"][0]

    code, out, _ = run(capsys, "products", "list", "--account", account, "--json", "--limit", "2")
    page = json.loads(out)
    assert page["object"] == "list" and len(page["data"]) == 2 and page["has_more"] is True
    code, out, _ = run(
        capsys, "products", "list", "--account", account, "--json",
        "--starting-after", page["data"][-1]["id"],
    )  # fmt: skip
    rest = json.loads(out)
    assert len(rest["data"]) == 1 and rest["has_more"] is False
    tee = next(p for p in page["data"] + rest["data"] if p["external_id"] == "tee")
    # unmapped `season` is kept in metadata, the mapped vendor under its explicit key
    assert tee["metadata"] == {"brand": "Acme", "season": "summer"}

    code, out, _ = run(
        capsys, "prices", "list", "--account", account, "--json", "--product", tee["id"]
    )
    (price,) = json.loads(out)["data"]
    assert (price["unit_amount"], price["currency"], price["lookup_key"]) == (1999, "usd", "TEE-1")
    code, out, _ = run(capsys, "inventory", "show", "TEE-1", "--account", account, "--json")
    assert json.loads(out)["quantity"] == 5


def test_history_as_of_and_events(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--source", "sheet", "--mapping", str(files["mapping"]), "--account", account]
    assert run(capsys, "import", str(files["good"]), *args)[0] == 0
    code, out, _ = run(
        capsys, "products", "list", "--account", account, "--external-id", "tee", "--json"
    )
    tee = json.loads(out)["data"][0]
    changed = files["dir"] / "changed.csv"
    changed.write_text(HEADER + ROWS[0].replace("Tee,", "Tee v2,") + "".join(ROWS[1:]))
    code, out, _ = run(capsys, "import", str(changed), *args, "--json")
    assert code == 0 and json.loads(out)["products"]["updated"] == 1

    code, out, _ = run(
        capsys, "products", "show", tee["id"], "--history", "--account", account, "--json"
    )
    versions = json.loads(out)["data"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["previous_attributes"] == {"name": "Tee"}
    show = ["products", "show", tee["id"], "--account", account, "--json", "--as-of"]
    code, out, err = run(capsys, *show, str(versions[0]["created"] - 1))
    assert code == 2 and "as of" in err  # it did not exist yet
    code, out, _ = run(capsys, *show, "2999-01-01T00:00:00Z")
    assert json.loads(out)["name"] == "Tee v2"
    code, out, _ = run(capsys, "products", "show", tee["id"], "--account", account, "--json")
    assert json.loads(out)["name"] == "Tee v2" and json.loads(out)["version"] == 2

    code, out, _ = run(
        capsys, "events", "list", "--account", account, "--object", tee["id"], "--json"
    )
    types = [e["type"] for e in json.loads(out)["data"]]
    assert types == ["product.updated", "product.created"]  # newest first, as at Stripe
    code, out, _ = run(
        capsys, "events", "list", "--account", account, "--type", "price.*", "--json"
    )
    assert {e["type"] for e in json.loads(out)["data"]} == {"price.created"}


def test_rejects_exit_1_and_export_names_row_field_and_reason(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = files["dir"] / "bad.csv"
    bad.write_text(HEADER + ROWS[0] + "mug,Mug,,12.345,MUG-1,1,Acme,all\n" + ROWS[2])
    code, out, _ = run(
        capsys, "import", str(bad), "--source", "sheet", "--mapping", str(files["mapping"]),
        "--account", account, "--json",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 1
    assert (report["rows_read"], report["rows_valid"], report["rows_rejected"]) == (3, 2, 1)
    export = files["dir"] / "rejects.csv"
    code, _, _ = run(
        capsys, "rejects", "export", report["run_id"], "--account", account, "-o", str(export)
    )
    (row,) = list(csv.DictReader(io.StringIO(export.read_text())))
    assert row["row_number"] == "2"
    assert "price" in row["reasons"] and "12.345" in row["reasons"]
    assert row["handle"] == "mug"  # the raw row comes back too


def test_a_reject_rate_over_the_limit_refuses_the_whole_file(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = files["dir"] / "bad.csv"
    bad.write_text(HEADER + ROWS[0] + "mug,Mug,,12.345,MUG-1,1,Acme,all\n" + ROWS[2])
    args = ["--source", "sheet", "--mapping", str(files["mapping"]), "--account", account]
    code, out, err = run(capsys, "import", str(bad), *args, "--max-reject-rate", "0.2", "--json")
    assert code == 3
    assert "1 of 3 rows were rejected (33.33%), more than max_reject_rate=20.00%" in err
    report = json.loads(out)  # the refused plan is still reported
    assert report["products"]["created"] == 2 and report["rows_rejected"] == 1
    assert f"catalog-sync rejects export {report['run_id']}" in err  # kept with the run
    code, out, _ = run(capsys, "rejects", "export", report["run_id"], "--account", account)
    assert code == 0 and "12.345" in out
    code, out, _ = run(capsys, "products", "list", "--account", account, "--json")
    assert json.loads(out)["data"] == []  # the two good rows were not written either

    code, out, _ = run(capsys, "import", str(bad), *args, "--max-reject-rate", "0.5", "--json")
    assert code == 1 and json.loads(out)["products"]["created"] == 2  # within the limit

    with pytest.raises(SystemExit) as usage:
        run(capsys, "import", str(bad), *args, "--max-reject-rate", "5")
    assert usage.value.code == 2
    assert "'5' is not a share between 0 and 1" in capsys.readouterr().err


def test_guard_exit_3_and_bad_input_exit_2(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--source", "sheet", "--mapping", str(files["mapping"]), "--account", account]
    assert run(capsys, "import", str(files["good"]), *args)[0] == 0
    one = files["dir"] / "one.csv"
    one.write_text(HEADER + ROWS[0])
    code, _, err = run(capsys, "import", str(one), *args)
    assert code == 3 and "would archive 2 of 3" in err

    latin = files["dir"] / "latin.csv"
    latin.write_bytes((HEADER + "tee,Café crème,,1.00,TEE-1,1,Acme,x\n").encode("cp1252"))
    code, _, err = run(capsys, "import", str(latin), *args, "--mode", "incremental")
    assert code == 2 and "latin.csv" in err and "--encoding" in err
    code, _, _ = run(
        capsys, "import", str(latin), *args, "--mode", "incremental", "--encoding", "cp1252"
    )
    assert code == 0

    code, _, err = run(capsys, "import", str(files["dir"] / "missing.csv"), *args)
    assert code == 2 and "missing.csv" in err
    broken = files["dir"] / "broken.yaml"
    broken.write_text("format: csv\nfields:\n  nme: title\n")
    code, _, err = run(
        capsys,
        "import",
        str(files["good"]),
        "--source",
        "s2",
        "--mapping",
        str(broken),
        "--account",
        account,
    )
    assert code == 2 and "broken.yaml" in err


def test_sources_add_and_list(
    database_url: str, account: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "sources", "add", "pim", "--kind", "csv", "--owns", "content",
        "--mapping", str(files["mapping"]), "--account", account, "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["mode"] == "hybrid"
    code, out, _ = run(capsys, "sources", "list", "--account", account, "--json")
    assert [(s["name"], s["owns"]) for s in json.loads(out)["data"]] == [("pim", ["content"])]
    code, _, err = run(
        capsys, "sources", "add", "x", "--kind", "csv", "--owns", "prices", "--account", account
    )
    assert code == 2 and "prices" in err


def test_the_installed_command_runs_as_a_process(
    database_url: str, account: str, files: dict[str, Path]
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", "import", str(files["good"]), "--source",
         "sheet", "--mapping", str(files["mapping"]), "--account", account, "--json"],
        env=os.environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["products"]["created"] == 3
    assert out.stderr.strip() == ""  # quiet when not on a terminal: no progress bar
