"""Reverting an import run: objects it changed come back exactly as they were, objects it
created are archived, objects changed since are left alone and listed; a dry run writes
nothing; a run is reverted once. Also the CLI `imports revert`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines.cli import main
from catalog_pipelines.importer import ImportOptions, ImportReport, import_path
from catalog_pipelines.store import revert
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.inventory import adjust
from catalog_pipelines.store.revert import revert_run
from tests.support.parent_csv import import_rows

MAPPING = """\
format: csv
key: handle
currency: usd
fields:
  name: title
  description: body
  price: price
  sku: sku
  inventory_quantity: qty
"""
HEADER = "handle,title,body,price,sku,qty\n"
V1 = {
    "tee": "tee,Tee,Soft tee,19.99,TEE-1,5\n",
    "mug": "mug,Mug,Big mug,8.50,MUG-1,12\n",
    "cap": "cap,Cap,Wool cap,12.00,CAP-1,3\n",
    "hat": "hat,Hat,Sun hat,15.00,HAT-1,1\n",
    "pen": "pen,Pen,Blue pen,2.00,PEN-1,40\n",
    "cup": "cup,Cup,Tea cup,6.00,CUP-1,9\n",
}
# tee: new name, new amount (a new price) and new stock; mug: new description; cap: gone
# (archived by the full import); bag: new.
V2 = {
    **V1,
    "tee": "tee,Tee v2,Soft tee,21.00,TEE-1,7\n",
    "mug": "mug,Mug,Bigger mug,8.50,MUG-1,12\n",
    "bag": "bag,Bag,Tote bag,30.00,BAG-1,4\n",
}
del V2["cap"]

_VOLATILE = ("version", "updated")


def _write(path: Path, rows: dict[str, str]) -> Path:
    path.write_text(HEADER + "".join(rows.values()))
    return path


def _import(
    engine: sa.Engine, account: str, path: Path, mapping: Path, mode: str = "full"
) -> ImportReport:
    return import_path(
        engine,
        path,
        ImportOptions(source="sheet", account_id=account, mode=mode),  # type: ignore[arg-type]
        mapping_path=mapping,
    )


def _catalog(engine: sa.Engine, account: str) -> dict[str, dict[str, Any]]:
    """Every object of the account, Stripe-shaped, without version and updated."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for sql in (
            "SELECT product_object(p) FROM products p WHERE account_id = :a",
            "SELECT price_object(p) FROM prices p WHERE account_id = :a",
            "SELECT inventory_item_object(i) FROM inventory_items i WHERE account_id = :a",
        ):
            for (obj,) in conn.execute(sa.text(sql), {"a": account}):
                out[obj["id"]] = {k: v for k, v in obj.items() if k not in _VOLATILE}
    return out


def _by_external_id(engine: sa.Engine, account: str) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text("SELECT external_id, id FROM products WHERE account_id = :a"),
                {"a": account},
            ).all()
        )


def _event_count(engine: sa.Engine, account: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM events WHERE account_id = :a"), {"a": account}
        ).scalar_one()


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def runs(engine: sa.Engine, account: str, tmp_path: Path, mapping: Path) -> dict[str, Any]:
    """v1 imported; snapshot; v2 imported (the run to revert); then mug changed again."""
    _import(engine, account, _write(tmp_path / "v1.csv", V1), mapping)
    before = _catalog(engine, account)
    run2 = _import(engine, account, _write(tmp_path / "v2.csv", V2), mapping)
    assert run2.products.as_dict()["archived"] == 1 and run2.prices.as_dict()["created"] == 2
    mug3 = {"mug": "mug,Mug,Mug v3,8.50,MUG-1,12\n"}
    run3 = _import(engine, account, _write(tmp_path / "v3.csv", mug3), mapping, "incremental")
    assert run3.products.as_dict()["updated"] == 1
    return {"before": before, "run2": run2.run_id, "run3": run3.run_id}


