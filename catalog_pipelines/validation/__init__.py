"""Validate a `ParsedBatch` with the pandera models and turn failures into per-row rejects.

Why not let pandera raise: one bad row must never stop the valid ones (docs/import-semantics.md). Failures
become rejects moved out of the frames, the counts per check feed Dagster asset-check metadata,
and `rows_read = rows_valid + rows_rejected` still holds afterwards.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context

from catalog_pipelines.fingerprints import LIMIT_PROBLEMS_SCHEMA, Fingerprints
from catalog_pipelines.frames import rows_where
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.validation.models import ProductModel, VariantModel


def _load_pandera_strategies_without_hypothesis() -> None:
    """Load pandera's data-synthesis module with hypothesis hidden, unless it is loaded already.

    pandera loads that module on its first validation, and it imports hypothesis when it is
    installed (a test dependency here): 0.2 to 0.5 s, paid by every import process. The module
    decides once whether hypothesis is there, and validation never synthesizes data.
    """
    if "hypothesis" in sys.modules:
        return
    sys.modules["hypothesis"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import pandera.strategies.base_strategies  # noqa: F401
    finally:
        del sys.modules["hypothesis"]


_load_pandera_strategies_without_hypothesis()

__all__ = [
    "ProductModel",
    "VariantModel",
    "ValidationReport",
    "validate_batch",
    "first_limit_problems",
    "stripe_limit_messages",
    "stripe_limit_messages_of",
    "stripe_limit_problems",
    "stripe_limit_warnings",
]

SAMPLE_SIZE = 20
MAX_WARNINGS = 20
STRIPE_MAX_KEYS = 50
STRIPE_MAX_KEY_CHARS = 40
STRIPE_MAX_VALUE_CHARS = 500


@dataclass
class ValidationReport:
    batch: ParsedBatch  # the cleaned batch: failing rows moved to `rejects`
    checks: dict[str, int] = field(default_factory=dict)  # "variants.unit_amount.ge(0)" -> rows
    sample: list[dict[str, Any]] = field(default_factory=list)  # first failures, for metadata
    rows_rejected_here: int = 0  # source rows rejected by validation (not by the connector)

    @property
    def rows_read(self) -> int:
        return self.batch.rows_read

    @property
    def rows_valid(self) -> int:
        assert self.batch.rows_valid is not None
        return self.batch.rows_valid

    @property
    def rows_rejected(self) -> int:
        return len(self.batch.rejects)

    @property
    def passed(self) -> bool:
        return not self.checks


def _failures(model: type[pa.DataFrameModel], df: pl.DataFrame, frame: str) -> pl.DataFrame:
    """Per-row failures: frame, index (position in df), column, check, value."""
    empty = pl.DataFrame(
        schema={
            "frame": pl.Utf8,
            "index": pl.Int64,
            "column": pl.Utf8,
            "check": pl.Utf8,
            "value": pl.Utf8,
        }
    )
    if df.height == 0:  # nothing to check (every product skipped as unchanged, say)
        return empty
    try:
        # Eager frames are fully checked by default; the context makes it explicit (docs/maintainers.md).
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
    else:
        return empty
    if cases.filter(pl.col("index").is_null()).height:
        # A dtype or column problem is a bug in the connector, not bad data: fail loudly.
        raise ValueError(f"{frame} frame does not match its schema:\n{cases}")
    cases = cases.select(
        pl.lit(frame).alias("frame"),
        pl.col("index").cast(pl.Int64),
        pl.when(pl.col("schema_context") == "DataFrameSchema")
        .then(pl.lit(None, dtype=pl.Utf8))
        .otherwise(pl.col("column"))
        .alias("column"),
        pl.col("check").cast(pl.Utf8),
        pl.col("failure_case").cast(pl.Utf8).alias("value"),
    )
    # pandera flags every copy of a duplicate; the first occurrence is the one to keep.
    unique = pl.col("check") == "field_uniqueness"
    first = pl.col("index") == pl.col("index").min().over("column", "value")
    return cases.filter(~(unique & first)).unique(maintain_order=True)


def _orphans(products: pl.DataFrame, variants: pl.DataFrame) -> pl.DataFrame:
    # only the key and the position go into the join: the variants' other columns (their
    # metadata lists) made a million variants' check take ~65 MB more
    missing = (
        variants.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("index"), "product_external_id"
        )
        .join(
            products.select(pl.col("external_id").alias("product_external_id")),
            on="product_external_id",
            how="anti",
        )
        .filter(pl.col("product_external_id").is_not_null())
    )
    return missing.select(
        pl.lit("variants").alias("frame"),
        pl.col("index").cast(pl.Int64),
        pl.lit("product_external_id").alias("column"),
        pl.lit("product_in_batch").alias("check"),
        pl.col("product_external_id").alias("value"),
    )


def _reason(row: dict[str, Any]) -> str:
    column = row["column"] or "row"
    value = row["value"]
    if row["check"] == "field_uniqueness":
        return f"{column}: {value!r} is not unique in the batch (validation)"
    if row["check"] == "product_in_batch":
        return f"{column}: {value!r} matches no product in the batch (validation)"
    if row["check"] == "not_nullable":
        return f"{column}: missing (validation)"
    if row["column"] is None:
        return f"row: fails {row['check']} (validation)"
    return f"{column}: {value!r} fails {row['check']} (validation)"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """KV lists back to plain dicts so that a reject's raw values read naturally."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, list) and v and isinstance(v[0], dict) and set(v[0]) == {"key", "value"}:
            out[k] = {kv["key"]: kv["value"] for kv in v}
        else:
            out[k] = v
    return out


