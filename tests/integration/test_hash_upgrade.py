"""A catalog written before the x3 content hash (BLAKE2b hex hashes) must survive the upgrade:
re-importing identical data writes no version and no event, and leaves current hashes."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from catalog_pipelines.content import legacy_hash_series, price_content, product_content
from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.normalized import ParsedBatch
from tests.support.batches import batch


def _products(n: int, **over: object) -> list[dict]:
    return [
        {"external_id": f"P{i}", "name": f"Product {i}", "metadata": {"brand": "Acme"}, **over}
        for i in range(n)
    ]


def _as_before_the_upgrade(engine: sa.Engine, account: str, b: ParsedBatch) -> None:
    """Store the hashes the previous release computed for the batch's content."""
    products = b.products.with_columns(
        legacy_hash_series(b.products.select(product_content()).to_series()).alias("h")
    )
    prices = b.variants.with_columns(
        legacy_hash_series(b.variants.select(price_content()).to_series()).alias("h")
    )
    with engine.begin() as conn:
        for key, h in products.select("external_id", "h").iter_rows():
            conn.execute(
                sa.text(
                    "UPDATE products SET content_hash = :h"
                    " WHERE account_id = :a AND external_id = :k"
                ),
                {"h": h, "a": account, "k": key},
            )
        for key, h in prices.select("variant_key", "h").iter_rows():
            conn.execute(
                sa.text(
                    "UPDATE prices SET content_hash = :h WHERE account_id = :a"
                    " AND variant_key = :k AND replaced_by IS NULL"
                ),
                {"h": h, "a": account, "k": key},
            )


def _state(engine: sa.Engine, account: str) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "events": conn.execute(
                sa.text("SELECT count(*) FROM events WHERE account_id = :a"), {"a": account}
            ).scalar_one(),
            "versions": conn.execute(
                sa.text(
                    "SELECT array_agg(version || updated::text ORDER BY id) FROM ("
                    " SELECT id, version, updated FROM products WHERE account_id = :a"
                    " UNION ALL SELECT id, version, updated FROM prices WHERE account_id = :a) x"
                ),
                {"a": account},
            ).scalar_one(),
            "hashes": conn.execute(
                sa.text(
                    "SELECT array_agg(content_hash ORDER BY id) FROM ("
                    " SELECT id, content_hash FROM products WHERE account_id = :a"
                    " UNION ALL SELECT id, content_hash FROM prices WHERE account_id = :a) x"
                ),
                {"a": account},
            ).scalar_one(),
        }


def test_reimport_after_the_hash_upgrade_writes_nothing_and_upgrades_hashes(
    engine: sa.Engine, account: str
) -> None:
    opts = ImportOptions(source="shop", account_id=account)
    import_batch(engine, batch(_products(5)), opts)
    current = _state(engine, account)
    _as_before_the_upgrade(engine, account, batch(_products(5)))
    legacy = _state(engine, account)
    assert all(not h.startswith("x3:") for h in legacy["hashes"])  # type: ignore[union-attr]

    report = import_batch(engine, batch(_products(5)), opts)

    assert report.events == 0
    assert report.products.unchanged == 5 and report.prices.unchanged == 5
    after = _state(engine, account)
    assert after["events"] == current["events"]
    assert after["versions"] == current["versions"]  # no version, `updated` untouched
    assert after["hashes"] == current["hashes"]  # back to the hashes a new import writes
    # and the next import compares natively, still writing nothing
    assert import_batch(engine, batch(_products(5)), opts).events == 0


def test_a_change_behind_a_legacy_hash_is_still_seen(engine: sa.Engine, account: str) -> None:
    opts = ImportOptions(source="shop", account_id=account)
    import_batch(engine, batch(_products(3)), opts)
    _as_before_the_upgrade(engine, account, batch(_products(3)))
    changed = _products(3)
    changed[1]["name"] = "Renamed"

    report = import_batch(engine, batch(changed), opts)

    assert report.products.updated == 1 and report.products.unchanged == 2
    assert report.events == 1
    with engine.connect() as conn:
        hashes = pl.DataFrame(
            conn.execute(
                sa.text("SELECT external_id, content_hash FROM products WHERE account_id = :a"),
                {"a": account},
            ).all(),
            schema=["external_id", "content_hash"],
            orient="row",
        )
    assert hashes["content_hash"].str.starts_with("x3:").all()
