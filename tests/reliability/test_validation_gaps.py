"""Validation gaps: unknown currencies, amounts past Stripe's maximum, stock past its own
maximum, absurdly wide files, and spreadsheet formulas in `rejects export`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipelines.cli import main
from catalog_pipelines.store.sources import add_source
from tests.e2e.conftest import new_client

MAPPING = """\
format: csv
key: handle
fields:
  name: title
  price: price
  currency: currency
  sku: sku
  inventory_quantity: qty
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _import(capsys, tmp_path: Path, account: str, body: str) -> tuple[int, dict, dict[int, dict]]:
    path = tmp_path / "rows.csv"
    path.write_text(body)
    m = tmp_path / "m.yaml"
    m.write_text(MAPPING)
    code, out, _ = _run(
        capsys, "import", str(path), "--source", "sheet", "--mapping", str(m),
        "--account", account, "--json",
    )  # fmt: skip
    report = json.loads(out)
    _, exported, _ = _run(capsys, "rejects", "export", report["run_id"], "--account", account)
    rows = {int(r["row_number"]): r for r in csv.DictReader(io.StringIO(exported))}
    return code, report, rows


def test_imports_reject_unknown_currencies_and_amounts_past_stripes_maximum(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "handle,title,price,currency,sku,qty\n"
        "a,A,1.00,zzz,A-1,1\n"  # shaped like a code, but not ISO 4217
        "b,B,1.00,USD,B-1,1\n"
        "c,C,999999.99,usd,C-1,1\n"  # 99,999,999 cents: the maximum
        "d,D,1000000.00,usd,D-1,1\n"  # 100,000,000 cents: one too many
        "e,E,100000000,jpy,E-1,1\n"  # 0-decimal currency: 100,000,000 yen
        "f,F,1.00,xxx,F-1,1\n"  # "no currency"
        "g,G,1.00,usd,G-1,1000000000001\n"  # stock past 10^12
    )
    code, report, rejects = _import(capsys, tmp_path, account, body)
    assert code == 1
    assert report["prices"]["created"] == 2
    assert set(rejects) == {1, 4, 5, 6, 7}
    assert "'zzz' is not an ISO 4217 currency code" in rejects[1]["reasons"]
    assert "more than 99,999,999" in rejects[4]["reasons"]
    assert "more than 99,999,999" in rejects[5]["reasons"]
    assert "'xxx' is not an ISO 4217" in rejects[6]["reasons"]
    assert "inventory_quantity" in rejects[7]["reasons"]


def test_api_refuses_unknown_currency_and_too_large_amount(
    engine: sa.Engine, api_server: str
) -> None:
    client = new_client(engine, api_server)
    product = client.post("/v1/products", data={"name": "Thing"}).json()["id"]
    zzz = client.post("/v1/prices", data={"product": product, "currency": "zzz", "unit_amount": 5})
    assert zzz.status_code == 400
    assert zzz.json()["error"]["param"] == "currency"
    big = client.post(
        "/v1/prices", data={"product": product, "currency": "usd", "unit_amount": 100_000_000}
    )
    assert big.status_code == 400
    assert big.json()["error"]["param"] == "unit_amount"
    assert "99999999" in big.json()["error"]["message"]
    ok = client.post(
        "/v1/prices", data={"product": product, "currency": "usd", "unit_amount": 99_999_999}
    )
    assert ok.status_code == 200, ok.text


def test_adjust_past_the_maximum_stock_is_refused_and_changes_nothing(
    engine: sa.Engine, api_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = new_client(engine, api_server)
    with engine.begin() as conn:
        add_source(conn, account_id=client.account, name="sheet", kind="csv",
                   owns=frozenset({"content", "pricing"}))  # fmt: skip
    _import(capsys, tmp_path, client.account, "handle,title,price,currency,sku,qty\n"
            "a,A,1.00,usd,BIG,999999999995\n")  # fmt: skip
    too_much = client.post("/v1/inventory_items/BIG/adjust", data={"delta": "10"})
    assert too_much.status_code == 400
    error = too_much.json()["error"]
    assert error["param"] == "delta" and "more than the maximum" in error["message"]
    item = client.get("/v1/inventory_items/BIG").json()
    assert (item["quantity"], item["version"]) == (999_999_999_995, 1)
    assert client.post("/v1/inventory_items/BIG/adjust", data={"delta": "5"}).status_code == 200


def _wide_csv(path: Path, columns: int) -> None:
    header = "handle," + ",".join(f"c{i}" for i in range(columns - 1))
    row = "x," + ",".join("v" for _ in range(columns - 1))
    path.write_text(header + "\n" + row + "\n")


def test_a_100k_column_file_is_refused_early_with_exit_2(
    database_url: str, account: str, tmp_path: Path
) -> None:
    path = tmp_path / "wide.csv"
    _wide_csv(path, 100_000)
    m = tmp_path / "m.yaml"
    m.write_text("format: csv\nkey: handle\nfields: {}\n")
    # The peak of this process's own memory (VmHWM). Not ru_maxrss: Linux carries that over
    # from the forked parent across exec, so it would report the test runner's size.
    code = (
        "import re, sys\n"
        "from catalog_pipelines.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "import", str(path), "--source", "wide", "--mapping",
         str(m), "--account", account],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    message, peak_kib = proc.stderr.strip().splitlines()
    assert "wide.csv" in message and "100,000 columns" in message and "1,000" in message
    assert int(peak_kib) < 600 * 1024, peak_kib  # KiB, vs 1.8 GB before: no frame was built


def test_the_column_limit_is_configurable(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CATALOG_MAX_COLUMNS", "5")
    path = tmp_path / "six.csv"
    _wide_csv(path, 6)
    m = tmp_path / "m.yaml"
    m.write_text("format: csv\nkey: handle\nfields: {}\n")
    code, _, err = _run(capsys, "import", str(path), "--source", "six", "--mapping", str(m),
                        "--account", account)  # fmt: skip
    assert code == 2 and "6 columns, more than the limit of 5" in err
    monkeypatch.setenv("CATALOG_MAX_COLUMNS", "6")
    code, _, err = _run(capsys, "import", str(path), "--source", "six", "--mapping", str(m),
                        "--account", account)  # fmt: skip
    assert code == 0, err
    assert os.environ["CATALOG_MAX_COLUMNS"] == "6"


def test_rejects_export_escapes_spreadsheet_formulas(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "handle,title,price,currency,sku,qty\n"
        'a,"=HYPERLINK(""http://evil.example"",""click"")",bad,usd,A-1,1\n'
        "b,+cmd|' /C calc'!A0,bad,usd,B-1,1\n"
        "c,@SUM(1+1),bad,usd,C-1,-3\n"
        "d,\tTab,bad,usd,D-1,1\n"
        "e,Plain,bad,usd,E-1,1\n"
    )
    _, _, rejects = _import(capsys, tmp_path, account, body)
    assert rejects[1]["title"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rejects[2]["title"] == "'+cmd|' /C calc'!A0"
    assert rejects[3]["title"] == "'@SUM(1+1)" and rejects[3]["qty"] == "'-3"
    assert rejects[4]["title"] == "'\tTab"
    assert rejects[5]["title"] == "Plain"
