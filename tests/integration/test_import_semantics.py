"""docs/import-semantics.md import semantics, against a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, ImportRefused, import_batch
from catalog_pipelines.normalized import InputError, ParsedBatch, Reject
from catalog_pipelines.store.revert import revert_run
from catalog_pipelines.store.sources import add_source
from tests.support.batches import batch
from tests.support.integrity import assert_catalog_integrity


@pytest.fixture(autouse=True)
def _integrity_after_each_test(engine: sa.Engine, account: str):  # type: ignore[no-untyped-def]
    yield
    assert_catalog_integrity(engine, account)


def _products(n: int, **over: object) -> list[dict]:
    return [
        {"external_id": f"P{i}", "name": f"Product {i}", "metadata": {"brand": "Acme"}, **over}
        for i in range(n)
    ]


def _count(engine: sa.Engine, table: str, account: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE account_id = :a"), {"a": account}
        ).scalar_one()


def _opts(account: str, **kw: object) -> ImportOptions:
    return ImportOptions(source="shop", account_id=account, **kw)  # type: ignore[arg-type]


def test_initial_import_creates_everything_with_events(engine: sa.Engine, account: str) -> None:
    report = import_batch(engine, batch(_products(3)), _opts(account))
    out = report.to_json()
    assert out["products"] == {"created": 3, "updated": 0, "unchanged": 0, "archived": 0}
    assert out["prices"]["created"] == 3
    assert out["inventory_items"]["created"] == 3
    assert out["events"] == 9
    assert "created as a mirror source" in out["warnings"][0]
    assert _count(engine, "events", account) == 9
    with engine.connect() as conn:
        types = (
            conn.execute(
                sa.text("SELECT type FROM events WHERE account_id = :a ORDER BY sequence"),
                {"a": account},
            )
            .scalars()
            .all()
        )
        prod = conn.execute(
            sa.text(
                "SELECT product_object(p) FROM products p WHERE account_id = :a AND external_id = 'P0'"
            ),
            {"a": account},
        ).scalar_one()
        ledger = conn.execute(
            sa.text("SELECT kind, quantity_after FROM inventory_adjustments WHERE account_id = :a"),
            {"a": account},
        ).all()
    assert types[:3] == ["product.created"] * 3  # products before the prices that point at them
    assert prod["default_price"].startswith("price_")
    assert prod["metadata"] == {"brand": "Acme"}
    assert {(k, q) for k, q in ledger} == {("initial", 5)}


def test_reimport_of_identical_data_writes_nothing(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch(_products(4)), _opts(account))
    before = _count(engine, "events", account)
    report = import_batch(engine, batch(_products(4)), _opts(account))
    assert report.products.unchanged == 4 and report.prices.unchanged == 4
    assert report.inventory_items.unchanged == 4
    assert report.events == 0
    assert _count(engine, "events", account) == before


def test_update_records_version_and_previous_attributes(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch(_products(2)), _opts(account))
    changed = _products(2)
    changed[1]["name"] = "Renamed"
    report = import_batch(engine, batch(changed), _opts(account))
    assert report.products.updated == 1 and report.products.unchanged == 1
    assert report.changes[0]["fields"] == {"name": ["Product 1", "Renamed"]}
    with engine.connect() as conn:
        ev = conn.execute(
            sa.text(
                "SELECT type, object_version, event_data(e) AS data FROM events e WHERE account_id = :a"
                " ORDER BY sequence DESC LIMIT 1"
            ),
            {"a": account},
        ).one()
    assert ev.type == "product.updated" and ev.object_version == 2
    assert ev.data["previous_attributes"] == {"name": "Product 1"}
    assert ev.data["object"]["name"] == "Renamed"


def test_price_change_creates_new_price_and_moves_lookup_key(
    engine: sa.Engine, account: str
) -> None:
    import_batch(engine, batch([{"external_id": "A", "name": "A", "_price": 1000}]), _opts(account))
    report = import_batch(
        engine, batch([{"external_id": "A", "name": "A", "_price": 1200}]), _opts(account)
    )
    assert report.prices.created == 1 and report.prices.archived == 1
    assert report.products.updated == 1  # default_price follows
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, active, unit_amount, lookup_key, replaced_by FROM prices"
                " WHERE account_id = :a ORDER BY pk"
            ),
            {"a": account},
        ).all()
        default_price = conn.execute(
            sa.text("SELECT default_price FROM products WHERE account_id = :a"), {"a": account}
        ).scalar_one()
        inv_price = conn.execute(
            sa.text("SELECT price_id FROM inventory_items WHERE account_id = :a"), {"a": account}
        ).scalar_one()
    old, new = rows
    assert (old.active, old.unit_amount, old.lookup_key, old.replaced_by) == (
        False,
        1000,
        None,
        new.id,
    )
    assert (new.active, new.unit_amount, new.lookup_key) == (True, 1200, "SKU-A")
    assert default_price == new.id and inv_price == new.id


def test_skus_swapped_between_two_variants_move_their_lookup_keys(
    engine: sa.Engine, account: str
) -> None:
    """A SKU is its price's lookup key, which is unique: the file may hand each of two
    variants the other's SKU (or pass SKUs along a chain) in one import."""

    def variants(skus: dict[str, str]) -> list[dict[str, object]]:
        return [
            {
                "product_external_id": product,
                "variant_key": f"V-{product}",
                "sku": sku,
                "currency": "usd",
                "unit_amount": 1000,
                "inventory_quantity": 5,
            }
            for product, sku in skus.items()
        ]

    products = [{"external_id": k, "name": k} for k in ("A", "B", "C")]
    import_batch(
        engine, batch(products, variants({"A": "S1", "B": "S2", "C": "S3"})), _opts(account)
    )
    swapped = variants({"A": "S2", "B": "S1", "C": "S4"})
    report = import_batch(engine, batch(products, swapped), _opts(account))
    assert report.prices.updated == 3 and report.prices.created == 0
    with engine.connect() as conn:
        keys = conn.execute(
            sa.text(
                "SELECT r.variant_key, r.lookup_key, r.version FROM prices r"
                " WHERE r.account_id = :a ORDER BY 1"
            ),
            {"a": account},
        ).all()
        events = conn.execute(
            sa.text(
                "SELECT event_previous_attributes(e) ->> 'lookup_key' FROM events e"
                " WHERE account_id = :a AND type = 'price.updated' ORDER BY object_id"
            ),
            {"a": account},
        ).scalars()
        old_keys = sorted(events)
    assert [tuple(k) for k in keys] == [("V-A", "S2", 2), ("V-B", "S1", 2), ("V-C", "S4", 2)]
    assert old_keys == ["S1", "S2", "S3"]  # each event names the key its price had


