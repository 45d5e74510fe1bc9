"""Column names of Shopify's product CSV (the classic export/import template)."""

from __future__ import annotations

HANDLE = "Handle"
TITLE = "Title"
BODY = "Body (HTML)"
STATUS = "Status"
PUBLISHED = "Published"

SKU = "Variant SKU"
PRICE = "Variant Price"
QUANTITY = "Variant Inventory Qty"
POLICY = "Variant Inventory Policy"
REQUIRES_SHIPPING = "Variant Requires Shipping"
TAX_CODE = "Variant Tax Code"

IMAGE_SRC = "Image Src"
IMAGE_POSITION = "Image Position"
IMAGE_ALT = "Image Alt Text"
# Product metadata key holding {image url: alt text} as compact JSON, in image order.
IMAGE_ALT_METADATA_KEY = "Image Alt Text"

MAX_OPTIONS = 3


def option_name(n: int) -> str:
    return f"Option{n} Name"


def option_value(n: int) -> str:
    return f"Option{n} Value"


# Columns that belong to one variant row rather than to the product: they go to the variant's
# metadata, and a row with none of them set is not a variant (an image-only row, for example).
VARIANT_PREFIXES = ("Variant ", "Price / ", "Compare At Price / ")
VARIANT_COLUMNS = frozenset({"Cost per item"})
VARIANT_METAFIELD_MARKER = "(variant.metafields."

# Columns mapped to catalog fields; everything else is kept in metadata under its header.
# Status and Published are mapped to `active` but also kept, because `active` alone cannot
# tell draft from archived. Requires Shipping and Tax Code are per variant in Shopify but
# per product in the catalog, so their raw values stay in the variant metadata too.
PRODUCT_MAPPED = frozenset(
    {HANDLE, TITLE, BODY, IMAGE_SRC, IMAGE_POSITION, IMAGE_ALT}
    | {option_name(n) for n in range(1, MAX_OPTIONS + 1)}
)
VARIANT_MAPPED = frozenset(
    {SKU, PRICE, QUANTITY, POLICY} | {option_value(n) for n in range(1, MAX_OPTIONS + 1)}
)

STATUSES = frozenset({"active", "draft", "archived"})
POLICIES = frozenset({"deny", "continue"})
TRUE_WORDS = frozenset({"true"})
FALSE_WORDS = frozenset({"false"})

# Headers that identify the format for detection: Handle plus any of these.
DETECT_REQUIRED = frozenset({HANDLE})
DETECT_ANY = frozenset({SKU, PRICE, QUANTITY, option_name(1), IMAGE_SRC})
