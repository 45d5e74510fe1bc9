"""HTTP, retries and pagination for JSON product feeds, and the product -> row mapping.

Why so careful: a feed that silently skips a page (or stops paging early) looks like a
catalog with products missing, and a full import would archive them. So every failure either
recovers by retrying or raises an error naming the URL; nothing is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.util import Retry

from catalog_pipelines.connectors.http_json import settings as s
from catalog_pipelines.connectors.reading import InputError, decode, parse_json_strict
from catalog_pipelines.money import MoneyError, to_minor_units
from catalog_pipelines.normalized import kv, ordered_images

Timeout = float | tuple[float, float]


class FeedError(InputError):
    """The feed could not be read completely; the message names the URL (and status)."""


@dataclass
class Page:
    number: int  # 1-based
    url: str
    products: list[Any]


# --- retries ---------------------------------------------------------------------------------


class FeedRetry(Retry):
    """urllib3's Retry, with a server's Retry-After capped at `backoff_max` like our own
    backoff: a feed that asks for an hour must not stall an import for an hour."""

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.backoff_max)


def feed_retry(max_retries: int, backoff: float, max_delay: float) -> FeedRetry:
    """Retry GETs on connection errors, read errors and 429/5xx, `max_retries` times, with
    exponential backoff and jitter (so that clients retrying together spread out). After the
    last try the last response is returned, so the error can name its status."""
    return FeedRetry(
        total=max_retries,
        allowed_methods={"GET"},
        status_forcelist=s.RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_max=max_delay,
        backoff_jitter=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        redirect=False,  # requests follows redirects itself
    )


def retrying_session(url: str, session: requests.Session | None, retry: Retry) -> requests.Session:
    """`session` (or a new one) with `retry` on the feed's origin."""
    http = session or requests.Session()
    scheme, netloc = _origin(url)
    http.mount(f"{scheme}://{netloc}/", HTTPAdapter(max_retries=retry))
    return http


def get_with_retries(
    session: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str] | None,
    timeout: Timeout,
    attempts: int,
) -> requests.Response:
    """GET with a timeout on a session from `retrying_session`; a non-2xx after the retries,
    or a transport failure that outlasted them, raises FeedError naming the URL and status."""
    if timeout is None:
        raise ValueError("every request needs a timeout")
    try:
        response = session.get(url, headers=dict(headers or {}), timeout=timeout)
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as e:
        raise FeedError(
            f"{url}: {type(e).__name__}: {e} after {attempts} attempts; giving up"
        ) from e
    if 200 <= response.status_code < 300:
        return response
    failure = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    if response.status_code in s.RETRY_STATUSES:
        raise FeedError(f"{url}: {failure} after {attempts} attempts; giving up")
    snippet = response.text[:200].strip()
    raise FeedError(f"{url}: {failure}" + (f": {snippet}" if snippet else ""))


# --- pagination ------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def next_link(response: requests.Response) -> str | None:
    """The absolute URL of `Link: <...>; rel="next"`, if any (requests parses the header)."""
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    return urljoin(response.url, link["url"])


def iter_pages(
    url: str,
    *,
    session: requests.Session,
    headers: Mapping[str, str] | None = None,
    timeout: Timeout = s.DEFAULT_TIMEOUT,
    max_retries: int = s.DEFAULT_MAX_RETRIES,
    backoff: float = s.DEFAULT_BACKOFF,
    max_delay: float = s.DEFAULT_MAX_DELAY,
    max_pages: int = s.DEFAULT_MAX_PAGES,
) -> Iterator[Page]:
    """Yield every page of a `{"products": [...]}` feed, following rel="next" links.

    A page that is not strict JSON of that shape, a next link to another origin (it would
    receive our credentials), a loop, or more than `max_pages` pages raise FeedError.
    """
    http = retrying_session(url, session, feed_retry(max_retries, backoff, max_delay))
    seen: set[str] = set()
    current: str | None = url
    number = 0
    while current is not None:
        if number == max_pages:
            raise FeedError(
                f"{url}: more than {max_pages} pages (next: {current}); raise max_pages rather"
                " than importing part of the catalog"
            )
        if current in seen:
            raise FeedError(f"{current}: pagination loops back to a page already read")
        if _origin(current) != _origin(url):
            raise FeedError(f"{current}: next page is on another origin than {url}; refused")
        seen.add(current)
        number += 1
        response = get_with_retries(
            http, current, headers=headers, timeout=timeout, attempts=max_retries + 1
        )
        try:
            document = parse_json_strict(decode(response.content, source=current), source=current)
        except InputError as e:
            raise FeedError(f"page {number}: {e}") from e
        products = document.get(s.PRODUCTS_KEY) if isinstance(document, dict) else None
        if not isinstance(products, list):
            raise FeedError(
                f"{current}: page {number} is not an object with a {s.PRODUCTS_KEY!r} list"
            )
        yield Page(number, current, products)
        current = next_link(response)


