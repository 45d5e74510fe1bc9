"""Row fingerprints: recognise the products of a file that are byte-for-byte what the source's
last import saw, so a re-import maps, validates and diffs only the rest (docs/import-semantics.md,
"Unchanged rows are skipped").

A product's fingerprint is a 64-bit hash of its raw rows, in file order (a changed product is
taken for unchanged only if its new rows collide with its old ones: odds of 2^-64). The `salt` covers everything else the
outcome depends on (header, mapping, the source's settings, every source's ownership, the import
mode and this module's version), so a fingerprint only ever matches under the same rules.
Pure functions over frames; the database side is store/snapshots.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  # registers the `nchash` expression namespace

from catalog_pipelines.mapping.apply import blank_to_null  # identifiers as the mapping reads them
from catalog_pipelines.normalized import ROW_NUMBER

# Bump when mapping, normalization or diff rules change what a row becomes: every stored
# fingerprint then stops matching, and the next import of each source takes the full path.
FINGERPRINT_VERSION = 1

# Prints matched against the snapshot at a time (`decide`): bounds what the search allocates.
MATCH_SLICE = 1_000_000
KEY = "external_id"
SNAPSHOT_SCHEMA: dict[str, Any] = {
    KEY: pl.Utf8,
    "fingerprint": pl.UInt64,  # null: always process (its rows had rejects or ignored changes)
    "product_id": pl.Utf8,
    "prices": pl.UInt32,  # what the product's rows hold, counted as unchanged when skipped
    "items": pl.UInt32,
}


ROW_SEED = 0x5EED


def salt(**parts: Any) -> str:
    """A digest of the rules a fingerprint was taken under (JSON of `parts`, sorted keys)."""
    versions = {"v": FINGERPRINT_VERSION, "polars": pl.__version__}
    text = json.dumps({**versions, **parts}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def product_key(key_column: str, parent_column: str | None) -> pl.Expr:
    """The external id of the product a raw row belongs to: its parent's, else its own."""
    own = blank_to_null(pl.col(key_column))
    if parent_column is None:
        return own
    return pl.coalesce(blank_to_null(pl.col(parent_column)), own)


def _row_hash(columns: list[str]) -> pl.Expr:
    # Polars' own row hash: a tenth of the time of xxh3 over a serialised row, and it tells a
    # missing cell from an empty one and "a,b"|"c" from "a"|"b,c". It is stable within one
    # Polars version only, so that version is part of the salt (an upgrade re-reads once).
    return pl.struct(columns).hash(ROW_SEED)


def product_fingerprints(rows: pl.DataFrame) -> pl.DataFrame:
    """(external_id, fingerprint) of each product key, from (external_id, _h) rows in file
    order. Rows without a key get no fingerprint (they are always processed)."""
    rows = rows.filter(pl.col(KEY).is_not_null())
    if rows[KEY].n_unique() == rows.height:  # one row per product: its row hash is its print
        return rows.rename({"_h": "fingerprint"})
    # Several rows: hash the ordered list of row hashes (order decides the first row's fields).
    joined = pl.col("_h").cast(pl.Utf8).str.join(",")
    return rows.group_by(KEY, maintain_order=True).agg(
        joined.nchash.xxh3_64().alias("fingerprint")  # type: ignore[attr-defined]
    )


@dataclass
class Known:
    """What the source's last import left: the fingerprints still valid now (those of products
    nobody changed since), and the keys of that import's file."""

    salt: str
    since: Any  # store.snapshots.Since: events after it outdate the snapshot's products
    valid: pl.DataFrame  # SNAPSHOT_SCHEMA rows still valid, fingerprint not null, by key
    previous_keys: pl.Series  # every key of the last file
    touched: frozenset[str] = frozenset()  # product ids changed since, by anyone


@dataclass
class Fingerprints:
    """A batch's fingerprints: every key of the file, and the products skipped as unchanged."""

    salt: str
    watermark: int
    prints: pl.DataFrame  # (external_id, fingerprint) of every key in the file
    row_keys: pl.DataFrame  # (row_number, external_id) of every raw row, to key its rejects
    skipped: pl.DataFrame  # SNAPSHOT_SCHEMA rows of the products not processed
    processed_keys: pl.Series  # keys whose rows were mapped, validated and diffed
    skipped_rows: int = 0  # the rows of the skipped products
    known: Known | None = None  # the snapshot read against; `valid` emptied once decided
    salt_parts: dict[str, Any] = field(default_factory=dict)  # header and mapping
    rules: dict[str, Any] = field(default_factory=dict)  # the import's, at read time

    @property
    def skipping(self) -> bool:
        return self.skipped.height > 0


@dataclass(frozen=True)
class SkipRequest:
    """What an import asks of a reader that can skip unchanged products: the source's last
    snapshot (None for none), the watermark its own snapshot will carry, and the rules of the
    import (source settings, ownership, mode) for the salt."""

    known: Known | None
    watermark: int
    rules: dict[str, Any]

    def salt_parts(self, *, header: list[str], mapping: Any) -> dict[str, Any]:
        fields = dataclasses.asdict(mapping)  # a Mapping (mapping/model.py)
        return {"header": header, "mapping": fields}