def validate_batch(batch: ParsedBatch, *, limit_warnings: bool = True) -> ValidationReport:
    """Validate both frames; move failing rows to rejects. A rejected product takes its variants
    with it; a rejected variant leaves its product. Returns the cleaned batch and the counts.
    Without `limit_warnings`, the caller words Stripe's limits itself (a batch in pieces)."""
    products, variants = batch.products, batch.variants
    failures = pl.concat(
        [
            _failures(ProductModel, products, "products"),
            _failures(VariantModel, variants, "variants"),
            _orphans(products, variants),
        ]
    )
    checks: dict[str, int] = {}
    if failures.height:
        counts = (
            failures.with_columns(pl.col("column").fill_null("row"))
            .group_by("frame", "column", "check", maintain_order=True)
            .agg(pl.col("index").n_unique().alias("n"))
        )
        checks = {f"{r['frame']}.{r['column']}.{r['check']}": r["n"] for r in counts.to_dicts()}

    bad_products = sorted(set(failures.filter(pl.col("frame") == "products")["index"].to_list()))
    bad_variants = set(failures.filter(pl.col("frame") == "variants")["index"].to_list())
    # A rejected product takes along the variants on its own source row, and all variants of
    # its external id unless another (the first, for duplicates) row of that id is kept.
    rejected = products[bad_products] if bad_products else products.clear()
    dropped_rows = dict(
        zip(rejected["external_id"].to_list(), rejected["row_number"].to_list(), strict=True)
    )
    cascaded: set[int] = set()
    if bad_products:
        # in Polars: a Python set of the kept keys of a million products took ~250 MB
        kept_ids = products.filter(~pl.int_range(pl.len()).is_in(bad_products))["external_id"]
        gone = rejected["external_id"].filter(~rejected["external_id"].is_in(kept_ids.implode()))
        rows_gone = [r for r in rejected["row_number"].to_list() if r is not None]
        cascade = (
            variants.with_row_index("index")
            .filter(
                pl.col("product_external_id").is_in(gone.implode())
                | pl.col("row_number").is_in(rows_gone)
            )["index"]
            .to_list()
        )
        cascaded = set(cascade) - bad_variants
        bad_variants |= set(cascade)

    # One reject per source row; rows without a row number get one each.
    reasons: dict[Any, list[str]] = {}
    raws: dict[Any, dict[str, Any]] = {}
    row_numbers: dict[Any, int] = {}

    def add(frame_name: str, df: pl.DataFrame, index: int, why: list[str]) -> None:
        row = df.row(index, named=True)
        rn = row["row_number"]
        slot: Any = rn if rn is not None else (frame_name, index)
        reasons.setdefault(slot, [])
        reasons[slot].extend(w for w in why if w not in reasons[slot])
        raws.setdefault(slot, {})[frame_name] = _jsonable(row)
        row_numbers[slot] = rn if rn is not None else 0

    by_row = failures.group_by("frame", "index", maintain_order=True).agg(pl.struct(pl.all()))
    for frame_name, index, rows in by_row.iter_rows():
        df = products if frame_name == "products" else variants
        add(frame_name, df, index, [_reason(r) for r in rows])
    for index in sorted(cascaded):
        pid = variants["product_external_id"][index]
        add(
            "variants",
            variants,
            index,
            [f"product_external_id: product {pid!r} (row {dropped_rows[pid]}) was rejected"],
        )

    keep_p = pl.repeat(True, products.height, dtype=pl.Boolean, eager=True)
    if bad_products:
        keep_p[bad_products] = False
    keep_v = pl.repeat(True, variants.height, dtype=pl.Boolean, eager=True)
    if bad_variants:
        keep_v[sorted(bad_variants)] = False
    new_rejects = [Reject(row_numbers[s], raws[s], reasons[s]) for s in reasons]
    assert batch.rows_valid is not None
    cleaned = ParsedBatch(
        input_name=batch.input_name,
        rows_read=batch.rows_read,
        # the frames themselves when nothing failed: a filter would copy every column
        products=rows_where(products, keep_p),
        variants=rows_where(variants, keep_v),
        rejects=sorted([*batch.rejects, *new_rejects], key=lambda r: r.row_number),
        columns=batch.columns,
        unmapped_columns=batch.unmapped_columns,
        warnings=list(batch.warnings),
        rows_valid=batch.rows_valid - len(new_rejects),
        stock_only=batch.stock_only,
        fingerprints=batch.fingerprints,
    )
    if limit_warnings:
        cleaned.warnings.extend(stripe_limit_warnings(cleaned))
    cleaned.check_reconciles()
    sample = [
        {**r, "row_number": row_numbers.get(_slot_of(r, products, variants))}
        for r in failures.head(SAMPLE_SIZE).to_dicts()
    ]
    return ValidationReport(cleaned, checks, sample, len(new_rejects))


