"""A binary file is "not a text file", named as such, whatever format or mapping is asked for;
UTF-16 text is still recognised as text in the wrong encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_pipelines.connectors.detect import detect_format, load_batch
from catalog_pipelines.connectors.reading import InputError, decode
from catalog_pipelines.mapping import mapping_from_dict
from tests.support.binary import png_bytes, zip_bytes

CSV = "external_id,name,price\nA-1,Tee,19.99\nA-2,Mug,7.50\n"


def nul_bytes() -> bytes:
    """Text with NUL bytes spread on both sides of byte pairs: neither text nor UTF-16."""
    return CSV.encode() + b"\x00\x01\x02\x00garbage\x00\x00\x07" * 40 + CSV.encode()


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


MAPPING = mapping_from_dict(
    {"format": "csv", "key": "external_id", "currency": "usd", "fields": {"name": "name"}}
)


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("logo.csv", png_bytes(), "a PNG image"),
        ("catalog.csv", zip_bytes(), "a ZIP archive"),
        ("feed.jsonl", png_bytes(), "a PNG image"),
        ("export.csv", nul_bytes(), "NUL byte at byte 50, line 4"),
    ],
)
def test_binary_file_is_not_a_text_file(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = _file(tmp_path, name, data)
    expected = rf"^{path}: not a text file \({reason}"
    for attempt in (
        lambda: detect_format(path),
        lambda: load_batch(path),  # auto, no mapping: not "needs a field mapping"
        lambda: load_batch(path, format="csv"),
        lambda: load_batch(path, format="shopify"),
        lambda: load_batch(path, mapping=MAPPING),
    ):
        with pytest.raises(InputError, match=expected) as info:
            attempt()
        assert "UTF-16" not in str(info.value) and "mapping" not in str(info.value)


def test_png_is_refused_even_with_an_explicit_encoding(tmp_path: Path) -> None:
    path = _file(tmp_path, "logo.csv", png_bytes())
    with pytest.raises(InputError, match="not a text file \\(a PNG image"):
        load_batch(path, format="csv", mapping=MAPPING, encoding="cp1252")


def test_a_stray_nul_in_text_is_a_bad_cell_not_a_binary_file() -> None:
    """The cell is rejected per row later (tests/reliability/test_bad_strings.py); the file
    is still read, so its good rows import."""
    data = CSV.encode() * 10_000 + b"A-3,Bad\x00Row,1\n"
    assert decode(data, source="x.csv").endswith("A-3,Bad\x00Row,1\n")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_still_asks_for_its_encoding(tmp_path: Path, codec: str) -> None:
    """UTF-16 (with a BOM, or BOM-less, as Excel's "Unicode text" writes) is text in another
    encoding: the error says so and names --encoding, and with it the file reads."""
    path = _file(tmp_path, "excel.csv", CSV.encode(codec))
    assert detect_format(path) == "csv"
    with pytest.raises(InputError, match=r"UTF-16.*--encoding utf-16") as info:
        load_batch(path, mapping=MAPPING)
    assert "not a text file" not in str(info.value)
    if codec == "utf-16-be":
        assert "--encoding utf-16-be" in str(info.value)
    batch = load_batch(path, mapping=MAPPING, encoding=codec)
    assert batch.rows_read == 2
