"""The one list of connectors. Every other list is derived from it: the formats of
`--format` and of a mapping file, the source kinds, format detection and dispatch.

A connector's name is both its format and the kind of the sources it reads. Detection asks the
connectors in this order and takes the first that recognises the file; `csv` recognises every
file, so it comes last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, Protocol

from catalog_pipelines.connectors.magento_csv import read_magento_csv, read_magento_pieces
from catalog_pipelines.connectors.magento_csv import settings as magento
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.connectors.shopify_csv import read_shopify_csv, read_shopify_pieces
from catalog_pipelines.connectors.shopify_csv import settings as shopify
from catalog_pipelines.connectors.woocommerce_csv import (
    read_woocommerce_csv,
    read_woocommerce_pieces,
)
from catalog_pipelines.connectors.woocommerce_csv import settings as woocommerce
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import ParsedBatch

if TYPE_CHECKING:
    from catalog_pipelines.fingerprints import SkipRequest
    from catalog_pipelines.mapping import Mapping

Chunks = Callable[[ParsedBatch], None]
DEFAULT_CURRENCY = "usd"  # exports that carry no currency, when the source sets none
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


@dataclass(frozen=True)
class Head:
    """What detection sees of a file: its suffix, first non-blank line and header names."""

    suffix: str
    first_line: str
    header: frozenset[str]


class Reader(Protocol):
    """`chunks`: where a reader that maps a file a chunk at a time without a SkipRequest (JSON
    Lines) gives each chunk's batch; it then returns the batch without rows."""

    def __call__(
        self,
        location: str,
        *,
        mapping: Mapping | None,
        encoding: str | None,
        currency: str | None,
        skip: SkipRequest | None = None,
        chunks: Chunks | None = None,
    ) -> ParsedBatch: ...


class PieceReader(Protocol):
    """`skip`: each piece then has its products' fingerprints, for the next run to skip."""

    def __call__(
        self, path: Path, *, currency: str, piece_variants: int, skip: SkipRequest | None = None
    ) -> Iterator[ParsedBatch]: ...


@dataclass(frozen=True)
class Connector:
    name: str
    reads: Literal["file", "url"]
    needs_mapping: bool  # True: a generic file that means nothing without a field mapping
    detect: Callable[[Head], bool]
    read: Reader
    # an export that a first import can read in pieces of whole products (first_import.py)
    read_pieces: PieceReader | None = None
    # the reader takes fingerprints and skips unchanged products (skip_unchanged.py)
    skips: bool = False


def _export(read: Callable[..., ParsedBatch], *, skips: bool = False) -> Reader:
    """A shop export with a built-in mapping: a given mapping still supplies the encoding and
    the default currency. `skips`: `read` takes a SkipRequest (the others read whole)."""

    def reader(
        location: str,
        *,
        mapping: Mapping | None,
        encoding: str | None,
        currency: str | None,
        skip: SkipRequest | None = None,
        chunks: Chunks | None = None,
    ) -> ParsedBatch:
        return read(
            Path(location),
            encoding=encoding or (mapping.encoding if mapping else None),
            currency=currency or (mapping.currency if mapping else None) or DEFAULT_CURRENCY,
            **({"skip": skip} if skips else {}),
        )

    return reader


def _generic(name: Literal["csv", "jsonl"]) -> Reader:
    def reader(
        location: str,
        *,
        mapping: Mapping | None,
        encoding: str | None,
        currency: str | None,
        skip: SkipRequest | None = None,
        chunks: Chunks | None = None,
    ) -> ParsedBatch:
        # Imported here: the generic connector is built on the mapping module, which itself
        # takes its list of formats from this registry.
        from catalog_pipelines.connectors.generic import read_csv, read_jsonl

        path = Path(location)
        if mapping is None:
            raise InputError(
                f"{path}: a {name} file needs a field mapping: pass --mapping FILE (see"
                f" docs/mapping.md); only {', '.join(EXPORTS)} exports are read without one"
            )
        if currency:
            try:
                mapping = dataclasses.replace(mapping, currency=normalize_currency(currency))
            except MoneyError as e:
                raise InputError(f"{path}: {e}") from e
        if name == "csv":
            return read_csv(path, mapping, encoding=encoding, skip=skip)
        return read_jsonl(path, mapping, encoding=encoding, each_chunk=chunks, skip=skip)

    return reader


def _feed(
    location: str,
    *,
    mapping: Mapping | None,
    encoding: str | None,
    currency: str | None,
    skip: SkipRequest | None = None,  # a feed is always read whole
    chunks: Chunks | None = None,
) -> ParsedBatch:
    from catalog_pipelines.connectors.http_json import fetch_products_feed

    return fetch_products_feed(location, currency=currency or DEFAULT_CURRENCY)


def _has_header(required: frozenset[str], any_of: frozenset[str]) -> Callable[[Head], bool]:
    return lambda head: head.header >= required and bool(head.header & any_of)


def _never(head: Head) -> bool:
    return False


def _export_connector(
    name: str,
    settings: ModuleType,
    read: Callable[..., ParsedBatch],
    *,
    skips: bool = False,
    read_pieces: PieceReader | None = None,
) -> Connector:
    """A shop export's connector, recognised by its `settings`' DETECT_REQUIRED and DETECT_ANY
    columns. `skips`: `read` takes a SkipRequest, and the connector says so."""
    return Connector(
        name,
        "file",
        needs_mapping=False,
        detect=_has_header(settings.DETECT_REQUIRED, settings.DETECT_ANY),
        read=_export(read, skips=skips),
        read_pieces=read_pieces,
        skips=skips,
    )


CONNECTORS: dict[str, Connector] = {
    c.name: c
    for c in (
        Connector(
            "jsonl",
            "file",
            needs_mapping=True,
            detect=lambda h: h.suffix in JSONL_SUFFIXES or h.first_line.lstrip().startswith("{"),
            read=_generic("jsonl"),
            skips=True,
        ),
        _export_connector(
            "shopify", shopify, read_shopify_csv, skips=True, read_pieces=read_shopify_pieces
        ),
        _export_connector(
            "woocommerce",
            woocommerce,
            read_woocommerce_csv,
            skips=True,
            read_pieces=read_woocommerce_pieces,
        ),
        _export_connector(
            "magento", magento, read_magento_csv, skips=True, read_pieces=read_magento_pieces
        ),
        Connector(
            "csv",
            "file",
            needs_mapping=True,
            detect=lambda h: True,
            read=_generic("csv"),
            skips=True,
        ),
        Connector("http_json", "url", needs_mapping=False, detect=_never, read=_feed),
    )
}

KINDS: tuple[str, ...] = tuple(CONNECTORS)  # the kinds a source may have
FORMATS: tuple[str, ...] = tuple(n for n, c in CONNECTORS.items() if c.reads == "file")
EXPORTS: tuple[str, ...] = tuple(n for n in FORMATS if not CONNECTORS[n].needs_mapping)
SKIPPING: frozenset[str] = frozenset(n for n, c in CONNECTORS.items() if c.skips)
