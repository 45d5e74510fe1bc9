"""The Dagster partitions read a source's saved mapping (never a suggestion), and an archived
source's run fails with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines.connectors.sampling import suggest_for_file
from catalog_pipelines.mapping import mapping_to_dict
from catalog_pipelines.store.sources import GROUPS, create_source, update_source
from dagster_defs.assets import IMPORT_ASSETS
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource

GERMAN = Path(__file__).resolve().parents[1] / "fixtures" / "unseen" / "de_excel_export.csv"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _run(instance: dg.DagsterInstance, res: dict[str, Any], source: str) -> Any:
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        IMPORT_ASSETS, partition_key=source, instance=instance, resources=res, raise_on_error=False
    )


def test_partition_uses_the_saved_mapping_and_refuses_when_archived(
    instance: dg.DagsterInstance, database_url: str, account: str, engine: sa.Engine, tmp_path: Path
) -> None:
    res = {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0),
    }
    mapping = mapping_to_dict(suggest_for_file(GERMAN).mapping)  # accepted as it stands
    with engine.begin() as conn:
        create_source(
            conn, account_id=account, name="de-shop", kind="csv", owns=frozenset(GROUPS),
            mapping=mapping, config={"path": str(GERMAN)},
        )  # fmt: skip
    result = _run(instance, res, "de-shop")
    assert result.success
    with engine.connect() as conn:
        amounts = dict(
            conn.execute(
                sa.text("SELECT lookup_key, unit_amount FROM prices WHERE account_id = :a"),
                {"a": account},
            ).all()
        )
    assert amounts["AX-1001"] == 124900 and amounts["AX-1002"] == 3490

    with engine.begin() as conn:
        update_source(conn, account, "de-shop", archive=True)
    refused = _run(instance, res, "de-shop")
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "archived and takes no imports" in str(failure.event_specific_data)
