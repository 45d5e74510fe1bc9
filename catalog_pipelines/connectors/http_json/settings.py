"""Defaults and key names of the HTTP JSON products feed (Shopify Admin REST shape)."""

from __future__ import annotations

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds: no request ever waits forever
DEFAULT_MAX_RETRIES = 5  # retries after the first attempt
DEFAULT_BACKOFF = 0.5  # seconds; doubled per retry, with jitter
DEFAULT_MAX_DELAY = 60.0  # cap on one wait, including a server's Retry-After
DEFAULT_MAX_PAGES = 10_000  # a feed longer than this is an error, never a silent truncation

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

PRODUCTS_KEY = "products"

# Product keys read into catalog fields. `status` is mapped to `active` but also kept in
# metadata (draft and archived both become inactive); `image` repeats one of `images`.
PRODUCT_MAPPED = frozenset({"id", "title", "body_html", "images", "image", "options", "variants"})
# Variant keys read into price/inventory fields; `product_id` only repeats the parent's id.
VARIANT_MAPPED = frozenset(
    {"sku", "price", "inventory_quantity", "inventory_policy", "title", "product_id"}
    | {"option1", "option2", "option3"}
)
MAX_OPTIONS = 3
POLICIES = frozenset({"deny", "continue"})
STATUSES = frozenset({"active", "draft", "archived"})
IMAGE_ALT_METADATA_KEY = "image_alt"  # {image url: alt text} as compact JSON
