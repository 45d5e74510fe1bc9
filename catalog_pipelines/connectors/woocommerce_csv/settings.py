"""Column names and codes of WooCommerce's product CSV export (Products > Export)."""

from __future__ import annotations

import re

ID = "ID"
TYPE = "Type"
SKU = "SKU"
NAME = "Name"
DESCRIPTION = "Description"
PUBLISHED = "Published"
IMAGES = "Images"
EXTERNAL_URL = "External URL"
PARENT = "Parent"
REGULAR_PRICE = "Regular price"
SALE_PRICE = "Sale price"
STOCK = "Stock"
BACKORDERS = "Backorders allowed?"

SIMPLE, VARIABLE, VARIATION, GROUPED, EXTERNAL = (
    "simple",
    "variable",
    "variation",
    "grouped",
    "external",
)
PRIMARY_TYPES = frozenset({SIMPLE, VARIABLE, VARIATION, GROUPED, EXTERNAL})
VIRTUAL = "virtual"
# Which product types get one price (and inventory item) of their own. A variable product's
# prices are its variations; a grouped product only lists other products and has no price.
# An external product is sold elsewhere at its Regular price: it gets a price but no
# inventory item (no SKU on the variant), since the merchant holds no stock for it.
PRICED_TYPES = frozenset({SIMPLE, EXTERNAL})

# Published: 1 published, 0 draft/pending, -1 private (only published products are active).
PUBLISHED_CODES = {"1": True, "0": False, "-1": False}
# Backorders allowed?: 1 yes, notify (yes, and tell the customer), 0 no.
BACKORDER_POLICIES = {"1": "continue", "notify": "continue", "0": "deny"}

# Attribute N name / Attribute N value(s): options on variations.
ATTRIBUTE_NAME = re.compile(r"^Attribute (\d+) name$")


def attribute_value(n: str) -> str:
    return f"Attribute {n} value(s)"


# Columns whose value is fully carried by a catalog field, so they are not repeated in
# metadata. Everything else (Published and Backorders allowed? included, since the boolean
# or policy loses detail) is kept in metadata under its header.
PRODUCT_MAPPED = frozenset({SKU, NAME, DESCRIPTION, IMAGES, EXTERNAL_URL})
VARIANT_MAPPED = frozenset({SKU, NAME, STOCK})
# On a simple/external product these columns describe its one variant, not the product.
VARIANT_LEVEL = frozenset(
    {
        REGULAR_PRICE,
        SALE_PRICE,
        "Date sale price starts",
        "Date sale price ends",
        "In stock?",
        STOCK,
        BACKORDERS,
    }
)

# Columns read into catalog fields or used to link rows; the rest is "unmapped" (kept only
# in metadata) for the schema-drift check.
MAPPED = frozenset(
    {TYPE, SKU, NAME, DESCRIPTION, PUBLISHED, IMAGES, EXTERNAL_URL, PARENT, STOCK, BACKORDERS}
    | {REGULAR_PRICE, SALE_PRICE}
)

DETECT_REQUIRED = frozenset({TYPE, SKU})
DETECT_ANY = frozenset({REGULAR_PRICE, SALE_PRICE, PARENT, "In stock?"})
