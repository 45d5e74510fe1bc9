"""Skipping unchanged products (fingerprints.py) never changes an import's outcome.

Each scenario runs twice, in two accounts: once with skipping off and once with it on, its
files written as CSV or, in two of the readings, as the same rows in JSON Lines. The
reports and the resulting catalogs must be identical (ids aside), and the second run must
really have skipped where it could.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from catalog_pipelines import fingerprints, piece_prints, plan_parts, skip_unchanged
from catalog_pipelines.connectors import csv_pieces, generic
from catalog_pipelines.connectors.generic import jsonl_skip, kept_rows
from catalog_pipelines.fingerprints import KEY
from catalog_pipelines.importer import ImportOptions, ImportRefused, import_path
from catalog_pipelines.store import imports as store_imports
from catalog_pipelines.store import snapshots, stored_parts
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.inventory import adjust
from catalog_pipelines.store.sources import add_source, get_source
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import HEADER, MAPPING


def _rows(n: int, **over: dict[int, str]) -> str:
    lines = [HEADER]
    for i in range(n):
        cells = {
            "id": f"P{i}",
            "parent": "",
            "name": f"Product {i}",
            "price": f"{10 + i}.00",
            "sku": f"S{i}",
            "qty": "5",
            "color": "red",
        }
        for column, values in over.items():
            if i in values:
                cells[column] = values[i]
        lines.append(",".join(cells[c] for c in HEADER.split(",")))
    return "\n".join(lines) + "\n"


Step = Callable[[sa.Engine, str, Path], dict[str, Any] | None]


def _as_jsonl(text: str) -> str:
    """The CSV `text` as JSON Lines, a record per row, the header's names as keys. A row with
    a field too many becomes a record the reader refuses, with a reserved key."""
    header, *rows = csv.reader(io.StringIO(text))
    lines = []
    for row in rows:
        record = dict(zip(header, row, strict=False))
        if len(row) > len(header):
            record["row_number"] = row[len(header)]
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def _import(text: str, *, source: str = "pim", **options: Any) -> Step:
    def step(engine: sa.Engine, account: str, tmp: Path) -> dict[str, Any] | None:
        fmt = _FORMAT
        path = tmp / f"{account}-{abs(hash(text))}.{fmt}"
        path.write_text(_as_jsonl(text) if fmt == "jsonl" else text)
        mapping = tmp / "m.yaml"
        mapping.write_text(MAPPING.replace("format: csv", f"format: {fmt}"))
        opts = ImportOptions(source=source, account_id=account, **options)
        try:
            report = import_path(engine, path, opts, format=fmt, mapping_path=mapping)
        except ImportRefused as e:
            return {"refused": str(e)}
        out = report.to_json()
        out.pop("run_id")
        out["rejects"] = [(r.row_number, r.reasons) for r in report.rejects]
        # sorted: a plan in parts lists each part's changes in turn
        out["changes"] = sorted(
            (c["object_type"], c["key"], c["action"], sorted(c["fields"])) for c in report.changes
        )
        return out

    return step


def _adjust(sku: str, delta: int) -> Step:
    def step(engine: sa.Engine, account: str, tmp: Path) -> None:
        with engine.begin() as conn:
            # the owner's own push (an order system acting for the source), not an import
            cause = Cause(source="pim", request_id="req_test")
            adjust(conn, account, sku, delta, reason="sale", cause=cause, actor_source="pim")

    return step


# Which run of a scenario plans in parts of two products (plan_parts.py): the one with
# skipping on (True), off (False), or neither (None). The other plans whole.
_IN_PARTS: bool | None = None
# (chunks, products) of each batch the kept rows were mapped for, with "chunked-mapping".
_CHUNKED: list[tuple[int, int]] = []
# The format the scenarios' files are written in: the CSV, or the same rows as JSON Lines.
_FORMAT = "csv"
JSONL = ":jsonl"  # a reading's suffix: the same, with the files written as JSON Lines


@pytest.fixture(
    autouse=True,
    params=[
        "whole-pieces",
        # slow: the readings of the reader's own ways are not run again on PostgreSQL 15 in
        # CI, where the store is what differs
        pytest.param("tiny-pieces", marks=pytest.mark.slow),
        pytest.param("chunked-mapping", marks=pytest.mark.slow),
        "whole-account-read",
        "in-parts-without-skipping",
        "in-parts-with-skipping",
        pytest.param("whole-pieces" + JSONL, marks=pytest.mark.slow),
        pytest.param("chunked-mapping" + JSONL, marks=pytest.mark.slow),
        "in-parts-found-on-server",
    ],
)
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every scenario again with the file read in pieces of a row or two, so that products,
    rejects and variants straddle pieces, and the pieces' prints are split by key range a few
    pieces at a time; again so, with the kept rows on disk past two rows and mapped a few
    rows at a time where their identifiers allow it (mapping/chunks.py); again with the stored rows the processed keys lead to taken from a
    read of the whole account (stored_reach.py), as for a file that changes most products;
    and three times more with one of the two runs planned and written in parts of two
    products, as a re-import of more than a part is, against the other one planned whole: the
    parts' stored rows found on the server (store/stored_parts.py) without skipping, and with
    it (as for a file that changes most products), or among those its keys lead to."""
    reading = str(request.param).removesuffix(JSONL)
    monkeypatch.setitem(globals(), "_FORMAT", "jsonl" if reading != request.param else "csv")
    if reading in ("tiny-pieces", "chunked-mapping"):
        monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 48)
        monkeypatch.setattr(piece_prints, "SPLIT_ROWS", 3)
    _CHUNKED.clear()
    if reading == "chunked-mapping":
        monkeypatch.setattr(kept_rows, "CHUNK_ROWS", 2)
        real = kept_rows.map_in_chunks

        def counted(chunks: Any, *args: Any, each: Any = None, **kw: Any) -> Any:
            chunks = list(chunks)
            products = []  # of each chunk, when each is validated as it is mapped

            def counting(part: Any) -> None:
                products.append(part.products.height)
                each(part)

            batch = real(iter(chunks), *args, each=each and counting, **kw)
            _CHUNKED.append((len(chunks), sum(products) if each else batch.products.height))
            return batch

        monkeypatch.setattr(kept_rows, "map_in_chunks", counted)
    if reading in ("whole-account-read", "in-parts-found-on-server"):
        monkeypatch.setattr(store_imports, "WHOLE_READ_MIN_PRODUCTS", 1)
        monkeypatch.setattr(store_imports, "WHOLE_READ_SHARE", 0.0)
    if reading.startswith("in-parts-"):
        monkeypatch.setitem(globals(), "_IN_PARTS", reading != "in-parts-without-skipping")
    return reading


