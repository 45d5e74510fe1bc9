"""A first import streamed: a large generic CSV for an account that stores nothing yet is read,
mapped and validated a piece at a time (connectors/csv_pieces.py), each piece spilled to a
temporary directory, and then planned and written a part at a time (plan_parts.py). Memory
holds a part and what the run reports, never the file. A JSON Lines file is streamed the same
way, in pieces of whole lines, and a Shopify or WooCommerce export in pieces of whole products
that its builder gives as it reads. An HTTP JSON feed is read in pieces of whole products for
every import (`read_feed`): a re-import takes its pieces as one batch whose products wait on
disk (`Stream.validated`), as its pages cannot be read twice without fetching them twice.

The outcome is the whole path's, or the whole path runs. (A WooCommerce product whose rows lie
apart is built in a later piece than the products after it, so its events come after theirs:
woocommerce_csv/pieces.py.) Mapping and validation only relate the rows of one product (its
key) and the rows of one variant key, so pieces are independent unless a product's rows, or a
variant key, fall in two of them. Then, or when the account turns out to hold anything once
the import holds its lock, `Unusable` sends the import back to reading the file whole. So does
an error in a piece: the whole file's read words it. CATALOG_IMPORT_STREAM=0 turns streaming
off.
"""

from __future__ import annotations

import codecs
import logging
import os
import pickle
import shutil
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

from catalog_pipelines import plan_parts
from catalog_pipelines.connectors import csv_pieces
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.generic import Unskippable, read_jsonl_piece, read_table
from catalog_pipelines.connectors.http_json import (
    NOTHING_REMEMBERED,
    FeedError,
    FeedPieces,
    Remembered,
)
from catalog_pipelines.connectors.reading import line_pieces
from catalog_pipelines.connectors.registry import CONNECTORS
from catalog_pipelines.diff import Plan
from catalog_pipelines.fingerprints import SkipRequest, SnapshotRows, product_key, snapshot_frames
from catalog_pipelines.mapping import Mapping
from catalog_pipelines.normalized import InputError, ParsedBatch
from catalog_pipelines.progress import ProgressFn
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.spill import Held, owned_folder
from catalog_pipelines.store import imports as store
from catalog_pipelines.validation import ValidationReport
from catalog_pipelines.validation.pieces import PieceValidation

ENV = "CATALOG_IMPORT_STREAM"
_AS_READ = ("products", "variants", "rejects")
# an export is read in pieces of whole products that end once they hold this many variants
EXPORT_PIECE_VARIANTS = 20_000
EXPORT_PIECE_BYTES = 3 << 20  # about as many Shopify rows: the progress bar's estimate
FEED_PIECES_EXPECTED = 50  # a feed's length is unknown until its last page: a guess, for progress
_SEED = 0x5712EA  # for the keys' hashes; a collision only costs a read of the whole file

log = logging.getLogger(__name__)


class Unusable(Exception):
    """Streaming could change this import's outcome: read the file whole instead. `costly`:
    the whole file will be in memory, which a user of a large file must hear about (a piece
    that cannot be read is not: the whole read names the error, and an empty file is small)."""

    def __init__(self, reason: str, *, costly: bool = True) -> None:
        super().__init__(reason)
        self.costly = costly


def log_read_whole(name: object, e: Unusable) -> None:
    if e.costly:
        log.warning("%s: read whole, so its memory grows with the file: %s", name, e)
    else:
        log.info("%s: read whole: %s", name, e)


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def wanted(
    conn: sa.Connection,
    account_id: str,
    path: Path,
    fmt: str,
    mapping: Mapping | None,
    encoding: str | None,
) -> bool:
    """Whether to stream: a keyed generic CSV or JSON Lines file in UTF-8, or an export whose
    connector reads it in pieces, larger than a piece, for an account that stores no product
    or stock item (checked again under the import's lock)."""
    if not enabled() or not _streamable(fmt, mapping, encoding):
        return False
    try:
        if path.stat().st_size <= csv_pieces.PIECE_BYTES:
            return False
    except OSError:
        return False  # the whole read says why
    return store.holds_nothing(conn, account_id)


