"""Row fingerprints: what makes two files' products the same, and which products a re-import
may skip (catalog_pipelines/fingerprints.py, skip_decision.py)."""

from __future__ import annotations

import gc
import pickle

import polars as pl
import pytest

from catalog_pipelines import skip_decision
from catalog_pipelines.fingerprints import (
    KEY,
    LIMIT_PROBLEMS_SCHEMA,
    NO_LIMIT_PROBLEMS,
    SNAPSHOT_SCHEMA,
    Fingerprints,
    Known,
    Skipped,
    SkipRequest,
    as_snapshot,
    by_range,
    known_from,
    row_prints,
    salt,
    snapshot_frames,
)
from catalog_pipelines.skip_decision import (
    decide_by_range,
    refused_rows,
    split,
)
from catalog_pipelines.spill import Held, Spill

RULES = {"mode": "full", "source": "pim"}
PARTS = {"header": ["id", "parent", "name"], "mapping": {"key": "id"}}


def _frame(rows: list[tuple[str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row_number": list(range(1, len(rows) + 1)),
            "id": [r[0] for r in rows],
            "parent": [r[1] for r in rows],
            "name": [r[2] for r in rows],
        },
        schema={"row_number": pl.Int64, "id": pl.Utf8, "parent": pl.Utf8, "name": pl.Utf8},
    )


def _split(
    frame: pl.DataFrame, known: Known | None = None, rejected: frozenset[int] = frozenset()
) -> tuple[pl.DataFrame, Fingerprints]:
    return split(
        frame,
        frame.filter(~pl.col("row_number").is_in(list(rejected))),
        "id",
        "parent",
        salt_parts=PARTS,
        request=SkipRequest(known, 10, RULES),
        rejected_rows=set(rejected),
    )


def _known_from(
    frame: pl.DataFrame,
    ranges: int = 1,
    spill: Spill | None = None,
    limit_problems: pl.DataFrame = NO_LIMIT_PROBLEMS,
) -> Known:
    _, prints = _split(frame)
    ids = prints.prints.select(KEY, pl.concat_str(pl.lit("prod_"), KEY).alias("id"))
    variants = pl.DataFrame(
        {"product_external_id": ids[KEY], "unit_amount": [100] * ids.height, "sku": ids[KEY]}
    )
    rows = snapshot_frames(
        prints,
        ids,
        variants,
        rejected_rows=[],
        ignored_products=pl.Series([], dtype=pl.Utf8),
        limit_problems=limit_problems,
    )
    snapshot = pl.concat(rows.frames)
    return known_from(snapshot, salt=salt(**PARTS, **RULES), since=None, ranges=ranges, spill=spill)


def test_a_product_is_its_rows_in_order_and_a_variant_row_belongs_to_its_parent() -> None:
    base = _frame([("A", None, "a"), ("A1", "A", "a small"), ("B", None, "b")])
    swapped = _frame([("A1", "A", "a small"), ("A", None, "a"), ("B", None, "b")])
    _, one = _split(base)
    _, two = _split(swapped)
    assert one.prints[KEY].to_list() == ["A", "B"]
    prints = dict(one.prints.iter_rows())
    assert prints["B"] == dict(two.prints.iter_rows())["B"]
    assert prints["A"] != dict(two.prints.iter_rows())["A"]  # the first row decides fields


def test_a_product_prints_the_same_whatever_the_other_products_of_the_file() -> None:
    """A product of one row keeps its print when another product gains a variant row."""
    _, alone = _split(_frame([("A", None, "a"), ("B", None, "b")]))
    _, beside = _split(_frame([("A", None, "a"), ("B", None, "b"), ("B1", "B", "b1")]))
    assert dict(alone.prints.iter_rows())["A"] == dict(beside.prints.iter_rows())["A"]
    assert dict(alone.prints.iter_rows())["B"] != dict(beside.prints.iter_rows())["B"]


def test_a_missing_cell_and_an_empty_one_or_a_moved_boundary_differ() -> None:
    rows = _frame([("A", None, "x,y"), ("B", None, None)])
    other = _frame([("A", None, "x,y "), ("B", None, "")])
    _, one = _split(rows)
    _, two = _split(other)
    assert set(one.prints["fingerprint"]).isdisjoint(two.prints["fingerprint"])


@pytest.mark.parametrize("slice_rows", [1, 2, 1_000_000])
def test_only_unchanged_products_without_rejected_rows_are_skipped(
    slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the slices the file's prints are matched in."""
    monkeypatch.setattr(skip_decision, "MATCH_SLICE", slice_rows)
    before = _frame([("A", None, "a"), ("B", None, "b"), ("C", None, "c"), ("E", None, "e")])
    known = _known_from(before)
    after = _frame(
        [("E", None, "e"), ("A", None, "a"), ("B", None, "B!"), ("C", None, "c"), ("D", None, "d")]
    )
    kept, prints = _split(
        after, known, rejected=frozenset({4})
    )  # C's row was refused by the reader
    assert sorted(prints.skipped.frame()[KEY].to_list()) == ["A", "E"]
    assert sorted(prints.processed_keys.to_list()) == ["B", "C", "D"]
    assert kept["id"].to_list() == ["B", "D"]
    assert prints.skipped_rows == 2
    assert dict(prints.skipped.frame().select(KEY, "prices").iter_rows()) == {"A": 1, "E": 1}


def test_other_rules_skip_nothing() -> None:
    known = _known_from(_frame([("A", None, "a")]))
    _, prints = split(
        _frame([("A", None, "a")]),
        _frame([("A", None, "a")]),
        "id",
        "parent",
        salt_parts=PARTS,
        request=SkipRequest(known, 10, {**RULES, "mode": "incremental"}),
        rejected_rows=set(),
    )
    assert prints.skipped.height == 0


def test_the_next_snapshot_forgets_prints_of_rejected_or_ignored_products() -> None:
    frame = _frame([("A", None, "a"), ("B", None, "b"), ("C", None, "c")])
    _, prints = _split(frame)
    ids = pl.DataFrame({KEY: ["A", "B"], "id": ["prod_A", "prod_B"]})
    variants = pl.DataFrame(
        {"product_external_id": ["A", "B"], "unit_amount": [1, None], "sku": ["SA", "SB"]}
    )
    snap = pl.concat(
        snapshot_frames(
            prints,
            ids,
            variants,
            rejected_rows=[3],
            ignored_products=pl.Series(["prod_B"]),
            limit_problems=NO_LIMIT_PROBLEMS,
        ).frames
    )
    assert snap.schema == pl.Schema(SNAPSHOT_SCHEMA)
    by_key = {r[KEY]: r for r in snap.iter_rows(named=True)}
    assert by_key["A"]["fingerprint"] is not None and by_key["A"]["prices"] == 1
    assert by_key["B"]["fingerprint"] is None  # a change it does not own was ignored
    assert by_key["C"]["fingerprint"] is None and by_key["C"]["product_id"] is None


def _problems(*rows: tuple[int, str, str, str]) -> pl.DataFrame:
    """stripe_limit_problems rows: (row_number, product, kind, id), each a 41-character key."""
    return pl.DataFrame(
        {
            "row_number": [r[0] for r in rows],
            "product": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "id": [r[3] for r in rows],
            "n": [1] * len(rows),
            "long_keys": [["k" * 41]] * len(rows),
            "long_values": [[]] * len(rows),
        },
        schema=LIMIT_PROBLEMS_SCHEMA,
    )


def test_a_skipped_product_over_stripes_limits_is_reported_at_its_rows_in_the_new_file() -> None:
    """Its problems are kept as the how-manieth row of the product they are on: the next
    file moved A's rows (a product inserted before it, another between them), and the
    problems come back at the rows they are on now. A problem on no row of its product
    cannot be placed: that product is processed again."""
    before = _frame([("A", None, "a"), ("B", None, "b"), ("A1", "A", "a small")])
    known = _known_from(
        before,
        limit_problems=_problems(
            (1, "A", "product", "A"), (3, "A", "price", "A1"), (9, "B", "product", "B")
        ),
    )
    stored = {r[KEY]: r for f in known.frames() for r in f.iter_rows(named=True)}
    assert [(p["kind"], p["k"]) for p in stored["A"]["limits"]] == [("product", 0), ("price", 1)]
    assert stored["B"]["limits"] is None and stored["B"]["fingerprint"] is None
    after = _frame(
        [
            ("Z", None, "z"),
            ("A", None, "a"),
            ("C", None, "c"),
            ("B", None, "b"),
            ("A1", "A", "a small"),
        ]
    )
    _, prints = _split(after, known)
    assert prints.skipped.frame()[KEY].to_list() == ["A"]
    assert prints.skipped_limit_count == 2
    placed = prints.skipped_limits.select("row_number", "product", "kind", "id").rows()
    assert placed == [(2, "A", "product", "A"), (5, "A", "price", "A1")]


def _by_range(
    frame: pl.DataFrame, known: Known, rejected: frozenset[int], spill: Spill
) -> tuple[pl.Series, Fingerprints]:
    """What a reader in pieces does: each piece's prints split by the snapshot's ranges."""
    refused = refused_rows(frame, rejected, "id", "parent")
    ranges: list[list[Held]] = [[] for _ in known.ranges]
    kept = frame.filter(~pl.col("row_number").is_in(list(rejected)))
    for piece in kept.iter_slices(2):
        parts = by_range(row_prints(piece, "id", "parent"), len(known.ranges))
        for held, part in zip(ranges, parts, strict=True):
            held.append(spill.keep(part))
    return decide_by_range(
        ranges, refused, salt_parts=PARTS, request=SkipRequest(known, 10, RULES), spill=spill
    )


def test_a_decision_a_key_range_at_a_time_is_the_decision_at_once() -> None:
    """Products of several rows, a refused row, changed, new and gone keys: split in three
    ranges held on disk, the file is decided as it is whole."""
    before = _frame(
        [(k, None, k.lower()) for k in "ABCDEFGH"] + [("A1", "A", "a1"), ("B1", "B", "b1")]
    )
    after = _frame(
        [(k, None, k.lower()) for k in "ABCDEFXY"]
        + [("A1", "A", "a1"), ("B1", "B", "B1!"), ("D1", "D", "new variant")]
    )
    whole_known = _known_from(before)
    spill = Spill()
    known = _known_from(before, ranges=3, spill=spill)
    assert [f.height > 0 for f in known.frames()] == [True] * 3
    assert sum(f.height for f in known.frames()) == 8  # A1 and B1 are A's and B's
    kept, whole = _split(after, whole_known, rejected=frozenset({3}))  # C's row refused
    wanted, ranged = _by_range(after, known, frozenset({3}), spill)
    assert wanted.to_list() == kept["row_number"].to_list() == [2, 4, 7, 8, 10, 11]
    assert sorted(ranged.skipped.frame()[KEY]) == sorted(whole.skipped.frame()[KEY])
    assert sorted(ranged.skipped.frame()[KEY]) == ["A", "E", "F"]
    assert ranged.skipped.prices == whole.skipped.prices == 3
    for name in ("processed_keys", "gone"):
        assert sorted(getattr(ranged, name)) == sorted(getattr(whole, name)), name
    assert sorted(ranged.gone) == ["G", "H"]
    assert ranged.row_keys.equals(whole.row_keys)
    assert ranged.prints.sort(KEY).equals(whole.prints.sort(KEY))
    assert ranged.skipped_rows == whole.skipped_rows == 4


def test_skipped_products_spilled_to_disk_survive_a_handoff() -> None:
    """Pickled (a Dagster step's output), spilled rows travel in memory: the reading process
    may not see the spilling one's folder."""
    spill = Spill()
    frame = pl.DataFrame(
        {KEY: ["A", "B"], "fingerprint": [1, 2], "product_id": ["p1", "p2"]}
    ).with_columns(prices=pl.lit(1), items=pl.lit(2))
    skipped = Skipped.of([as_snapshot(frame)], spill)
    copy = pickle.loads(pickle.dumps(skipped))
    del skipped, spill
    gc.collect()
    assert copy.frame()[KEY].to_list() == ["A", "B"]
    assert (copy.height, copy.prices, copy.items) == (2, 2, 4)
    assert copy.any_product_in(pl.Series(["p2"])) and not copy.any_product_in(pl.Series(["x"]))
