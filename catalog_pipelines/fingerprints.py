"""Row fingerprints: recognise the products of a file that are byte-for-byte what the source's
last import saw, so a re-import maps, validates and diffs only the rest (docs/import-semantics.md,
"Unchanged rows are skipped").

A product's fingerprint is a 64-bit hash of its raw rows, in file order (a changed product is
taken for unchanged only if its new rows collide with its old ones: odds of 2^-64). The `salt`
covers everything else the outcome depends on (header, mapping, the source's settings, every
source's ownership, the import mode and this module's version), so a fingerprint only ever
matches under the same rules. Pure functions and types over frames; the decision is
skip_decision.py, the database side store/snapshots.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  # registers the `nchash` expression namespace

from catalog_pipelines.mapping.apply import blank_to_null  # identifiers as the mapping reads them
from catalog_pipelines.normalized import ROW_NUMBER
from catalog_pipelines.spill import Held, Spill, hold

# Bump when mapping, normalization or diff rules change what a row becomes: every stored
# fingerprint then stops matching, and the next import of each source takes the full path.
# 2: a product of one row prints as its row, in any file; 3: the snapshot keeps `limits`
FINGERPRINT_VERSION = 3

KEY = "external_id"
# What validation.stripe_limit_problems says of one object over Stripe's metadata limits, with
# `k`, the object's row as the how-manieth row of its product (in file order) instead of its row
# number: a skipped product's rows can sit elsewhere in the next file, in the same order.
LIMIT_FIELDS: dict[str, Any] = {
    "kind": pl.Utf8,
    "id": pl.Utf8,
    "k": pl.UInt32,
    "n": pl.UInt32,
    "long_keys": pl.List(pl.Utf8),
    "long_values": pl.List(pl.Utf8),
}
# stripe_limit_problems' rows: each object's row number and product key with LIMIT_FIELDS
LIMIT_PROBLEMS_SCHEMA: dict[str, Any] = {
    "row_number": pl.Int64,
    "product": pl.Utf8,
    **{name: dtype for name, dtype in LIMIT_FIELDS.items() if name != "k"},
}
SNAPSHOT_SCHEMA: dict[str, Any] = {
    KEY: pl.Utf8,
    "fingerprint": pl.UInt64,  # null: always process (its rows had rejects or ignored changes)
    "product_id": pl.Utf8,
    "prices": pl.UInt32,  # what the product's rows hold, counted as unchanged when skipped
    "items": pl.UInt32,
    # the product's LIMIT_FIELDS problems, so a skipped product's warnings are still reported
    "limits": pl.List(pl.Struct(LIMIT_FIELDS)),
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
    order. Rows without a key get no fingerprint (they are always processed). A product's
    print depends on its own rows only, never on the rows read beside it (a file decided a key
    range at a time prints as it would whole): its row's hash when it has one row."""
    rows = rows.filter(pl.col(KEY).is_not_null())
    # One row per product: its row hash is its print. Counting the keys' hashes is exact
    # enough (a collision only takes the slower path) and several times faster on strings.
    if rows[KEY].hash(ROW_SEED).n_unique() == rows.height:
        return rows.rename({"_h": "fingerprint"})
    # Several rows: hash the ordered list of row hashes (order decides the first row's fields).
    joined = pl.col("_h").cast(pl.Utf8).str.join(",").nchash.xxh3_64()  # type: ignore[attr-defined]
    one = pl.len() == 1
    return rows.group_by(KEY, maintain_order=True).agg(
        pl.when(one).then(pl.col("_h").first()).otherwise(joined).alias("fingerprint")
    )


VALID = "_valid"  # a snapshot row's fingerprint is still valid (`valid_row`)


def valid_row(touched: Collection[str]) -> pl.Expr:
    """A snapshot row can be skipped: it has a fingerprint and a product that nobody changed
    since (`touched`: the products changed since)."""
    return (
        pl.col("fingerprint").is_not_null()
        & pl.col("product_id").is_not_null()
        & ~pl.col("product_id").is_in(list(touched))
    )


def key_range(keys: pl.Expr, ranges: int) -> pl.Expr:
    """Which of `ranges` key ranges a key falls in. xxh3, not Polars' own hash: stored
    snapshots are split by it, and it must not move with a Polars upgrade."""
    hashed = keys.nchash.xxh3_64()  # type: ignore[attr-defined]
    return (hashed % ranges).fill_null(0).cast(pl.UInt32)