# Writes go in batches of one object type (revert.WRITE_BATCH): one step per batch too.
@pytest.mark.parametrize("batch", [1, 1000], ids=["one-step-batches", "one-batch-per-type"])
def test_revert_restores_archives_and_skips(
    engine: sa.Engine,
    account: str,
    runs: dict[str, Any],
    tmp_path: Path,
    mapping: Path,
    batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(revert, "WRITE_BATCH", batch)
    ids = _by_external_id(engine, account)
    events_before = _event_count(engine, account)
    catalog_before_revert = _catalog(engine, account)

    preview = revert_run(engine, account, runs["run2"], dry_run=True).to_json()
    assert _event_count(engine, account) == events_before  # the dry run wrote nothing
    assert _catalog(engine, account) == catalog_before_revert
    restored = {(i["object_type"], i["id"]) for i in preview["restored"]}
    archived = {(i["object_type"], i["id"]) for i in preview["archived"]}
    skipped = {i["id"]: i["reason"] for i in preview["skipped"]}
    assert ("product", ids["tee"]) in restored and ("product", ids["cap"]) in restored
    assert ("product", ids["bag"]) in archived
    assert ids["mug"] in skipped and runs["run3"] in skipped[ids["mug"]]
    tee = next(i for i in preview["restored"] if i["id"] == ids["tee"])
    assert tee["fields"]["name"] == ["Tee v2", "Tee"]

    result = revert_run(engine, account, runs["run2"]).to_json()
    assert result["counts"] == preview["counts"] and result["revert_run"]
    after = _catalog(engine, account)
    before = runs["before"]
    # everything the run changed is back exactly as it was before it ...
    for key in ("tee", "cap", "hat", "pen", "cup"):
        pid = ids[key]
        assert after[pid] == before[pid], key
    # every object but the mug (changed since), prices and stock included
    for oid, obj in before.items():
        if oid != ids["mug"]:
            assert after[oid] == obj, oid
    # ... the old tee price is the current one again, with its lookup key
    tee_prices = [
        p for p in after.values() if p["object"] == "price" and p["product"] == ids["tee"]
    ]
    active = [p for p in tee_prices if p["active"]]
    assert [(p["unit_amount"], p["lookup_key"]) for p in active] == [(1999, "TEE-1")]
    assert after[ids["tee"]]["default_price"] == active[0]["id"]
    assert {p["unit_amount"] for p in tee_prices if not p["active"]} == {2100}
    # ... what it created is archived, and the mug, changed since, is as run 3 left it
    assert after[ids["bag"]]["active"] is False
    assert all(
        not p["active"]
        for p in after.values()
        if p.get("product") == ids["bag"] and p["object"] == "price"
    )
    assert after[ids["mug"]]["description"] == "Mug v3"

    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT a.delta, a.quantity_after, a.reason, a.run_id FROM inventory_adjustments a"
                " JOIN inventory_items i ON i.id = a.inventory_item_id"
                " WHERE i.account_id = :a AND i.sku = 'TEE-1' ORDER BY a.id DESC LIMIT 1"
            ),
            {"a": account},
        ).one()
        events = conn.execute(
            sa.text(
                "SELECT run_id, source, type, object_id, object_version, event_data(e) AS data"
                " FROM events e"
                " WHERE account_id = :a AND sequence > "
                "(SELECT max(sequence) FROM events WHERE run_id = :r3)"
            ),
            {"a": account, "r3": runs["run3"]},
        ).all()
        record = conn.execute(
            sa.text("SELECT mode, trigger, reverts, status FROM import_runs WHERE id = :id"),
            {"id": result["revert_run"]},
        ).one()
        reverted_by = conn.execute(
            sa.text("SELECT reverted_by FROM import_runs WHERE id = :id"), {"id": runs["run2"]}
        ).scalar_one()
    # the bag's archive, done on the server alone, reads as any other update event
    [bag_event] = [e for e in events if e.object_id == ids["bag"]]
    bag = after[ids["bag"]] | {"version": bag_event.object_version}
    assert bag_event.type == "product.updated"
    assert bag_event.data["previous_attributes"] == {"active": True}
    assert {k: v for k, v in bag_event.data["object"].items() if k != "updated"} == bag
    assert list(bag_event.data) == ["object", "previous_attributes"]
    in_order = [k for k in bag_event.data["object"] if k not in _VOLATILE]
    assert in_order == list(after[ids["bag"]])  # the key order API payloads keep
    assert (ledger.delta, ledger.quantity_after) == (-2, 5)
    assert runs["run2"] in ledger.reason and ledger.run_id == result["revert_run"]
    assert len(events) == result["events"] > 0
    assert {e.run_id for e in events} == {result["revert_run"]}
    assert {e.source for e in events} == {"sheet"}
    assert tuple(record) == ("revert", "revert", runs["run2"], "applied")
    assert reverted_by == result["revert_run"]

    with pytest.raises(Conflict, match="already reverted"):
        revert_run(engine, account, runs["run2"])
    with pytest.raises(InvalidRequest, match="itself a revert"):
        revert_run(engine, account, result["revert_run"])

    # The restored objects hash as the importer does: re-importing v1 changes only the mug
    # (changed by run 3 since) and nothing else.
    again = _import(engine, account, _write(tmp_path / "v1b.csv", V1), mapping, "incremental")
    assert again.products.as_dict() == {"created": 0, "updated": 1, "unchanged": 5, "archived": 0}
    assert again.prices.as_dict()["created"] == 0 and again.prices.as_dict()["updated"] == 0
    assert again.inventory_items.as_dict()["updated"] == 0


