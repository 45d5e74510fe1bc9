"""A CSV read in pieces is the CSV read whole: the same rows, numbers, counts and flags."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from catalog_pipelines.connectors.csv_pieces import csv_pieces
from catalog_pipelines.connectors.reading import read_csv_table_bytes
from catalog_pipelines.normalized import InputError

FILES = {
    "plain": b"id,name,price\nA,Apple,1.00\nB,Banana,2.00\nC,Cherry,3.00\n",
    "quoted newlines and commas": (
        b'id,name,description\nA,"Apple, red","line one\nline two"\n'
        b'B,Banana,"say ""hi""\n\nbye"\nC,Cherry,\n'
    ),
    "crlf and no final newline": b"id,name\r\nA,Apple\r\nB,Banana\r\nC,Cherry",
    "bom and blank lines": b"\xef\xbb\xbfid,name\nA,Apple\n\nB,Banana\n\n\nC,Cherry\n",
    "over-long rows and NULs": b"id,name\nA,Apple,extra\nB,Ban\x00ana\nC,Cherry\nD,x,y,z\n",
    "a quoted header": b'"id","the, name"\nA,Apple\nB,Banana\n',
    "header only": b"id,name\n",
    "empty": b"",
}


def _whole(data: bytes) -> tuple[pl.DataFrame, int, dict, dict]:
    table = read_csv_table_bytes(data.removeprefix(b"\xef\xbb\xbf"), source="f.csv")
    return table.frame, table.records, table.overlong, table.unstorable


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("piece_bytes", [1, 7, 16, 1 << 20])
def test_pieces_add_up_to_the_whole_file(tmp_path: Path, name: str, piece_bytes: int) -> None:
    data = FILES[name]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    tables = list(csv_pieces(path, source="f.csv", piece_bytes=piece_bytes))
    frame, records, overlong, unstorable = _whole(data)
    assert pl.concat([t.frame for t in tables]).equals(frame)
    assert sum(t.records for t in tables) == records
    assert {k: v for t in tables for k, v in t.overlong.items()} == overlong
    assert {k: v for t in tables for k, v in t.unstorable.items()} == unstorable
    assert all(t.header == tables[0].header for t in tables)


def test_a_record_longer_than_a_piece_is_read_whole(tmp_path: Path) -> None:
    long = "x" * 5000
    path = tmp_path / "f.csv"
    path.write_bytes(f'id,description\nA,"{long}\n{long}"\nB,short\n'.encode())
    tables = list(csv_pieces(path, source="f.csv", piece_bytes=64))
    rows = pl.concat([t.frame for t in tables])
    assert rows["description"].to_list() == [f"{long}\n{long}", "short"]
    assert rows["row_number"].to_list() == [1, 2]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'id,name\nA,"Apple\nB,Banana\n', "malformed CSV"),  # a quote never closed
        (b"id,name\nA,Apple\nB,\xff\xfe\n", "not valid UTF-8"),
    ],
)
def test_a_bad_piece_raises_like_the_whole_file(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=words):
        list(csv_pieces(path, source="f.csv", piece_bytes=8))


@pytest.mark.parametrize("piece_bytes", [70_000, 100_000, 300_000])
def test_large_pieces_cut_only_between_records(tmp_path: Path, piece_bytes: int) -> None:
    """Pieces longer than the tail that is searched first for their last record end, and a
    record (with quotes and line feeds) longer than that tail."""
    lines = ["id,description,qty"]
    for i in range(4000):
        body = f'"line {i}\nhas ""quotes"", commas\nand lines"' if i % 3 else f"plain {i}"
        lines.append(f"P{i},{body},{i % 7}")
    huge = "\n".join(f'row ""{j}"", part' for j in range(9000))
    lines.insert(2000, f'HUGE,"{huge}",1')
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    tables = list(csv_pieces(path, source="f.csv", piece_bytes=piece_bytes))
    assert len(tables) > 1
    frame, records, _, _ = _whole(data)
    assert pl.concat([t.frame for t in tables]).equals(frame)
    assert sum(t.records for t in tables) == records == 4001
