"""Sources that describe the same products: hybrid ownership works across sources, and an
overlap that would write what another source owns is rejected naming the owner (never a
UniqueViolation, never a silent "unchanged")."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipelines.cli import main

PIM_MAPPING = """\
format: csv
key: handle
currency: usd
fields:
  name: title
  price: price
  sku: sku
  inventory_quantity: qty
"""
ERP_MAPPING = """\
format: csv
fields:
  sku: SKU
  inventory_quantity: Quantity
"""
PIM_ROWS = "handle,title,price,sku,qty\ntee,Tee,19.99,TEE-1,5\nmug,Mug,8.50,MUG-1,12\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _import(capsys, tmp_path: Path, account: str, source: str, body: str, mapping: str):
    path = tmp_path / f"{source}-{abs(hash(body))}.csv"
    path.write_text(body)
    m = tmp_path / f"{source}.yaml"
    m.write_text(mapping)
    code, out, err = _run(
        capsys, "import", str(path), "--source", source, "--mapping", str(m),
        "--account", account, "--json", "--mode", "incremental",
    )  # fmt: skip
    return code, json.loads(out), err


def _reasons(capsys, run_id: str, account: str) -> dict[int, str]:
    _, out, _ = _run(capsys, "rejects", "export", run_id, "--account", account)
    return {int(r["row_number"]): r["reasons"] for r in csv.DictReader(io.StringIO(out))}


def _stock(capsys, account: str, sku: str) -> dict:
    code, out, _ = _run(capsys, "inventory", "show", sku, "--account", account, "--json")
    assert code == 0
    return json.loads(out)


def _add_source(capsys, account: str, name: str, owns: str) -> None:
    code, _, _ = _run(
        capsys, "sources", "add", name, "--kind", "csv", "--owns", owns, "--account", account
    )
    assert code == 0


def test_two_mirror_sources_with_overlapping_ids_reject_naming_the_owner(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first, _ = _import(capsys, tmp_path, account, "shop-a", PIM_ROWS, PIM_MAPPING)
    assert code == 0 and first["products"]["created"] == 2
    # shop-b (a new mirror source) sends the same handles, one with another SKU, plus a new one
    body = (
        "handle,title,price,sku,qty\ntee,Tee B,21.00,TEE-2,1\nmug,Mug,8.50,MUG-1,12\n"
        "cap,Cap,5.00,CAP-1,3\n"
    )
    code, second, _ = _import(capsys, tmp_path, account, "shop-b", body, PIM_MAPPING)
    assert code == 1  # applied, with rejects: not a crash, not "unchanged"
    assert second["rows_rejected"] == 2
    assert second["products"] == {"created": 1, "updated": 0, "unchanged": 0, "archived": 0}
    reasons = _reasons(capsys, second["run_id"], account)
    assert set(reasons) == {1, 2}
    assert all("source 'shop-a'" in r for r in reasons.values())
    # shop-a's products are untouched
    code, out, _ = _run(capsys, "products", "list", "--account", account, "--json")
    by_ext = {p["external_id"]: p for p in json.loads(out)["data"]}
    assert by_ext["tee"]["name"] == "Tee" and by_ext["tee"]["source"] == "shop-a"
    assert by_ext["cap"]["source"] == "shop-b"


def test_pim_plus_erp_stock_feed_plus_a_third_source(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_source(capsys, account, "pim", "content")
    _add_source(capsys, account, "erp", "inventory")
    code, pim, _ = _import(capsys, tmp_path, account, "pim", PIM_ROWS, PIM_MAPPING)
    assert code == 0 and pim["products"]["created"] == 2
    assert _stock(capsys, account, "TEE-1")["quantity"] == 5  # the new-SKU exception

    # The ERP knows SKUs and quantities only: it changes the PIM's products' stock.
    erp_body = "SKU,Quantity\nTEE-1,40\nMUG-1,12\nNOPE-9,1\n"
    code, erp, _ = _import(capsys, tmp_path, account, "erp", erp_body, ERP_MAPPING)
    assert code == 1
    assert erp["inventory_items"] == {"created": 0, "updated": 2, "unchanged": 0, "archived": 0}
    assert erp["products"] == {"created": 0, "updated": 0, "unchanged": 0, "archived": 0}
    assert "NOPE-9" in _reasons(capsys, erp["run_id"], account)[3]
    tee = _stock(capsys, account, "TEE-1")
    assert (tee["quantity"], tee["source"]) == (40, "erp")
    # MUG-1 kept its quantity but is the ERP's now: its owner changed, with a version
    assert _stock(capsys, account, "MUG-1")["source"] == "erp"

    # Re-sending the same ERP file changes nothing.
    code, again, _ = _import(capsys, tmp_path, account, "erp", erp_body, ERP_MAPPING)
    assert again["inventory_items"]["unchanged"] == 2 and again["events"] == 0

    # The PIM's content update still works, and the PIM's quantities are ignored now.
    pim_body = PIM_ROWS.replace("Tee,", "Tee v2,").replace("TEE-1,5", "TEE-1,999")
    code, pim2, _ = _import(capsys, tmp_path, account, "pim", pim_body, PIM_MAPPING)
    assert code == 0 and pim2["products"]["updated"] == 1
    assert _stock(capsys, account, "TEE-1")["quantity"] == 40
    assert pim2["ignored_not_owned"] >= 1

    # A third source claiming all three groups may not overwrite the ERP's stock.
    third_body = "handle,title,price,sku,qty\ntee,Tee 3,19.99,TEE-1,0\n"
    code, third, _ = _import(capsys, tmp_path, account, "everything", third_body, PIM_MAPPING)
    assert code == 1 and third["rows_rejected"] == 1 and third["events"] == 0
    why = _reasons(capsys, third["run_id"], account)[1]
    assert "source 'pim'" in why and "source 'erp'" in why
    assert _stock(capsys, account, "TEE-1")["quantity"] == 40

    # An inventory-only third source hits the ERP's items: rejected, naming the ERP.
    _add_source(capsys, account, "wms", "inventory")
    code, wms, _ = _import(capsys, tmp_path, account, "wms", "SKU,Quantity\nTEE-1,0\n", ERP_MAPPING)
    assert code == 1 and wms["events"] == 0
    assert "source 'erp'" in _reasons(capsys, wms["run_id"], account)[1]


def test_a_stock_feed_mapping_may_map_only_stock(
    database_url: str, account: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = ERP_MAPPING + "  name: Title\n"
    path = tmp_path / "erp.csv"
    path.write_text("SKU,Quantity,Title\nA,1,x\n")
    m = tmp_path / "bad.yaml"
    m.write_text(bad)
    code, _, err = _run(
        capsys, "import", str(path), "--source", "erp2", "--mapping", str(m), "--account", account
    )
    assert code == 2
    assert "stock feed" in err and "name" in err


def test_overlap_is_never_a_unique_violation_in_the_database(
    database_url: str, engine: sa.Engine, account: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The SKU of one source under another source's handle: rejected, not a crash."""
    _import(capsys, tmp_path, account, "one", PIM_ROWS, PIM_MAPPING)
    body = "handle,title,price,sku,qty\nother,Other,3.00,TEE-1,1\n"
    code, report, _ = _import(capsys, tmp_path, account, "two", body, PIM_MAPPING)
    assert code == 1 and report["rows_rejected"] == 1
    assert "source 'one'" in _reasons(capsys, report["run_id"], account)[1]
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM import_runs WHERE id = :r"), {"r": report["run_id"]}
        ).scalar_one()
    assert status == "applied"


