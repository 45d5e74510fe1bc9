"""A large frame mapped a chunk of rows at a time, when that gives what mapping it whole gives.

`apply_mapping` relates rows to each other only through their identifiers: rows sharing a key
are one product, a child row names its parent's key, and a variant key (a SKU, a child's
key, or the product's key) may be used once. So when no key, parent key or SKU value appears
in two chunks, each chunk maps on its own, and the chunks' batches, put back in row order,
are the batch of the whole frame. The mapping's working frames then hold one chunk's rows at a
time, and a reader that kept its rows on disk reads one chunk back at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import polars as pl

from catalog_pipelines.mapping.apply import apply_mapping, blank_to_null
from catalog_pipelines.mapping.model import Mapping
from catalog_pipelines.normalized import ParsedBatch, Reject


def identity_tokens(frame: pl.DataFrame, mapping: Mapping) -> pl.Series:
    """Hashes of the identifiers of `frame`'s rows, as `apply_mapping` reads them: its key (or
    SKU, for a mapping without a key), parent key and SKU values. Two rows whose identifiers
    could relate them share a token (a hash collision only makes the test stricter)."""
    sku = mapping.fields.get("sku")
    columns = [mapping.key or sku, mapping.parent_key, sku]
    present = [c for c in dict.fromkeys(columns) if c is not None and c in frame.columns]
    if not present:
        return pl.Series("token", [], dtype=pl.UInt64)
    values = frame.select(pl.concat_list(blank_to_null(pl.col(c)) for c in present).alias("v"))
    return values["v"].explode().drop_nulls().hash(seed=0).alias("token")


def independent(tokens: Sequence[pl.Series]) -> bool:
    """Whether no token of one chunk (`identity_tokens` of its rows) is in another chunk."""
    each = pl.concat([t.unique() for t in tokens])  # a token once per chunk
    return not each.is_duplicated().any()


def map_in_chunks(
    chunks: Iterable[pl.DataFrame],
    mapping: Mapping,
    *,
    source: str,
    rows_read: int,
    rejects: Sequence[Reject] = (),
    skipped_rows: int = 0,
    each: Callable[[ParsedBatch], None] | None = None,
    require_columns: bool = True,
) -> ParsedBatch:
    """`apply_mapping` of the chunks' rows together, for chunks in row order that are
    `independent` (one chunk is the whole frame) and have the same columns. Each chunk is
    mapped, then let go, before the next is asked for. With `each`, each chunk's batch goes to
    it as it is mapped, and the batch returned keeps only the counts and rejects: its frames
    are empty."""
    parts: list[ParsedBatch] = []
    for chunk in chunks:
        part = apply_mapping(
            chunk, mapping, source=source, rows_read=chunk.height, require_columns=require_columns
        )
        del chunk
        if each is not None:
            each(part)
            part = replace(part, products=part.products.clear(), variants=part.variants.clear())
        parts.append(part)
    batch = ParsedBatch(
        input_name=source,
        rows_read=rows_read,
        products=pl.concat([p.products for p in parts], rechunk=False),
        variants=pl.concat([p.variants for p in parts], rechunk=False),
        rejects=sorted([*rejects, *(r for p in parts for r in p.rejects)], key=_row_number),
        columns=parts[0].columns,
        unmapped_columns=parts[0].unmapped_columns,
        rows_valid=sum(p.rows_valid or 0 for p in parts) + skipped_rows,
        stock_only=mapping.stock_only,
    )
    batch.check_reconciles()
    return batch


def _row_number(reject: Reject) -> int:
    return reject.row_number