@pytest.mark.parametrize("recorded", [True, False], ids=["by-range", "run-without-range"])
def test_a_run_is_reverted_from_its_range_of_the_log_or_without_one(
    engine: sa.Engine, account: str, runs: dict[str, Any], recorded: bool
) -> None:
    run = runs["run2"]
    with engine.begin() as conn:
        after, through = conn.execute(
            sa.text("SELECT events_after, events_through FROM import_runs WHERE id = :r"),
            {"r": run},
        ).one()
        in_range = conn.execute(
            sa.text(
                "SELECT run_id, count(*) FROM events WHERE account_id = :a"
                " AND sequence > :after AND sequence <= :through GROUP BY run_id"
            ),
            {"a": account, "after": after, "through": through},
        ).all()
        of_run = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE run_id = :r"), {"r": run}
        ).scalar_one()
        if not recorded:  # as a run recorded before the range was
            conn.execute(
                sa.text(
                    "UPDATE import_runs SET events_after = NULL, events_through = NULL"
                    " WHERE id = :r"
                ),
                {"r": run},
            )
    assert [tuple(r) for r in in_range] == [(run, of_run)]  # the run's events, and only its
    preview = revert_run(engine, account, run, dry_run=True).to_json()
    assert preview["counts"] == {"restored": 5, "archived": 3, "skipped": 2}


