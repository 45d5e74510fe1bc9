"""A job runs on a Postgres-backed Dagster instance configured like production.

The instance's dagster.yaml is `deploy/dagster.yaml` (run coordinator, threaded sensors, ...),
with its `postgres_db` pointed at a database of the test server. The `scheme` stays the
production one, `postgresql+psycopg2`: with SQLAlchemy 2.1's psycopg 3 default, Dagster's
event writes fail (docs/maintainers.md), so this test would catch a regression of that setting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
import yaml
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage

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


def test_production_yaml_uses_psycopg2_and_the_pooled_storage() -> None:
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    storage = config["storage"]["custom"]
    assert (storage["module"], storage["class"]) == (
        "dagster_defs.pooled_storage",
        "PooledPostgresStorage",
    )
    assert storage["config"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["sensors"]["use_threads"] is True


@contextmanager
def connections_to(db_name: str) -> Iterator[list[str]]:
    """Counts the connections any SQLAlchemy pool in this process opens to `db_name`."""
    opened: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection.info.dbname == db_name:
            opened.append(db_name)

    sa.event.listen(sa.pool.Pool, "connect", on_connect)
    try:
        yield opened
    finally:
        sa.event.remove(sa.pool.Pool, "connect", on_connect)


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "connection-per-call"])
def test_import_job_runs_on_a_postgres_instance(
    pooled: bool,
    tmp_path: Path,
    dagster_database: str,
    database_url: str,
    account: str,
    engine: sa.Engine,
) -> None:
    """Both the production storage and dagster-postgres' plain one (for processes that cannot
    import this project) run the job; the production one reuses its connections."""
    config = production_config(dagster_database, pooled=pooled)
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
    db_name = urlsplit(dagster_database).path.lstrip("/")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["shop-pg"])
        with connections_to(db_name) as opened:
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
        assert instance.all_instigator_state() == []  # the schedule storage's pool is used too
    if pooled:  # the pools' kept connections, at most two for each of the three storages
        assert len(opened) <= 6
    else:  # one per storage call: what the pooled storage saves
        assert len(opened) > 30

    with psycopg.connect(dagster_database, autocommit=True) as conn:
        n = conn.execute(  # the events really are in PostgreSQL
            "SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,)
        ).fetchone()
        assert n is not None and n[0] > 0
        assert connections_left(conn, db_name) == []  # a disposed instance leaves none open


def connections_left(conn: psycopg.Connection[Any], db_name: str, wait: float = 10.0) -> list[Any]:
    """The other sessions on `db_name`, once they are gone or `wait` seconds have passed.

    A server ends a backend a moment after its client hangs up, so a session closed just
    before this call can still be listed; one that was never closed stays listed."""
    deadline = time.monotonic() + wait
    while True:
        left = conn.execute(
            "SELECT pid, application_name, state, query FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (db_name,),
        ).fetchall()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_the_pooled_storage_recovers_when_the_server_drops_its_connections(
    tmp_path: Path, dagster_database: str
) -> None:
    """A kept connection the server closed (a restart, a failover, an idle timeout) is
    replaced when next used, instead of failing that call."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(production_config(dagster_database)))
    db_name = urlsplit(dagster_database).path.lstrip("/")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["before"])
        assert instance.get_runs() == []
        with psycopg.connect(dagster_database, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (db_name,),
            ).fetchone()
        assert killed is not None and killed[0] >= 2  # the kept ones were open
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["after"])
        assert instance.get_runs() == []
        assert instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME) == ["before", "after"]