def _streamable(fmt: str, mapping: Mapping | None, encoding: str | None) -> bool:
    codec = encoding or (mapping.encoding if mapping else None)
    if fmt in ("csv", "jsonl"):
        if mapping is None or mapping.key is None:
            return False
        return codec is None or codecs.lookup(codec).name == "utf-8"
    connector = CONNECTORS.get(fmt)
    # an export given an encoding is decoded whole (connectors/export_rows.py)
    return connector is not None and connector.read_pieces is not None and codec is None


@dataclass
class _Piece:
    """A validated piece on disk: its rows in Parquet (LZ4: a tenth of the time of a pickle),
    the rest of its batch (rejects, fingerprints) pickled, and what its validation found over
    Stripe's limits (for the snapshot, which keeps them)."""

    file: Path  # without a suffix
    products: int
    variants: int

    @classmethod
    def spill(cls, batch: ParsedBatch, file: Path, limit_problems: pl.DataFrame) -> _Piece:
        batch.products.write_parquet(file.with_suffix(".products"), compression="lz4")
        limit_problems.write_parquet(file.with_suffix(".limits"), compression="lz4")
        batch.variants.write_parquet(file.with_suffix(".variants"), compression="lz4")
        rest = replace(batch, products=batch.products.clear(), variants=batch.variants.clear())
        with file.with_suffix(".pickle").open("wb") as f:
            pickle.dump(rest, f, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(file, batch.products.height, batch.variants.height)

    def load(self) -> ParsedBatch:
        with self.file.with_suffix(".pickle").open("rb") as f:
            rest: ParsedBatch = pickle.load(f)
        return replace(
            rest,
            products=pl.read_parquet(self.file.with_suffix(".products")),
            variants=pl.read_parquet(self.file.with_suffix(".variants")),
        )

    def limit_problems(self) -> pl.DataFrame:
        return pl.read_parquet(self.file.with_suffix(".limits"))

    def external_ids(self) -> pl.Series:
        return pl.read_parquet(self.file.with_suffix(".products"), columns=["external_id"])[
            "external_id"
        ]

    def variant_keys(self) -> pl.DataFrame:
        return pl.read_parquet(
            self.file.with_suffix(".variants"), columns=list(plan_parts.KEY_COLUMNS)
        )


class _PieceRows(Held):
    """A part's products or variants (`suffix`) where its pieces are on disk, read when the
    part is planned. It keeps the stream, whose folder goes once nothing refers to it.
    (Written again to a spill of their own, every row was read and written once more for
    nothing.)"""

    def __init__(self, stream: Stream, files: list[Path], suffix: str) -> None:
        super().__init__()
        self._stream = stream
        self._files = files
        self._suffix = suffix

    def frame(self) -> pl.DataFrame:
        if self._frame is not None:  # unpickled: Held keeps the frame itself then
            return self._frame
        frames = [pl.read_parquet(file.with_suffix(self._suffix)) for file in self._files]
        return pl.concat(frames, rechunk=True)


@dataclass
class Stream:
    """A file's pieces, mapped and validated, on disk; `summary` is the whole file's batch
    without its rows (counts, rejects, warnings), as the run reports and records it."""

    directory: Path
    summary: ParsedBatch
    pieces: list[_Piece] = field(default_factory=list)
    # the pieces' validation as one: check counts summed, the first failures as a sample
    validation: ValidationReport | None = None
    # the file as mapped, before validation: products, variants and rejects, and warnings
    as_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_AS_READ, 0))
    read_warnings: list[str] = field(default_factory=list)
    # the pieces of each part yielded and not yet through `keep_snapshot`, oldest first: the
    # next part is read while this one is written (plan_parts.planned_ahead)
    _parts: deque[list[tuple[_Piece, ParsedBatch]]] = field(default_factory=deque)
    _snapshot: list[Path] = field(default_factory=list)  # the parts' snapshot rows, spilled
    _snapshot_rows: int = 0

    def __post_init__(self) -> None:
        # a stream nobody closes (a Dagster run that failed between two steps) still goes
        self._remove = weakref.finalize(self, shutil.rmtree, self.directory, True)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the pieces from disk."""
        self._remove()

    @property
    def products(self) -> int:
        return sum(p.products for p in self.pieces)

    @property
    def variants(self) -> int:
        return sum(p.variants for p in self.pieces)

    def _grouped(self) -> list[list[_Piece]]:
        """Whole pieces, in file order, of at most PART_PRODUCTS products and variants together
        (a group always has a piece): what a part writes grows with both, and a shop's product
        has several variants (a million WooCommerce rows, 1 product to 3 variants, peaked at
        1.15 GiB in parts of 60,000 variants, 0.8 GiB in parts of 30,000)."""
        groups: list[list[_Piece]] = []
        group: list[_Piece] = []
        products = variants = 0
        for piece in self.pieces:
            products, variants = products + piece.products, variants + piece.variants
            if group and products + variants > plan_parts.PART_PRODUCTS:
                groups.append(group)
                group, products, variants = [], piece.products, piece.variants
            group.append(piece)
        if group:
            groups.append(group)
        return groups

    def parts(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """(products, variants) of each part (`_grouped`)."""
        for group in self._grouped():
            part = [(piece, piece.load()) for piece in group]
            self._parts.append(part)
            yield (
                pl.concat([b.products for _, b in part], rechunk=True),
                pl.concat([b.variants for _, b in part], rechunk=True),
            )

    def as_parts(self, stored: plan_parts.Stored) -> plan_parts.Parts:
        """The parts, each planned against `stored`: the empty account's nothing."""
        split = ((products, variants, stored) for products, variants in self.parts())
        return plan_parts.Parts(split, len(self._grouped()), self.products, self.keep_snapshot)

    def validated(
        self, mapped: ParsedBatch | None = None
    ) -> tuple[ValidationReport, plan_parts.Spilled]:
        """The pieces as a re-import takes a batch validated a chunk at a time
        (validated_chunks.py): the validated batch with its variants' keys only, and its
        products and variants left on disk where the pieces are, a part (`_grouped`) to a
        file list. The pieces' folder goes with the last part that refers to it. (`mapped`:
        the summary, as ValidatedChunks takes it; the stream has its own.)"""
        assert self.validation is not None
        # the snapshot counts each product's prices from the batch's variants (a feed has no
        # fingerprints, so leaves no snapshot)
        assert self.summary.fingerprints is None, "a snapshot needs every variant column"
        held: list[Held] = []
        variants: list[Held] = []
        keys: list[pl.Series] = []
        variant_keys, problems = [], []
        for group in self._grouped():
            files = [piece.file for piece in group]
            held.append(_PieceRows(self, files, ".products"))
            variants.append(_PieceRows(self, files, ".variants"))
            keys.append(pl.concat([piece.external_ids() for piece in group]))
            variant_keys += [piece.variant_keys() for piece in group]
            problems += [piece.limit_problems() for piece in group]
        # not rechunked: that would hold the keys twice at once
        batch = replace(self.summary, variants=pl.concat(variant_keys, rechunk=False))
        report = replace(self.validation, batch=batch)
        return report, plan_parts.Spilled(held, keys, pl.concat(problems), variants)

    def keep_snapshot(self, plan: Plan) -> None:
        """Spill the snapshot rows of the part just planned (`parts`), before its plan goes:
        at 10M products they would take ~750 MiB in memory."""
        for piece, batch in self._parts.popleft():
            if batch.fingerprints is None:
                continue
            file = self.directory / f"snapshot-{len(self._snapshot):06d}.arrow"
            rows = snapshot_frames(
                batch.fingerprints,
                plan.product_ids,
                batch.variants,
                rejected_rows=[r.row_number for r in batch.rejects],
                ignored_products=plan.ignored_products,
                limit_problems=piece.limit_problems(),  # as validation found them
            )
            pl.concat(list(rows.frames)).write_ipc(file, compression="lz4")
            self._snapshot.append(file)
            self._snapshot_rows += rows.count

    def snapshot(self) -> SnapshotRows | None:
        """The snapshot the run leaves, a part at a time, or None when the file was read
        without fingerprints."""
        if self.summary.fingerprints is None:
            return None
        return SnapshotRows(self._snapshot_rows, (pl.read_ipc(file) for file in self._snapshot))


