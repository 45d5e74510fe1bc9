"""The stored rows each part of a large re-import leads to are the same whether the server finds
them (store/stored_parts.py) or the client filters a read of the whole account (stored_reach.py),
and so is the rest: what the import diffs against that no part leads to."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from catalog_pipelines.store import imports as store
from catalog_pipelines.store.stored_parts import Found
from catalog_pipelines.store.stored_reach import reached
from tests.support.stored_catalog import stored_catalog

Keys = dict[str, list[str]]
Rows = dict[str, list[tuple[object, ...]]]


@pytest.fixture
def catalog(engine: sa.Engine, tmp_path: Path, account: str) -> Keys:
    return stored_catalog(engine, tmp_path, account)


def _sorted(frames: dict[str, pl.DataFrame]) -> Rows:
    return {name: sorted(f.rows(), key=repr) for name, f in frames.items()}


def _series(keys: Keys) -> dict[str, pl.Series]:
    return {kind: pl.Series(values, dtype=pl.Utf8) for kind, values in keys.items()}


def _expected(
    whole: dict[str, pl.DataFrame], parts: list[Keys], others: Keys | None
) -> tuple[list[Rows], bool, Rows]:
    """Each part's rows, whether two parts share one, and the rest, from the whole read."""
    of_parts = [reached(whole, _series(keys)) for keys in parts]
    ids = {name: [i for p in of_parts for i in p[name]["id"]] for name in whole}
    overlap = any(len(v) != len(set(v)) for v in ids.values())
    if others is None:
        diffed = whole
    else:
        every = {k: [v for keys in [*parts, others] for v in keys.get(k, [])] for k in others}
        diffed = reached(whole, _series(every))
    rest = {name: frame.filter(~pl.col("id").is_in(ids[name])) for name, frame in diffed.items()}
    return [_sorted(p) for p in of_parts], overlap, _sorted(rest)


def _sample(rng: random.Random, catalog: Keys, kinds: tuple[str, ...]) -> Keys:
    return {k: rng.sample(catalog[k], rng.randint(0, len(catalog[k]))) for k in kinds}


@pytest.mark.parametrize("with_others", [False, True], ids=["whole-account", "keys-of-no-part"])
def test_each_part_and_the_rest_are_those_of_the_whole_read(
    engine: sa.Engine, account: str, catalog: Keys, with_others: bool
) -> None:
    by_key = ("external_id", "variant_key", "sku")
    cases: list[tuple[list[Keys], Keys | None]] = [
        # P1 by key, P2 by its SKU: disjoint; the others name P4 and an id
        ([{"external_id": ["P1"]}, {"sku": ["S2"]}], {"external_id": ["P4"]}),
        # P1 by key and again by its large variant's SKU: two parts share it
        ([{"external_id": ["P1"]}, {"sku": ["S1L"]}], {}),
        ([{"external_id": ["P9"], "sku": ["S9"], "variant_key": ["V6"]}], {}),
    ]
    rng = random.Random(7)
    for _ in range(20):
        parts = [_sample(rng, catalog, by_key) for _ in range(rng.randint(1, 3))]
        cases.append((parts, _sample(rng, catalog, ("external_id", "product_id"))))
    overlaps = 0
    for parts, others in cases:
        others = others if with_others else None
        with engine.begin() as conn:
            whole = store.read_stored(conn, account)
            found = Found(conn, account, [_series(p) for p in parts], _series(others or {})
                          if others is not None else None)  # fmt: skip
            expected_parts, overlap, rest = _expected(whole, parts, others)
            assert found.overlap() == overlap, (parts, others)
            overlaps += overlap
            if overlap:
                continue  # the batch is planned whole: no part is read
            assert [_sorted(found.part(i)) for i in range(len(parts))] == expected_parts
            assert _sorted(found.rest()) == rest, (parts, others)
    assert 0 < overlaps < len(cases)  # both kinds of case were seen


def test_whose_rows_they_are(engine: sa.Engine, account: str, catalog: Keys) -> None:
    """Another source among the rows (then the batch is screened, so read whole), and a
    skipped product among them, or what its rows belong to (then skipping cannot be trusted)."""
    p1 = {"external_id": pl.Series(["P1"])}
    with engine.begin() as conn:
        found = Found(conn, account, [p1], {})
        written_by = conn.execute(
            sa.text("SELECT DISTINCT source FROM products WHERE account_id = :a"), {"a": account}
        ).scalar_one()
        assert not found.written_by_others(written_by)
        assert found.written_by_others("another")
        assert Found(conn, account, [p1], None).written_by_others("another")
        p1_id = found.part(0)["products"]["id"][0]
        p2_id = conn.execute(
            sa.text("SELECT id FROM products WHERE account_id = :a AND external_id = 'P2'"),
            {"a": account},
        ).scalar_one()
        assert not found.any_product_in([pl.Series([p2_id])])
        assert found.any_product_in([pl.Series(["prod_none"]), pl.Series([p1_id])])