def _run_both(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    steps: list[Step],
    setup: Callable[[sa.Engine, str], None] | None = None,
) -> list[dict[str, Any] | None]:
    results: dict[bool, list[Any]] = {}
    catalogs = {}
    for enabled in (False, True):
        acct = f"{account}_{'skip' if enabled else 'full'}"
        monkeypatch.setenv(skip_unchanged.ENV, "1" if enabled else "0")
        in_parts = _IN_PARTS is enabled
        monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2 if in_parts else 1_000_000)
        if setup is not None:
            setup(engine, acct)
        results[enabled] = [step(engine, acct, tmp_path) for step in steps]
        catalogs[enabled] = catalog_by_keys(engine, acct)
        assert_catalog_integrity(engine, acct)
    assert results[True] == results[False]
    assert catalogs[True] == catalogs[False]
    return results[True]


def test_identical_and_slightly_changed_files_skip_what_did_not_move(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    base = _rows(20)
    renamed = _rows(20, name={3: "Renamed", 7: "Also renamed"})
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(base), _import(base), _import(renamed), _import(renamed), _import(base)],
    )
    assert out[1] is not None and out[1]["events"] == 0
    assert out[2] is not None and out[2]["products"]["updated"] == 2
    assert out[2]["events"] == 2
    # the runs with skipping on: nothing to skip at first, then all, all but two, all, all but two
    assert skipped[-5:] == [0, 20, 18, 20, 18]