def test_a_source_that_took_the_object_meanwhile_is_not_overwritten(
    database_url: str, engine: sa.Engine, account: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Two inventory sources importing at once: the second read the catalog before the first
    took the SKU. It is refused at write time (the rows are locked then), not applied over it."""
    from catalog_pipelines import importer
    from catalog_pipelines.store import imports as store

    _add_source(capsys, account, "pim", "content")
    _add_source(capsys, account, "erp", "inventory")
    _add_source(capsys, account, "wms", "inventory")
    _import(capsys, tmp_path, account, "pim", PIM_ROWS, PIM_MAPPING)
    with engine.connect() as conn:
        before_erp = store.read_stored(conn, account)  # what a concurrent reader saw
    code, erp, _ = _import(capsys, tmp_path, account, "erp", "SKU,Quantity\nTEE-1,40\n",
                           ERP_MAPPING)  # fmt: skip
    assert code == 0 and _stock(capsys, account, "TEE-1")["source"] == "erp"

    monkeypatch.setattr(importer.store, "read_stored", lambda conn, a: before_erp)
    code, wms, err = _import(capsys, tmp_path, account, "wms", "SKU,Quantity\nTEE-1,0\n",
                             ERP_MAPPING)  # fmt: skip
    monkeypatch.undo()
    assert code == 3  # refused: nothing written
    assert "source 'erp' took" in err
    assert _stock(capsys, account, "TEE-1")["quantity"] == 40
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM import_runs WHERE id = :r"), {"r": wms["run_id"]}
        ).scalar_one()
    assert status == "refused"
