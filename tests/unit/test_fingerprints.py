"""Row fingerprints: what makes two files' products the same, and which products a re-import
may skip (catalog_pipelines/fingerprints.py)."""

from __future__ import annotations

import polars as pl
import pytest

from catalog_pipelines import fingerprints
from catalog_pipelines.fingerprints import (
    KEY,
    SNAPSHOT_SCHEMA,
    Fingerprints,
    Known,
    SkipRequest,
    known_from,
    salt,
    snapshot_frames,
    split,
)

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


def _known_from(frame: pl.DataFrame) -> Known:
    _, prints = _split(frame)
    ids = prints.prints.select(KEY, pl.concat_str(pl.lit("prod_"), KEY).alias("id"))
    variants = pl.DataFrame(
        {"product_external_id": ids[KEY], "unit_amount": [100] * ids.height, "sku": ids[KEY]}
    )
    rows = snapshot_frames(
        prints, ids, variants, rejected_rows=[], ignored_products=pl.Series([], dtype=pl.Utf8)
    )
    return known_from(pl.concat(rows.frames), salt=salt(**PARTS, **RULES), since=None)


def test_a_product_is_its_rows_in_order_and_a_variant_row_belongs_to_its_parent() -> None:
    base = _frame([("A", None, "a"), ("A1", "A", "a small"), ("B", None, "b")])
    swapped = _frame([("A1", "A", "a small"), ("A", None, "a"), ("B", None, "b")])
    _, one = _split(base)
    _, two = _split(swapped)
    assert one.prints[KEY].to_list() == ["A", "B"]
    prints = dict(one.prints.iter_rows())
    assert prints["B"] == dict(two.prints.iter_rows())["B"]
    assert prints["A"] != dict(two.prints.iter_rows())["A"]  # the first row decides fields


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
    monkeypatch.setattr(fingerprints, "MATCH_SLICE", slice_rows)
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
            prints, ids, variants, rejected_rows=[3], ignored_products=pl.Series(["prod_B"])
        ).frames
    )
    assert snap.schema == pl.Schema(SNAPSHOT_SCHEMA)
    by_key = {r[KEY]: r for r in snap.iter_rows(named=True)}
    assert by_key["A"]["fingerprint"] is not None and by_key["A"]["prices"] == 1
    assert by_key["B"]["fingerprint"] is None  # a change it does not own was ignored
    assert by_key["C"]["fingerprint"] is None and by_key["C"]["product_id"] is None
