"""A large import is planned and written in parts (plan_parts.py): a first import into an
empty account, and a re-import whose parts lead to different stored rows.

Most scenarios import the same files into two accounts, in parts of a few products and as one
plan; the reports and catalogs must be the same (ids aside), and what follows must behave the
same. The re-import scenarios at the end check when a re-import is split, and when not.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import plan_parts
from catalog_pipelines.importer import Handover, ImportOptions, ImportRefused, import_batch
from catalog_pipelines.normalized import Reject
from catalog_pipelines.store.sources import GROUPS, add_source
from tests.support.batches import batch
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import import_both_ways, import_rows
from tests.support.spilled_products import alive_at_stored_read

ROWS = [
    "P0,,Shirt,10.00,S0,5,red",
    "P1,,Hat,11.00,S1,5,blue",
    "P2,,Mug,12.00,,,green",  # no stock kept
    "P3,,Sock,not-a-price,S3,5,red",  # rejected
    "P4,,Coat,14.00,S4a,1,black",
    "P4-L,P4,Coat L,15.00,S4b,2,black",  # a variant of P4
    "P5,,Scarf,16.00,S5,5,",
    "P6,,Belt,17.00,S6,5,brown",
    "P7,,Bag,,S7,5,tan",  # no price
    "P8,,Cap,19.00,S8,5,white",
    "P9,,Tie,20.00,S9,0,navy",
    "P10,,Glove,21.00,S10,3,grey",
]


def _both(
    engine: sa.Engine,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    files: list[list[str]],
    **opts: Any,
) -> list[Any]:
    """The files imported in parts of three and as one plan."""
    ways = {
        str(n): lambda n=n: monkeypatch.setattr(plan_parts, "PART_PRODUCTS", n)
        for n in (3, 1_000_000)
    }
    return import_both_ways(engine, tmp, account, files, ways, **opts)


def test_a_first_import_in_parts_writes_what_one_plan_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    applies: list[int],
    skipped: list[int],
) -> None:
    changed = [r.replace("Hat", "Cap hat") for r in ROWS if not r.startswith("P9,")]
    first, again, edited = _both(engine, tmp_path, monkeypatch, account, [ROWS, ROWS, changed])
    # the snapshot a run in parts leaves is the one a whole run leaves: the same file again
    # skips its 10 products, the edited one all but the renamed and the removed one
    assert skipped == [0, 10, 8] * 2
    # 10 products in parts of 3: four applies; then one plan (the whole file), and one per
    # later import, for the second account
    assert len(applies) == 4 + 1 + 1 + 3
    assert first["products"]["created"] == 10
    assert first["rows_rejected"] == 1
    assert len(first["changes"]) == first["events"]
    assert again["events"] == 0
    assert edited["products"] == {"created": 0, "updated": 1, "unchanged": 8, "archived": 1}


def test_a_re_import_that_only_adds_products_is_written_in_parts_too(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    applies: list[int],
    skipped: list[int],
) -> None:
    # the second file keeps the first's products unchanged and adds six: skipping them leaves
    # nothing stored to diff the new ones against
    first, grown = _both(engine, tmp_path, monkeypatch, account, [ROWS[:6], ROWS])
    assert skipped == [0, 4] * 2
    assert len(applies) == (2 + 2) + (1 + 1)  # parts of 3: 4 products, then 6 new ones
    assert first["products"]["created"] == 4
    assert grown["products"] == {"created": 6, "updated": 0, "unchanged": 4, "archived": 0}


def test_each_part_puts_a_product_before_its_prices_and_stock(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 3)
    import_rows(engine, tmp_path, account, ROWS)
    with engine.connect() as conn:
        late = conn.execute(
            sa.text(
                "SELECT c.object_id FROM events c"
                " JOIN prices r ON r.id = c.object_id"
                " JOIN events p ON p.object_id = r.product_id AND p.type = 'product.created'"
                " WHERE c.account_id = :a AND c.type = 'price.created' AND c.sequence < p.sequence"
                " UNION ALL"
                " SELECT c.object_id FROM events c"
                " JOIN inventory_items i ON i.id = c.object_id"
                " JOIN events p ON p.object_id = i.price_id AND p.type = 'price.created'"
                " WHERE c.account_id = :a AND c.type = 'inventory_item.created'"
                " AND c.sequence < p.sequence"
            ),
            {"a": account},
        ).all()
        prices = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE account_id = :a AND type = 'price.created'"),
            {"a": account},
        ).scalar_one()
    assert prices == 10
    assert late == []


def test_a_dry_run_in_parts_reports_the_same_and_writes_nothing(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    (report,) = _both(engine, tmp_path, monkeypatch, account, [ROWS], dry_run=True)
    assert report["products"]["created"] == 10
    for acct in (f"{account}_3", f"{account}_1000000"):
        assert catalog_by_keys(engine, acct)["products"] == []


def test_a_gate_that_refuses_the_combined_plan_rolls_every_part_back(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    seen: list[dict[str, Any]] = []

    def gate(report: Any) -> str | None:
        seen.append(report.to_json())
        return "the data team said no"

    products = [{"external_id": f"G{i}", "name": f"Gadget {i}"} for i in range(7)]
    with pytest.raises(ImportRefused, match="the data team said no"):
        import_batch(
            engine, batch(products), ImportOptions(source="pim", account_id=account), gate=gate
        )
    assert len(applies) == 4  # the parts were written, then rolled back
    assert seen[0]["products"]["created"] == 7
    assert seen[0]["events"] == 21
    _assert_refused_and_nothing_stored(engine, account)


class _RejectsGate:
    """Refuses on the batch alone (a BatchGate), as a reject-rate check would."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def __call__(self, report: Any) -> str | None:
        self.reports.append(report.to_json())
        return self.judge_batch(report.batch)

    def judge_batch(self, batch: Any) -> str | None:
        return "too many rejects" if batch.rejects else None