def _slot_of(row: dict[str, Any], products: pl.DataFrame, variants: pl.DataFrame) -> Any:
    df = products if row["frame"] == "products" else variants
    rn = df["row_number"][row["index"]]
    return rn if rn is not None else (row["frame"], row["index"])


LIMIT_SLICE_ROWS = 20_000


def _limit_problems(
    df: pl.DataFrame, kv_columns: list[str], id_column: str, product_column: str
) -> pl.DataFrame:
    """The rows over a limit, a slice at a time: the lists built per row to look at their
    keys and values took 1.4 GB at once for 250,000 variants."""
    return pl.concat(
        [
            _slice_limit_problems(part, kv_columns, id_column, product_column)
            for part in df.iter_slices(LIMIT_SLICE_ROWS)
        ]
        or [_slice_limit_problems(df, kv_columns, id_column, product_column)]
    )


def _slice_limit_problems(
    df: pl.DataFrame, kv_columns: list[str], id_column: str, product_column: str
) -> pl.DataFrame:
    kv = pl.concat_list([pl.col(c).fill_null([]) for c in kv_columns])
    return df.select(
        "row_number",
        pl.col(id_column).alias("id"),
        pl.col(product_column).alias("product"),
        kv.list.len().alias("n"),
        kv.list.eval(pl.element().struct.field("key"))
        .list.filter(pl.element().str.len_chars() > STRIPE_MAX_KEY_CHARS)
        .alias("long_keys"),
        kv.list.filter(pl.element().struct.field("value").str.len_chars() > STRIPE_MAX_VALUE_CHARS)
        .list.eval(pl.element().struct.field("key"))
        .alias("long_values"),
    ).filter(
        (pl.col("n") > STRIPE_MAX_KEYS)
        | (pl.col("long_keys").list.len() > 0)
        | (pl.col("long_values").list.len() > 0)
    )


