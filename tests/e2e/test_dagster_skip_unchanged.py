"""The Dagster import job skips what the source's last import left unchanged, as the CLI
does, and a run after a change elsewhere gives what the full path would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines import piece_prints, plan_parts
from catalog_pipelines.connectors import csv_pieces
from catalog_pipelines.connectors.generic import kept_rows
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.inventory import adjust
from catalog_pipelines.validated_chunks import ValidatedChunks
from dagster_defs.assets import IMPORT_ASSETS
from tests.support.dagster_source import csv_source
from tests.support.dagster_state import forget_defs_state_storage

MAPPING = {
    "format": "csv",
    "key": "id",
    "currency": "usd",
    "fields": {"name": "name", "price": "price", "sku": "sku", "inventory_quantity": "qty"},
}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _materialize(instance: dg.DagsterInstance, res: dict[str, Any]) -> dict[str, Any]:
    forget_defs_state_storage()  # three runs in one test: as between tests
    result = dg.materialize(IMPORT_ASSETS, partition_key="pim", instance=instance, resources=res)
    assert result.success
    staged = result.asset_materializations_for_node("source_snapshot")[0].metadata
    plan = result.output_for_node("validated_rows", "validated_rows").plan
    return {"skipped": staged["products_skipped_unchanged"].value, **plan}


def test_a_rerun_skips_unchanged_products_and_still_sees_a_sale(
    instance: dg.DagsterInstance, database_url: str, account: str, engine: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "pim.csv"
    path.write_text(
        "id,name,price,sku,qty\n" + "".join(f"P{i},Product {i},{i}.50,S{i},7\n" for i in range(30))
    )
    res = csv_source(
        instance, engine, database_url, account,
        name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
    )  # fmt: skip
    first = _materialize(instance, res)
    assert first["skipped"] == 0 and first["products"]["created"] == 30

    again = _materialize(instance, res)
    assert again["skipped"] == 30
    assert again["products"] == {"created": 0, "updated": 0, "unchanged": 30, "archived": 0}
    assert again["events"] == 0

    with engine.begin() as conn:  # a sale the source's own system pushed
        adjust(conn, account, "S3", -2, cause=Cause(source="pim"), actor_source="pim")
    after_sale = _materialize(instance, res)
    assert after_sale["skipped"] == 29  # the product whose stock moved is read again
    assert after_sale["inventory_items"]["updated"] == 1  # the mirror puts its stock back
    with engine.connect() as conn:
        stock = conn.execute(
            sa.text("SELECT quantity FROM inventory_items WHERE account_id = :a AND sku = 'S3'"),
            {"a": account},
        ).scalar_one()
    assert stock == 7


def test_a_rerun_that_changes_most_products_validates_chunk_by_chunk(
    instance: dg.DagsterInstance,
    database_url: str,
    account: str,
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the CLI does, a job whose kept rows are mapped a chunk at a time validates each
    chunk as it is mapped and writes the products to disk in parts; its checks, metadata and
    plan are those of the batch validated whole."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 48)
    monkeypatch.setattr(piece_prints, "SPLIT_ROWS", 3)
    monkeypatch.setattr(kept_rows, "CHUNK_ROWS", 2)
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    validated: list[int] = []  # the products on disk, at each report taken
    real = ValidatedChunks.validated

    def spy(self: ValidatedChunks, mapped: Any) -> Any:
        report, spilled = real(self, mapped)
        validated.append(spilled.products)
        return report, spilled

    monkeypatch.setattr(ValidatedChunks, "validated", spy)

    def rows(name: str, bad: int | None = None) -> str:
        qty = lambda i: 2 * 10**12 if i == bad else 7  # noqa: E731
        return "id,name,price,sku,qty\n" + "".join(
            f"P{i},{name} {i},{i}.50,S{i},{qty(i)}\n" for i in range(40)
        )

    path = tmp_path / "pim.csv"
    path.write_text(rows("Product"))
    res = csv_source(
        instance, engine, database_url, account,
        name="pim", path=path, mapping=MAPPING, inbox=tmp_path / "inbox",
    )  # fmt: skip
    assert _materialize(instance, res)["products"]["created"] == 40
    path.write_text(rows("Renamed", bad=5))  # P5's stock is over the most an item holds

    forget_defs_state_storage()
    result = dg.materialize(IMPORT_ASSETS, partition_key="pim", instance=instance, resources=res)

    assert result.success
    assert validated == [40]  # P5's variant is rejected, not its product
    staged = result.asset_materializations_for_node("source_snapshot")[0].metadata
    assert staged["products"].value == 40 and staged["variants"].value == 40
    output = result.output_for_node("validated_rows", "validated_rows")
    assert output.plan["products"] == {"created": 0, "updated": 40, "unchanged": 0, "archived": 0}
    assert output.rows_rejected == 1
    assert output.validation["rows_rejected_by_validation"] == 1
    assert output.validation["failures_by_check"] == {
        "variants.inventory_quantity.less_than_or_equal_to(1000000000000)": 1
    }
    assert [(r["frame"], r["index"]) for r in output.validation["sample"]] == [("variants", "5")]
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT name FROM products WHERE account_id = :a"), {"a": account}
        ).scalars()
        assert sorted(names) == sorted(f"Renamed {i}" for i in range(40))
        stock = conn.execute(
            sa.text("SELECT quantity FROM inventory_items WHERE account_id = :a AND sku = 'S5'"),
            {"a": account},
        ).scalar_one()
        assert stock == 7  # the rejected row's stock is left as it was
