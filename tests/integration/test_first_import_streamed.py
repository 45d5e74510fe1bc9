"""A first import of a large CSV is streamed: read, mapped and validated a piece at a time,
then planned and written a part at a time (first_import.py).

Pieces of one byte make every record a piece of its own. Each scenario imports the same
files into two empty accounts, streamed and with streaming turned off; the reports and
catalogs must be the same (ids aside), and what follows must behave the same. A file whose
pieces are not independent is read whole, and the log says why.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import first_import, plan_parts, skip_unchanged
from catalog_pipelines.connectors import csv_pieces
from catalog_pipelines.importer import ImportOptions, import_batch, import_path
from catalog_pipelines.normalized import InputError
from catalog_pipelines.validated_chunks import ValidatedChunks
from tests.support.batches import batch
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import HEADER, MAPPING, import_both_ways, import_rows, report_view

LONG = "x" * 501  # over Stripe's 500 characters for a metadata value: a warning, not a reject
ROWS = [
    "P0,,Shirt,10.00,S0,5,red",
    "P1,,Hat,11.00,S1,5,blue",
    "P2,,Mug,12.00,,,green",  # no stock kept
    "P3,,Sock,not-a-price,S3,5,red",  # rejected
    f"P4,,Coat,14.00,S4,1,{LONG}",
    "P5,,Scarf,16.00,S5,5,",
    "P6,,Belt,17.00,S6,5,brown",
    "P7,,Bag,,S7,5,tan",  # no price
    f"P8,,Cap,19.00,S8,5,{LONG}",
    "P9,,Tie,20.00,S9,0,navy",
    "P10,,Glove,21.00,S10,3,grey",
]
STREAMED = "streamed"


@pytest.fixture
def pieces(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Every record a piece, parts of three products (and variants, when streamed: one
    product each), temporary files under the test's own directory; returns one entry per
    import that streamed."""
    monkeypatch.setattr(csv_pieces, "PIECE_BYTES", 1)
    monkeypatch.setattr(plan_parts, "PART_PRODUCTS", 3)
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    seen: list[str] = []
    real = first_import.Stream.parts

    def parts(self: first_import.Stream) -> Any:
        seen.append(STREAMED)
        yield from real(self)

    monkeypatch.setattr(first_import.Stream, "parts", parts)
    return seen


def _read_whole(caplog: pytest.LogCaptureFixture, level: str = "INFO") -> list[str]:
    """Why the file was read whole, as logged at `level` or above."""
    return [
        re.split(r"read whole[^:]*: ", r.getMessage(), maxsplit=1)[1]
        for r in caplog.records
        if "read whole" in r.msg and r.levelno >= logging.getLevelName(level)
    ]


def _both(
    engine: sa.Engine,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    files: list[list[str]],
    **opts: Any,
) -> list[Any]:
    """The files imported streamed (if they can be) and whole: the same reports and catalogs,
    and no temporary file left."""
    ways = {s: lambda s=s: monkeypatch.setenv(first_import.ENV, s) for s in ("1", "0")}
    reports = import_both_ways(engine, tmp, account, files, ways, **opts)
    assert list((tmp / "spill").iterdir()) == []
    return reports


def test_a_streamed_first_import_writes_what_the_whole_read_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    applies: list[int],
    skipped: list[int],
) -> None:
    changed = [r.replace("Hat", "Cap hat") for r in ROWS if not r.startswith("P9,")]
    first, again, edited = _both(engine, tmp_path, monkeypatch, account, [ROWS, ROWS, changed])
    assert pieces == [STREAMED]  # the first import; the others find the account filled
    # ten products streamed in parts of one (a product and its variant), or read whole in
    # parts of three, then one plan per re-import
    assert len(applies) == (10 + 1 + 1) + (4 + 1 + 1)
    assert first["products"]["created"] == 10
    assert first["rejects"] == [(4, ["price: 'not-a-price' is not a non-negative decimal amount"])]
    assert len(first["changes"]) == first["events"]
    # one warning per product with the long value, from two pieces, as the whole read words it
    assert [w for w in first["warnings"] if "Stripe" in w] == [
        f"product {key!r} (row {row}): values longer than 500 characters under: 'color';"
        " kept in full here, but Stripe would refuse it"
        for key, row in (("P4", 5), ("P8", 9))
    ]
    # the snapshot a streamed run leaves is the whole run's: the same file again skips every
    # product it made, the two warned about too; the edited one all but the renamed and
    # removed one
    assert skipped == [0, 10, 8] * 2
    assert again["events"] == 0
    assert edited["products"] == {"created": 0, "updated": 1, "unchanged": 8, "archived": 1}


