"""The Dagster import job on a source that reads an HTTP JSON feed: each run fetches the feed
once, a piece at a time (first_import.read_feed), and gives what fetching it whole gives. The
first run writes the pieces; the next takes them as a batch whose products wait on disk, and
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines import first_import
from catalog_pipelines.store.sources import GROUPS, create_source
from dagster_defs.assets import ALL_ASSETS, IMPORT_ASSETS
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource
from tests.support.catalog_view import catalog_by_keys
from tests.support.dagster_runs import RECONCILE, import_run_view
from tests.support.dagster_state import forget_defs_state_storage
from tests.support.feed_server import serve_feeds
from tests.support.streamed import reimported_pieces, stream_small_exports, streamed_pieces

# three of the feed's eight products are rejected: over the default reject rate
ACCEPT_REJECTS = {"ops": {"validated_rows": {"config": {"max_reject_rate": 0.5}}}}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _runs(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    url: str,
    tmp: Path,
    selections: tuple[list[str] | None, ...] = (None, None),
    heal: bool = False,
) -> list[dict[str, Any]]:
    """Runs of the import job on a feed source of `account`, one a selection (None: every
    import asset): what each showed. `heal`: catalog_drift's config, when it is selected."""
    with engine.begin() as conn:
        create_source(
            conn, account_id=account, name="shop", kind="http_json", owns=frozenset(GROUPS),
            mapping=None, config={"url": url},
        )  # fmt: skip
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["shop"])
    resources = {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": InboxResource(base_dir=str(tmp / "inbox"), settle_seconds=0),
    }
    runs = []
    for selection in selections:
        forget_defs_state_storage()
        drift = {"catalog_drift": {"config": {"heal": heal}}} if selection == RECONCILE else {}
        result = dg.materialize(
            ALL_ASSETS,
            partition_key="shop",
            instance=instance,
            resources=resources,
            run_config={"ops": {**ACCEPT_REJECTS["ops"], **drift}},
            selection=selection or dg.AssetSelection.assets(*IMPORT_ASSETS),
        )
        runs.append(import_run_view(result))
    return runs


def test_a_feed_source_is_imported_in_pieces_by_the_dagster_job(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream_small_exports(monkeypatch, tmp_path)
    streamed = streamed_pieces(monkeypatch)
    reimported = reimported_pieces(monkeypatch)
    results = {}
    with serve_feeds() as (base, hits):
        for way in ("1", "0"):
            monkeypatch.setenv(first_import.ENV, way)
            results[way] = _runs(
                instance, database_url, engine, f"{account}_{way}", f"{base}/shop.json", tmp_path
            )
    assert hits["/shop-3.json"] == 4  # each run fetched the feed once
    assert streamed == [2]  # the first run with streaming on wrote its pieces
    assert reimported == [2]  # the second took them as a batch
    assert results["1"] == results["0"]
    assert catalog_by_keys(engine, f"{account}_1") == catalog_by_keys(engine, f"{account}_0")
    first, again = results["1"]
    assert first["snapshot"]["source_kind"] == "http_json"
    assert first["snapshot"]["rows_read"] == 8
    assert first["plan"]["products"]["created"] == 5 and first["rows_rejected"] == 3
    assert again["plan"]["events"] == 0
    assert list((tmp_path / "spill").iterdir()) == []


def test_a_run_that_only_plans_fetches_the_feed_once_in_pieces(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reconcile job's plan is a dry run of the import: the feed is read as the import
    reads it, in pieces, so a large feed is never held whole."""
    stream_small_exports(monkeypatch, tmp_path)
    streamed = streamed_pieces(monkeypatch)
    reimported = reimported_pieces(monkeypatch)
    plan_only = ["source_snapshot", "validated_rows"]
    with serve_feeds() as (base, hits):
        first, planned = _runs(
            instance, database_url, engine, account, f"{base}/shop.json", tmp_path,
            selections=(None, plan_only),
        )  # fmt: skip
    assert hits["/shop.json"] == 2  # once a run
    assert streamed == [2] and reimported == [2]  # the plan-only run read it in pieces too
    assert planned["plan"]["dry_run"] is True and planned["plan"]["events"] == 0
    assert planned["snapshot"]["rows_read"] == first["snapshot"]["rows_read"] == 8
    assert list((tmp_path / "spill").iterdir()) == []


def test_the_reconcile_job_heals_a_feed_fetching_it_in_pieces_twice(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once for the drift, once for the import that heals it: the catalog is the import
    job's."""
    stream_small_exports(monkeypatch, tmp_path)
    streamed = streamed_pieces(monkeypatch)
    with serve_feeds() as (base, hits):
        url = f"{base}/shop.json"
        (imported,) = _runs(
            instance, database_url, engine, f"{account}_i", url, tmp_path, selections=(None,)
        )
        healed = _runs(
            instance, database_url, engine, f"{account}_h", url, tmp_path,
            selections=(RECONCILE,), heal=True,
        )  # fmt: skip
    assert hits["/shop.json"] == 3
    assert streamed == [2, 2, 2]  # the import, the drift's plan, the heal
    assert healed[0]["plan"]["dry_run"] is True
    assert healed[0]["plan"]["products"]["created"] == imported["plan"]["products"]["created"]
    assert catalog_by_keys(engine, f"{account}_h") == catalog_by_keys(engine, f"{account}_i")
    assert list((tmp_path / "spill").iterdir()) == []
