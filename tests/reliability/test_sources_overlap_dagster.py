"""The overlap through the Dagster inbox: a file dropped for a second source with the first
source's ids. Its rows are rejects that name the owner, the reject-rate check blocks
publishing and the file goes to failed/: not a green run that reports "unchanged"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from dagster_defs.assets import IMPORT_ASSETS
from dagster_defs.inbox import INBOX_FILE_TAG, SOURCE_TAG, TRIGGER_TAG
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _drop_and_run(
    instance: dg.DagsterInstance, inbox: InboxResource, account_db: CatalogDatabase, source: str
) -> Any:
    """What the inbox sensor does for a dropped file: a run of the source's partition, with
    the file's path as config and the inbox tags."""
    folder = inbox.root() / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "products_export.csv"
    shutil.copy(SHOPIFY, path)
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        IMPORT_ASSETS,
        partition_key=source,
        instance=instance,
        resources={"catalog_db": account_db, "inbox": inbox},
        run_config={"ops": {"source_snapshot": {"config": {"path": str(path)}}}},
        tags={INBOX_FILE_TAG: str(path), TRIGGER_TAG: "inbox", SOURCE_TAG: source},
        raise_on_error=False,
    )


def test_inbox_file_of_a_second_source_with_the_same_ids_is_blocked_with_reasons(
    instance: dg.DagsterInstance, database_url: str, engine: sa.Engine, account: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    inbox = InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0)
    account_db = CatalogDatabase(database_url=database_url, account_id=account)
    assert _drop_and_run(instance, inbox, account_db, "shop-a").success
    assert list((tmp_path / "processed").rglob("*.csv"))

    second = _drop_and_run(instance, inbox, account_db, "shop-b")
    evaluations = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert evaluations["reject_rate"].passed is False
    # 16 of the 17 rows: every product and variant row. The 17th only adds an image to a
    # product (not a row of its own in the normalized frames), so it is not counted.
    assert evaluations["reject_rate"].metadata["rows_rejected"].value == 16
    assert "source 'shop-a'" in evaluations["reject_rate"].metadata["reject_sample"].value
    published = {e.asset_key.to_user_string() for e in second.get_asset_materialization_events()}
    assert "catalog_products" not in published
    assert list((tmp_path / "failed").rglob("*.csv")), "the file was not moved to failed/"
    with engine.connect() as conn:
        owners = conn.execute(
            sa.text("SELECT source, count(*) FROM products WHERE account_id = :a GROUP BY 1"),
            {"a": account},
        ).all()
    assert dict(owners) == {"shop-a": 3}  # shop-b wrote nothing, took nothing
    # The refused run is history, with its rejects (`rejects export`), as a refused CLI run is.
    with engine.connect() as conn:
        runs = conn.execute(
            sa.text(
                "SELECT id, status, error, rows_rejected FROM import_runs"
                " WHERE account_id = :a AND source = 'shop-b'"
            ),
            {"a": account},
        ).all()
    assert [(r.status, r.rows_rejected) for r in runs] == [("refused", 16)]
    assert "reject_rate" in runs[0].error
    staged = next(
        e.materialization.metadata
        for e in second.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("validated_rows")
    )
    assert staged["import_run_id"].value == runs[0].id


def test_unreadable_inbox_file_is_a_failed_import_run(
    instance: dg.DagsterInstance, database_url: str, engine: sa.Engine, account: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    inbox = InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0)
    folder = inbox.root() / "broken"
    folder.mkdir(parents=True)
    path = folder / "export.csv"
    path.write_bytes(SHOPIFY.read_bytes() + b'"unbalanced,quote\n')
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["broken"])
    result = dg.materialize(
        IMPORT_ASSETS,
        partition_key="broken",
        instance=instance,
        resources={
            "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
            "inbox": inbox,
        },
        run_config={"ops": {"source_snapshot": {"config": {"path": str(path)}}}},
        tags={INBOX_FILE_TAG: str(path), TRIGGER_TAG: "inbox", SOURCE_TAG: "broken"},
        raise_on_error=False,
    )
    assert not result.success
    with engine.connect() as conn:
        runs = conn.execute(
            sa.text("SELECT status, error, input FROM import_runs WHERE account_id = :a"),
            {"a": account},
        ).all()
    assert len(runs) == 1
    assert runs[0].status == "failed"
    assert "export.csv" in runs[0].error and "malformed CSV" in runs[0].error