def row_prints(frame: pl.DataFrame, key_column: str, parent_column: str | None) -> pl.DataFrame:
    """(external_id, _h, row_number) of each raw row of `frame`: its product's key and the
    hash of its cells. A row's hash does not depend on the rows read with it, so a file read
    in pieces hashes as it would whole."""
    key = product_key(key_column, parent_column).alias(KEY)
    columns = [c for c in frame.columns if c != ROW_NUMBER]
    # Hash the cell columns on their own: beside the one-chunk row number, Polars would first
    # rechunk the reader's many-chunk columns and hash them on one thread (6x slower).
    return (
        frame.select(columns)
        .select(key, _row_hash(columns).alias("_h"))
        .with_columns(frame[ROW_NUMBER])
    )


def decide(
    rows: pl.DataFrame,
    refused: pl.DataFrame,
    *,
    salt_parts: dict[str, Any],
    request: SkipRequest,
) -> tuple[pl.Series, Fingerprints]:
    """Which of `rows` (`row_prints` of every row the reader kept, in file order) to process,
    as a mask, and the batch's `Fingerprints`. `refused` is (row_number, external_id) of the
    rows the reader rejected. A product is skipped when its fingerprint equals the still-valid
    one of the last import and none of its rows was rejected."""
    salt_value = salt(**salt_parts, **request.rules)
    keys = rows.select(ROW_NUMBER, KEY)
    if refused.height:  # the rows the reader refused still name their product
        keys = pl.concat([keys, refused.select(ROW_NUMBER, KEY)]).sort(ROW_NUMBER)
    prints = product_fingerprints(rows.select(KEY, "_h"))
    refused_keys = refused[KEY].drop_nulls()
    known = request.known
    skipped = pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    processed = prints[KEY]
    keep = pl.repeat(True, rows.height, dtype=pl.Boolean, eager=True)
    if known is not None and known.salt == salt_value and known.valid.height:
        valid = known.valid.sort(KEY)  # no copy when it is flagged sorted (load_known)
        same, matched = _still_valid(prints, valid, refused_keys)
        # in the snapshot's order: the rows are shared with it, not copied, where runs of
        # its keys are skipped (all of them, for a file that did not change)
        skipped = valid.select(list(SNAPSHOT_SCHEMA)).filter(pl.Series(matched))
        del valid, matched
        processed = prints.filter(~same)[KEY]
        if skipped.height:
            if prints.height == rows.height:  # one row per key, in the same order
                keep = ~same
            else:
                keep = ~rows[KEY].is_in(skipped[KEY].implode()).fill_null(False)
        # decided: the batch keeps the snapshot's keys, and of its rows only `skipped`
        known = replace(known, valid=known.valid.clear())
    if refused_keys.len():
        processed = pl.concat([processed, refused_keys]).unique()
    return keep, Fingerprints(
        salt=salt_value,
        watermark=request.watermark,
        prints=prints,
        row_keys=keys,
        skipped=skipped,
        processed_keys=processed,
        skipped_rows=rows.height - int(keep.sum()),
        known=known,
        salt_parts=salt_parts,
        rules=request.rules,
    )


def _still_valid(
    prints: pl.DataFrame, valid: pl.DataFrame, refused_keys: pl.Series
) -> tuple[pl.Series, np.ndarray]:
    """A mask of `prints` whose (key, fingerprint) the snapshot `valid` (sorted by key) still
    holds, but for `refused_keys`; and the mask of `valid`'s rows so matched. A binary search,
    a slice of prints at a time, gathering only the two columns compared: the hash join kept
    ~250 MB a million keys, and a gather of every column a copy of the snapshot."""
    parts: list[pl.Series] = []
    matched = np.zeros(valid.height, dtype=bool)
    for part in prints.iter_slices(MATCH_SLICE):
        at = valid[KEY].search_sorted(part[KEY], side="left").clip(0, valid.height - 1)
        same = (valid[KEY].gather(at) == part[KEY]) & (
            valid["fingerprint"].gather(at) == part["fingerprint"]
        )
        if refused_keys.len():
            same = same & ~part[KEY].is_in(refused_keys.implode())
        same = same.fill_null(False)
        matched[at.filter(same).to_numpy()] = True
        parts.append(same)
    return pl.concat(parts), matched


def refused_rows(
    raw: pl.DataFrame, numbers: Collection[int], key_column: str, parent_column: str | None
) -> pl.DataFrame:
    """(row_number, external_id) of the rows of `raw` the reader refused, for `decide`."""
    return raw.filter(pl.col(ROW_NUMBER).is_in(list(numbers))).select(
        ROW_NUMBER, product_key(key_column, parent_column).alias(KEY)
    )


