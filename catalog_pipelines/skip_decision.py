"""Which products of a re-import to skip as unchanged: the file's fingerprints against the
still-valid ones of the source's last import (fingerprints.py), for a file read whole or, a
key range at a time, for one read in pieces. Pure functions over frames."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from catalog_pipelines.fingerprints import (
    KEY,
    NO_LIMIT_PROBLEMS,
    SNAPSHOT_SCHEMA,
    Fingerprints,
    Known,
    Skipped,
    SkipRequest,
    by_range,
    placed_limits,
    product_fingerprints,
    product_key,
    row_prints,
    salt,
    valid_fingerprints,
)
from catalog_pipelines.normalized import ROW_NUMBER
from catalog_pipelines.read_ahead import mapped_ahead
from catalog_pipelines.spill import Held, Spill
from catalog_pipelines.validation import first_limit_problems

# Prints matched against the snapshot at a time (`decide`): bounds what the search allocates.
MATCH_SLICE = 1_000_000


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
    known = _comparable(request.known, salt_value)
    stale, valid = known.whole() if known is not None else (None, _NONE_VALID)
    decided = _decide_range(rows, refused, stale, valid)
    del stale, valid
    keep = decided.keep
    skipped = Skipped.of([decided.skipped])
    return keep, _merged(
        [decided], skipped, rows.height - int(keep.sum()), salt_value, salt_parts, request
    )


def decide_by_range(
    ranges: list[list[Held]],
    refused: pl.DataFrame,
    *,
    salt_parts: dict[str, Any],
    request: SkipRequest,
    spill: Spill | None,
) -> tuple[pl.Series, Fingerprints]:
    """`decide` one key range at a time, for a reader that split its `row_prints` by
    `by_range` over the snapshot's ranges: only one range of the file's prints and of the
    snapshot is in memory at once. Returns the row numbers to process, sorted, and the
    batch's `Fingerprints` (its skipped rows held in `spill`)."""
    salt_value = salt(**salt_parts, **request.rules)
    known = _comparable(request.known, salt_value)  # None: every row is processed
    assert known is None or len(known.ranges) == len(ranges)
    refused_parts = by_range(refused, len(ranges))

    def decide_one(i: int) -> tuple[int, pl.Series, _Decided, Skipped]:
        """Range `i`'s row count, row numbers to process, decision and skipped products
        (held in `spill` already: nearly all of the snapshot's rows)."""
        held = ranges[i]
        rows = pl.concat([h.frame() for h in held]) if held else _NO_ROWS
        held.clear()
        stale, valid = known.range(i) if known is not None else (None, _NONE_VALID)
        part = _decide_range(rows, refused_parts[i], stale, valid)
        del stale, valid
        return (
            rows.height,
            rows.filter(part.keep)[ROW_NUMBER],
            replace(part, keep=part.keep.clear(), skipped=_NONE_VALID),
            Skipped.of([part.skipped], spill),
        )

    decided: list[_Decided] = []
    wanted: list[pl.Series] = []
    skipped, skipped_rows = Skipped(), 0
    # Two ranges at once, in threads: the file is read by now, so both cores are free (a
    # 10M-row no-op spent 8 s here on one).
    for height, kept, part, its_skipped in mapped_ahead(
        decide_one, range(len(ranges)), name="decide"
    ):
        skipped_rows += height - kept.len()
        wanted.append(kept)
        skipped.merge(its_skipped)
        decided.append(part)
    return pl.concat(wanted).sort(), _merged(
        decided, skipped, skipped_rows, salt_value, salt_parts, request
    )


_NONE_VALID = pl.DataFrame(schema=SNAPSHOT_SCHEMA)
_NO_ROWS = pl.DataFrame(schema={KEY: pl.Utf8, "_h": pl.UInt64, ROW_NUMBER: pl.Int64})


def _comparable(known: Known | None, salt_value: str) -> Known | None:
    """`known` when its fingerprints were taken under these rules and some are still valid."""
    if known is not None and known.salt == salt_value and known.valid_count:
        return known
    return None