def test_a_batch_refused_before_writing_writes_no_part_and_still_reports_the_plan(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    gate = _RejectsGate()
    products = [{"external_id": f"G{i}", "name": f"Gadget {i}"} for i in range(7)]
    bad = Reject(8, {"id": "G7", "name": ""}, ["name: a product needs a name"])
    with pytest.raises(ImportRefused, match="too many rejects") as refused:
        import_batch(
            engine,
            batch(products, rejects=[bad]),
            ImportOptions(source="pim", account_id=account),
            gate=gate,
        )
    assert applies == []  # no part was written, so none had to be rolled back
    (report,) = gate.reports  # the whole plan is still judged, and reported
    assert report["products"]["created"] == 7 and report["events"] == 21
    assert report["rows_rejected"] == 1
    assert refused.value.report.refused == "too many rejects"
    _assert_refused_and_nothing_stored(engine, account)


def test_a_reject_rate_over_the_limit_writes_no_part(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    products = [{"external_id": f"G{i}", "name": f"Gadget {i}"} for i in range(7)]
    bad = Reject(8, {"id": "G7", "name": ""}, ["name: a product needs a name"])
    options = ImportOptions(source="pim", account_id=account, max_reject_rate=0.1)
    with pytest.raises(ImportRefused, match="1 of 8 rows were rejected") as refused:
        import_batch(engine, batch(products, rejects=[bad]), options)
    assert applies == []
    assert refused.value.report.products.created == 7  # planned, reported, not written
    _assert_refused_and_nothing_stored(engine, account)
    report = import_batch(
        engine, batch(products, rejects=[bad]), replace(options, max_reject_rate=0.125)
    )
    assert applies == [1, 1, 1, 1] and report.refused is None  # 1 of 8 is within 12.5%


def test_a_batch_the_gate_lets_through_is_written_in_parts(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    products = [{"external_id": f"G{i}", "name": f"Gadget {i}"} for i in range(7)]
    options = ImportOptions(source="pim", account_id=account)
    report = import_batch(engine, batch(products), options, gate=_RejectsGate())
    assert applies == [1, 1, 1, 1] and report.refused is None
    assert len(catalog_by_keys(engine, account)["products"]) == 7


def _products(*keys: str) -> list[dict[str, Any]]:
    return [{"external_id": k, "name": f"Name of {k}"} for k in keys]


def test_a_re_import_whose_parts_touch_their_own_stored_rows_is_written_in_parts(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    options = ImportOptions(source="pim", account_id=account)
    import_batch(engine, batch(_products("A", "Z")), options)
    applies.clear()
    renamed = [{**p, "name": "New name"} for p in _products("A", "B", "C", "D", "E")]
    report = import_batch(engine, batch(renamed), replace(options, allow_mass_archive=True))
    # [A, B], [C, D], [E], then Z, which the file left out, with the rest of the stored rows
    assert applies == [1, 1, 1, 1]
    assert report.products.created == 4 and report.products.updated == 1
    assert report.products.archived == 1
    products = {p[0]: p for p in catalog_by_keys(engine, account)["products"]}
    assert products["A"][1] == "New name" and products["Z"][2] is False


def test_a_re_import_that_moves_a_variant_between_parts_is_planned_whole(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    options = ImportOptions(source="pim", account_id=account)
    import_batch(engine, batch(_products("A", "B", "C", "D", "E")), options)
    applies.clear()
    # E's variant, its price and its stock now belong to A: the parts [A, B] and [E] both
    # lead to them
    variants = [
        {"product_external_id": k, "variant_key": f"SKU-{k}", "sku": f"SKU-{k}"}
        for k in ("A", "B", "C", "D")
    ]
    variants += [
        {"product_external_id": "A", "variant_key": "SKU-E", "sku": "SKU-E"},
        {"product_external_id": "E", "variant_key": "SKU-E2", "sku": "SKU-E2"},
    ]
    for v in variants:
        v.update(currency="usd", unit_amount=1000, inventory_quantity=5)
    report = import_batch(engine, batch(_products("A", "B", "C", "D", "E"), variants), options)
    assert applies == [1]
    assert report.prices.created == 2  # SKU-E's new price, under A, and SKU-E2's
    current = {p[0]: p[1] for p in catalog_by_keys(engine, account)["prices"] if p[3] and p[5]}
    assert current["SKU-E"] == "A" and current["SKU-E2"] == "E"
    # E's default price is its own new one, not SKU-E's, which went to A with the variant
    assert_catalog_integrity(engine, account)
    with engine.connect() as conn:
        defaults = dict(
            conn.execute(
                sa.text(
                    "SELECT p.external_id, pr.lookup_key FROM products p"
                    " JOIN prices pr ON pr.id = p.default_price WHERE p.account_id = :a"
                ),
                {"a": account},
            ).all()
        )
    assert (defaults["A"], defaults["E"]) == ("SKU-A", "SKU-E2")


def test_a_large_re_import_that_touches_another_sources_products_is_screened_as_a_whole(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str, applies: list[int]
) -> None:
    """The products of a batch of more than a part wait on disk while the stored rows are
    read; when another source owns some of those rows, they are read back, and the rows that
    touch them are rejected as without parts."""
    restored: list[int] = []
    real_restore = plan_parts.restore

    def restore(batch: Any, spilled: plan_parts.Spilled) -> Any:
        restored.append(spilled.products)
        return real_restore(batch, spilled)

    monkeypatch.setattr(plan_parts, "restore", restore)
    outcomes = []
    for part in (2, 1_000_000):
        monkeypatch.setattr(plan_parts, "PART_PRODUCTS", part)
        acct = f"{account}_{part}"
        with engine.begin() as conn:
            for name in ("pim", "shop"):
                add_source(conn, account_id=acct, name=name, kind="csv", owns=frozenset(GROUPS))
        import_batch(engine, batch(_products("A", "B", "C")), ImportOptions("pim", acct))
        applies.clear()
        both = [{**p, "name": "Shop name"} for p in _products("A", "B", "C", "D", "E", "F")]
        report = import_batch(engine, batch(both), ImportOptions("shop", acct))
        outcomes.append(
            (report.to_json() | {"run_id": None}, catalog_by_keys(engine, acct), len(applies))
        )
    (in_parts, catalog, written), (whole, whole_catalog, _) = outcomes
    assert (in_parts, catalog) == (whole, whole_catalog)
    assert in_parts["rows_rejected"] == 3  # A, B and C are pim's
    assert restored == [6]  # all six read back for the screen
    # D and E, then F; then the rest, pim's A, B and C, which a full import of shop leaves be
    assert in_parts["products"]["created"] == 3 and written == 3
    names = {p[0]: p[1] for p in catalog["products"]}
    assert names["A"] == "Name of A" and names["D"] == "Shop name"


def test_a_run_in_parts_reports_its_progress_part_by_part(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    seen: list[tuple[str, float]] = []
    products = [{"external_id": f"G{i}", "name": f"Gadget {i}"} for i in range(7)]
    options = ImportOptions(source="pim", account_id=account)
    import_batch(engine, batch(products), options, progress=lambda s, f: seen.append((s, f)))
    writing = [f for step, f in seen if step == "writing"]
    assert len(writing) == 4 and writing == sorted(writing)  # one per part, never backwards
    assert seen[-1] == ("done", 1.0)


def _assert_refused_and_nothing_stored(engine: sa.Engine, account: str) -> None:
    catalog = catalog_by_keys(engine, account)
    assert catalog["products"] == [] and catalog["events"] == []
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM import_runs WHERE account_id = :a"), {"a": account}
        ).scalar_one()
    assert status == "refused"  # the run is still history


def test_a_large_re_import_lets_its_products_go_while_the_stored_rows_are_read(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
) -> None:
    """The products of a re-import larger than a part wait on disk while the account's stored
    rows are read, and nothing else holds them: neither the CLI's import of a file nor a
    caller of import_batch that hands its batch over (importer.Handover)."""
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    alive = alive_at_stored_read(monkeypatch)
    import_rows(engine, tmp_path, account, ROWS)
    renamed = [row.replace(",,", ",,New ", 1) for row in ROWS]
    report = import_rows(engine, tmp_path, account, renamed)
    assert report["products"]["updated"] == 10 and alive == [False]
    names = {p[0]: p[1] for p in catalog_by_keys(engine, account)["products"]}
    assert names["P0"] == "New Shirt"

    handed = [{**p, "name": "Handed " + p["external_id"]} for p in _products("A", "B", "C")]
    import_batch(engine, batch(_products("A", "B", "C")), ImportOptions("pim", f"{account}_h"))
    import_batch(engine, Handover(batch(handed)), ImportOptions("pim", f"{account}_h"))
    assert alive == [False, False]


def _shop_export(path: Path, price: str) -> Path:
    """A Shopify export whose products have one to four variants."""
    header = (
        "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty"
    )
    lines = [header]
    for p in range(7):
        for v in range(1 + p % 4):
            head = f"h{p},Product {p},Size" if v == 0 else f"h{p},,"
            lines.append(f"{head},S{v},H{p}-{v},{price if p == 5 else '9.00'},{v + 1}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_shop_export_is_cut_into_parts_by_its_variants_too(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part holds at most PART_PRODUCTS products and, but for a product that has more on its
    own, as many variants; the catalog is the one a single plan writes."""
    from catalog_pipelines.connectors.shopify_csv import read_shopify_csv
    from catalog_pipelines.importer import import_path

    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 3)
    first = _shop_export(tmp_path / "first.csv", "10.00")
    parsed = read_shopify_csv(first)
    cut = plan_parts.bounds(parsed.products, parsed.variants)
    assert [n for _, n in cut] == [2, 1, 1, 2, 1]  # 1+2, 3, 4, 1+2, 3 variants
    reports = {}
    for part in (3, 1_000_000):
        monkeypatch.setattr(plan_parts, "PART_PRODUCTS", part)
        account = f"acct_shop_parts_{part}"
        reports[part] = [
            import_path(
                engine, path, ImportOptions(source="shop", account_id=account), format="shopify"
            ).events
            for path in (first, _shop_export(tmp_path / "second.csv", "11.00"))
        ]
    # 7 products, 16 prices, 16 stock items; then the two prices of h5 replaced
    assert reports[3] == reports[1_000_000] == [7 + 16 + 16, 7]
    assert catalog_by_keys(engine, "acct_shop_parts_3") == catalog_by_keys(
        engine, "acct_shop_parts_1000000"
    )