def split(
    all_rows: pl.DataFrame,
    frame: pl.DataFrame,
    key_column: str,
    parent_column: str | None,
    *,
    salt_parts: dict[str, Any],
    request: SkipRequest,
    rejected_rows: set[int],
) -> tuple[pl.DataFrame, Fingerprints]:
    """The raw rows to process and the batch's `Fingerprints`, for a file read whole:
    `all_rows` is every raw row, `frame` those the reader kept (`rejected_rows` are the
    others)."""
    refused = refused_rows(all_rows, rejected_rows, key_column, parent_column)
    rows = row_prints(frame, key_column, parent_column)
    keep, prints = decide(rows, refused, salt_parts=salt_parts, request=request)
    return (frame.filter(keep) if prints.skipping else frame), prints


@dataclass(frozen=True)
class ValidPrints:
    """The still-valid fingerprints, arranged once for `maybe_skipped`'s binary searches."""

    prints: np.ndarray  # sorted UInt64 fingerprints
    keys: pl.Series  # sorted keys


def valid_prints(known: Known) -> ValidPrints:
    return ValidPrints(
        prints=np.sort(known.valid["fingerprint"].to_numpy()), keys=known.valid[KEY].sort()
    )


def maybe_skipped(rows: pl.DataFrame, valid: ValidPrints) -> pl.Series:
    """A mask of `rows` (`row_prints` of a piece of the file) that may belong to a skipped
    product: the row hashes to a still-valid fingerprint (a product of one row), or its key
    has several rows in the piece and a still-valid fingerprint. A reader in pieces need not
    keep these rows; `decide` has the last word, and the reader goes back for the rows of a
    product it did not skip after all. Binary searches: a join or `is_in` would hash every
    valid fingerprint again for each piece."""
    if not valid.prints.size or not rows.height:
        return pl.repeat(False, rows.height, dtype=pl.Boolean, eager=True)
    hashes = rows["_h"].fill_null(0).to_numpy()
    order = np.argsort(hashes)  # sorted needles: each search starts where the last ended
    at = np.empty_like(order)
    at[order] = np.searchsorted(valid.prints, hashes[order])
    at = np.minimum(at, valid.prints.size - 1)
    same = pl.Series(valid.prints[at] == hashes) & rows["_h"].is_not_null()
    several = rows[KEY].is_duplicated() & rows[KEY].is_not_null()
    if several.any():
        keys = rows[KEY].fill_null("")
        found = valid.keys.gather(
            valid.keys.search_sorted(keys, side="left").clip(0, valid.keys.len() - 1)
        )
        several = several & (found == keys)
    return (same | several).fill_null(False)


def snapshot_frames(
    prints: Fingerprints,
    product_ids: pl.DataFrame,
    variants: pl.DataFrame,
    *,
    rejected_rows: list[int],
    ignored_products: pl.Series,
    warned_keys: pl.Series | None = None,
) -> list[pl.DataFrame]:
    """The snapshot an applied import leaves, as two frames (a concat would copy the
    skipped products' rows): every key of its file, with the fingerprint of
    each product it processed cleanly or skipped. No fingerprint (processed again next time)
    for a key with a rejected row, for a product with changes its source does not own, or
    for a key that made no product, or for one the import warned about (`warned_keys`): a
    run that skipped it would not repeat the warning.

    `product_ids` is (external_id, id) of the processed products, `variants` their variants.
    Skipped products keep their rows as they are; only the processed keys are looked up."""
    per_product = (
        variants.lazy()
        .group_by("product_external_id")
        .agg(
            pl.col("unit_amount").is_not_null().sum().cast(pl.UInt32).alias("prices"),
            pl.col("sku").is_not_null().sum().cast(pl.UInt32).alias("items"),
        )
    )
    dirty = pl.concat(
        [
            prints.row_keys.filter(pl.col(ROW_NUMBER).is_in(rejected_rows))[KEY],
            product_ids.filter(pl.col("id").is_in(ignored_products.implode()))[KEY],
            *([warned_keys.cast(pl.Utf8)] if warned_keys is not None else []),
        ]
    ).drop_nulls()
    keys = prints.processed_keys.to_frame(KEY).lazy()
    fingerprints = prints.prints.lazy()
    if prints.skipping:  # a small share of the file: pick its prints out by key
        fingerprints = fingerprints.filter(pl.col(KEY).is_in(prints.processed_keys.implode()))
    # one lazy query: the joined frames of a million keys never exist side by side
    processed = (
        keys.join(fingerprints, on=KEY, how="left")
        .join(product_ids.lazy().rename({"id": "product_id"}), on=KEY, how="left")
        .join(per_product, left_on=KEY, right_on="product_external_id", how="left")
        .with_columns(pl.col("prices", "items").fill_null(0))
        .with_columns(
            pl.when(pl.col("product_id").is_null() | pl.col(KEY).is_in(dirty.implode()))
            .then(None)
            .otherwise("fingerprint")
            .alias("fingerprint")
        )
        .select(list(SNAPSHOT_SCHEMA))
        .collect()
    )
    return [
        frame.select(list(SNAPSHOT_SCHEMA)).cast(SNAPSHOT_SCHEMA)  # type: ignore[arg-type]
        for frame in (processed, prints.skipped)
    ]
