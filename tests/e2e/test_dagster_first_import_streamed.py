"""The Dagster import job reads a first import in pieces, as the CLI does
(catalog_pipelines/first_import.py), and gives what reading the file whole gives: the same
metadata, validation summary, plan and catalog, and a snapshot the next run skips with. So does
the reconcile job, whose plan is a dry run and whose heal is an import."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines import first_import, plan_parts
from catalog_pipelines.connectors import csv_pieces
from dagster_defs.assets import IMPORT_ASSETS
from tests.support.catalog_view import catalog_by_keys
from tests.support.dagster_runs import import_run_view, reconcile
from tests.support.dagster_source import csv_source
from tests.support.dagster_state import forget_defs_state_storage
from tests.support.exports import write_csv
from tests.support.integrity import assert_catalog_integrity
from tests.support.spilled_products import alive_at_stored_read
from tests.support.streamed import streamed_pieces

MAPPING = {
    "format": "csv",
    "key": "id",
    "currency": "usd",
    "fields": {"name": "name", "price": "price", "sku": "sku", "inventory_quantity": "qty"},
}
ROWS = "".join(f"P{i},Product {i},{i}.50,S{i},7,red\n" for i in range(30)) + (
    "P30,Too many,1.00,S30,9999999999999,blue\n"  # more stock than an item holds: validation
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def spill_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The imports' temporary folder: the tests check that they leave nothing in it."""
    (tmp_path / "spill").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spill"))
    return tmp_path / "spill"


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch, spill_dir: Path) -> list[int]:
    """Every record a piece, parts of three; the pieces of each import that streamed."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1)
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 3)
    return streamed_pieces(monkeypatch)


def _run(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp: Path,
    selection: list[str] | None = None,
    export: Path | None = None,
    jsonl: bool = False,
) -> dict[str, Any]:
    """The import job run on the generic CSV of ROWS (or the same as JSON Lines), or on a
    Shopify `export`, then again."""
    path = tmp / f"{account}.csv"
    mapping: dict[str, Any] | None = MAPPING
    if export is not None:
        path.write_bytes(export.read_bytes())
        mapping = None
    elif jsonl:
        names = ["id", "name", "price", "sku", "qty", "color"]
        records = [dict(zip(names, r.split(","), strict=True)) for r in ROWS.splitlines()]
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        mapping = {**MAPPING, "format": "jsonl"}
    else:
        path.write_text("id,name,price,sku,qty,color\n" + ROWS)
    res = csv_source(
        instance, engine, database_url, account,
        name="pim", path=path, mapping=mapping, inbox=tmp / "inbox",
        kind="shopify" if export else "jsonl" if jsonl else "csv",
    )  # fmt: skip
    runs = []
    for _ in range(1 if selection else 2):  # a first import, then the same file again
        forget_defs_state_storage()
        result = dg.materialize(
            IMPORT_ASSETS,
            partition_key="pim",
            instance=instance,
            resources=res,
            selection=selection,
        )
        runs.append(import_run_view(result))
    return {"runs": runs, "catalog": catalog_by_keys(engine, account)}


def test_a_first_import_in_pieces_gives_what_the_whole_read_gives(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: list[int],
) -> None:
    pieces = _run(instance, database_url, f"{account}_1", engine, tmp_path)
    # the first run, in 32 pieces (the header's, then one a record); the second run finds
    # the account filled
    assert streamed == [32]
    monkeypatch.setenv(first_import.ENV, "0")
    whole = _run(instance, database_url, f"{account}_0", engine, tmp_path)
    assert streamed == [32]
    assert pieces == whole
    first, again = pieces["runs"]
    assert first["snapshot"]["products"] == 31 and first["snapshot"]["rows_read"] == 31
    assert first["plan"]["products"]["created"] == 31  # P30 without its refused variant
    assert first["rows_rejected"] == 1
    assert first["validation"]["rows_rejected_by_validation"] == 1
    # the snapshot the streamed run left lets the next run skip every product it wrote but
    # the one with a rejected row
    assert again["snapshot"]["products_skipped_unchanged"] == 30
    assert again["plan"]["events"] == 0
    assert list(spill_dir.iterdir()) == []


def test_a_shopify_export_in_pieces_of_whole_products_gives_what_the_whole_read_gives(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: list[int],
) -> None:
    monkeypatch.setattr(first_import, "EXPORT_PIECE_VARIANTS", 2)
    export = write_csv(
        tmp_path / "export.csv",
        ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price"],
        [
            row
            for p in range(12)
            for row in (
                [f"p{p}", f"Product {p}", "Size", "S", f"P{p}-S", "10"],
                [f"p{p}", "", "", "M", f"P{p}-M", "x" if p == 5 else "12"],  # a bad price
            )
        ],
    )
    pieces = _run(instance, database_url, f"{account}_1", engine, tmp_path, export=export)
    # a piece ends at two variants: a product each, but p5 (one and a reject) with p6; and
    # the last piece, empty
    assert streamed == [12]
    monkeypatch.setenv(first_import.ENV, "0")
    whole = _run(instance, database_url, f"{account}_0", engine, tmp_path, export=export)
    assert streamed == [12]
    assert pieces == whole
    first, again = pieces["runs"]
    assert first["plan"]["products"]["created"] == 12
    assert first["rows_rejected"] == 1
    assert again["plan"]["events"] == 0
    # the prints the streamed run took skip every product but p5, which has a rejected row
    assert again["snapshot"]["products_skipped_unchanged"] == 11
    assert list(spill_dir.iterdir()) == []


def test_a_json_lines_file_in_pieces_gives_what_the_whole_read_gives(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: list[int],
    skipped: list[int],
) -> None:
    """The first run streams and takes the lines' fingerprints; the second skips every
    product but the one with a rejected line. Without streaming, the first run reads the file
    in pieces, keeping every line, and the second skips the same."""
    pieces = _run(instance, database_url, f"{account}_1", engine, tmp_path, jsonl=True)
    # a line a piece; the product with a rejected line is always processed
    assert streamed == [31] and skipped == [0, 30]
    monkeypatch.setenv(first_import.ENV, "0")
    whole = _run(instance, database_url, f"{account}_0", engine, tmp_path, jsonl=True)
    assert streamed == [31] and skipped == [0, 30, 0, 30]
    assert pieces == whole
    first, again = pieces["runs"]
    assert first["plan"]["products"]["created"] == 31
    assert first["rows_rejected"] == 1
    assert again["plan"]["events"] == 0
    assert list(spill_dir.iterdir()) == []


def test_a_plan_only_run_reads_a_first_import_in_pieces_and_writes_nothing(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    streamed: list[int],
) -> None:
    plan_only = _run(
        instance,
        database_url,
        account,
        engine,
        tmp_path,
        selection=["source_snapshot", "validated_rows"],
    )
    assert streamed == [32]  # in pieces, as the import would be
    (run,) = plan_only["runs"]
    assert run["plan"]["dry_run"] is True
    assert run["plan"]["products"]["created"] == 31
    assert run["rows_rejected"] == 1
    assert plan_only["catalog"]["products"] == []
    assert list(spill_dir.iterdir()) == []


def test_the_reconcile_job_heals_a_first_import_reading_it_in_pieces_twice(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: list[int],
) -> None:
    """The drift is planned from one read, the heal imports a second: neither holds the file
    whole. It gives the catalog the import job gives."""
    imported = _run(instance, database_url, f"{account}_i", engine, tmp_path)
    assert streamed == [32]
    path = tmp_path / "drift.csv"
    path.write_text("id,name,price,sku,qty,color\n" + ROWS)
    res = csv_source(
        instance, engine, database_url, f"{account}_r",
        name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
    )  # fmt: skip
    drift = []
    for heal in (False, True, False):
        forget_defs_state_storage()
        drift.append(reconcile(instance, res, "pim", heal=heal))
    # the report, then the heal's two reads; the last run finds the account filled
    assert streamed == [32, 32, 32, 32]
    # 31 products, and 30 prices and stock items: P30's variant is refused
    assert [d["drift_total"] for d in drift] == [91, 91, 0]
    assert drift[1]["healed"] is True and drift[1]["heal_import_run_id"].startswith("run_")
    assert catalog_by_keys(engine, f"{account}_r") == imported["catalog"]
    assert_catalog_integrity(engine, f"{account}_r")
    assert list(spill_dir.iterdir()) == []


def test_a_reject_rate_over_the_limit_refuses_a_first_import_before_any_part_is_written(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    streamed: list[int],
    applies: list[int],
) -> None:
    path = tmp_path / "rejects.csv"
    path.write_text("id,name,price,sku,qty,color\n" + ROWS)  # 1 row of 31 rejected
    res = csv_source(
        instance, engine, database_url, account,
        name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
    )  # fmt: skip
    result = dg.materialize(
        IMPORT_ASSETS,
        partition_key="pim",
        instance=instance,
        resources=res,
        run_config={"ops": {"validated_rows": {"config": {"max_reject_rate": 0.01}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert streamed == [32]  # read in pieces, and its parts planned
    assert applies == []  # but none written: the reject rate was known before the first
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["reject_rate"].passed
    assert checks["row_reconciliation"].passed and checks["mass_archive_guard"].passed
    output = result.output_for_node("validated_rows", "validated_rows")
    assert output.plan["products"]["created"] == 31  # the plan it refused, in full
    assert output.refused is not None and "reject_rate" in output.refused
    assert catalog_by_keys(engine, account)["products"] == []
    assert list(spill_dir.iterdir()) == []


def test_a_re_import_in_parts_gives_what_one_plan_gives(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    applies: list[int],
) -> None:
    """The job's re-import of a file that renames nine products and leaves two out: in parts
    of three (plan_parts.py), each against its own stored rows, then the rest, where the left
    out products are archived; and as one plan. Same checks, plans and catalog."""
    renamed = "".join(
        f"P{i},{'Renamed' if i % 3 == 0 else 'Product'} {i},{i}.50,S{i},7,red\n"
        for i in range(1, 30)
    )
    runs: dict[int, list[Any]] = {}
    catalogs = {}
    for part in (3, 1_000_000):
        monkeypatch.setattr(plan_parts, "PART_PRODUCTS", part)
        acct = f"{account}_{part}"
        path = tmp_path / f"{acct}.csv"
        res = csv_source(
            instance, engine, database_url, acct,
            name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
        )  # fmt: skip
        runs[part] = []
        for rows in (ROWS, renamed):
            path.write_text("id,name,price,sku,qty,color\n" + rows)
            applies.clear()
            forget_defs_state_storage()
            result = dg.materialize(
                IMPORT_ASSETS, partition_key="pim", instance=instance, resources=res
            )
            assert result.success
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            plan = dict(result.output_for_node("validated_rows", "validated_rows").plan)
            plan.pop("run_id")
            runs[part].append((checks, plan, len(applies)))
        catalogs[part] = catalog_by_keys(engine, acct)
    assert [r[:2] for r in runs[3]] == [r[:2] for r in runs[1_000_000]]
    assert catalogs[3] == catalogs[1_000_000]
    (_, _, first_parts), (checks, again, parts) = runs[3]
    assert all(checks.values())
    # P0 and P30 left out and archived; the 20 other products skipped as unchanged
    assert again["products"] == {"created": 0, "updated": 9, "unchanged": 20, "archived": 2}
    # 31 products in parts of three; then the nine renamed ones, and the rest with P0 and P30
    assert (first_parts, parts) == (11, 4)
    assert [r[2] for r in runs[1_000_000]] == [1, 1]
    assert list(spill_dir.iterdir()) == []  # the parts' products, kept on disk


def test_a_large_re_import_lets_its_products_go_while_the_stored_rows_are_read(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    spill_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The products of a re-import larger than a part wait on disk while the account's stored
    rows are read (plan_parts.spill_products). In a Dagster run too: the asset hands its
    batch over to the importer (importer.Handover), so no step holds the products meanwhile."""
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 3)
    alive_at_read = alive_at_stored_read(monkeypatch)
    path = tmp_path / "pim.csv"
    res = csv_source(
        instance, engine, database_url, account,
        name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
    )  # fmt: skip
    renamed = "".join(f"P{i},Renamed {i},{i}.50,S{i},7,red\n" for i in range(30))
    for rows in (ROWS, renamed):
        path.write_text("id,name,price,sku,qty,color\n" + rows)
        forget_defs_state_storage()
        result = dg.materialize(
            IMPORT_ASSETS, partition_key="pim", instance=instance, resources=res
        )
        assert result.success
    plan = result.output_for_node("validated_rows", "validated_rows").plan
    assert plan["products"]["updated"] == 30
    assert alive_at_read == [False]  # the re-import's products: spilled, and let go
    names = {p[0]: p[1] for p in catalog_by_keys(engine, account)["products"]}
    assert names["P7"] == "Renamed 7"