def test_a_sku_an_archived_price_still_holds_is_refused_by_name(
    engine: sa.Engine, account: str
) -> None:
    """An archived price keeps its SKU as its lookup key. A new variant of another key that
    takes that SKU is bad input, named with its file, row and SKU; nothing is written."""

    def one(product: str) -> ParsedBatch:
        variant = {
            "product_external_id": product,
            "variant_key": f"V-{product}",
            "sku": "S9",
            "currency": "usd",
            "unit_amount": 1000,
            "inventory_quantity": 5,
        }
        return batch([{"external_id": product, "name": product}], [variant], name="shop.csv")

    import_batch(engine, one("Z"), _opts(account))
    with pytest.raises(InputError, match=r"shop.csv: row 1: sku 'S9' is the lookup key of"):
        import_batch(engine, one("A"), _opts(account, allow_mass_archive=True))
    with engine.connect() as conn:
        products = conn.execute(
            sa.text("SELECT external_id, active FROM products WHERE account_id = :a"),
            {"a": account},
        ).all()
    assert [tuple(r) for r in products] == [("Z", True)]


def test_the_sku_of_a_product_the_file_dropped_goes_to_the_product_that_took_it(
    engine: sa.Engine, account: str
) -> None:
    """A shop deletes product Z and makes A with Z's SKU. Every connector keys a variant by
    its SKU, so the import sees Z's variant move to A: Z's price is retired (its lookup key
    let go, replaced_by A's) and the SKU's stock item follows. Reverting gives it back."""

    def one(product: str) -> ParsedBatch:
        variant = {
            "product_external_id": product,
            "variant_key": "S9",  # the SKU, as every connector makes it
            "sku": "S9",
            "currency": "usd",
            "unit_amount": 1000,
            "inventory_quantity": 5,
        }
        return batch([{"external_id": product, "name": product}], [variant], name="shop.csv")

    def prices() -> list[tuple]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT p.external_id, r.active, r.lookup_key, r.replaced_by IS NOT NULL"
                    " FROM prices r JOIN products p ON p.id = r.product_id"
                    " WHERE r.account_id = :a ORDER BY 1"
                ),
                {"a": account},
            ).all()
        return [tuple(r) for r in rows]

    import_batch(engine, one("Z"), _opts(account))
    moved = import_batch(engine, one("A"), _opts(account, allow_mass_archive=True))
    assert (moved.prices.created, moved.prices.archived, moved.products.archived) == (1, 1, 1)
    assert prices() == [("A", True, "S9", False), ("Z", False, None, True)]
    with engine.connect() as conn:
        stock = conn.execute(
            sa.text(
                "SELECT p.external_id FROM inventory_items i JOIN products p ON p.id = i.product_id"
                " WHERE i.account_id = :a"
            ),
            {"a": account},
        ).scalar_one()
    assert stock == "A"
    revert_run(engine, account, moved.run_id)
    assert prices() == [("A", False, None, True), ("Z", True, "S9", False)]


