"""Which connector reads a file: sniffed from its name and header, then dispatched.

Merchants drop exports into an inbox without saying what they are. The shop exports (Shopify,
WooCommerce, Magento) have distinctive headers and built-in mappings; anything else is a
generic CSV or JSON Lines file, which needs a mapping file to mean anything. The connectors and
their order live in `connectors.registry`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catalog_pipelines.connectors.reading import InputError, check_text
from catalog_pipelines.connectors.registry import CONNECTORS, FORMATS, Head
from catalog_pipelines.normalized import ParsedBatch

if TYPE_CHECKING:
    from catalog_pipelines.fingerprints import SkipRequest
    from catalog_pipelines.mapping import Mapping

HEAD_BYTES = 256 * 1024  # enough for any real header line; the rest of the file is not read

__all__ = ["FORMATS", "detect_format", "load_batch"]


def _head_text(head: bytes) -> str:
    """Text of the file's first bytes, for sniffing only (the connectors decode strictly).

    Tolerates a UTF-8/UTF-16 BOM and a multi-byte character cut at the end of the head;
    undecodable bytes become U+FFFD here, which cannot make a header match by accident.
    """
    if head.startswith(codecs.BOM_UTF8):
        return head[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace")


def _header(text: str) -> set[str]:
    try:
        row = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return set()
    return {name.strip().removeprefix("\ufeff") for name in row}


def _head(p: Path) -> bytes:
    try:
        with p.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from e


def detect_format(path: str | Path) -> str:
    """The first connector of the registry that recognises the file: `jsonl` for .jsonl/.ndjson
    or a first non-blank line starting with `{`; a shop export by its header; otherwise
    `csv`. A binary file (an image, an archive) raises `InputError` "not a text file"."""
    p = Path(path)
    head = _head(p)
    check_text(head, source=str(p))
    text = _head_text(head)
    first = next((line for line in text.splitlines() if line.strip()), "")
    sniffed = Head(p.suffix.lower(), first, frozenset(_header(text)))
    return next(name for name in FORMATS if CONNECTORS[name].detect(sniffed))


def load_batch(
    path: str | Path,
    *,
    format: str = "auto",
    mapping: Mapping | None = None,
    encoding: str | None = None,
    currency: str | None = None,
    skip: SkipRequest | None = None,
    chunks: Callable[[ParsedBatch], None] | None = None,
) -> ParsedBatch:
    """Read `path` with the connector for `format` ("auto": the mapping's format if a mapping
    is given, else `detect_format`). Shop exports use built-in mappings (a given mapping still
    supplies the default currency and encoding); csv/jsonl need `mapping`.

    `currency` overrides the mapping's; the shop exports default to usd. `chunks`: see
    registry.Reader.
    """
    p = Path(path)
    encoding = encoding or (mapping.encoding if mapping is not None else None)
    # Before any format or mapping question: an image or an archive is not an export at all.
    check_text(_head(p), source=str(p), encoding=encoding)
    if format == "auto":
        fmt = mapping.format if mapping is not None else detect_format(p)
    else:
        fmt = format
    if fmt not in FORMATS:
        raise InputError(f"{p}: unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    return CONNECTORS[fmt].read(
        str(p), mapping=mapping, encoding=encoding, currency=currency, skip=skip, chunks=chunks
    )
