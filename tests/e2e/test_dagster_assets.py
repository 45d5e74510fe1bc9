"""The asset graph end to end on the real exports: counts, re-runs, dry runs and the guards.

Each test materializes through Dagster in-process (`dg.materialize`) against the run's test
database, in an account of its own, on a throwaway Dagster instance.

How the expected counts are derived: by reading the files with the `csv` module here, with
the merchant's rules spelled out in `expected_shopify` / `expected_woocommerce` /
`expected_magento`, not by running the connectors.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from catalog_pipelines.store.runs import get_run
from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs.assets import ALL_ASSETS, IMPORT_ASSETS, reconciliation
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource
from tests.support.dagster_runs import RECONCILE, materialized
from tests.support.dagster_runs import reconcile as reconcile_run
from tests.support.dagster_source import csv_source

REPO = Path(__file__).resolve().parents[2]
SHOPIFY = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"
WOOCOMMERCE = REPO / "tests" / "fixtures" / "real" / "woocommerce_sample_products.csv"
MAGENTO = REPO / "tests" / "fixtures" / "real" / "magento2_catalog_product.csv"
CATALOG = ("catalog_products", "catalog_prices", "catalog_inventory")
KIND_OF = {
    "catalog_products": "products",
    "catalog_prices": "prices",
    "catalog_inventory": "inventory",
}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:  # utf-8-sig: WooCommerce's BOM
        return list(csv.DictReader(f))


def expected_shopify() -> dict[str, int]:
    """Rows sharing a Handle are one product. A row with a SKU, a price or an option value is a
    variant: one price and (it has a SKU) one inventory item. The remaining rows only add an
    image (here: example-pants' 4th row)."""
    rows = read_rows(SHOPIFY)
    variants = [r for r in rows if r["Variant SKU"] or r["Variant Price"] or r["Option1 Value"]]
    return {
        "rows": len(rows),
        "products": len({r["Handle"] for r in rows}),
        "prices": len(variants),
        "inventory": len([r for r in variants if r["Variant SKU"]]),
    }


def expected_woocommerce() -> dict[str, int]:
    """Every row but a `variation` is a product (simple, variable, grouped, external). Simple
    products, variations and external products have a price; variable parents and grouped
    products have none. Inventory is kept per SKU for simple products and variations; an
    external product is sold elsewhere and has no stock."""
    rows = read_rows(WOOCOMMERCE)
    types = [{t.strip() for t in r["Type"].split(",")} for r in rows]
    priced = [t for t in types if t & {"simple", "variation", "external"}]
    stocked = [t for t in types if t & {"simple", "variation"}]
    return {
        "rows": len(rows),
        "products": len([t for t in types if "variation" not in t]),
        "prices": len(priced),
        "inventory": len(stocked),
    }


def expected_magento() -> dict[str, int]:
    """Every default row (no store_view_code) not named in a configurable's variations is a
    product. Simple products and fixed-price bundles have a price; only simple products keep
    stock (a bundle's stock is its parts', a grouped product's items are sold on their own)."""
    rows = [r for r in read_rows(MAGENTO) if not r["store_view_code"]]
    simple = [r for r in rows if r["product_type"] == "simple"]
    fixed = [r for r in rows if r["bundle_price_type"] == "fixed"]
    return {
        "rows": len(read_rows(MAGENTO)),
        "products": len(rows),
        "prices": len(simple) + len(fixed),
        "inventory": len(simple),
    }


def test_expected_counts_are_what_a_merchant_sees() -> None:
    """The derivation above, pinned to the numbers in the fixtures' README (3 products, 16
    variants) and to a reading of the WooCommerce file (14 simple, 2 variable with 3 + 4
    variations, 1 grouped, 1 external)."""
    assert expected_shopify() == {"rows": 17, "products": 3, "prices": 16, "inventory": 16}
    assert expected_woocommerce() == {"rows": 25, "products": 18, "prices": 22, "inventory": 21}
    assert expected_magento() == {"rows": 6, "products": 6, "prices": 4, "inventory": 3}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def res(database_url: str, account: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": InboxResource(base_dir=str(tmp_path / "inbox"), settle_seconds=0),
    }


def add_file_source(engine: sa.Engine, account: str, name: str, kind: str, path: Path) -> None:
    with engine.begin() as conn:
        add_source(
            conn,
            account_id=account,
            name=name,
            kind=kind,
            owns=frozenset(GROUPS),
            config={"path": str(path)},
        )


def run(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    source: str,
    run_config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    if source not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        IMPORT_ASSETS,
        partition_key=source,
        instance=instance,
        resources=res,
        run_config=run_config,
        raise_on_error=False,
    )


def counts(md: dict[str, Any]) -> dict[str, int]:
    return {k: md[k] for k in ("created", "updated", "unchanged", "archived", "rejected")}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def created(n: int) -> dict[str, int]:
    return {"created": n, "updated": 0, "unchanged": 0, "archived": 0, "rejected": 0}


@pytest.mark.parametrize(
    ("source", "kind", "path", "expected"),
    [
        ("shopify-demo", "shopify", SHOPIFY, expected_shopify),
        ("woocommerce-demo", "woocommerce", WOOCOMMERCE, expected_woocommerce),
        ("magento-main", "magento", MAGENTO, expected_magento),
    ],
)
def test_real_export_imports_then_reimports_unchanged(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    engine: sa.Engine,
    account: str,
    source: str,
    kind: str,
    path: Path,
    expected: Any,
) -> None:
    want = expected()
    add_file_source(engine, account, source, kind, path)

    first = run(instance, res, source)
    assert first.success
    md = materialized(first)
    assert sorted(md) == sorted(
        ["source_snapshot", "validated_rows", *CATALOG, "webhook_deliveries"]
    )
    for key in CATALOG:
        assert counts(md[key]) == created(want[KIND_OF[key]]), key
        assert "| object | external id | action |" in md[key]["changes"]
    assert md["source_snapshot"]["rows_read"] == want["rows"]
    assert md["validated_rows"]["rows_rejected"] == 0
    events = want["products"] + want["prices"] + want["inventory"]
    assert md["webhook_deliveries"]["events"] == events
    assert md["catalog_products"]["import_run_id"] == md["webhook_deliveries"]["import_run_id"]
    # The run's record names Dagster and its run, for the dashboard's link (docs/dashboard.md).
    with engine.connect() as conn:
        recorded = get_run(conn, account, str(md["catalog_products"]["import_run_id"]))
    assert recorded is not None
    assert (recorded["trigger"], recorded["dagster_run"]) == ("dagster", first.run_id)
    assert checks(first) == {
        "row_reconciliation": True,
        "reject_rate": True,
        "mass_archive_guard": True,
        "schema_drift": True,
    }

    second = run(instance, res, source)
    assert second.success
    md2 = materialized(second)
    # Nothing changed, so no catalog asset claims a new materialization and
    # webhook_deliveries, with nothing to deliver, skips; the plan says why.
    assert sorted(md2) == ["source_snapshot", "validated_rows"]
    planned = md2["validated_rows"]["planned_changes"]
    for kind, n in (
        ("products", "products"),
        ("prices", "prices"),
        ("inventory_items", "inventory"),
    ):
        assert planned[kind] == {"created": 0, "updated": 0, "unchanged": want[n], "archived": 0}
    assert md2["validated_rows"]["plan_preview"] == "_No changes._"
    assert [e.step_key for e in second.all_events if e.is_step_skipped] == ["webhook_deliveries"]
    assert checks(second)["schema_drift"] is True  # same columns as the previous run


def test_dry_run_records_the_diff_and_writes_nothing(
    instance: dg.DagsterInstance, res: dict[str, Any], engine: sa.Engine, account: str
) -> None:
    add_file_source(engine, account, "shopify-dry", "shopify", SHOPIFY)
    result = run(
        instance,
        res,
        "shopify-dry",
        {"ops": {"validated_rows": {"config": {"dry_run": True}}}},
    )
    assert result.success
    assert sorted(materialized(result)) == ["source_snapshot", "validated_rows"]
    observed = {
        e.asset_key.to_user_string(): e.event_specific_data.asset_observation.metadata
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    }
    assert observed["catalog_products"]["created"].value == 3
    assert observed["catalog_prices"]["created"].value == 16
    with engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM products WHERE account_id = :a"), {"a": account}
        ).scalar_one()
    assert n == 0