def test_cli_imports_revert(
    engine: sa.Engine,
    account: str,
    runs: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    events_before = _event_count(engine, account)
    code = main(["imports", "revert", runs["run2"], "--dry-run", "--account", account])
    out = capsys.readouterr().out
    assert code == 0 and "dry run, nothing written" in out and "skip" in out
    assert _event_count(engine, account) == events_before

    code = main(["imports", "revert", runs["run2"], "--account", account, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["revert_run"] and result["counts"]["restored"] > 0
    assert _event_count(engine, account) == events_before + result["events"]

    code = main(["imports", "revert", runs["run2"], "--account", account])
    err = capsys.readouterr().err
    assert code == 3 and "already reverted" in err
    code = main(["imports", "revert", "run_nope", "--account", account])
    assert code == 2 and "no import run" in capsys.readouterr().err
    other = main(["imports", "revert", runs["run2"], "--account", "acct_default"])
    assert other == 2  # another account's run is not found


def test_stock_sold_since_the_run_is_left_alone(
    engine: sa.Engine, account: str, runs: dict[str, Any]
) -> None:
    """A sale after the import (here through the source's own webhook path) is newer than
    the run: the revert keeps it, and still restores the rest of the product."""
    with engine.begin() as conn:
        sold = adjust(
            conn, account, "TEE-1", -1, cause=Cause(request_id="req_sale"), actor_source="sheet"
        )
    assert sold["quantity"] == 6
    ids = _by_external_id(engine, account)
    result = revert_run(engine, account, runs["run2"]).to_json()
    skipped = {i["id"]: i["reason"] for i in result["skipped"]}
    assert skipped[sold["id"]].startswith("changed since the run")
    assert "req_sale" in skipped[sold["id"]]
    after = _catalog(engine, account)
    assert after[sold["id"]]["quantity"] == 6
    assert after[ids["tee"]] == runs["before"][ids["tee"]]  # name and default price back


def test_only_applied_runs_are_reverted(
    engine: sa.Engine, account: str, tmp_path: Path, mapping: Path
) -> None:
    report = import_path(
        engine,
        _write(tmp_path / "v1.csv", V1),
        ImportOptions(source="sheet", account_id=account, dry_run=True),
        mapping_path=mapping,
    )
    with pytest.raises(NotFound):  # a CLI dry run leaves no run behind
        revert_run(engine, account, report.run_id)
    applied = _import(engine, account, _write(tmp_path / "v1.csv", V1), mapping)
    with pytest.raises(NotFound):
        revert_run(engine, "acct_default", applied.run_id)  # another account's run
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE import_runs SET status = 'refused' WHERE id = :id"),
            {"id": applied.run_id},
        )
    with pytest.raises(InvalidRequest, match="only applied runs"):
        revert_run(engine, account, applied.run_id)


def _skipped(preview: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["reason"] for i in preview["skipped"]}


def _prices_of(engine: sa.Engine, account: str, product: str) -> dict[str, dict[str, Any]]:
    return {
        oid: obj
        for oid, obj in _catalog(engine, account).items()
        if obj["object"] == "price" and obj["product"] == product
    }


def test_a_product_changed_since_keeps_its_default_price(
    engine: sa.Engine, account: str, runs: dict[str, Any], tmp_path: Path, mapping: Path
) -> None:
    """The bag, created by the run, was renamed since: it stays, and so does the price it
    points at, though the run created that too. Its stock item has no archived state."""
    bag4 = {"bag": "bag,Bag v4,Tote bag,30.00,BAG-1,4\n"}
    run4 = _import(engine, account, _write(tmp_path / "v4.csv", bag4), mapping, "incremental")
    bag = _by_external_id(engine, account)["bag"]
    [price] = _prices_of(engine, account, bag)
    item = next(o["id"] for o in _catalog(engine, account).values() if o.get("sku") == "BAG-1")

    result = revert_run(engine, account, runs["run2"]).to_json()
    skipped = _skipped(result)
    assert skipped[bag].startswith("changed since the run") and run4.run_id in skipped[bag]
    assert skipped[price] == f"it is the default price of {bag}, which changed since the run"
    assert "no archived state" in skipped[item]
    after = _catalog(engine, account)
    assert after[bag]["active"] and after[bag]["default_price"] == price
    assert after[price]["active"] is True


def test_a_replaced_price_pair_is_undone_together_or_not_at_all(
    engine: sa.Engine, account: str, runs: dict[str, Any]
) -> None:
    """The tee's new price, created by the run when its amount changed, was changed since:
    the old price stays retired with it, and the tee keeps pointing at the new one, while its
    name still comes back."""
    tee = _by_external_id(engine, account)["tee"]
    prices = _prices_of(engine, account, tee)
    [new] = [p for p, obj in prices.items() if obj["active"]]
    [old] = [p for p in prices if p != new]
    with engine.begin() as conn:  # a change that left no event, as direct SQL would
        conn.execute(
            sa.text("UPDATE prices SET nickname = 'promo', version = version + 1 WHERE id = :id"),
            {"id": new},
        )

    preview = revert_run(engine, account, runs["run2"], dry_run=True).to_json()
    skipped = _skipped(preview)
    assert skipped[new].startswith("changed since the run (now version 2")
    assert skipped[old] == f"replaced price pair: {new} {skipped[new]}; the pair is left as it is"
    [restored_tee] = [i for i in preview["restored"] if i["id"] == tee]
    assert restored_tee["fields"] == {"name": ["Tee v2", "Tee"]}
    assert restored_tee["note"] == "default_price kept: the price it pointed at stays retired"

    revert_run(engine, account, runs["run2"])
    after = _catalog(engine, account)
    assert after[tee]["name"] == "Tee" and after[tee]["default_price"] == new
    assert after[new]["active"] and not after[old]["active"]


def test_the_preview_lists_the_first_objects_of_each_action_in_write_order(
    engine: sa.Engine, account: str, runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed and written in plan order: the new price gives up its lookup key and becomes
    `replaced_by` the old one before the old one is current again (unique indexes)."""
    monkeypatch.setattr(revert, "LISTED_LIMIT", 1)
    preview = revert_run(engine, account, runs["run2"], dry_run=True).to_json()
    assert preview["counts"] == {"restored": 5, "archived": 3, "skipped": 2}
    assert [len(preview[k]) for k in ("restored", "archived", "skipped")] == [1, 1, 1]
    tee = _by_external_id(engine, account)["tee"]
    [new] = [p for p, obj in _prices_of(engine, account, tee).items() if obj["active"]]
    assert preview["archived"][0]["id"] == new  # the first write of the plan
    assert preview["archived"][0]["fields"] == {
        "active": [True, False],
        "lookup_key": ["TEE-1", None],
    }


def test_an_object_deleted_since_is_listed_and_left_out(
    engine: sa.Engine, account: str, runs: dict[str, Any]
) -> None:
    """The bag's stock item, created by the run, is gone (the revert used to fail on it)."""
    with engine.begin() as conn:
        gone = conn.execute(
            sa.text(
                "DELETE FROM inventory_items WHERE account_id = :a AND sku = 'BAG-1' RETURNING id"
            ),
            {"a": account},
        ).scalar_one()
    result = revert_run(engine, account, runs["run2"]).to_json()
    assert _skipped(result)[gone] == "deleted since the run; nothing to restore"
    assert result["counts"] == {"restored": 5, "archived": 3, "skipped": 2}


def test_undoing_a_run_that_moved_a_default_price_away_gives_it_back(
    engine: sa.Engine, account: str, tmp_path: Path
) -> None:
    """An incremental run moves P1's first variant (its default price) to P3 and leaves P1
    out, so P1 takes its next price. Undoing the run puts the variant, its price and P1's
    default back as they were, and archives the price the run made."""
    first = [
        "V1,P1,Product 1 large,19.00,S1L,3,blue",
        "P1,,Product 1,11.00,S1,5,red",
        "P3,,Product 3,13.00,S3,5,red",
    ]
    import_rows(engine, tmp_path, account, first)
    before = _catalog(engine, account)
    moved = import_rows(
        engine,
        tmp_path,
        account,
        ["P3,,Product 3,13.00,S3,5,red", "V1,P3,Product 1 large,19.00,S1L,3,blue"],
        mode="incremental",
    )
    p1 = _by_external_id(engine, account)["P1"]
    [own] = [i for i, o in before.items() if o.get("lookup_key") == "S1"]
    assert _catalog(engine, account)[p1]["default_price"] == own
    assert ("product", "P1", "updated", ["default_price"]) in moved["changes"]

    with engine.connect() as conn:
        run = conn.execute(
            sa.text("SELECT id FROM import_runs WHERE account_id = :a ORDER BY started DESC"),
            {"a": account},
        ).first()
    assert run is not None
    revert_run(engine, account, run[0])
    after = _catalog(engine, account)
    # nothing is deleted: the price the run made under P3 stays, archived
    [made] = set(after) - set(before)
    assert after.pop(made)["active"] is False
    assert after == before
