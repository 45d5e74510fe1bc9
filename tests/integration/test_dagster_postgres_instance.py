"""A job runs on a Postgres-backed Dagster instance configured like production.

The instance's dagster.yaml is `deploy/dagster.yaml` (run coordinator, threaded sensors, ...),
with its `postgres_db` pointed at a database of the test server. The `scheme` stays the
production one, `postgresql+psycopg2`: with SQLAlchemy 2.1's psycopg 3 default, Dagster's
event writes fail (docs/maintainers.md), so this test would catch a regression of that setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
import yaml

from catalog_pipelines import db
from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs.definitions import defs
from dagster_defs.instance_config import PRODUCTION_YAML, production_config
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "catalog_pipelines" / "samples" / "shopify_product_template.csv"


@pytest.fixture
def dagster_database(server_url: str, database_url: str) -> Iterator[str]:
    """A database of its own for Dagster's tables, next to the test's catalog database
    (made by the server's admin: the catalog's app role may not create databases)."""
    with db.scratch_database("dagster_test", server_url) as url:
        yield url


def test_production_yaml_uses_psycopg2() -> None:
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["sensors"]["use_threads"] is True


def test_import_job_runs_on_a_postgres_instance(
    tmp_path: Path,
    dagster_database: str,
    database_url: str,
    account: str,
    engine: sa.Engine,
) -> None:
    config = production_config(dagster_database)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))

    with engine.begin() as conn:
        add_source(
            conn,
            account_id=account,
            name="shop-pg",
            kind="shopify",
            owns=frozenset(GROUPS),
            config={"path": str(SHOPIFY)},
        )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["shop-pg"])
        result = defs.resolve_job_def("import_source_job").execute_in_process(
            partition_key="shop-pg",
            instance=instance,
            resources={
                "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
                "inbox": InboxResource(base_dir=str(tmp_path / "inbox")),
            },
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        record = instance.get_latest_materialization_event(dg.AssetKey("catalog_products"))
        assert record is not None and record.asset_materialization is not None
        assert record.asset_materialization.metadata["created"].value == 3
        assert instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME) == ["shop-pg"]

    with psycopg.connect(dagster_database) as conn:  # the events really are in PostgreSQL
        n = conn.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,)
        ).fetchone()
    assert n is not None and n[0] > 0
