"""Pandera validation of normalized frames: failures become rejects, counts reconcile."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import polars as pl
import pytest

from catalog_pipelines.fingerprints import LIMIT_PROBLEMS_SCHEMA, Fingerprints, Skipped
from catalog_pipelines.normalized import KV, ParsedBatch, Reject
from catalog_pipelines.validation import (
    ProductModel,
    VariantModel,
    first_limit_problems,
    stripe_limit_messages,
    stripe_limit_messages_of,
    stripe_limit_warnings,
    validate_batch,
)


def _batch(products: dict[str, Any], variants: dict[str, Any], **kw: Any) -> ParsedBatch:
    rows_read = kw.pop("rows_read", None)
    p = pl.DataFrame(products)
    v = pl.DataFrame(variants)
    n = rows_read if rows_read is not None else max([0, *p["row_number"], *v["row_number"]])
    return ParsedBatch("t.csv", n, p, v, **kw)


def _valid() -> ParsedBatch:
    return _batch(
        {"row_number": [1, 2], "external_id": ["a", "b"]},
        {
            "row_number": [1, 2],
            "product_external_id": ["a", "b"],
            "variant_key": ["A1", "B1"],
            "currency": ["usd", "jpy"],
            "unit_amount": [100, 5],
            "inventory_quantity": [0, 3],
            "inventory_policy": ["deny", "continue"],
        },
    )


def test_valid_batch_passes_untouched() -> None:
    batch = _valid()
    report = validate_batch(batch)
    assert report.passed and report.checks == {} and report.sample == []
    assert report.batch.products.equals(batch.products)
    assert report.batch.variants.equals(batch.variants)
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (2, 2, 0)


def test_failures_become_rejects_with_named_fields() -> None:
    batch = _batch(
        {"row_number": [1, 2, 3], "external_id": ["a", "b", "c"]},
        {
            "row_number": [1, 2, 3, 4, 5],
            "product_external_id": ["a", "b", "c", "zz", "a"],
            "variant_key": ["A1", "B1", "C1", "Z1", "A1"],
            "currency": ["usd", "USD", "usd", "usd", "usd"],
            "unit_amount": [100, 1, -5, 1, 2],
            "inventory_quantity": [-1, 0, 0, 0, 0],
            "inventory_policy": ["deny", "sometimes", None, None, None],
        },
    )
    report = validate_batch(batch)
    reasons = {r.row_number: r.reasons for r in report.batch.rejects}
    assert reasons == {
        1: ["inventory_quantity: '-1' fails greater_than_or_equal_to(0) (validation)"],
        2: [
            "currency: 'USD' fails str_matches('^[a-z]{3}$') (validation)",
            "inventory_policy: 'sometimes' fails isin(['deny', 'continue']) (validation)",
        ],
        3: ["unit_amount: '-5' fails greater_than_or_equal_to(0) (validation)"],
        4: ["product_external_id: 'zz' matches no product in the batch (validation)"],
        5: ["variant_key: 'A1' is not unique in the batch (validation)"],
    }
    # a rejected variant leaves its product
    assert report.batch.products["external_id"].to_list() == ["a", "b", "c"]
    assert report.batch.variants.height == 0
    assert report.checks["variants.unit_amount.greater_than_or_equal_to(0)"] == 1
    assert report.checks["variants.variant_key.field_uniqueness"] == 1
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (5, 0, 5)
    assert report.sample[0]["row_number"] is not None
    report.batch.check_reconciles()


def test_rejected_product_takes_its_variants() -> None:
    batch = _batch(
        {"row_number": [1, 3, 5], "external_id": ["a", "b", "b"]},
        {
            "row_number": [1, 2, 3, 4, 5],
            "product_external_id": ["a", "a", "b", "b", "b"],
            "variant_key": ["A1", "A2", "B1", "B2", "B3"],
        },
    )
    report = validate_batch(batch)
    # the duplicate product (row 5) goes, with the variant on its own row; row 3's product stays
    assert report.batch.products["row_number"].to_list() == [1, 3]
    assert report.batch.variants["variant_key"].to_list() == ["A1", "A2", "B1", "B2"]
    assert [r.row_number for r in report.batch.rejects] == [5]
    assert report.batch.rejects[0].reasons[0] == (
        "external_id: 'b' is not unique in the batch (validation)"
    )

    batch = _batch(
        {"row_number": [1, 2], "external_id": ["a", ""]},
        {"row_number": [1, 3], "product_external_id": ["a", ""], "variant_key": ["A1", "X"]},
    )
    report = validate_batch(batch)
    assert report.batch.variants["variant_key"].to_list() == ["A1"]
    reasons = {r.row_number: r.reasons for r in report.batch.rejects}
    assert reasons[3] == ["product_external_id: product '' (row 2) was rejected"]
    assert (report.rows_valid, report.rows_rejected) == (1, 2)


def test_existing_rejects_are_kept_and_counts_reconcile() -> None:
    batch = _valid()
    batch = ParsedBatch(
        "t.csv", 3, batch.products, batch.variants, rejects=[Reject(3, {"x": "1"}, ["price: x"])]
    )
    report = validate_batch(batch)
    assert [r.row_number for r in report.batch.rejects] == [3]
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (3, 2, 1)


def test_nan_is_caught_where_ge_zero_would_let_it_through() -> None:
    df = pl.DataFrame({"unit_amount": [1.0, float("nan")]})
    check = VariantModel.to_schema().columns["unit_amount"].checks
    assert any(c.name == "not_nan" for c in check)
    ge_only = df.select((pl.col("unit_amount") >= 0).all()).item()
    assert ge_only is True  # the trap: NaN sorts above every number
    from pandera.api.polars.types import PolarsData

    from catalog_pipelines.validation.models import _not_nan

    result = _not_nan(PolarsData(df.lazy(), "unit_amount")).collect()
    assert result.to_series().to_list() == [True, False]


def test_models_reject_wrong_schema_loudly() -> None:
    import pandera.polars as pa

    with pytest.raises(pa.errors.SchemaErrors):
        ProductModel.validate(pl.DataFrame({"external_id": [1]}), lazy=True)


def _kv(n: int, key_len: int = 3, value_len: int = 1) -> list[dict[str, str]]:
    return [{"key": f"{i:0{key_len}d}", "value": "v" * value_len} for i in range(n)]


def test_stripe_limit_warnings_never_truncate() -> None:
    meta = [_kv(51), _kv(1, key_len=41), _kv(1, value_len=501), _kv(50, key_len=40, value_len=500)]
    batch = _batch(
        {
            "row_number": [1, 2, 3, 4],
            "external_id": ["many", "longkey", "longvalue", "ok"],
            "metadata": pl.Series(meta, dtype=KV),
        },
        {"row_number": [], "product_external_id": [], "variant_key": []},
        rows_read=4,
    )
    warnings = stripe_limit_warnings(batch)
    assert len(warnings) == 3
    assert "product 'many' (row 1): 51 metadata keys (Stripe allows 50)" in warnings[0]
    assert "keys longer than 40 characters" in warnings[1]
    assert "values longer than 500 characters under: '000'" in warnings[2]
    report = validate_batch(batch)
    assert report.batch.warnings == warnings
    assert report.batch.products["metadata"].list.len().to_list() == [51, 1, 1, 50]


def test_stripe_warnings_are_capped() -> None:
    n = 25
    batch = _batch(
        {
            "row_number": list(range(1, n + 1)),
            "external_id": [f"p{i}" for i in range(n)],
            "metadata": pl.Series([_kv(51)] * n, dtype=KV),
        },
        {"row_number": [], "product_external_id": [], "variant_key": []},
        rows_read=n,
    )
    warnings = stripe_limit_warnings(batch)
    assert len(warnings) == 21
    assert warnings[-1] == "and 5 more objects exceed Stripe's metadata limits"


def _problems(rows: list[tuple[int, str]]) -> pl.DataFrame:
    """stripe_limit_problems rows: (row_number, kind), each object too many keys."""
    return pl.DataFrame(
        {
            "row_number": [r for r, _ in rows],
            "product": [f"p{r}" for r, _ in rows],
            "kind": [k for _, k in rows],
            "id": [f"{k}{r}" for r, k in rows],
            "n": [51] * len(rows),
            "long_keys": [[]] * len(rows),
            "long_values": [[]] * len(rows),
        },
        schema=LIMIT_PROBLEMS_SCHEMA,
    )


@pytest.mark.parametrize("skipped_rows", [range(1, 60, 2), range(40, 90), range(1, 4)])
def test_skipped_products_limits_are_worded_as_if_their_rows_were_read(
    skipped_rows: range,
) -> None:
    """Products first, then prices, each in file order, the first 20 listed and the rest
    counted: whichever of them a re-import skipped, and however few of the skipped ones it
    kept (first_limit_problems)."""
    everything = _problems([(r, "product" if r % 3 else "price") for r in range(1, 90)])
    skipped = everything.filter(pl.col("row_number").is_in(list(skipped_rows)))
    processed = everything.filter(~pl.col("row_number").is_in(list(skipped_rows)))
    prints = Fingerprints(
        salt="",
        watermark=0,
        prints=pl.DataFrame(),
        row_keys=pl.DataFrame(),
        skipped=Skipped(),
        processed_keys=pl.Series(dtype=pl.Utf8),
        gone=pl.Series(dtype=pl.Utf8),
        skipped_limits=first_limit_problems(skipped),
        skipped_limit_count=skipped.height,
    )
    assert prints.skipped_limits.height <= 40
    # processed in two pieces, each kept to its first problems, as PieceValidation keeps them
    halves = [processed.head(30), processed.tail(-30)]
    left_out = sum(h.height - first_limit_problems(h).height for h in halves)
    worded = stripe_limit_messages_of(
        [first_limit_problems(h) for h in halves], prints, more=left_out
    )
    assert worded == stripe_limit_messages(everything)
    assert worded[0].startswith("product 'product1' (row 1)")
    assert worded[-1] == "and 69 more objects exceed Stripe's metadata limits"


_VALIDATE_IN_A_NEW_PROCESS = """
import sys
import polars as pl
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.validation import validate_batch
products = pl.DataFrame({"row_number": [1, 2], "external_id": ["a", "b"]})
variants = pl.DataFrame({
    "row_number": [1, 2], "product_external_id": ["a", "b"], "variant_key": ["A1", "B1"],
    "currency": ["usd", "usd"], "unit_amount": [100, -5], "inventory_quantity": [0, 3],
    "inventory_policy": ["deny", "deny"],
})
report = validate_batch(ParsedBatch("t.csv", 2, products, variants))
print(report.rows_valid, report.rows_rejected, "hypothesis" in sys.modules)
"""


def test_validation_does_not_load_the_test_librarys_hypothesis() -> None:
    """pandera would import hypothesis (installed here for tests) on its first validation:
    up to half a second of every import run, for data synthesis that is never used."""
    done = subprocess.run(
        [sys.executable, "-c", _VALIDATE_IN_A_NEW_PROCESS],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # the checks still run: the negative amount is rejected
    assert done.stdout.split() == ["1", "1", "False"]
