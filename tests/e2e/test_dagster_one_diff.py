"""One diff per Dagster run, and it is the diff that is applied.

The import job used to plan twice (a dry run for the checks, then the import). Now the step
that validates also plans, checks and applies, in one transaction under the source's lock.
These tests count the plan computations of a run, compare the previewed plan with what was
written, and start a second import of the same source while the run holds its plan.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

import catalog_pipelines.importer as importer
from catalog_pipelines.importer import ImportOptions, ImportReport, import_path
from catalog_pipelines.store import imports as store_imports
from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs import checks
from dagster_defs.assets import IMPORT_ASSETS
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"
CATALOG = {"catalog_products": "products", "catalog_prices": "prices"}
CATALOG["catalog_inventory"] = "inventory_items"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often this process planned a diff and read the stored catalog, all of the account's
    or the rows a re-import that skipped products needs (real calls, counted)."""
    counted = {"plan_import": 0, "read_stored": 0}

    def counting(name: str, module: Any, counter: str) -> None:
        real = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[counter] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting("plan_import", importer, "plan_import")
    counting("read_stored", store_imports, "read_stored")
    counting("read_stored_for", store_imports, "read_stored")
    return counted


def run(
    instance: dg.DagsterInstance, database_url: str, account: str, tmp_path: Path, source: str
) -> dg.ExecuteInProcessResult:
    if source not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        IMPORT_ASSETS,
        partition_key=source,
        instance=instance,
        resources={
            "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
            "inbox": InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0),
        },
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }


def add_shop(engine: sa.Engine, account: str, name: str, path: Path) -> None:
    with engine.begin() as conn:
        add_source(
            conn,
            account_id=account,
            name=name,
            kind="shopify",
            owns=frozenset(GROUPS),
            config={"path": str(path)},
        )


def stored_counts(engine: sa.Engine, account: str) -> dict[str, int]:
    """Catalog rows, and the catalog's events (not the `source.created` of add_shop)."""
    with engine.connect() as conn:
        counts = {
            table: conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),  # noqa: S608
                {"a": account},
            ).scalar_one()
            for table in ("products", "prices", "inventory_items")
        }
        counts["events"] = conn.execute(
            sa.text(
                "SELECT count(*) FROM events WHERE account_id = :a AND object_type <> 'source'"
            ),
            {"a": account},
        ).scalar_one()
    return counts


def test_a_run_plans_once_and_previews_what_it_applies(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    calls: dict[str, int],
) -> None:
    source = tmp_path / "shop.csv"
    source.write_bytes(SHOPIFY.read_bytes())
    add_shop(engine, account, "shop-once", source)

    first = run(instance, database_url, account, tmp_path, "shop-once")
    assert first.success
    assert calls == {"plan_import": 1, "read_stored": 1}
    md = metadata(first)
    planned = md["validated_rows"]["planned_changes"]
    for asset, kind in CATALOG.items():
        applied = {c: md[asset][c] for c in ("created", "updated", "unchanged", "archived")}
        assert planned[kind] == applied, asset
    assert planned["products"]["created"] == 3
    assert stored_counts(engine, account) == {
        "products": 3,
        "prices": 16,
        "inventory_items": 16,
        "events": md["webhook_deliveries"]["events"],
    }
    assert md["validated_rows"]["import_run_id"] == md["catalog_products"]["import_run_id"]

    # One field changed in the file: the run's preview names exactly the change it wrote.
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "example-hat,Example Beanie", "example-hat,Beanie", 1
        ),
        encoding="utf-8",
    )
    second = run(instance, database_url, account, tmp_path, "shop-once")
    assert second.success
    assert calls == {"plan_import": 2, "read_stored": 2}
    md2 = metadata(second)
    assert md2["validated_rows"]["planned_changes"]["products"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "archived": 0,
    }
    assert md2["catalog_products"]["updated"] == 1
    assert "Example Beanie → Beanie" in md2["validated_rows"]["plan_preview"]
    assert "Example Beanie → Beanie" in md2["catalog_products"]["changes"]
    assert md2["webhook_deliveries"]["events"] == 1
    with engine.connect() as conn:
        name = conn.execute(
            sa.text("SELECT name FROM products WHERE account_id = :a AND name LIKE '%Beanie'"),
            {"a": account},
        ).scalar_one()
    assert name == "Beanie"


def test_an_import_of_the_same_source_started_during_the_plan_waits_and_sees_its_writes(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the run holds its plan (its checks are being evaluated), a CLI import of the same
    file for the same source starts. It must not plan against the catalog the run is about to
    change: it waits for the run to commit, then finds every object unchanged. No object is
    created twice, no write is lost."""
    add_shop(engine, account, "shop-race", SHOPIFY)
    other: dict[str, Any] = {}

    def cli_import() -> None:
        try:
            other["report"] = import_path(
                engine,
                SHOPIFY,
                ImportOptions(source="shop-race", account_id=account),
                format="shopify",
            )
        except Exception as e:  # reported below, where the test can fail on it
            other["error"] = e

    thread = threading.Thread(target=cli_import)
    real = checks.check_row_reconciliation

    def during_the_plan(*args: Any, **kwargs: Any) -> Any:
        if not thread.is_alive() and "report" not in other:
            thread.start()
            thread.join(timeout=3.0)
            other["finished_during_plan"] = not thread.is_alive()
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "check_row_reconciliation", during_the_plan)
    result = run(instance, database_url, account, tmp_path, "shop-race")
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert result.success
    assert other.get("finished_during_plan") is False, "the other import did not wait"
    assert "error" not in other, other.get("error")
    report: ImportReport = other["report"]
    assert report.products.as_dict() == {"created": 0, "updated": 0, "unchanged": 3, "archived": 0}
    assert report.events == 0
    md = metadata(result)
    assert md["catalog_products"]["created"] == 3
    assert stored_counts(engine, account) == {
        "products": 3,
        "prices": 16,
        "inventory_items": 16,
        "events": 35,  # 3 + 16 + 16 created, all by the Dagster run
    }
