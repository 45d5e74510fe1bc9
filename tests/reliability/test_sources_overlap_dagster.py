"""The same overlap through the Dagster asset graph: the second source's rows are rejects that
name the owner, the reject-rate check blocks publishing, and nothing is reported "unchanged"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs.assets import IMPORT_ASSETS
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _run(instance: dg.DagsterInstance, res: dict[str, Any], source: str) -> Any:
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        IMPORT_ASSETS, partition_key=source, instance=instance, resources=res, raise_on_error=False
    )


def test_second_source_with_the_same_ids_is_blocked_with_reasons(
    instance: dg.DagsterInstance, database_url: str, engine: sa.Engine, account: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    res = {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0),
    }
    for name in ("shop-a", "shop-b"):
        path = tmp_path / f"{name}.csv"
        shutil.copy(SHOPIFY, path)
        with engine.begin() as conn:
            add_source(
                conn, account_id=account, name=name, kind="shopify", owns=frozenset(GROUPS),
                config={"path": str(path)},
            )  # fmt: skip
    assert _run(instance, res, "shop-a").success
    second = _run(instance, res, "shop-b")
    evaluations = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert evaluations["reject_rate"].passed is False
    sample = evaluations["reject_rate"].metadata["reject_sample"].value
    assert "source 'shop-a'" in sample
    published = {e.asset_key.to_user_string() for e in second.get_asset_materialization_events()}
    assert "catalog_products" not in published
    with engine.connect() as conn:
        owners = conn.execute(
            sa.text("SELECT source, count(*) FROM products WHERE account_id = :a GROUP BY 1"),
            {"a": account},
        ).all()
    assert dict(owners) == {"shop-a": 3}