def by_range(frame: pl.DataFrame, ranges: int) -> list[pl.DataFrame]:
    """`frame`'s rows split by the key range of their KEY, in order, one frame per range."""
    if ranges == 1:
        return [frame]
    parts = frame.with_columns(key_range(pl.col(KEY), ranges).alias("_range")).partition_by(
        "_range", as_dict=True, include_key=False, maintain_order=True
    )
    return [parts.get((i,), frame.clear()) for i in range(ranges)]


@dataclass
class Known:
    """What the source's last import left, split by key range (`key_range`): every key of
    its file with SNAPSHOT_SCHEMA and whether it is still VALID (nobody changed its product
    since). A range is held on disk when there are several, so a decision holds one."""

    salt: str
    since: Any  # store.snapshots.Since: events after it outdate the snapshot's products
    ranges: list[Held | None]  # None once decided
    previous_count: int  # keys of the last file
    valid_count: int  # of which still valid
    # their fingerprints, a range's at a time, taken as each range was read: a reader
    # searches them before any range is decided, and reading the spilled ranges back again
    # for them took 1.5 s of a 10M-row no-op (skip_decision.valid_prints takes them)
    valid_fingerprints: list[np.ndarray]
    touched: frozenset[str] = frozenset()  # product ids changed since, by anyone

    def range(self, i: int) -> tuple[pl.Series, pl.DataFrame]:
        """Range `i` for its decision, which takes it (its frame goes once decided): the keys
        of the last file that have no valid print, and the still-valid rows sorted by key."""
        held = self.ranges[i]
        if held is None:
            raise RuntimeError(f"key range {i} of the snapshot was decided already")
        self.ranges[i] = None
        frame = held.frame()
        del held
        valid = frame.filter(VALID).select(list(SNAPSHOT_SCHEMA)).sort(KEY)
        return frame.filter(~pl.col(VALID))[KEY], valid

    def whole(self) -> tuple[pl.Series, pl.DataFrame]:
        """`range` over every range at once."""
        parts = [self.range(i) for i in range(len(self.ranges))]
        if len(parts) == 1:
            return parts[0]
        stale = pl.concat([keys for keys, _ in parts])
        return stale, pl.concat([valid for _, valid in parts]).sort(KEY)

    def frames(self) -> Iterator[pl.DataFrame]:
        """Each range not decided yet, VALID included."""
        return (held.frame() for held in self.ranges if held is not None)


def valid_fingerprints(flagged: pl.DataFrame) -> np.ndarray:
    """The fingerprints of the VALID rows of `flagged` (never null: `valid_row`)."""
    return flagged.filter(VALID)["fingerprint"].to_numpy()


def as_snapshot(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (a stored chunk) with SNAPSHOT_SCHEMA: one saved before a column existed has it
    null (its salt no longer matches anyway)."""
    missing = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in SNAPSHOT_SCHEMA.items()
        if name not in frame.columns
    ]
    return frame.with_columns(missing).select(list(SNAPSHOT_SCHEMA)).cast(SNAPSHOT_SCHEMA)  # type: ignore[arg-type]


NO_LIMIT_PROBLEMS = pl.DataFrame(schema=LIMIT_PROBLEMS_SCHEMA)
_NO_LIMITS = pl.DataFrame(schema={KEY: pl.Utf8, "limits": SNAPSHOT_SCHEMA["limits"]})


def _positions(rows: pl.DataFrame) -> pl.DataFrame:
    """(external_id, row_number, k) of `rows`: k counts each product's rows in file order."""
    return (
        rows.select(KEY, pl.col(ROW_NUMBER).cast(pl.Int64))
        .sort(ROW_NUMBER)
        .with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(KEY).alias("k"))
    )


def product_limits(
    problems: pl.DataFrame, row_keys: pl.DataFrame
) -> tuple[pl.DataFrame, pl.Series]:
    """(external_id, limits) of the products with `problems` (LIMIT_PROBLEMS_SCHEMA rows), each
    problem placed by its row among the product's rows in `row_keys` (row_number,
    external_id); and the products with a problem on none of their rows, which cannot be
    skipped (their warning could not be placed again)."""
    if not problems.height:
        return _NO_LIMITS, pl.Series(KEY, [], dtype=pl.Utf8)
    problems = problems.select(list(LIMIT_PROBLEMS_SCHEMA)).cast(LIMIT_PROBLEMS_SCHEMA)  # type: ignore[arg-type]
    wanted = problems["product"].unique().drop_nulls().implode()
    positions = _positions(row_keys.filter(pl.col(KEY).is_in(wanted)))
    placed = problems.join(
        positions, left_on=["product", "row_number"], right_on=[KEY, ROW_NUMBER], how="left"
    )
    unplaced = placed.filter(pl.col("k").is_null() | pl.col("product").is_null())["product"]
    limits = (
        placed.filter(~pl.col("product").is_in(unplaced.drop_nulls().unique().implode()))
        .filter(pl.col("product").is_not_null())
        .group_by("product", maintain_order=True)
        .agg(pl.struct(list(LIMIT_FIELDS)).alias("limits"))
        .rename({"product": KEY})
    )
    return limits.cast({"limits": SNAPSHOT_SCHEMA["limits"]}), unplaced.drop_nulls().alias(KEY)


