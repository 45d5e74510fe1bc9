"""HTTP JSON feed connector for the Shopify Admin REST `products.json` shape.

`fetch_products_feed(url) -> ParsedBatch` reads the feed whole; `FeedPieces(url)` reads it in
pieces of whole products, for an import that streams it (first_import.read_feed). Merge keys: a
product is keyed by its `id` (as a string; its `handle` when there is no id), a variant by its
`sku`, or `id:<variant id>` when the SKU is blank.

One "row" is one product object received: rows_read counts the product objects on all pages,
and a product with any invalid field (its own or one of its variants') is rejected whole, so
rows_read = rows_valid + rejected always holds and a product never arrives with some of its
variants silently missing. `row_number` is the product's 1-based position across all pages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl
import requests

from catalog_pipelines.connectors.http_json import settings
from catalog_pipelines.connectors.http_json.helpers import (
    FeedError,
    Page,
    Timeout,
    iter_pages,
    map_product,
    raw_record,
)
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA, ParsedBatch, Reject
from catalog_pipelines.read_ahead import ReadAhead
from catalog_pipelines.text_safety import escape_unstorable, first_unstorable

__all__ = [
    "NOTHING_REMEMBERED",
    "FeedError",
    "FeedPieces",
    "Remembered",
    "fetch_products_feed",
    "iter_pages",
]


# Mapped rows held as dicts before they become a frame. Held as dicts to the end, a product of
# two variants took ~7 KB and a feed of 200,000 products peaked at 1.7 GiB; in frames, ~1.7 KB
# (bench/http_feed_bench.py). The frames are not rechunked: that would hold them twice.
FRAME_ROWS = 10_000


class _Rows:
    """Mapped rows, turned into frames of `schema` as they come, `FRAME_ROWS` at a time."""

    def __init__(self, schema: dict[str, pl.DataType]) -> None:
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._frames: list[pl.DataFrame] = []
        self.count = 0

    def append(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= FRAME_ROWS:
            self._frames.append(pl.DataFrame(self._rows, schema=self._schema))
            self._rows.clear()

    def take(self) -> pl.DataFrame:
        """The rows so far as one frame; the next `take` starts from none."""
        last = pl.DataFrame(self._rows, schema=self._schema)
        frame = pl.concat([*self._frames, last], rechunk=False)
        self._rows, self._frames, self.count = [], [], 0
        return frame


# product ids and variant keys a read in pieces keeps checking across pieces (FeedPieces)
Remembered = tuple[frozenset[str], frozenset[str]]
NOTHING_REMEMBERED: Remembered = (frozenset(), frozenset())


class _FeedReader:
    """Maps the feed's product objects as they come, with the checks the whole feed needs:
    a product id or variant key already received rejects the product that repeats it.
    `take` gives the batch of the products mapped since the last `take`; the checks look back
    as far as the last `forget`, but for the keys in `remember` (a read in pieces forgets at
    each piece: first_import.py finds a key in two pieces afterwards, and reads the feed
    again remembering those keys)."""

    def __init__(self, url: str, currency: str, remember: Remembered = NOTHING_REMEMBERED) -> None:
        try:
            self._currency = normalize_currency(currency)
        except MoneyError as e:
            raise FeedError(f"{url}: {e}") from e
        self.url = url
        self.products = _Rows(PRODUCT_SCHEMA)
        self.variants = _Rows(VARIANT_SCHEMA)
        self._rejects: list[Reject] = []
        self._product_keys: dict[str, None] = {}
        self._variant_keys: dict[str, None] = {}
        self._seen_ids: dict[str, int] = {}
        self._seen_variants: dict[str, int] = {}
        self._remember = remember
        self.rows_read = 0
        self._taken = 0  # rows_read at the last `take`

    def add_page(self, page: Page) -> None:
        for obj in page.products:
            self._add(obj, page.url)

    def _add(self, obj: Any, page_url: str) -> None:
        self.rows_read += 1
        row_number = self.rows_read
        if isinstance(obj, dict):
            self._product_keys.update(dict.fromkeys(obj))
            for v in obj.get("variants") or []:
                if isinstance(v, dict):
                    self._variant_keys.update(dict.fromkeys(v))
        bad = first_unstorable(obj)
        if bad is not None:  # NUL or a lone surrogate: PostgreSQL cannot store it
            reason = f"row {row_number} ({page_url}): {bad[0]}: {bad[1]}"
            self._rejects.append(Reject(row_number, {"product": escape_unstorable(obj)}, [reason]))
            return
        product, rows, errors = map_product(obj, currency=self._currency)
        if product is not None:
            ext = product["external_id"]
            if ext in self._seen_ids:
                errors = [f"id: product {ext!r} was already received as row {self._seen_ids[ext]}"]
            for row in rows:
                if row["variant_key"] in self._seen_variants:
                    errors.append(
                        f"variants: {row['variant_key']!r} is already used by the product"
                        f" at row {self._seen_variants[row['variant_key']]}"
                    )
        if errors or product is None:
            reasons = [f"row {row_number} ({page_url}): {e}" for e in errors]
            self._rejects.append(Reject(row_number, raw_record(obj), reasons))
            return
        self._seen_ids[product["external_id"]] = row_number
        self.products.append({"row_number": row_number, **product})
        for row in rows:
            self._seen_variants[row["variant_key"]] = row_number
            self.variants.append({"row_number": row_number, **row})

    @property
    def pending(self) -> int:
        """Product objects received since the last `take`."""
        return self.rows_read - self._taken

    def forget(self) -> None:
        ids, variants = self._remember
        self._seen_ids = {k: n for k, n in self._seen_ids.items() if k in ids} if ids else {}
        self._seen_variants = (
            {k: n for k, n in self._seen_variants.items() if k in variants} if variants else {}
        )

    def columns(self) -> tuple[list[str], list[str]]:
        """The keys of the products and their variants received so far, in order of first
        appearance, and those kept in metadata."""
        columns = list(self._product_keys) + [f"variants.{k}" for k in self._variant_keys]
        unmapped = [k for k in self._product_keys if k not in settings.PRODUCT_MAPPED] + [
            f"variants.{k}" for k in self._variant_keys if k not in settings.VARIANT_MAPPED
        ]
        return columns, unmapped

    def take(self) -> ParsedBatch:
        columns, unmapped = self.columns()
        batch = ParsedBatch(
            input_name=self.url,
            rows_read=self.rows_read - self._taken,
            products=self.products.take(),
            variants=self.variants.take(),
            rejects=self._rejects,
            columns=columns,
            unmapped_columns=unmapped,
        )
        self._rejects, self._taken = [], self.rows_read
        return batch


def _pages(
    url: str,
    session: requests.Session | None,
    headers: Mapping[str, str] | None,
    **retries: Any,
) -> Iterator[Page]:
    own = session is None
    http = session or requests.Session()
    try:
        yield from iter_pages(
            url,
            session=http,
            headers={"Accept": "application/json", **dict(headers or {})},
            **retries,
        )
    finally:
        if own:
            http.close()


def fetch_products_feed(
    url: str,
    *,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: Timeout = settings.DEFAULT_TIMEOUT,
    max_retries: int = settings.DEFAULT_MAX_RETRIES,
    backoff: float = settings.DEFAULT_BACKOFF,
    max_delay: float = settings.DEFAULT_MAX_DELAY,
    max_pages: int = settings.DEFAULT_MAX_PAGES,
    currency: str = "usd",
) -> ParsedBatch:
    """Fetch every page of the feed and map it. Transport failures that outlast the retries,
    and malformed pages, raise FeedError (an InputError) naming the URL: the batch is either
    the whole feed or nothing. Bad product data becomes rejects.

    `headers` (e.g. X-Shopify-Access-Token) go to every page; next links must stay on the
    same origin. Prices are read in `currency` (the shop's; the feed does not carry it).
    """
    reader = _FeedReader(url, currency)
    retries = {
        "timeout": timeout,
        "max_retries": max_retries,
        "backoff": backoff,
        "max_delay": max_delay,
        "max_pages": max_pages,
    }
    for page in _pages(url, session, headers, **retries):
        reader.add_page(page)
    return reader.take()


class FeedPieces:
    """The feed read a piece at a time: iterating gives batches of whole products (a page's
    products are never split), each ending once it holds `piece_rows` products and variants.
    Each piece checks its own products for repeated ids and variant keys, and every piece
    the keys in `remember`; another key repeated across pieces is for the caller to find
    (first_import.py then reads the feed again, remembering it). Once iterated, `columns()`
    gives the whole feed's columns, as `fetch_products_feed` reports them. Errors are
    `fetch_products_feed`'s."""

    def __init__(
        self,
        url: str,
        *,
        piece_rows: int,
        currency: str = "usd",
        remember: Remembered = NOTHING_REMEMBERED,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        **retries: Any,
    ) -> None:
        self._reader = _FeedReader(url, currency, remember)
        self._piece_rows = piece_rows
        self._pages = _pages(url, session, headers, **retries)

    def __iter__(self) -> Iterator[ParsedBatch]:
        reader = self._reader
        # The next page is fetched in a thread while this one is mapped and a piece is
        # validated and put on disk: a feed's server, and the network, take their time.
        with ReadAhead(self._pages, name="feed-ahead") as pages:
            for page in pages:
                reader.add_page(page)
                if reader.products.count + reader.variants.count >= self._piece_rows:
                    yield reader.take()
                    reader.forget()
        if reader.rows_read == 0 or reader.pending:  # an empty feed is one empty piece
            yield reader.take()

    def columns(self) -> tuple[list[str], list[str]]:
        return self._reader.columns()