# --- mapping ---------------------------------------------------------------------------------


def compact_json(value: Any) -> str:
    """Compact JSON text for nested values kept in metadata. Numbers keep their exact text
    (they were parsed as Decimal), and keys keep their order."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{compact_json(str(k))}:{compact_json(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(compact_json(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | Decimal):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def metadata_value(value: Any) -> str | None:
    """Metadata is string -> string: strings as they are, scalars as JSON text, nested values
    as compact JSON; null means not given (no key)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return compact_json(value)


def raw_record(obj: Any) -> dict[str, Any]:
    """A JSON-safe copy of a product object for a Reject (nested values as compact JSON)."""
    if not isinstance(obj, dict):
        return {"value": compact_json(obj)}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out[k] = v if isinstance(v, str | bool | int) or v is None else compact_json(v)
    return out


def _text(obj: Mapping[str, Any], key: str, where: str, errors: list[str]) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value if value != "" else None
    errors.append(f"{where}{key}: expected a string, got {compact_json(value)}")
    return None


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def map_product(
    obj: Any, *, currency: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[str]]:
    """One product object -> (product row, variant rows, errors). Any error rejects the whole
    product, so that a product is never imported with some of its variants silently missing."""
    errors: list[str] = []
    if not isinstance(obj, dict):
        return None, [], [f"product: expected an object, got {compact_json(obj)[:80]}"]
    external_id = _identifier(obj.get("id")) or _identifier(obj.get("handle"))
    if external_id is None:
        errors.append("id: required (a number or string), or a handle")
    status = _text(obj, "status", "", errors)
    active: bool | None = None
    if status is not None:
        if status.lower() not in s.STATUSES:
            errors.append(f"status: {status!r} is not active, draft or archived")
        active = status.lower() == "active"

    images, alts = _images(obj.get("images"), errors)
    option_names = _option_names(obj.get("options"), errors)
    metadata = {
        k: v for k in obj if k not in s.PRODUCT_MAPPED and (v := metadata_value(obj[k])) is not None
    }
    if alts:
        metadata[s.IMAGE_ALT_METADATA_KEY] = compact_json(alts)

    raw_variants = obj.get("variants")
    if raw_variants is None:
        raw_variants = []
    if not isinstance(raw_variants, list):
        errors.append("variants: expected a list")
        raw_variants = []
    variants: list[dict[str, Any]] = []
    shippable: list[bool] = []
    keys: set[str] = set()
    for i, variant in enumerate(raw_variants):
        row = _variant(variant, i, external_id or "", option_names, currency, errors)
        if row is None:
            continue
        if row["variant_key"] in keys:
            errors.append(f"variants[{i}]: {row['variant_key']!r} appears twice in this product")
        keys.add(row["variant_key"])
        ship = row.pop("_shippable")
        if ship is not None:
            shippable.append(ship)
        variants.append(row)
    if errors:
        return None, [], errors
    product = {
        "external_id": external_id,
        "name": _text(obj, "title", "", errors),
        "description": _text(obj, "body_html", "", errors),
        "active": active,
        "images": images,
        "shippable": any(shippable) if shippable else None,
        "metadata": kv(metadata),
    }
    if errors:  # title/body_html of the wrong type
        return None, [], errors
    return product, variants, []


