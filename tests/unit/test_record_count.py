"""The fast record count must agree with Python's csv module on every file it accepts."""

from __future__ import annotations

import csv
import io
import random

import pytest

from catalog_pipelines.connectors.reading import _count_records
from catalog_pipelines.connectors.record_count import count_records

CASES = [
    "id,body\n1,a\n2,b\n",
    "id,body\n1,a\n2,b",  # no final newline
    'id,body\n1,"line one\nline two\n\nline four"\n\n2,"x"\r\n3,""\n',
    'id,body\r\n1,"say ""hi"""\r\n\r\n2,"a,b"\r\n',
    "id,price\n1,2\n2,1,234.00\n",  # overlong row
    "a,b,c\n1\n",  # short row
    'a,b\n"",""\n,\n',
    "a,b\n1,2\n\n\n",  # trailing blank lines
    "a\n\n1\n",
    'a,b\n1,"x\r\ny"\n',
]


def _reference(text: str) -> tuple[list[str] | None, int, list[int], dict[int, int]]:
    return _count_records(text, source="x.csv")


@pytest.mark.parametrize("text", CASES)
def test_agrees_with_the_csv_module(text: str) -> None:
    fast = count_records(text.encode())
    assert fast is not None
    assert (fast.header, fast.records, fast.blanks, fast.overlong) == _reference(text)


@pytest.mark.parametrize(
    "text",
    [
        'a,b\n1,x"y\n',  # a quote inside an unquoted field is literal for csv
        'a,b\n1,"x"y\n',  # text after a closing quote: csv strict raises
        'a,b\n1,"never closed\n',
        "a,b\r1,2\r",  # lone CR line ends
        "\na,b\n",  # blank first line
        "",
    ],
)
def test_defers_to_the_csv_module_when_unsure(text: str) -> None:
    assert count_records(text.encode()) is None


def test_random_quoted_files_agree() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", ",", '"', "\n", "\r\n", " ", "é"]
    for _ in range(300):
        rows = [
            ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3)]
            for _ in range(rng.randint(1, 6))
        ]
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator=rng.choice(["\n", "\r\n"])).writerows(
            [["h1", "h2", "h3"], *rows]
        )
        text = buf.getvalue()
        if rng.random() < 0.3:
            text += "\n"
        fast = count_records(text.encode())
        assert fast is not None, text
        assert (fast.header, fast.records, fast.blanks, fast.overlong) == _reference(text), text


def test_decode_to_utf8_keeps_utf8_bytes_and_converts_other_encodings() -> None:
    from catalog_pipelines.connectors.reading import InputError, decode_to_utf8

    assert decode_to_utf8(b"\xef\xbb\xbfa,b\n1,\xc3\xa9\n", source="x.csv") == "a,b\n1,é\n".encode()
    assert decode_to_utf8(b"a\n\xe9\n", source="x.csv", encoding="cp1252") == "a\né\n".encode()
    with pytest.raises(InputError, match=r"x\.csv: not valid UTF-8 at byte 4"):
        decode_to_utf8(b"a\n1,\xe9\n", source="x.csv")


def test_utf8_is_checked_a_slice_at_a_time_without_cutting_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from catalog_pipelines.connectors import reading

    monkeypatch.setattr(reading, "_UTF8_STEP", 5)
    text = "name\nCafé crème brûlée 😀\n".encode()
    assert reading._first_invalid_utf8(text) is None  # every cut falls inside a character
    bad = text + b"ok\xff\n"
    start, _ = reading._first_invalid_utf8(bad) or (None, None)
    assert start == len(text) + 2
    with pytest.raises(reading.InputError, match=rf"byte {len(text) + 2} \(line 3\)"):
        reading.decode_to_utf8(bad, source="f.csv")