def test_a_re_import_that_changes_most_products_is_diffed_the_same(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    skipped: list[int],
    reading: str,
) -> None:
    """Most products renamed, one dropped, one new: in parts with skipping, each part's stored
    rows are found on the server among those of the account, and the rest is what the
    dropped product leads to (a full import archives it)."""
    found: list[bool] = []  # for each lookup on the server: whether it had keys of no part
    real = stored_parts.Found

    def spy(conn: sa.Connection, account_id: str, parts: Any, others: Any) -> Any:
        found.append(others is not None)
        return real(conn, account_id, parts, others)

    monkeypatch.setattr(stored_parts, "Found", spy)
    base = _rows(12)
    renamed = _rows(13, name={i: f"Renamed {i}" for i in range(1, 11)})
    renamed = "".join(line for line in renamed.splitlines(True) if not line.startswith("P11,"))
    out = _run_both(engine, tmp_path, monkeypatch, account, [_import(base), _import(renamed)])
    assert out[1] is not None and out[1]["products"]["updated"] == 10
    assert out[1]["products"]["created"] == 1 and out[1]["products"]["archived"] == 1
    assert skipped[-2:] == [0, 1]  # P0 alone is skipped
    if reading == "in-parts-found-on-server":
        assert True in found  # with skipping, and the keys of no part
    if reading == "in-parts-without-skipping":
        assert found and not any(found)


def test_a_snapshot_stored_in_several_key_ranges_skips_the_same(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """A snapshot larger than a chunk is split in key ranges, each read and decided on its
    own (on disk between): the next imports skip exactly what they skip with one."""
    monkeypatch.setattr(snapshots, "CHUNK_ROWS", 3)
    base = _rows(20)
    renamed = _rows(20, name={3: "Renamed", 19: "Also renamed"})
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(base), _import(renamed), _import(base), _import(base)],
    )
    assert out[1] is not None and out[1]["products"]["updated"] == 2
    assert out[3] is not None and out[3]["events"] == 0
    assert skipped[-4:] == [0, 18, 18, 20]
    with engine.connect() as conn:
        chunks = conn.execute(
            sa.text(
                "SELECT key_range, products, data FROM import_snapshot_chunks"
                " WHERE account_id = :a ORDER BY chunk"
            ),
            {"a": f"{account}_skip"},
        ).all()
        header = conn.execute(
            sa.text("SELECT products, key_ranges FROM import_snapshots WHERE account_id = :a"),
            {"a": f"{account}_skip"},
        ).one()
    assert tuple(header) == (20, 7)  # a range per 3 keys
    keys: list[str] = []
    for key_range, products, data in chunks:
        frame = pl.read_ipc(io.BytesIO(data))
        assert 0 < frame.height == products <= 3
        assert frame.select(
            fingerprints.key_range(pl.col(KEY), 7)
        ).to_series().unique().to_list() == [key_range]
        keys += frame[KEY].to_list()
    assert sorted(keys) == sorted(f"P{i}" for i in range(20))


def test_stock_sold_through_the_api_is_reset_by_a_mirror_import(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    base = _rows(10)
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(base), _adjust("S4", -2), _import(base), _import(base)],
    )
    assert out[2] is not None and out[2]["inventory_items"]["updated"] == 1
    assert skipped[-3:] == [0, 9, 10]  # the product whose stock moved is read again


def test_missing_rows_are_archived_and_come_back(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    base = _rows(10)
    shorter = "\n".join(base.splitlines()[:-1]) + "\n"  # P9 gone
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(base), _import(shorter), _import(shorter), _import(base)],
    )
    assert out[1] is not None and out[1]["products"]["archived"] == 1
    assert out[3] is not None and out[3]["products"]["updated"] == 1
    assert skipped[-4:] == [0, 9, 9, 9]


@pytest.mark.parametrize("reading", ["whole-pieces", "tiny-pieces"], indirect=True)
def test_a_file_with_a_header_only_archives_nothing(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """No rows to compare with the snapshot's prints: the run changes nothing, as the full
    path's (an empty file never archives), and the next run of the whole file neither."""
    base = _rows(4)
    header_only = base.splitlines(True)[0]
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(base), _import(header_only), _import(base)],
    )
    assert out[1] is not None and out[1]["products"]["archived"] == 0
    assert out[2] is not None and out[2]["events"] == 0