def read(
    path: Path,
    mapping: Mapping,
    *,
    skip: SkipRequest | None,
    progress: ProgressFn,
    fmt: str = "csv",
) -> Stream:
    """Read, map and validate the generic CSV (or JSON Lines file, `fmt`) `path` a piece at a
    time into a `Stream` (use it in a `with`). Raises `Unusable` when its pieces are not
    independent or one of them cannot be read."""
    assert mapping.key is not None
    expected = max(1, path.stat().st_size // csv_pieces.PIECE_BYTES)
    if fmt == "jsonl":
        pieces = _jsonl_pieces(path, mapping, skip)
    else:
        pieces = _mapped_pieces(path, mapping, skip)
    return _read(pieces, expected, progress)


def read_export(
    path: Path, fmt: str, *, currency: str, skip: SkipRequest | None, progress: ProgressFn
) -> Stream:
    """`read` for an export whose connector reads it in pieces of whole products. When the
    fingerprints cannot be taken, the pieces are read again without them, as the whole read
    would (the next run then skips nothing)."""
    try:
        return _read_export(path, fmt, currency=currency, skip=skip, progress=progress)
    except Unskippable as e:
        if skip is None:
            raise
        log.info("%s: read without fingerprints, skipping nothing: %s", path, e)
    return _read_export(path, fmt, currency=currency, skip=None, progress=progress)


def _read_export(
    path: Path, fmt: str, *, currency: str, skip: SkipRequest | None, progress: ProgressFn
) -> Stream:
    read_pieces = CONNECTORS[fmt].read_pieces
    assert read_pieces is not None
    pieces = read_pieces(path, currency=currency, piece_variants=EXPORT_PIECE_VARIANTS, skip=skip)
    expected = max(1, path.stat().st_size // EXPORT_PIECE_BYTES)
    try:
        return _read(
            ((piece, piece.products["external_id"]) for piece in pieces), expected, progress
        )
    except NotInPieces as e:
        raise Unusable(str(e)) from e


class _FeedFailed(Exception):
    """A feed that cannot be fetched: raised as it is, never read whole again (`read_feed`)."""

    def __init__(self, error: FeedError) -> None:
        super().__init__(str(error))
        self.error = error


def read_feed(url: str, *, currency: str, progress: ProgressFn, **fetch: Any) -> Stream:
    """`read` for an HTTP JSON feed, in pieces of whole products (`FeedPieces`): its pages are
    fetched once, and each piece is mapped, validated and kept on disk as it comes. When a
    product id or variant key turns up in two pieces, the feed is fetched again in pieces
    that remember those keys, so the later one is rejected as the whole read rejects it; a
    key that still repeats then (the feed changed in between) has the feed read whole. A page
    that cannot be had raises its FeedError: reading the whole feed again would only fetch
    it again. `fetch`: `FeedPieces`' retries, timeout and page limit."""
    try:
        return _read_feed(url, currency, progress, fetch, remember=None)
    except _Repeated as e:
        repeated, reason = e.keys, str(e)  # a kept log record must not keep `e`'s frames
    log.info("%s: %s; fetching it again in pieces that remember those keys", url, reason)
    return _read_feed(url, currency, progress, fetch, remember=repeated)


def _read_feed(
    url: str,
    currency: str,
    progress: ProgressFn,
    fetch: dict[str, Any],
    remember: Remembered | None,
) -> Stream:
    feed = FeedPieces(
        url,
        piece_rows=EXPORT_PIECE_VARIANTS,
        currency=currency,
        remember=remember or NOTHING_REMEMBERED,
        **fetch,
    )

    def pieces() -> Iterator[tuple[ParsedBatch, pl.Series]]:
        try:
            for piece in feed:
                yield piece, piece.products["external_id"]
        except FeedError as e:
            raise _FeedFailed(e) from e

    try:
        stream = _read(pieces(), FEED_PIECES_EXPECTED, progress, repeated=remember is None)
    except _FeedFailed as e:
        raise e.error from None
    stream.summary.columns, stream.summary.unmapped_columns = feed.columns()
    return stream


class _Repeated(Unusable):
    """Kept product ids or variant keys in more than one piece (`keys`, as FeedPieces'
    `remember` takes them)."""

    def __init__(self, reason: str, keys: Remembered) -> None:
        super().__init__(reason)
        self.keys = keys


def _mapped_pieces(
    path: Path, mapping: Mapping, skip: SkipRequest | None
) -> Iterator[tuple[ParsedBatch, pl.Series]]:
    """Each piece of the file mapped, with every row's product key, rejected or not: the whole
    read would relate them."""
    assert mapping.key is not None
    source = str(path)
    tables = csv_pieces.csv_pieces(path, source=source, delimiter=mapping.delimiter or ",")
    # The next piece is read and counted in a thread while this one is mapped, validated and
    # kept on disk: the server waits for the whole file before the first write.
    with ReadAhead(tables, name="csv-ahead") as ahead:
        for table in ahead:
            mapped = read_table(table, mapping, skip=skip, source=source)
            keys = table.frame.select(product_key(mapping.key, mapping.parent_key)).to_series()
            del table
            yield mapped, keys


def _jsonl_pieces(
    path: Path, mapping: Mapping, skip: SkipRequest | None
) -> Iterator[tuple[ParsedBatch, pl.Series]]:
    """`_mapped_pieces` of a JSON Lines file, cut between lines. A record's keys are its
    columns, and their order is the order of their first appearance in what is read: so every
    piece must have the first piece's, or the whole read could map it otherwise."""
    assert mapping.key is not None
    source = str(path)
    columns: list[str] | None = None
    for data, first_line in line_pieces(path, csv_pieces.PIECE_BYTES):
        try:
            mapped, frame = read_jsonl_piece(
                data, mapping, source=source, first_line=first_line, skip=skip
            )
        except Unskippable as e:
            raise Unusable(f"a piece's fingerprints cannot be taken: {e}") from e
        del data
        if frame.height and columns is None:
            columns = frame.columns
        elif frame.height and frame.columns != columns:
            raise Unusable("a piece's records have other keys than the first piece's")
        if mapping.key in frame.columns and mapping.parent_key in (None, *frame.columns):
            keys = frame.select(product_key(mapping.key, mapping.parent_key)).to_series()
        else:
            keys = pl.Series(dtype=pl.Utf8)
        del frame
        yield mapped, keys


def _read(
    pieces: Iterator[tuple[ParsedBatch, pl.Series]],
    expected: int,
    progress: ProgressFn,
    *,
    repeated: bool = False,
) -> Stream:
    directory = owned_folder("import")
    try:
        return _read_into(directory, pieces, expected, progress, repeated=repeated)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _read_into(
    directory: Path,
    pieces: Iterator[tuple[ParsedBatch, pl.Series]],
    expected: int,
    progress: ProgressFn,
    *,
    repeated: bool,
) -> Stream:
    """The pieces validated and on disk. `repeated`: a key in two pieces raises `_Repeated`
    with the keys that repeat, read back from the pieces' kept products and variants (as a
    feed's pieces give their keys); otherwise `Unusable`."""
    stream: Stream | None = None
    product_keys: list[np.ndarray] = []
    variant_keys: list[np.ndarray] = []
    validation = PieceValidation()
    read_warnings: list[str] = []
    try:
        for i, (mapped, keys) in enumerate(pieces):
            progress("reading", 0.05 + 0.3 * min(1.0, i / expected))
            product_keys.append(_hashes(keys))
            del keys
            variant_keys.append(_hashes(mapped.variants["variant_key"]))
            as_read = (mapped.products.height, mapped.variants.height, len(mapped.rejects))
            read_warnings += [w for w in mapped.warnings if w not in read_warnings]
            batch = validation.validate(mapped)
            del mapped
            if stream is None:
                stream = Stream(directory, _summary(batch))
            else:
                _add(stream.summary, batch)
            for name, n in zip(_AS_READ, as_read, strict=True):
                stream.as_read[name] += n
            piece = _Piece.spill(batch, directory / f"{i:06d}", validation.last_problems)
            stream.pieces.append(piece)
    except InputError as e:
        raise Unusable(f"a piece cannot be read ({e})", costly=False) from e
    if stream is None:
        raise Unusable("the file has no records", costly=False)
    products, variants = _repeats(product_keys), _repeats(variant_keys)
    if products.size or variants.size:
        reason = (
            "a product's rows fall in more than one piece"
            if products.size
            else "a variant key falls in more than one piece"
        )
        if repeated:
            raise _Repeated(reason, _repeated_keys(stream.pieces, products, variants))
        raise Unusable(reason)
    # an export's rows of one product may lie apart: its rejects come when it is built
    stream.summary.rejects.sort(key=lambda r: r.row_number)
    stream.summary.warnings.extend(validation.limit_warnings(stream.summary.fingerprints))
    stream.summary.check_reconciles()
    stream.validation = validation.report(stream.summary)
    stream.read_warnings = read_warnings
    return stream


def _hashes(keys: pl.Series) -> np.ndarray:
    return keys.drop_nulls().unique().hash(_SEED).to_numpy()


def _repeats(hashes: list[np.ndarray]) -> np.ndarray:
    """The hashes of the keys of one piece that are keys of another (each piece's keys are
    distinct)."""
    every = np.sort(np.concatenate(hashes)) if hashes else np.empty(0, dtype=np.uint64)
    return every[1:][every[1:] == every[:-1]]  # sorted: a tenth of np.unique's time


def _repeated_keys(pieces: list[_Piece], products: np.ndarray, variants: np.ndarray) -> Remembered:
    """The product ids and variant keys of the pieces whose hashes are `products` and
    `variants` (a colliding key only costs checking it across pieces)."""
    ids: set[str] = set()
    keys: set[str] = set()
    for piece in pieces:
        external_ids = piece.external_ids()
        ids.update(external_ids.filter(external_ids.hash(_SEED).is_in(products)).to_list())
        variant_keys = piece.variant_keys()["variant_key"].drop_nulls()
        keys.update(variant_keys.filter(variant_keys.hash(_SEED).is_in(variants)).to_list())
    return frozenset(ids), frozenset(keys)


def _summary(batch: ParsedBatch) -> ParsedBatch:
    """The first piece's batch without its rows, to which the others `_add` up."""
    prints = batch.fingerprints
    return replace(
        batch,
        products=batch.products.clear(),
        variants=batch.variants.clear(),
        rejects=list(batch.rejects),
        warnings=list(batch.warnings),
        fingerprints=None
        if prints is None
        else replace(
            prints,
            prints=prints.prints.clear(),
            row_keys=prints.row_keys.clear(),
            processed_keys=prints.processed_keys.clear(),
            gone=prints.gone.clear(),
        ),
    )


def _add(summary: ParsedBatch, batch: ParsedBatch) -> None:
    assert summary.rows_valid is not None and batch.rows_valid is not None
    summary.rows_read += batch.rows_read
    summary.rows_valid += batch.rows_valid
    summary.rejects.extend(batch.rejects)
    summary.warnings.extend(w for w in batch.warnings if w not in summary.warnings)