def placed_limits(skipped: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """LIMIT_PROBLEMS_SCHEMA rows of the `skipped` products (SNAPSHOT_SCHEMA rows), at their rows
    in this file: `rows` (external_id, row_number) holds every row of them, in the order
    they printed in last time, so every problem's `k` finds its row."""
    with_limits = skipped.filter(pl.col("limits").is_not_null()).select(KEY, "limits")
    if not with_limits.height:
        return NO_LIMIT_PROBLEMS
    positions = _positions(rows.filter(pl.col(KEY).is_in(with_limits[KEY].implode())))
    return (
        with_limits.explode("limits")
        .unnest("limits")
        .join(positions, on=[KEY, "k"], how="left")
        .rename({KEY: "product"})
        .select(list(LIMIT_PROBLEMS_SCHEMA))
        .cast(LIMIT_PROBLEMS_SCHEMA)  # type: ignore[arg-type]
    )


def known_from(
    snapshot: pl.DataFrame,
    *,
    salt: str,
    since: Any,
    touched: frozenset[str] = frozenset(),
    ranges: int = 1,
    spill: Spill | None = None,
) -> Known:
    """A `Known` of SNAPSHOT_SCHEMA rows held whole (store/snapshots.py reads a range at a
    time instead)."""
    flagged = snapshot.with_columns(valid_row(touched).alias(VALID))
    return Known(
        salt=salt,
        since=since,
        ranges=[hold(part, spill) for part in by_range(flagged, ranges)],
        previous_count=flagged.height,
        valid_count=int(flagged[VALID].sum()),
        valid_fingerprints=[valid_fingerprints(flagged)],
        touched=touched,
    )


@dataclass
class Skipped:
    """The SNAPSHOT_SCHEMA rows of the products skipped as unchanged, a key range at a time
    (on disk when the file was decided in several), and what the plan counts of them."""

    parts: list[Held] = field(default_factory=list)
    height: int = 0
    prices: int = 0
    items: int = 0

    @classmethod
    def of(cls, frames: Iterable[pl.DataFrame], spill: Spill | None = None) -> Skipped:
        skipped = cls()
        for frame in frames:
            skipped.add(frame, spill)
        return skipped

    def add(self, frame: pl.DataFrame, spill: Spill | None) -> None:
        if frame.height:
            self.parts.append(hold(frame, spill))
            self.height += frame.height
            self.prices += int(frame["prices"].sum())
            self.items += int(frame["items"].sum())

    def merge(self, other: Skipped) -> None:
        """Take the parts `other` holds (a key range decided, and spilled, in a thread)."""
        self.parts.extend(other.parts)
        self.height += other.height
        self.prices += other.prices
        self.items += other.items

    def frames(self) -> Iterator[pl.DataFrame]:
        return (part.frame() for part in self.parts)

    def frame(self) -> pl.DataFrame:
        """Every row at once (small batches and tests)."""
        frames = list(self.frames())
        return pl.concat(frames) if frames else pl.DataFrame(schema=SNAPSHOT_SCHEMA)

    def any_product_in(self, ids: pl.Series) -> bool:
        if not ids.len():
            return False
        wanted = ids.implode()
        return any(bool(f["product_id"].is_in(wanted).any()) for f in self.frames())

    def keys_among(self, keys: pl.Series) -> pl.Series:
        """The skipped keys that are among `keys`."""
        wanted = keys.implode()
        found = [f[KEY].filter(f[KEY].is_in(wanted)) for f in self.frames()]
        return pl.concat(found) if found else pl.Series(KEY, [], dtype=pl.Utf8)


@dataclass
class Fingerprints:
    """A batch's fingerprints: those of the products it processes, and the products skipped
    as unchanged."""

    salt: str
    watermark: int
    prints: pl.DataFrame  # (external_id, fingerprint) of every processed key
    row_keys: pl.DataFrame  # (row_number, external_id) of every processed or refused row
    skipped: Skipped
    processed_keys: pl.Series  # keys whose rows were mapped, validated and diffed
    gone: pl.Series  # keys of the last import's file that are not in this one
    skipped_rows: int = 0  # the rows of the skipped products
    known: Known | None = None  # the snapshot decided against, its ranges dropped
    salt_parts: dict[str, Any] = field(default_factory=dict)  # header and mapping
    rules: dict[str, Any] = field(default_factory=dict)  # the import's, at read time
    # keys the reader warned about (ParsedBatch.warned_keys): processed again next time
    warned: pl.Series = field(default_factory=lambda: pl.Series(KEY, [], dtype=pl.Utf8))
    # the skipped products' problems with Stripe's limits at their rows in this file: the
    # first ones a warning can show (validation.first_limit_problems), and how many in all
    skipped_limits: pl.DataFrame = field(default_factory=NO_LIMIT_PROBLEMS.clear)
    skipped_limit_count: int = 0

    @property
    def skipping(self) -> bool:
        return self.skipped.height > 0


class Unskippable(Exception):
    """This file cannot be read with fingerprints: read it the usual way."""


@dataclass(frozen=True)
class SkipRequest:
    """What an import asks of a reader that can skip unchanged products: the source's last
    snapshot (None for none), the watermark its own snapshot will carry, and the rules of the
    import (source settings, ownership, mode) for the salt."""

    known: Known | None
    watermark: int
    rules: dict[str, Any]
    # Given each batch of kept rows as it is mapped, when they are mapped a chunk at a time
    # (validated_chunks.py); the reader then returns the batch without its rows.
    chunks: Callable[[Any], None] | None = None

    def salt_parts(self, *, header: list[str], mapping: Any) -> dict[str, Any]:
        fields = dataclasses.asdict(mapping)  # a Mapping (mapping/model.py)
        return {"header": header, "mapping": fields}


def row_prints(
    frame: pl.DataFrame,
    key_column: str | None = None,
    parent_column: str | None = None,
    *,
    key: pl.Expr | None = None,
) -> pl.DataFrame:
    """(external_id, _h, row_number) of each raw row of `frame`: its product's key (the
    `product_key` of its columns, or `key`) and the hash of its cells. A row's hash does not
    depend on the rows read with it, so a file read in pieces hashes as it would whole."""
    if key is None:
        assert key_column is not None
        key = product_key(key_column, parent_column)
    key = key.alias(KEY)
    columns = [c for c in frame.columns if c != ROW_NUMBER]
    # Hash the cell columns on their own: beside the one-chunk row number, Polars would first
    # rechunk the reader's many-chunk columns and hash them on one thread (6x slower).
    return (
        frame.select(columns)
        .select(key, _row_hash(columns).alias("_h"))
        .with_columns(frame[ROW_NUMBER])
    )


def snapshot_frames(
    prints: Fingerprints,
    product_ids: pl.DataFrame,
    variants: pl.DataFrame,
    *,
    rejected_rows: list[int],
    ignored_products: pl.Series,
    limit_problems: pl.DataFrame,
) -> SnapshotRows:
    """The snapshot an applied import leaves, the processed products' rows and then the
    skipped ones' as they are held (a concat would copy them): every key of its file, with
    the fingerprint of each product it processed cleanly or skipped. No fingerprint (processed
    again next time) for a key with a rejected row, for a product with changes its source
    does not own, for a key that made no product, or for one its reader warned about
    (`prints.warned`): a run that skipped it would not repeat the warning. A product over
    Stripe's metadata limits (`limit_problems`, stripe_limit_problems of the processed
    products) keeps its problems in `limits` instead, so a run that skips it still reports
    them.

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
    limits, unplaced = product_limits(limit_problems, prints.row_keys)
    dirty = pl.concat(
        [
            prints.row_keys.filter(pl.col(ROW_NUMBER).is_in(rejected_rows))[KEY],
            product_ids.filter(pl.col("id").is_in(ignored_products.implode()))[KEY],
            unplaced,
            prints.warned,
        ]
    ).drop_nulls()
    keys = prints.processed_keys.to_frame(KEY).lazy()
    fingerprints = prints.prints.lazy()
    # one lazy query: the joined frames of a million keys never exist side by side
    processed = (
        keys.join(fingerprints, on=KEY, how="left")
        .join(product_ids.lazy().rename({"id": "product_id"}), on=KEY, how="left")
        .join(per_product, left_on=KEY, right_on="product_external_id", how="left")
        .join(limits.lazy(), on=KEY, how="left")
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
    frames = chain([processed], prints.skipped.frames())
    return SnapshotRows(
        processed.height + prints.skipped.height,
        (f.select(list(SNAPSHOT_SCHEMA)).cast(SNAPSHOT_SCHEMA) for f in frames),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class SnapshotRows:
    """A snapshot to save: how many keys, and its rows in frames read one at a time."""

    count: int
    frames: Iterable[pl.DataFrame]