def test_a_product_whose_rows_fall_in_two_pieces_is_read_whole(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=first_import.__name__)
    rows = [*ROWS[:5], "P4-L,P4,Coat L,15.00,S4b,2,black", *ROWS[5:]]  # a variant of P4
    (report,) = _both(engine, tmp_path, monkeypatch, account, [rows])
    assert pieces == []
    # a warning: a large file read whole holds all of it in memory
    assert _read_whole(caplog, "WARNING") == ["a product's rows fall in more than one piece"]
    assert report["prices"]["created"] == 10


def test_a_sku_in_two_pieces_is_read_whole_and_its_later_row_rejected(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=first_import.__name__)
    rows = [*ROWS, "P11,,Belt 2,17.00,S6,5,brown"]  # S6 is P6's SKU
    (report,) = _both(engine, tmp_path, monkeypatch, account, [rows])
    assert pieces == []
    assert _read_whole(caplog, "WARNING") == ["a variant key falls in more than one piece"]
    assert (12, ["sku: 'S6' is already used on row 7"]) in report["rejects"]


def test_a_streamed_dry_run_reports_the_same_and_writes_nothing(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
) -> None:
    (report,) = _both(engine, tmp_path, monkeypatch, account, [ROWS], dry_run=True)
    assert pieces == [STREAMED]
    assert report["products"]["created"] == 10
    assert catalog_by_keys(engine, f"{account}_1")["products"] == []


def test_an_account_filled_while_the_file_was_read_is_imported_whole(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=first_import.__name__)
    real = first_import.read

    def read_then_fill(*args: Any, **kwargs: Any) -> first_import.Stream:
        stream = real(*args, **kwargs)
        # another source imports into the account before this import takes its lock
        import_batch(
            engine,
            batch([{"external_id": "P1", "name": "ERP hat"}]),
            ImportOptions(source="erp", account_id=account),
        )
        return stream

    monkeypatch.setattr(first_import, "read", read_then_fill)
    report = import_rows(engine, tmp_path, account, ROWS)
    assert _read_whole(caplog) == ["the account stores objects now"]
    assert pieces == []  # the stream was read, then left for the whole read
    assert list((tmp_path / "spill").iterdir()) == []
    # read whole, P1's row meets the ERP's product, as it would have without streaming
    assert report["products"]["created"] == 9
    assert any(key == 2 for key, _ in report["rejects"])
    assert_catalog_integrity(engine, account)


def test_a_file_whose_piece_cannot_be_read_fails_as_the_whole_read_words_it(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
) -> None:
    rows = [*ROWS[:3], 'P11,,"Broken,1.00,S11,1,red', *ROWS[3:]]  # a quote never closed
    errors = []
    for stream in ("1", "0"):
        monkeypatch.setenv(first_import.ENV, stream)
        with pytest.raises(InputError) as caught:
            import_rows(engine, tmp_path, f"{account}_{stream}", rows)
        errors.append(str(caught.value).replace(f"{account}_{stream}", "ACCOUNT"))
    assert errors[0] == errors[1]
    assert "malformed CSV" in errors[0]
    assert pieces == []
    assert list((tmp_path / "spill").iterdir()) == []


@pytest.mark.parametrize("variant", [False, True], ids=["streamed", "read-whole-after-all"])
def test_progress_never_goes_back(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    variant: bool,
) -> None:
    # with a variant of P4 on the next row, the file is read in pieces, then whole
    rows = [*ROWS[:5], "P4-L,P4,Coat L,15.00,S4b,2,black", *ROWS[5:]] if variant else ROWS
    seen: list[tuple[str, float]] = []
    path = tmp_path / "p.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    import_path(
        engine,
        path,
        ImportOptions(source="pim", account_id=account),
        format="csv",
        mapping_path=mapping,
        progress=lambda step, f: seen.append((step, f)),
    )
    assert pieces == ([] if variant else [STREAMED])
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    # 10 products in parts of one product and its variant, or of three products
    assert [s for s, _ in seen if s == "writing"] == ["writing"] * (4 if variant else 10)
    assert seen[-1] == ("done", 1.0)


