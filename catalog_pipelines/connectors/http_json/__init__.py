"""HTTP JSON feed connector for the Shopify Admin REST `products.json` shape.

`fetch_products_feed(url) -> ParsedBatch`. Merge keys: a product is keyed by its `id` (as a
string; its `handle` when there is no id), a variant by its `sku`, or `id:<variant id>` when
the SKU is blank.

One "row" is one product object received: rows_read counts the product objects on all pages,
and a product with any invalid field (its own or one of its variants') is rejected whole, so
rows_read = rows_valid + rejected always holds and a product never arrives with some of its
variants silently missing. `row_number` is the product's 1-based position across all pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
import requests

from catalog_pipelines.connectors.http_json import settings
from catalog_pipelines.connectors.http_json.helpers import (
    FeedError,
    Timeout,
    iter_pages,
    map_product,
    raw_record,
)
from catalog_pipelines.money import MoneyError, normalize_currency
from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA, ParsedBatch, Reject
from catalog_pipelines.text_safety import escape_unstorable, first_unstorable

__all__ = ["FeedError", "fetch_products_feed", "iter_pages"]


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

    def append(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= FRAME_ROWS:
            self._frames.append(pl.DataFrame(self._rows, schema=self._schema))
            self._rows.clear()

    def frame(self) -> pl.DataFrame:
        last = pl.DataFrame(self._rows, schema=self._schema)
        self._rows.clear()
        return pl.concat([*self._frames, last], rechunk=False)


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
    try:
        code = normalize_currency(currency)
    except MoneyError as e:
        raise FeedError(f"{url}: {e}") from e
    own = session is None
    http = session or requests.Session()
    products = _Rows(PRODUCT_SCHEMA)
    variants = _Rows(VARIANT_SCHEMA)
    rejects: list[Reject] = []
    product_keys: dict[str, None] = {}
    variant_keys: dict[str, None] = {}
    seen_ids: dict[str, int] = {}
    seen_variants: dict[str, int] = {}
    rows_read = 0
    try:
        for page in iter_pages(
            url,
            session=http,
            headers={"Accept": "application/json", **dict(headers or {})},
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_delay=max_delay,
            max_pages=max_pages,
        ):
            for obj in page.products:
                rows_read += 1
                if isinstance(obj, dict):
                    product_keys.update(dict.fromkeys(obj))
                    for v in obj.get("variants") or []:
                        if isinstance(v, dict):
                            variant_keys.update(dict.fromkeys(v))
                bad = first_unstorable(obj)
                if bad is not None:  # NUL or a lone surrogate: PostgreSQL cannot store it
                    reason = f"row {rows_read} ({page.url}): {bad[0]}: {bad[1]}"
                    rejects.append(Reject(rows_read, {"product": escape_unstorable(obj)}, [reason]))
                    continue
                product, rows, errors = map_product(obj, currency=code)
                if product is not None:
                    ext = product["external_id"]
                    if ext in seen_ids:
                        errors = [
                            f"id: product {ext!r} was already received as row {seen_ids[ext]}"
                        ]
                    for row in rows:
                        if row["variant_key"] in seen_variants:
                            errors.append(
                                f"variants: {row['variant_key']!r} is already used by the product"
                                f" at row {seen_variants[row['variant_key']]}"
                            )
                if errors or product is None:
                    reasons = [f"row {rows_read} ({page.url}): {e}" for e in errors]
                    rejects.append(Reject(rows_read, raw_record(obj), reasons))
                    continue
                seen_ids[product["external_id"]] = rows_read
                products.append({"row_number": rows_read, **product})
                for row in rows:
                    seen_variants[row["variant_key"]] = rows_read
                    variants.append({"row_number": rows_read, **row})
    finally:
        if own:
            http.close()
    columns = list(product_keys) + [f"variants.{k}" for k in variant_keys]
    unmapped = [k for k in product_keys if k not in settings.PRODUCT_MAPPED] + [
        f"variants.{k}" for k in variant_keys if k not in settings.VARIANT_MAPPED
    ]
    return ParsedBatch(
        input_name=url,
        rows_read=rows_read,
        products=products.frame(),
        variants=variants.frame(),
        rejects=rejects,
        columns=columns,
        unmapped_columns=unmapped,
    )