@dataclass(frozen=True)
class _Decided:
    """One key range's decision (`_decide_range`)."""

    keep: pl.Series  # a mask of its rows to process
    prints: pl.DataFrame  # (external_id, fingerprint) of its processed keys
    row_keys: pl.DataFrame  # (row_number, external_id) of its processed and refused rows
    skipped: pl.DataFrame  # SNAPSHOT_SCHEMA rows of its skipped products
    processed: pl.Series
    gone: pl.Series  # its keys of the last file that are not in this one
    # its skipped products' problems with Stripe's limits (first_limit_problems), how many
    limits: pl.DataFrame = field(default_factory=NO_LIMIT_PROBLEMS.clear)
    limit_count: int = 0


def _decide_range(
    rows: pl.DataFrame, refused: pl.DataFrame, stale: pl.Series | None, valid: pl.DataFrame
) -> _Decided:
    """The decision for the `rows` and `refused` rows of one key range (or of all), against
    that range of the snapshot (None: none to compare with): the `stale` keys of the last
    file, whose prints are not valid, and the still-`valid` rows, sorted by key."""
    prints = product_fingerprints(rows.select(KEY, "_h"))
    refused_keys = refused[KEY].drop_nulls()
    skipped = _NONE_VALID
    keep = pl.repeat(True, rows.height, dtype=pl.Boolean, eager=True)
    processed_prints, unmatched = prints, valid[KEY]
    if valid.height:
        same, matched = _still_valid(prints, valid, refused_keys)
        # in the snapshot's order: the rows are shared with it, not copied, where runs of
        # its keys are skipped (all of them, for a file that did not change)
        skipped = valid.filter(pl.Series(matched))
        unmatched = valid[KEY].filter(pl.Series(~matched))
        del matched
        processed_prints = prints.filter(~same)
        if skipped.height:
            if prints.height == rows.height:  # one row per key, in the same order
                keep = ~same
            else:
                keep = ~rows[KEY].is_in(skipped[KEY].implode()).fill_null(False)
    processed = processed_prints[KEY]
    if refused_keys.len():
        processed = pl.concat([processed, refused_keys]).unique()
    row_keys = (rows.filter(keep) if skipped.height else rows).select(ROW_NUMBER, KEY)
    if refused.height:  # the rows the reader refused still name their product
        row_keys = pl.concat([row_keys, refused.select(ROW_NUMBER, KEY)])
    gone = pl.Series(KEY, [], dtype=pl.Utf8)
    if stale is not None:
        # A key of the last file that is still in this one was skipped, or processed (its
        # print moved or was not valid), or refused: only the others are gone. Searching the
        # few unskipped keys, not the whole file's, keeps the lookup small.
        gone = (
            pl.concat([stale, unmatched])
            .to_frame(KEY)
            .join(processed.to_frame(KEY), on=KEY, how="anti")[KEY]
        )
    limits = placed_limits(skipped, rows) if skipped.height else NO_LIMIT_PROBLEMS
    return _Decided(
        keep,
        processed_prints,
        row_keys,
        skipped,
        processed,
        gone,
        first_limit_problems(limits),
        limits.height,
    )