def _import_jsonl(
    engine: sa.Engine,
    tmp: Path,
    account: str,
    *,
    extra_key_at: int | None = None,
    bad_first_line: bool = False,
    rows: list[str] = ROWS,
) -> Any:
    """`rows` as a JSON Lines file, with a blank line and a line cut short among them (and
    first, with `bad_first_line`), imported for source `pim` of `account`, reported as
    `import_rows` reports it."""
    names = HEADER.split(",")
    lines = []
    for i, row in enumerate(rows):
        cells = [cell or None for cell in row.split(",")]
        record: dict[str, Any] = dict(zip(names, cells, strict=True))
        if i == extra_key_at:
            record["season"] = "winter"  # a key no earlier record has
        lines.append(json.dumps(record))
    lines[3:3] = ["", '{"id": "P99", "name": ']
    if bad_first_line:
        lines.insert(0, "{oops")
    path = tmp / "feed.jsonl"  # one name: a reject names the file
    path.write_text("\n".join(lines) + "\n")
    mapping = tmp / "m.yaml"
    mapping.write_text(MAPPING.replace("format: csv", "format: jsonl"))
    options = ImportOptions(source="pim", account_id=account)
    report = import_path(engine, path, options, format="jsonl", mapping_path=mapping)
    return report_view(report)


@pytest.mark.parametrize(
    ("extra_key_at", "bad_first_line"),
    [(None, False), (None, True), (6, False)],
    ids=["same-keys", "a-bad-first-line", "a-later-key"],
)
def test_a_json_lines_file_read_in_pieces_writes_what_the_whole_read_writes(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    pieces: list[str],
    caplog: pytest.LogCaptureFixture,
    extra_key_at: int | None,
    bad_first_line: bool,
) -> None:
    """A first import, then a re-import of the file with a product renamed and one gone, three
    ways: streamed, then mapped a piece at a time; read in pieces without streaming; and as
    one text (as a file in another encoding is read). Skipping unchanged products is off: it
    reads none of these ways (test_skip_unchanged.py covers it)."""
    from catalog_pipelines.connectors import generic

    monkeypatch.setenv(skip_unchanged.ENV, "0")
    caplog.set_level(logging.INFO, logger=first_import.__name__)
    edited = [r.replace("Hat", "Cap hat") for r in ROWS if not r.startswith("P9,")]
    reports = []
    validated_apart: dict[str, int] = {}  # pieces validated as mapped, by way
    real = ValidatedChunks.__call__
    for way in ("1", "0", "text"):
        with monkeypatch.context() as m:

            def counted(self: ValidatedChunks, chunk: Any, way: str = way) -> None:
                validated_apart[way] = validated_apart.get(way, 0) + 1
                real(self, chunk)

            m.setattr(ValidatedChunks, "__call__", counted)
            m.setenv(first_import.ENV, "1" if way == "1" else "0")
            if way == "text":

                def refuse(*args: Any, **kwargs: Any) -> None:
                    raise InputError("read as one text")

                m.setattr(generic._JsonlPieces, "parse", refuse)
            reports.append(
                [
                    _import_jsonl(
                        engine,
                        tmp_path,
                        f"{account}_{way}",
                        extra_key_at=extra_key_at,
                        bad_first_line=bad_first_line,
                        rows=rows,
                    )
                    for rows in (ROWS, edited)
                ]
            )
        assert_catalog_integrity(engine, f"{account}_{way}")
    assert reports[0] == reports[1] == reports[2]
    catalogs = [catalog_by_keys(engine, f"{account}_{way}") for way in ("1", "0", "text")]
    assert catalogs[0] == catalogs[1] == catalogs[2]
    assert list((tmp_path / "spill").iterdir()) == []
    if extra_key_at is None:
        assert pieces == [STREAMED]  # the first import, a line a piece
        assert _read_whole(caplog) == []
        # the re-import (and without streaming, the first import too) validated each piece
        # as it was mapped; read as one text, none
        assert validated_apart.get("1", 0) > 5 and validated_apart.get("0", 0) > 10
        assert "text" not in validated_apart
    else:  # where its keys change, the file is read whole: a column's order could differ
        assert pieces == []
        assert _read_whole(caplog, "WARNING") == [
            "a piece's records have other keys than the first piece's"
        ]
        assert validated_apart == {}  # and mapped at once
    first, again = reports[0]
    # lines are numbered in the file: the line cut short is line 5, the bad price line 6
    assert [row for row, _ in first["rejects"]] == ([1, 6, 7] if bad_first_line else [5, 6])
    assert first["products"]["created"] == 10
    assert again["products"] == {"created": 0, "updated": 1, "unchanged": 8, "archived": 1}