def test_a_sku_moved_to_a_new_product_is_diffed_against_everything(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    base = _rows(5)
    # P5 is new and claims P2's SKU while P2's row is unchanged: the full path decides.
    moved = base + "P5,,Product 5,15.00,S2,5,red\n"
    _run_both(engine, tmp_path, monkeypatch, account, [_import(base), _import(moved)])
    assert skipped[-1] == 0  # fell back to the full path
    # again with most products renamed (in parts: their stored rows found on the server)
    renamed = _rows(5, name={0: "R0", 1: "R1", 3: "R3", 4: "R4"})
    moved = renamed + "P5,,Product 5,15.00,S2,5,red\n"
    steps = [_import(base), _import(moved)]
    _run_both(engine, tmp_path, monkeypatch, f"{account}_most", steps)
    assert skipped[-1] == 0


def test_the_sku_of_a_dropped_product_goes_to_the_new_one_the_same_way(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """P5 leaves the file and P9 comes with its SKU, then P8 takes it from P9: the variant
    (keyed by its SKU) moves each time, its old price retired, in every reading."""
    base = _rows(6)
    lines = base.splitlines(True)
    swapped = "".join(lines[:-1]) + "P9,,Product 9,19.00,S5,5,red\n"
    again = "".join(lines[:-1]) + "P8,,Product 8,18.00,S5,5,red\n"
    steps = [_import(base)] + [_import(f, allow_mass_archive=True) for f in (swapped, again)]
    out = _run_both(engine, tmp_path, monkeypatch, account, steps)
    for moved in out[1:]:
        assert moved is not None and "refused" not in moved
        assert (moved["prices"]["created"], moved["prices"]["archived"]) == (1, 1)
        assert ("price", "S5", "archived", ["active", "lookup_key"]) in moved["changes"]


def test_rejected_rows_and_variants_behave_the_same(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    with_variants = _rows(6) + "V1,P1,Product 1 large,19.00,S1L,3,blue\nV2,P1,,oops,S1M,1,blue\n"
    repriced = with_variants.replace("19.00", "21.00")
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(with_variants), _import(with_variants), _import(repriced)],
    )
    assert out[1] is not None and out[1]["rows_rejected"] == 1
    assert out[2] is not None and out[2]["prices"]["created"] == 1  # a new amount is a new price
    assert skipped[-3:] == [0, 5, 5]  # P1 has a rejected row: always processed


def test_incremental_mode_and_a_changed_source_are_other_rules(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    base = _rows(8)

    def erp_claims_stock(engine: sa.Engine, acct: str, tmp: Path) -> None:
        with engine.begin() as conn:
            add_source(conn, account_id=acct, name="erp", kind="csv", owns=frozenset({"inventory"}))

    _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [
            _import(base),
            _import(base, mode="incremental"),
            _import(base, mode="incremental"),
            erp_claims_stock,
            _import(base, mode="incremental"),
        ],
    )
    assert skipped[-4:] == [0, 0, 8, 0]


def test_a_source_pointed_at_another_file_keeps_its_snapshot(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """Redefining a source only in where its input lives (its path, its feed's URL) leaves
    its snapshot good; redefining what it owns does not."""
    base = _rows(8)

    def redefine(**change: Any) -> Step:
        def step(engine: sa.Engine, acct: str, tmp: Path) -> None:
            with engine.begin() as conn:
                pim = get_source(conn, acct, "pim")
                assert pim is not None
                definition = {"kind": pim.kind, "owns": pim.owns, "mapping": pim.mapping}
                definition["config"] = pim.config
                add_source(conn, account_id=acct, name="pim", **{**definition, **change})

        return step

    _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [
            _import(base),
            redefine(config={"path": str(tmp_path / "next-month.csv")}),
            _import(base),
            redefine(config={"url": "https://shop.example/feed.json"}),
            _import(base),
            redefine(owns=frozenset({"content", "pricing"})),
            _import(base),
        ],
    )
    assert skipped[-4:] == [0, 8, 8, 0]


def test_a_product_over_stripes_limits_is_skipped_and_its_warning_still_reported(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """The snapshot keeps what broke the limits, so the warning comes back with the product
    skipped, at the row it is on now: a product inserted above moves P2 from row 3 to 4."""
    loud = _rows(5, color={2: "x" * 600})  # over Stripe's 500 characters for a metadata value
    header, first, rest = loud.split("\n", 2)
    moved = "\n".join([header, first, "PX,,Product X,9.00,SX,5,red", rest])
    out = _run_both(
        engine, tmp_path, monkeypatch, account, [_import(loud), _import(loud), _import(moved)]
    )
    assert out[1] is not None and out[2] is not None
    assert [w for w in out[1]["warnings"] if "500" in w] == [
        w.replace("(row 4)", "(row 3)") for w in out[2]["warnings"] if "500" in w
    ]
    assert any("'P2' (row 4)" in w for w in out[2]["warnings"])
    assert skipped[-3:] == [0, 5, 5]


# the ways that decide a file whole, a key range at a time, and in parts
@pytest.mark.parametrize(
    "reading",
    [
        "whole-pieces",
        pytest.param("tiny-pieces", marks=pytest.mark.slow),
        "in-parts-with-skipping",
    ],
    indirect=True,
)
def test_warnings_of_skipped_and_processed_products_come_in_file_order_and_add_up(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    skipped: list[int],
    reading: str,
) -> None:
    """More products over the limits than a report lists (20): the first ones listed and the
    count of the rest are the same whichever of them were skipped."""
    loud = {i: "x" * 600 for i in range(30)}
    base = _rows(30, color=loud)
    renamed = _rows(30, color=loud, name={i: f"Renamed {i}" for i in (1, 4, 22, 29)})
    out = _run_both(engine, tmp_path, monkeypatch, account, [_import(base), _import(renamed)])
    assert out[1] is not None
    assert any("and 10 more objects exceed" in w for w in out[1]["warnings"])
    assert skipped[-2:] == [0, 26]


def test_a_warning_of_a_re_import_that_changed_every_product_repeats_too(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    skipped: list[int],
    reading: str,
) -> None:
    """The second import processes all five products: in parts, its products wait on disk,
    and the snapshot must still keep what the one over the limits broke."""
    renamed = {i: f"Renamed {i}" for i in range(5)}
    loud = _rows(5, name=renamed, color={2: "x" * 600})
    out = _run_both(
        engine, tmp_path, monkeypatch, account, [_import(_rows(5)), _import(loud), _import(loud)]
    )
    assert out[2] is not None and any("500" in w for w in out[2]["warnings"])
    assert skipped[-3:] == [0, 0, 5]
    # the renamed file's five products, mapped in chunks when the kept rows allow it; then
    # none, every product skipped
    assert ([(3, 5), (1, 0)] if reading == "chunked-mapping" else []) == _CHUNKED


@pytest.mark.parametrize("change", ["restocked", "grown"])
def test_rows_left_behind_for_a_product_that_changed_are_read_again(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    skipped: list[int],
    reading: str,
    change: str,
) -> None:
    """A reader in pieces leaves a product's rows behind when, in their piece, they print as
    the product did last time. Restocked, P1's rows print otherwise, so they are kept. Grown
    by a variant that the next piece holds, its first two rows (one piece when pieces are
    whole) are left behind, and the reader goes back for them."""
    base = _rows(4) + "V1,P1,Product 1 large,19.00,S1L,3,blue\n"
    if change == "restocked":
        changed = base.replace("S1L,3,", "S1L,4,")
    else:
        changed = base + "V1X,P1,Product 1 huge,21.00,S1X,2,green\n"
    left_behind = change == "grown" and reading not in ("tiny-pieces", "chunked-mapping")
    if left_behind:  # the first piece ends where the base file ends
        size = len(_as_jsonl(base) if _FORMAT == "jsonl" else base)
        monkeypatch.setattr(csv_pieces, "PIECE_BYTES", size)
    reads: list[str] = []
    module, name = (jsonl_skip, "line_pieces") if _FORMAT == "jsonl" else (generic, "csv_pieces")
    real = getattr(module, name)

    def counted(path: Path, *args: Any, **kw: Any) -> Any:
        reads.append(path.name)
        return real(path, *args, **kw)

    monkeypatch.setattr(module, name, counted)
    out = _run_both(engine, tmp_path, monkeypatch, account, [_import(base), _import(changed)])
    assert out[1] is not None and out[1]["products"]["unchanged"] == 4  # P1's own row too
    if change == "restocked":
        assert out[1]["inventory_items"]["updated"] == 1
    else:
        assert out[1]["prices"]["created"] == 1
    assert skipped[-1] == 3
    # only the skipping run reads in pieces: its first import once (keeping every row), its
    # re-import once, and once more when it had to go back
    assert len(reads) == 2 + left_behind


def test_rows_the_reader_refuses_keep_their_product_processed(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    # P2's variant has a field too many (refused by the reader, not by validation); P2's own
    # row is unchanged, yet P2 must be processed every time, in pieces as whole.
    refused = _rows(5) + "V2,P2,Product 2 big,30.00,S2B,5,red,extra\n"
    out = _run_both(engine, tmp_path, monkeypatch, account, [_import(refused), _import(refused)])
    assert out[1] is not None and out[1]["rows_rejected"] == 1
    assert skipped[-1] == 4


def test_a_variant_moved_from_a_product_the_file_leaves_out(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """Incremental: P1 is gone from the file, and its variant V1 now hangs under P3. Only P3
    is read again; V1's stored price is found among the prices of P1, which is looked up
    because it is gone, and the outcome is the full read's."""
    variant = "V1,{parent},Product 1 large,19.00,S1L,3,blue\n"
    base = _rows(6) + variant.format(parent="P1")
    moved = "".join(
        line + "\n" for line in _rows(6).splitlines() if not line.startswith("P1,")
    ) + variant.format(parent="P3")
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [
            _import(base, mode="incremental"),
            _import(base, mode="incremental"),
            _import(moved, mode="incremental"),
        ],
    )
    assert out[2] is not None
    assert out[2]["changes"] == [
        ("inventory_item", "S1L", "updated", ["price", "product"]),
        ("price", "S1L", "archived", ["active", "lookup_key"]),
        (
            "price",
            "S1L",
            "created",
            ["active", "currency", "lookup_key", "metadata", "nickname", "unit_amount"],
        ),
    ]
    assert skipped[-2:] == [6, 4]  # then only P3 is read


def test_a_product_left_out_whose_default_price_moves_away_takes_its_next_one(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str, skipped
) -> None:
    """Incremental: P1's variant V1 comes first in the file, so its price is P1's default.
    V1 moves to P3 in a file that leaves P1 out, which retires V1's price under P1: P1 takes
    its next current price (its own row's, SKU S1) in that same import, with no other change,
    in every reading. The next import, which has P1 again, changes nothing of it."""
    header, *rows = _rows(6).splitlines()
    v1 = "V1,{parent},Product 1 large,19.00,S1L,3,blue"
    v1b = "V1b,P1,Product 1 medium,18.00,S1M,3,blue"

    def text(*lines: str) -> str:
        return "".join(line + "\n" for line in (header, *lines))

    base = text(v1.format(parent="P1"), *rows, v1b)
    moved = text(*(row for row in rows if not row.startswith("P1,")), v1.format(parent="P3"))
    back = text(v1.format(parent="P3"), *rows, v1b)
    out = _run_both(
        engine,
        tmp_path,
        monkeypatch,
        account,
        [_import(text, mode="incremental") for text in (base, moved, back)],
    )
    assert out[1] is not None and out[2] is not None
    assert ("product", "P1", "updated", ["default_price"]) in out[1]["changes"]
    assert out[1]["products"]["updated"] == 1
    assert not any(c[:2] == ("product", "P1") for c in out[2]["changes"])
    # (external_id, ..., the variant key of its default price)
    defaults = {p[0]: p[-1] for p in catalog_by_keys(engine, f"{account}_skip")["products"]}
    assert defaults["P1"] == "S1"
    assert defaults["P3"] == "S3"
