"""The inbox sensor in each cursor state, the run that consumes an inbox file, and the nightly
schedule. Pattern from project_fully_featured: build a context with a given cursor, evaluate one
tick, assert the run requests and the new cursor."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs.definitions import defs
from dagster_defs.inbox import INBOX_FILE_TAG, InboxCursor
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource
from dagster_defs.schedules import nightly_reconciliation
from dagster_defs.sensors import inbox_sensor

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"
MAGENTO = REPO / "tests" / "fixtures" / "real" / "magento2_catalog_product.csv"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def inbox(tmp_path: Path) -> InboxResource:
    return InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0)


def drop(
    inbox: InboxResource,
    source: str,
    name: str,
    mtime: float = 1_700_000_000,
    export: Path = SHOPIFY,
) -> Path:
    path = inbox.root() / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(export, path)
    os.utime(path, (mtime, mtime))
    return path


def tick(instance: dg.DagsterInstance, inbox: InboxResource, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"inbox": inbox})
    result = inbox_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def requested(cursor: str | None) -> frozenset[str]:
    return InboxCursor.parse(cursor).requested


def test_first_file_requests_one_run_and_adds_the_partition(
    instance: dg.DagsterInstance, inbox: InboxResource
) -> None:
    path = drop(inbox, "shopify-main", "export.csv")
    result = tick(instance, inbox, cursor=None)
    (request,) = result.run_requests or []
    assert request.partition_key == "shopify-main"
    assert request.run_key is not None and request.run_key.startswith("inbox:shopify-main:")
    assert request.tags[INBOX_FILE_TAG] == str(path.resolve())
    assert request.run_config == {
        "ops": {"source_snapshot": {"config": {"path": str(path.resolve())}}}
    }
    assert requested(result.cursor) == {request.run_key}
    (add,) = result.dynamic_partitions_requests or []
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert list(add.partition_keys) == ["shopify-main"]


def test_nothing_new_requests_nothing(instance: dg.DagsterInstance, inbox: InboxResource) -> None:
    drop(inbox, "shopify-main", "export.csv")
    first = tick(instance, inbox, cursor=None)
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["shopify-main"])
    again = tick(instance, inbox, cursor=first.cursor)
    assert not again.run_requests
    assert again.skip_reason is not None
    assert requested(again.cursor) == requested(first.cursor)
    assert not again.dynamic_partitions_requests


def test_some_new_requests_only_the_new_files(
    instance: dg.DagsterInstance, inbox: InboxResource
) -> None:
    drop(inbox, "shopify-main", "monday.csv", mtime=1_700_000_000)
    first = tick(instance, inbox, cursor=None)
    drop(inbox, "shopify-main", "tuesday.csv", mtime=1_700_086_400)
    drop(inbox, "pim", "feed.csv", mtime=1_700_086_500)
    second = tick(instance, inbox, cursor=first.cursor)
    new = second.run_requests or []
    assert sorted(r.partition_key or "" for r in new) == ["pim", "shopify-main"]
    assert all(r.tags[INBOX_FILE_TAG].endswith(("tuesday.csv", "feed.csv")) for r in new)
    assert requested(second.cursor) == requested(first.cursor) | {r.run_key for r in new}


def test_already_processed_file_is_dropped_from_the_cursor(
    instance: dg.DagsterInstance, inbox: InboxResource
) -> None:
    path = drop(inbox, "shopify-main", "export.csv")
    first = tick(instance, inbox, cursor=None)
    inbox.processed_root().mkdir(parents=True)
    shutil.move(path, inbox.processed_root() / "export.csv")  # what the run does when it ends
    after = tick(instance, inbox, cursor=first.cursor)
    assert not after.run_requests
    assert requested(after.cursor) == frozenset()


def test_run_key_is_deterministic_and_follows_the_content(
    instance: dg.DagsterInstance, inbox: InboxResource
) -> None:
    path = drop(inbox, "shopify-main", "export.csv")
    key_a = (tick(instance, inbox, None).run_requests or [])[0].run_key
    assert (tick(instance, inbox, None).run_requests or [])[0].run_key == key_a  # same file
    os.utime(path, (1_750_000_000, 1_750_000_000))  # re-dropped: a new import
    assert (tick(instance, inbox, None).run_requests or [])[0].run_key != key_a


def test_a_file_still_being_written_waits(instance: dg.DagsterInstance, tmp_path: Path) -> None:
    patient = InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=60)
    path = patient.root() / "shopify-main" / "export.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Handle,Title\n")  # mtime: now
    (patient.root() / "shopify-main" / "upload.csv.part").write_text("Handle")
    assert not tick(instance, patient, None).run_requests


def test_inbox_run_imports_the_file_once_and_moves_it(
    instance: dg.DagsterInstance,
    inbox: InboxResource,
    database_url: str,
    account: str,
    engine: sa.Engine,
) -> None:
    """The sensor's request, executed as the daemon would: the file is imported (the source is
    created by its first import), then moved to processed/; a broken file goes to failed/."""
    path = drop(inbox, "shop-inbox", "export.csv")
    result = tick(instance, inbox, cursor=None)
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["shop-inbox"])
    (request,) = result.run_requests or []
    job = defs.resolve_job_def("import_source_job")
    res: dict[str, Any] = {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": inbox,
    }
    run = job.execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        tags=request.tags,
        instance=instance,
        resources=res,
    )
    assert run.success
    assert not path.exists()
    (moved,) = (inbox.processed_root() / "shop-inbox").iterdir()
    assert moved.name.endswith("-export.csv")
    with engine.connect() as conn:
        n = conn.execute(
            sa.text(
                "SELECT count(*) FROM products WHERE account_id = :a AND source = 'shop-inbox'"
            ),
            {"a": account},
        ).scalar_one()
    assert n == 3
    assert not tick(instance, inbox, result.cursor).run_requests  # nothing left to import

    broken = inbox.root() / "shop-inbox" / "broken.csv"
    broken.write_bytes(b"\xff\xfe\x00garbage")
    os.utime(broken, (1_700_000_000, 1_700_000_000))
    (request,) = tick(instance, inbox, result.cursor).run_requests or []
    failed = job.execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        tags=request.tags,
        instance=instance,
        resources=res,
        raise_on_error=False,
    )
    assert not failed.success
    assert not broken.exists()
    assert [
        p.name.endswith("-broken.csv") for p in (inbox.failed_root() / "shop-inbox").iterdir()
    ] == [True]


def test_a_magento_export_in_the_inbox_is_recognised_and_imported(
    instance: dg.DagsterInstance,
    inbox: InboxResource,
    database_url: str,
    account: str,
    engine: sa.Engine,
) -> None:
    """Nobody says the file is a Magento export: the run recognises it by its header, imports
    it with nothing rejected, and the new source is a magento source."""
    drop(inbox, "magento-eu", "catalog_product.csv", export=MAGENTO)
    (request,) = tick(instance, inbox, cursor=None).run_requests or []
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["magento-eu"])
    run = defs.resolve_job_def("import_source_job").execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        tags=request.tags,
        instance=instance,
        resources={
            "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
            "inbox": inbox,
        },
    )
    assert run.success
    snapshot = run.asset_materializations_for_node("source_snapshot")[0].metadata
    assert snapshot["source_kind"].value == "magento (new source, detected)"
    assert snapshot["parse_rejects"].value == 0
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("SELECT kind FROM sources WHERE account_id = :a AND name = 'magento-eu'"),
            {"a": account},
        ).scalar_one()
        products = conn.execute(
            sa.text(
                "SELECT count(*) FROM products WHERE account_id = :a AND source = 'magento-eu'"
            ),
            {"a": account},
        ).scalar_one()
    assert (kind, products) == ("magento", 6)
    assert len(list((inbox.processed_root() / "magento-eu").iterdir())) == 1


def test_nightly_schedule_requests_one_dry_run_per_readable_source(
    instance: dg.DagsterInstance, database_url: str, account: str, engine: sa.Engine
) -> None:
    res = {"catalog_db": CatalogDatabase(database_url=database_url, account_id=account)}
    when = datetime(2025, 3, 4, 3, 0, tzinfo=UTC)
    empty = nightly_reconciliation(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=res)
    )
    assert isinstance(empty, dg.SkipReason)

    with engine.begin() as conn:
        for name, config in [
            ("shop-a", {"path": str(SHOPIFY)}),
            ("feed-b", {"url": "https://shop.example/products.json"}),
            ("inbox-only", {}),
        ]:
            add_source(
                conn,
                account_id=account,
                name=name,
                kind="shopify",
                owns=frozenset(GROUPS),
                config=config,
            )
    instance.add_dynamic_partitions(
        SOURCES_PARTITIONS_NAME, ["shop-a", "feed-b", "inbox-only", "not-a-source"]
    )
    requests = nightly_reconciliation(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=res)
    )
    assert isinstance(requests, list)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("shop-a", "reconcile:shop-a:2025-03-04"),
        ("feed-b", "reconcile:feed-b:2025-03-04"),
    ]
    assert all(r.run_config["ops"]["catalog_drift"]["config"] == {"heal": False} for r in requests)
    assert all(r.job_name in (None, "reconcile_source_job") for r in requests)