def test_full_mode_archives_missing_and_incremental_does_not(
    engine: sa.Engine, account: str
) -> None:
    import_batch(engine, batch(_products(10)), _opts(account))
    inc = import_batch(engine, batch(_products(9)), _opts(account, mode="incremental"))
    assert inc.products.archived == 0
    full = import_batch(engine, batch(_products(9)), _opts(account))
    assert full.products.archived == 1 and full.prices.archived == 1
    with engine.connect() as conn:
        active = conn.execute(
            sa.text("SELECT active FROM products WHERE account_id = :a AND external_id = 'P9'"),
            {"a": account},
        ).scalar_one()
    assert active is False
    back = import_batch(engine, batch(_products(10)), _opts(account))
    assert back.products.updated == 1 and back.prices.updated == 1  # reactivated, same amount


def test_mass_archive_guard_refuses_and_writes_nothing(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch(_products(10)), _opts(account))
    events = _count(engine, "events", account)
    with pytest.raises(ImportRefused, match="would archive 5 of 10"):
        import_batch(engine, batch(_products(5)), _opts(account))
    assert _count(engine, "events", account) == events
    with engine.connect() as conn:
        status = conn.execute(
            sa.text(
                "SELECT status FROM import_runs WHERE account_id = :a ORDER BY started DESC LIMIT 1"
            ),
            {"a": account},
        ).scalar_one()
    assert status == "refused"
    allowed = import_batch(engine, batch(_products(5)), _opts(account, allow_mass_archive=True))
    assert allowed.products.archived == 5


def test_empty_file_never_archives(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch(_products(3)), _opts(account))
    report = import_batch(engine, batch([]), _opts(account))
    assert report.products.archived == 0 and report.events == 0
    assert any("never archives" in w for w in report.warnings)


def test_dry_run_reports_the_diff_and_writes_nothing(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch(_products(3)), _opts(account))
    events = _count(engine, "events", account)
    changed = _products(2)
    changed[0]["description"] = "new text"
    report = import_batch(engine, batch(changed), _opts(account, dry_run=True))
    assert report.dry_run and report.products.updated == 1 and report.products.archived == 1
    actions = {(c["object_type"], c["action"]) for c in report.changes}
    assert ("product", "updated") in actions and ("product", "archived") in actions
    upd = next(c for c in report.changes if c["action"] == "updated")
    assert upd["fields"]["description"] == [None, "new text"]
    assert _count(engine, "events", account) == events
    assert _count(engine, "import_runs", account) == 1


def test_rejects_are_stored_with_the_run(engine: sa.Engine, account: str) -> None:
    rej = [
        Reject(row_number=7, raw={"price": "abc"}, reasons=["price: 'abc' is not a decimal amount"])
    ]
    report = import_batch(engine, batch(_products(2), rejects=rej), _opts(account))
    assert report.rows_read == 3 and report.rows_valid == 2 and report.rows_rejected == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT row_number, raw, reasons FROM rejected_rows WHERE run_id = :r"),
            {"r": report.run_id},
        ).one()
    assert row.row_number == 7 and row.reasons == ["price: 'abc' is not a decimal amount"]