def woo_source_cut_to_one_product(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    name: str,
) -> None:
    """Source `name`: the WooCommerce sample imported (18 products), then its file cut to
    its first simple product, as a broken export would be."""
    source = tmp_path / "woo.csv"
    shutil.copy(WOOCOMMERCE, source)
    add_file_source(engine, account, name, "woocommerce", source)
    assert run(instance, res, name).success
    text = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header, first_simple = text[0], next(line for line in text[1:] if ",simple," in line)
    source.write_text("\ufeff" + header + first_simple, encoding="utf-8")


def active_products(engine: sa.Engine, account: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM products WHERE account_id = :a AND active"),
                {"a": account},
            ).scalar_one()
        )


def test_mass_archive_guard_blocks_publishing(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
) -> None:
    """A full snapshot that lost most products: the blocking check stops the run before the
    catalog step, so nothing is archived (stage, check, then publish)."""
    woo_source_cut_to_one_product(instance, res, engine, account, tmp_path, "woo-guard")
    blocked = run(instance, res, "woo-guard")
    assert checks(blocked)["mass_archive_guard"] is False
    assert sorted(materialized(blocked)) == ["source_snapshot", "validated_rows"]
    assert active_products(engine, account) == 18

    allowed = run(
        instance,
        res,
        "woo-guard",
        {"ops": {"validated_rows": {"config": {"allow_mass_archive": True}}}},
    )
    assert allowed.success
    assert materialized(allowed)["catalog_products"]["archived"] == 17