def _merged(
    decided: list[_Decided],
    skipped: Skipped,
    skipped_rows: int,
    salt_value: str,
    salt_parts: dict[str, Any],
    request: SkipRequest,
) -> Fingerprints:
    """The batch's `Fingerprints` from its ranges' decisions."""
    known = request.known
    return Fingerprints(
        salt=salt_value,
        watermark=request.watermark,
        prints=pl.concat([d.prints for d in decided]),
        row_keys=pl.concat([d.row_keys for d in decided]).sort(ROW_NUMBER),
        skipped=skipped,
        processed_keys=pl.concat([d.processed for d in decided]),
        gone=pl.concat([d.gone for d in decided]),
        skipped_rows=skipped_rows,
        # decided: the batch keeps the snapshot's counts, not its rows
        known=replace(known, ranges=[], valid_fingerprints=[]) if known is not None else None,
        salt_parts=salt_parts,
        rules=request.rules,
        skipped_limits=first_limit_problems(pl.concat([d.limits for d in decided])),
        skipped_limit_count=sum(d.limit_count for d in decided),
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
    if not parts:  # a file without rows (a header only)
        return pl.Series(dtype=pl.Boolean), matched
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
    """The still-valid fingerprints, sorted once for `maybe_skipped`'s searches, with where
    each bucket of their top `bits` bits starts among them."""

    prints: np.ndarray  # sorted UInt64 fingerprints
    starts: np.ndarray  # starts[b]: the first print of bucket b; starts[-1]: their count
    bits: int


NO_VALID_PRINTS = ValidPrints(
    prints=np.empty(0, dtype=np.uint64), starts=np.zeros(3, dtype=np.int64), bits=1
)
PRINTS_A_BUCKET = 4  # on average: a search ends in two or three steps, in one or two cache lines


def valid_prints(known: Known) -> ValidPrints:
    """`known`'s still-valid fingerprints, sorted and bucketed. They leave `known`: only the
    result holds them (a second reader of the same snapshot reads them from its ranges)."""
    prints, known.valid_fingerprints = known.valid_fingerprints, []
    if not prints and known.valid_count:
        prints = [valid_fingerprints(frame) for frame in known.frames()]
    every = np.concatenate([np.empty(0, dtype=np.uint64), *prints])
    del prints
    every.sort()  # in place: np.sort would hold a second copy
    return bucketed(every)


def bucketed(prints: np.ndarray) -> ValidPrints:
    """`prints` (sorted) with the start of each bucket of PRINTS_A_BUCKET prints on average:
    the prints are hashes, so their top bits spread them evenly (17 MB for 10M prints)."""
    bits = max(1, int(np.log2(max(prints.size, 1) / PRINTS_A_BUCKET)))
    bounds = np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)
    starts = np.append(np.searchsorted(prints, bounds), prints.size).astype(np.int64)
    return ValidPrints(prints=prints, starts=starts, bits=bits)


def _is_valid(hashes: np.ndarray, valid: ValidPrints) -> np.ndarray:
    """Which of `hashes` are still-valid fingerprints: a binary search within each hash's
    bucket. Searching all of a 10M-row file's 10M prints missed the cache at nearly every step:
    3.2 s for 10M hashes, 27 times the 0.12 s of 1M hashes among 1M prints."""
    prints = valid.prints
    if not prints.size:
        return np.zeros(hashes.shape, dtype=bool)
    bucket = (hashes >> np.uint64(64 - valid.bits)).astype(np.int64)
    lo, hi = valid.starts[bucket], valid.starts[bucket + 1]
    last = prints.size - 1
    while (searching := lo < hi).any():
        mid = (lo + hi) >> 1
        below = prints[np.minimum(mid, last)] < hashes
        lo = np.where(searching & below, mid + 1, lo)
        hi = np.where(searching & ~below, mid, hi)
    return prints[np.minimum(lo, last)] == hashes


def maybe_skipped(rows: pl.DataFrame, valid: ValidPrints) -> pl.Series:
    """A mask of `rows` (`row_prints` of a piece of the file) that may belong to a skipped
    product: the print of its key's rows in this piece (its own hash, for a key of one row
    here) is a still-valid fingerprint. That is the product's print when all of its rows are
    in the piece; a product whose other rows lie elsewhere keeps its rows here, unless these
    alone were the whole product last time. A reader need not keep these rows; `decide` has
    the last word, and the reader goes back for the rows of a product it did not skip after
    all. Binary searches: a join or `is_in` would hash every valid fingerprint again for each
    piece."""
    if not valid.prints.size or not rows.height:
        return pl.repeat(False, rows.height, dtype=pl.Boolean, eager=True)
    hashes = rows["_h"].fill_null(0).to_numpy()
    same = pl.Series(_is_valid(hashes, valid)) & rows["_h"].is_not_null()
    several = rows[KEY].is_duplicated() & rows[KEY].is_not_null()
    if several.any():  # the rows of a product of several rows, as printed in this piece
        local = product_fingerprints(rows.filter(several).select(KEY, "_h"))
        hits = local.filter(pl.Series(_is_valid(local["fingerprint"].to_numpy(), valid)))[KEY]
        found = rows[KEY].is_in(hits.implode()).fill_null(False)
        same = (several & found) | (~several & same)
    return same.fill_null(False)