def test_ownership_groups_hybrid_source(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        add_source(conn, account_id=account, name="pim", kind="csv", owns={"content"})
    pim = ImportOptions(source="pim", account_id=account)
    first = import_batch(engine, batch(_products(2)), pim)
    # a new SKU's stock is seeded from the file; prices are not the PIM's to set
    assert first.products.created == 2 and first.inventory_items.created == 2
    assert first.prices.created == 0 and first.ignored_not_owned == 2
    again = _products(2, name="PIM name")
    for p in again:
        p["_qty"] = 99
    report = import_batch(engine, batch(again), pim)
    assert report.products.updated == 2
    assert report.inventory_items.updated == 0 and report.ignored_not_owned == 4
    with engine.connect() as conn:
        qty = (
            conn.execute(
                sa.text("SELECT quantity FROM inventory_items WHERE account_id = :a"),
                {"a": account},
            )
            .scalars()
            .all()
        )
    assert qty == [5, 5]


def test_catalog_mode_source_changes_nothing_it_does_not_own(
    engine: sa.Engine, account: str
) -> None:
    import_batch(engine, batch(_products(1)), _opts(account))
    with engine.begin() as conn:
        add_source(conn, account_id=account, name="shop", kind="csv", owns=set())
    report = import_batch(engine, batch(_products(1, name="X", _price=5)), _opts(account))
    assert report.events == 0 and report.ignored_not_owned == 2


def test_full_import_does_not_archive_what_a_rejected_row_names(
    engine: sa.Engine, account: str
) -> None:
    import_batch(engine, batch(_products(10)), _opts(account))
    bad = [Reject(row_number=10, raw={"external_id": "P9", "price": "x"}, reasons=["price: 'x'"])]
    report = import_batch(engine, batch(_products(9), rejects=bad), _opts(account))
    assert report.products.archived == 0 and report.prices.archived == 0


def test_product_events_precede_the_prices_that_point_at_them(
    engine: sa.Engine, account: str
) -> None:
    import_batch(engine, batch(_products(30)), _opts(account))
    with engine.connect() as conn:
        kinds = (
            conn.execute(
                sa.text("SELECT object_type FROM events WHERE account_id = :a ORDER BY sequence"),
                {"a": account},
            )
            .scalars()
            .all()
        )
    assert kinds == ["product"] * 30 + ["price"] * 30 + ["inventory_item"] * 30


@pytest.mark.parametrize(
    ("table", "fn"),
    [
        ("products", "product_object"),
        ("prices", "price_object"),
        ("inventory_items", "inventory_item_object"),
    ],
)
def test_created_events_carry_exactly_the_stored_object(
    engine: sa.Engine, account: str, table: str, fn: str
) -> None:
    """A created event, whose object is built when read (sql/0009), equals the SQL
    definition of the row."""
    products = _products(3)
    products[0]["metadata"] = {'quote"s': "line\nbreak", "é": "ü", "empty": None}
    products[1]["images"] = ["https://a/1.jpg", "https://a/2.jpg"]
    products[2]["description"] = None
    import_batch(engine, batch(products), _opts(account))
    with engine.connect() as conn:
        pairs = conn.execute(
            sa.text(
                f"SELECT {fn}(t) AS stored, event_data(e) -> 'object' AS evented FROM {table} t"
                " JOIN events e ON e.object_id = t.id AND e.object_version = t.version"
                " WHERE t.account_id = :a"
            ),
            {"a": account},
        ).all()
    assert len(pairs) == 3
    for stored, evented in pairs:
        assert evented == stored


def test_keys_with_commas_quotes_and_newlines_round_trip(engine: sa.Engine, account: str) -> None:
    """Stored keys come back through a CSV text; awkward keys must still match (no-op)."""
    odd = [{"external_id": k, "name": k} for k in ["a,b", 'say "hi"', "two\nlines", " pad ", ""]]
    first = import_batch(engine, batch(odd), _opts(account))
    assert first.products.created == 5
    again = import_batch(engine, batch(odd), _opts(account))
    assert again.events == 0 and again.products.unchanged == 5
