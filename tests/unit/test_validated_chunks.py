"""A batch validated a chunk at a time, its products on disk, is the batch validated whole."""

from __future__ import annotations

from dataclasses import replace

import pytest

from catalog_pipelines import plan_parts
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.validated_chunks import ValidatedChunks
from catalog_pipelines.validation import stripe_limit_problems, validate_batch
from tests.support.batches import batch

MANY_KEYS = {f"k{i}": "v" for i in range(60)}  # over Stripe's 50: a warning, not a reject


def _whole() -> ParsedBatch:
    """Six products, one variant each: product 2's price is negative (its variant is rejected,
    the product stays) and product 5's key is empty (its variant goes with it); products 3 and
    6 break Stripe's metadata limits; row 7 was rejected by the mapping."""
    products = [
        {"external_id": "a", "name": "A"},
        {"external_id": "b", "name": "B", "_price": -5},
        {"external_id": "c", "name": "C", "metadata": MANY_KEYS},
        {"external_id": "d", "name": "D"},
        {"external_id": "", "name": "E"},
        {"external_id": "f", "name": "F", "metadata": MANY_KEYS},
    ]
    whole = batch(products)
    mapping_reject = Reject(7, {"id": "g"}, ["row: not mapped"])
    return replace(whole, rows_read=7, rejects=[mapping_reject], rows_valid=6)


def _rows(rejects: list[Reject]) -> list[tuple[int, list[str]]]:
    return [(r.row_number, r.reasons) for r in rejects]


def test_chunks_validate_as_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 2)
    whole = _whole()
    whole_report = validate_batch(whole)
    expected = whole_report.batch
    chunks = ValidatedChunks()
    for start in (0, 3):  # rows 1-3 and 4-6: no key in both
        products = whole.products.slice(start, 3)
        variants = whole.variants.slice(start, 3)
        chunks(ParsedBatch(whole.input_name, 3, products, variants))
    mapped = replace(whole, products=whole.products.clear(), variants=whole.variants.clear())
    report, spilled = chunks.validated(mapped)
    got = report.batch

    assert got.products.height == 0  # on disk, each chunk's in parts of two
    assert [k.to_list() for k in spilled.keys] == [["a", "b"], ["c"], ["d", "f"]]
    assert plan_parts.restore(got, spilled).products.equals(expected.products)
    assert got.variants.equals(expected.variants)
    assert _rows(got.rejects) == _rows(expected.rejects)
    assert [r.row_number for r in got.rejects] == [2, 5, 7]
    assert got.rows_valid == expected.rows_valid == 4
    assert got.warnings == expected.warnings and len(got.warnings) == 2
    # what the Dagster checks and the run's metadata show: as of the whole batch
    assert report.checks == whole_report.checks and report.checks
    assert report.sample == whole_report.sample
    # the whole batch's positions: product 5, the variant of product 2
    assert [(r["frame"], r["index"]) for r in report.sample] == [("products", 4), ("variants", 1)]
    assert report.rows_rejected_here == whole_report.rows_rejected_here == 2
    assert chunks.as_read == {"products": 6, "variants": 6}
    assert spilled.limit_problems.equals(stripe_limit_problems(expected))
    assert spilled.limit_problems["product"].to_list() == ["c", "f"]


def test_a_batch_mapped_at_once_is_left_to_the_caller() -> None:
    assert not ValidatedChunks().used
    with pytest.raises(AssertionError):
        ValidatedChunks().validated(_whole())
