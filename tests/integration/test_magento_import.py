"""Magento exports through the real importer on PostgreSQL: counts, a re-import that writes
nothing, the currency from the source's settings, and a store-view change that leaves the
default values alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines.connectors.registry import KINDS
from catalog_pipelines.importer import ImportOptions, import_path
from catalog_pipelines.store.sources import GROUPS, add_source, get_source
from tests.support.integrity import assert_catalog_integrity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = FIXTURES / "real" / "magento2_catalog_product.csv"
SMALL = FIXTURES / "magento_configurable.csv"


@pytest.fixture(autouse=True)
def _integrity_after_each_test(engine: sa.Engine, account: str):  # type: ignore[no-untyped-def]
    yield
    assert_catalog_integrity(engine, account)


def counts(report: Any) -> dict[str, dict[str, int]]:
    out = report.to_json()
    return {k: out[k] for k in ("products", "prices", "inventory_items")}


def created(p: int, pr: int, inv: int) -> dict[str, dict[str, int]]:
    def c(n: int) -> dict[str, int]:
        return {"created": n, "updated": 0, "unchanged": 0, "archived": 0}

    return {"products": c(p), "prices": c(pr), "inventory_items": c(inv)}


def unchanged(p: int, pr: int, inv: int) -> dict[str, dict[str, int]]:
    def c(n: int) -> dict[str, int]:
        return {"created": 0, "updated": 0, "unchanged": n, "archived": 0}

    return {"products": c(p), "prices": c(pr), "inventory_items": c(inv)}


def events(engine: sa.Engine, account: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM events WHERE account_id = :a"), {"a": account}
        ).scalar_one()


def product_object(engine: sa.Engine, account: str, external_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT product_object(p) FROM products p"
                " WHERE account_id = :a AND external_id = :e"
            ),
            {"a": account, "e": external_id},
        ).scalar_one()


@pytest.mark.parametrize(
    ("path", "expected"),
    [(REAL, (6, 4, 3)), (SMALL, (2, 4, 4))],
    ids=["magento-sample", "configurable"],
)
def test_import_then_reimport_writes_nothing(
    engine: sa.Engine, account: str, path: Path, expected: tuple[int, int, int]
) -> None:
    options = ImportOptions(source="magento", account_id=account)
    first = import_path(engine, path, options)
    assert (first.rows_rejected, counts(first)) == (0, created(*expected))
    with engine.connect() as conn:
        source = get_source(conn, account, "magento")
    assert source is not None and source.kind == "magento"  # detected, and recorded

    written = events(engine, account)
    again = import_path(engine, path, options)
    assert (again.rows_rejected, counts(again), again.events) == (0, unchanged(*expected), 0)
    assert events(engine, account) == written


def test_configurable_product_in_the_catalog(engine: sa.Engine, account: str) -> None:
    import_path(engine, SMALL, ImportOptions(source="magento", account_id=account))
    hoodie = product_object(engine, account, "MH01")
    assert hoodie["name"] == "Chaz Kangeroo Hoodie"
    assert hoodie["metadata"]["store_view.de.name"] == "Chaz Känguru-Kapuzenpullover"
    with engine.connect() as conn:
        prices = conn.execute(
            sa.text(
                "SELECT price_object(p) FROM prices p JOIN products r ON r.id = p.product_id"
                " AND r.account_id = p.account_id WHERE p.account_id = :a AND r.external_id = 'MH01'"
                " ORDER BY p.lookup_key"
            ),
            {"a": account},
        ).scalars()
        by_key = {p["lookup_key"]: p for p in prices}
        stock = dict(
            conn.execute(
                sa.text("SELECT sku, quantity FROM inventory_items WHERE account_id = :a"),
                {"a": account},
            ).all()
        )
    assert sorted(by_key) == ["MH01-M-Gray", "MH01-S-Black", "MH01-XS-Black"]
    assert by_key["MH01-M-Gray"]["unit_amount"] == 5400 and by_key["MH01-M-Gray"]["active"] is False
    assert by_key["MH01-XS-Black"]["metadata"]["size"] == "XS"
    assert stock == {"MH01-XS-Black": 10, "MH01-S-Black": 5, "MH01-M-Gray": 0, "24-MB01": 100}


def test_a_changed_translation_updates_metadata_only(
    engine: sa.Engine, account: str, tmp_path: Path
) -> None:
    options = ImportOptions(source="magento", account_id=account)
    import_path(engine, SMALL, options)
    edited = tmp_path / "export.csv"
    text = SMALL.read_text(encoding="utf-8")
    edited.write_text(text.replace("Chaz Känguru-Kapuzenpullover", "Chaz Kapuzenpulli"), "utf-8")
    report = import_path(engine, edited, options)
    assert report.to_json()["products"]["updated"] == 1
    assert report.to_json()["prices"]["updated"] == 0
    hoodie = product_object(engine, account, "MH01")
    assert hoodie["name"] == "Chaz Kangeroo Hoodie"
    assert hoodie["metadata"]["store_view.de.name"] == "Chaz Kapuzenpulli"


def test_prices_are_in_the_sources_currency(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        add_source(
            conn,
            account_id=account,
            name="m-eu",
            kind="magento",
            owns=frozenset(GROUPS),
            config={"currency": "eur"},
        )
    import_path(engine, REAL, ImportOptions(source="m-eu", account_id=account))
    with engine.connect() as conn:
        currencies = conn.execute(
            sa.text("SELECT DISTINCT currency FROM prices WHERE account_id = :a"), {"a": account}
        ).scalars()
        assert list(currencies) == ["eur"]


def test_the_kinds_constraint_agrees_with_the_registry(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        definition = conn.execute(
            sa.text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conname = 'sources_kind_check'"
            )
        ).scalar_one()
    allowed = {k for k in KINDS if f"'{k}'::text" in definition}
    assert allowed == set(KINDS) and definition.count("::text") == len(KINDS)