def test_reconciliation_reports_drift_and_heals(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
) -> None:
    """The source changes behind the catalog's back: one price edited in the file."""
    source = tmp_path / "shop.csv"
    shutil.copy(SHOPIFY, source)
    add_file_source(engine, account, "shop-recon", "shopify", source)
    assert run(instance, res, "shop-recon").success
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            "example-hat,Example Beanie", "example-hat,Beanie", 1
        ),
        encoding="utf-8",
    )

    def reconcile(heal: bool) -> dict[str, Any]:
        return reconcile_run(instance, res, "shop-recon", heal=heal)

    report = reconcile(heal=False)
    assert report["drift_total"] == 1
    assert report["products_updated"] == 1
    assert "Example Beanie → Beanie" in report["sample"]
    assert reconcile(heal=False)["drift_total"] == 1  # reporting changed nothing

    healed = reconcile(heal=True)
    assert healed["healed"] is True and healed["heal_import_run_id"].startswith("run_")
    assert reconcile(heal=False)["drift_total"] == 0


def test_a_heal_that_would_archive_most_products_waits_for_allow_mass_archive(
    instance: dg.DagsterInstance,
    res: dict[str, Any],
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
) -> None:
    """The heal is an import, guards included: a source that lost most products fails the
    reconcile run on the mass-archive guard, and nothing is archived until the run allows it.
    The refused run's drift is still on catalog_drift's timeline, with what stopped it."""
    woo_source_cut_to_one_product(instance, res, engine, account, tmp_path, "woo-heal")

    def heal(allow: bool) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            ALL_ASSETS,
            selection=RECONCILE,
            partition_key="woo-heal",
            instance=instance,
            resources=res,
            run_config={
                "ops": {
                    "validated_rows": {"config": {"allow_mass_archive": allow}},
                    "catalog_drift": {"config": {"heal": True}},
                }
            },
            raise_on_error=False,
        )

    refused = heal(allow=False)
    assert not refused.success and checks(refused)["mass_archive_guard"] is False
    recorded = materialized(refused)
    assert sorted(recorded) == ["catalog_drift", "source_snapshot", "validated_rows"]
    # recorded by validated_rows' step, which failed: catalog_drift's own step never ran
    assert "catalog_drift" not in {e.step_key for e in refused.get_step_success_events()}
    drift = recorded["catalog_drift"]
    assert (drift["drift_total"], drift["products_archived"], drift["prices_archived"]) == (
        38,
        17,
        21,
    )
    assert drift["healed"] is False and drift["blocked_by"] == "mass_archive_guard"
    assert active_products(engine, account) == 18
    allowed = heal(allow=True)
    assert allowed.success
    healed = materialized(allowed)
    assert healed["catalog_drift"]["products_archived"] == 17
    assert healed["catalog_products"]["archived"] == 17
    assert active_products(engine, account) == 1


def test_a_heal_refuses_a_second_read_that_the_checks_would_refuse(
    instance: dg.DagsterInstance,
    database_url: str,
    engine: sa.Engine,
    account: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heal reads the source again. A source that changed after the drift's checks passed
    (a feed that moved on, a file replaced) meets the same checks before anything is written:
    here, half of its rows rejected."""
    path = tmp_path / "pim.csv"
    header = "id,name,price,sku\n"
    path.write_text(header + "".join(f"P{i},Product {i},{i}.50,S{i}\n" for i in range(20)))
    mapping = {
        "format": "csv",
        "key": "id",
        "currency": "usd",
        "fields": {"name": "name", "price": "price", "sku": "sku"},
    }
    res = csv_source(
        instance, engine, database_url, account,
        name="pim-heal", path=path, mapping=mapping, inbox=tmp_path / "inbox",
    )  # fmt: skip
    assert dg.materialize(IMPORT_ASSETS, partition_key="pim-heal", instance=instance,
                          resources=res).success  # fmt: skip
    path.write_text(path.read_text().replace("Product 3,", "Renamed 3,"))

    real = reconciliation.read_snapshot

    def replaced_meanwhile(*args: Any, **kwargs: Any) -> Any:
        rows = [f"P{i},Product {i},{'x' if i % 2 else f'{i}.50'},S{i}\n" for i in range(20)]
        path.write_text(header + "".join(rows))
        return real(*args, **kwargs)

    monkeypatch.setattr(reconciliation, "read_snapshot", replaced_meanwhile)
    result = dg.materialize(
        ALL_ASSETS,
        selection=RECONCILE,
        partition_key="pim-heal",
        instance=instance,
        resources=res,
        run_config={"ops": {"catalog_drift": {"config": {"heal": True}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "the heal was refused" in message and "reject_rate" in message
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT name FROM products WHERE account_id = :a ORDER BY external_id"),
            {"a": account},
        ).scalars()
        assert "Renamed 3" not in set(names)
    # the drift, as the checks saw it, healed once the source holds it again
    monkeypatch.setattr(reconciliation, "read_snapshot", real)
    rows = [f"P{i},{'Renamed' if i == 3 else 'Product'} {i},{i}.50,S{i}\n" for i in range(20)]
    path.write_text(header + "".join(rows))
    assert reconcile_run(instance, res, "pim-heal", heal=True)["healed"] is True