def _images(value: Any, errors: list[str]) -> tuple[list[str], dict[str, str]]:
    """Image URLs ordered by `position` (then as listed), without repeats; and their alt texts."""
    if value is None:
        return [], {}
    if not isinstance(value, list):
        errors.append("images: expected a list")
        return [], {}
    found: list[tuple[int, int, str, str | None]] = []
    for i, image in enumerate(value):
        src = image.get("src") if isinstance(image, dict) else None
        if not isinstance(src, str) or not src.strip():
            errors.append(f"images[{i}].src: expected a URL")
            continue
        position = image.get("position")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
            errors.append(f"images[{i}].position: expected a whole number")
            continue
        alt = image.get("alt")
        found.append(
            (
                position if position is not None else 2**31,
                i,
                src.strip(),
                alt if isinstance(alt, str) and alt else None,
            )
        )
    return ordered_images(found)


def _option_names(value: Any, errors: list[str]) -> list[str]:
    """Names of option1..option3, from the product's `options` list (by `position`)."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("options: expected a list")
        return []
    named: list[tuple[int, int, str]] = []
    for i, option in enumerate(value):
        name = option.get("name") if isinstance(option, dict) else None
        if not isinstance(name, str) or not name.strip():
            errors.append(f"options[{i}].name: expected a string")
            continue
        position = option.get("position")
        order = position if isinstance(position, int) and not isinstance(position, bool) else i + 1
        named.append((order, i, name.strip()))
    return [name for _, _, name in sorted(named)]


def _variant(
    obj: Any,
    i: int,
    product: str,
    option_names: list[str],
    currency: str,
    errors: list[str],
) -> dict[str, Any] | None:
    where = f"variants[{i}]."
    if not isinstance(obj, dict):
        errors.append(f"variants[{i}]: expected an object")
        return None
    before = len(errors)
    sku = _text(obj, "sku", where, errors)
    sku = sku.strip() if sku and sku.strip() else None
    vid = _identifier(obj.get("id"))
    key = sku or (f"id:{vid}" if vid else None)
    if key is None:
        errors.append(f"{where}sku: required when the variant has no id")

    price = obj.get("price")
    amount: int | None = None
    if price is not None:
        if isinstance(price, bool) or not isinstance(price, str | int | Decimal):
            errors.append(f"{where}price: expected a decimal string, got {compact_json(price)}")
        else:
            try:
                amount = to_minor_units(str(price), currency)
            except MoneyError as e:
                errors.append(f"{where}price: {e}")

    quantity = obj.get("inventory_quantity")
    if quantity is not None and (
        isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0
    ):
        errors.append(
            f"{where}inventory_quantity: {compact_json(quantity)} is not a whole number >= 0"
        )
        quantity = None

    policy = _text(obj, "inventory_policy", where, errors)
    if policy is not None and policy.lower() not in s.POLICIES:
        errors.append(f"{where}inventory_policy: {policy!r} is not 'deny' or 'continue'")
    options: list[dict[str, str]] = []
    for n in range(1, s.MAX_OPTIONS + 1):
        value = obj.get(f"option{n}")
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(f"{where}option{n}: expected a string")
            continue
        name = option_names[n - 1] if n <= len(option_names) else f"Option{n}"
        options.append({"key": name, "value": value})
    ships = obj.get("requires_shipping")
    if ships is not None and not isinstance(ships, bool):
        errors.append(f"{where}requires_shipping: expected true or false")
        ships = None
    nickname = _text(obj, "title", where, errors)
    if len(errors) > before:
        return None
    metadata = [
        {"key": k, "value": v}
        for k in obj
        if k not in s.VARIANT_MAPPED and (v := metadata_value(obj[k])) is not None
    ]
    return {
        "product_external_id": product,
        "variant_key": key,
        "sku": sku,
        "currency": currency,
        "unit_amount": amount,
        "nickname": nickname,
        "options": options,
        "metadata": metadata,
        "inventory_quantity": quantity,
        "inventory_policy": policy.lower() if policy else None,
        "_shippable": ships,
    }