def stripe_limit_warnings(batch: ParsedBatch) -> list[str]:
    """What would break Stripe's metadata limits (50 keys, 40-char keys, 500-char values).

    Only reported, never truncated (docs/concepts.md). A price's metadata holds the variant's
    options and metadata, so those are checked together. The products a re-import skipped as
    unchanged are reported too, from what their snapshot kept of them.
    """
    return stripe_limit_messages_of([stripe_limit_problems(batch)], batch.fingerprints)


def stripe_limit_problems(batch: ParsedBatch) -> pl.DataFrame:
    """The objects `stripe_limit_warnings` reports on (LIMIT_PROBLEMS_SCHEMA rows), products
    first, as `stripe_limit_messages` reads them (so the problems of several batches add up)."""
    return pl.concat(
        [
            _limit_problems(batch.products, ["metadata"], "external_id", "external_id")
            .with_columns(pl.lit("product").alias("kind"))
            .select(list(LIMIT_PROBLEMS_SCHEMA)),
            _limit_problems(
                batch.variants, ["options", "metadata"], "variant_key", "product_external_id"
            )
            .with_columns(pl.lit("price").alias("kind"))
            .select(list(LIMIT_PROBLEMS_SCHEMA)),
        ]
    ).cast(LIMIT_PROBLEMS_SCHEMA)  # type: ignore[arg-type]


def _in_order(problems: pl.DataFrame) -> pl.DataFrame:
    """Products first, then prices, each in file order: however the rows were read, skipped
    or pieced together, the same objects come first."""
    return problems.sort(
        pl.col("kind") == "price", "row_number", nulls_last=True, maintain_order=True
    )


def first_limit_problems(problems: pl.DataFrame) -> pl.DataFrame:
    """Of `problems`, those `stripe_limit_messages` could show whatever others join them: each
    kind's first MAX_WARNINGS."""
    first = _in_order(problems).group_by("kind", maintain_order=True).head(MAX_WARNINGS)
    return first.select(problems.columns)


def stripe_limit_messages_of(
    problems: list[pl.DataFrame], prints: Fingerprints | None, *, more: int = 0
) -> list[str]:
    """`stripe_limit_messages` of several batches' `stripe_limit_problems` (a file's pieces or
    chunks; `more` left out of them past their first_limit_problems) and of the products
    `prints` skipped, as of one batch read whole."""
    if prints is not None and prints.skipped_limit_count:
        problems = [*problems, prints.skipped_limits]
        more += prints.skipped_limit_count - prints.skipped_limits.height
    return stripe_limit_messages(pl.concat(problems), more=more)


def stripe_limit_messages(found: pl.DataFrame, *, more: int = 0) -> list[str]:
    """The warnings of `stripe_limit_problems`: the first MAX_WARNINGS, then how many more
    (`more`: problems not in `found`, which come after its first MAX_WARNINGS)."""
    messages: list[str] = []
    for r in _in_order(found).head(MAX_WARNINGS).iter_rows(named=True):
        parts = []
        if r["n"] > STRIPE_MAX_KEYS:
            parts.append(f"{r['n']} metadata keys (Stripe allows {STRIPE_MAX_KEYS})")
        if r["long_keys"]:
            parts.append(
                f"keys longer than {STRIPE_MAX_KEY_CHARS} characters: {', '.join(map(repr, r['long_keys'][:5]))}"
            )
        if r["long_values"]:
            parts.append(
                f"values longer than {STRIPE_MAX_VALUE_CHARS} characters under:"
                f" {', '.join(map(repr, r['long_values'][:5]))}"
            )
        messages.append(
            f"{r['kind']} {r['id']!r} (row {r['row_number']}): {'; '.join(parts)};"
            " kept in full here, but Stripe would refuse it"
        )
    if found.height + more > MAX_WARNINGS:
        messages.append(
            f"and {found.height + more - MAX_WARNINGS} more objects exceed Stripe's metadata limits"
        )
    return messages
