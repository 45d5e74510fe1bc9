"""Column names and codes of Magento 2's product export (System > Export > Products)."""

from __future__ import annotations

SKU = "sku"
STORE_VIEW = "store_view_code"
ATTRIBUTE_SET = "attribute_set_code"
TYPE = "product_type"
WEBSITES = "product_websites"
NAME = "name"
DESCRIPTION = "description"
ONLINE = "product_online"
VISIBILITY = "visibility"
PRICE = "price"
QTY = "qty"
ALLOW_BACKORDERS = "allow_backorders"
USE_CONFIG_BACKORDERS = "use_config_backorders"
ADDITIONAL_ATTRIBUTES = "additional_attributes"
CONFIGURABLE_VARIATIONS = "configurable_variations"
BUNDLE_PRICE_TYPE = "bundle_price_type"

# Image columns in the order their images are listed; `additional_images` is comma-separated.
IMAGE_COLUMNS = ("base_image", "small_image", "thumbnail_image", "swatch_image")
ADDITIONAL_IMAGES = "additional_images"
# Magento writes this placeholder when an image role is explicitly empty.
NO_SELECTION = "no_selection"

SIMPLE, VIRTUAL, DOWNLOADABLE = "simple", "virtual", "downloadable"
CONFIGURABLE, GROUPED, BUNDLE = "configurable", "grouped", "bundle"
# Types sold as they are: one price and one inventory item each, or a configurable's variant.
STANDALONE_TYPES = frozenset({SIMPLE, VIRTUAL, DOWNLOADABLE})
KNOWN_TYPES = STANDALONE_TYPES | {CONFIGURABLE, GROUPED, BUNDLE}
SHIPPED_TYPES = frozenset({SIMPLE})  # virtual and downloadable products are never shipped

# product_online: 1 enabled, 2 disabled (Magento's status attribute).
ONLINE_CODES = {"1": True, "2": False}
# allow_backorders: 0 no backorders, 1 allowed, 2 allowed and the customer is notified.
BACKORDER_POLICIES = {"0": "deny", "1": "continue", "2": "continue"}

# Metadata key of a store view's value: store_view.<code>.<column>.
STORE_VIEW_PREFIX = "store_view."

# Columns whose value is fully carried by a catalog field (or by the row's role) and so are
# not repeated in metadata. Everything else is kept under its header. The price and qty of a
# product without a price or stock of its own (grouped, dynamic bundle, configurable) are
# kept in its metadata, see `helpers`.
PRODUCT_MAPPED = frozenset(
    {SKU, STORE_VIEW, NAME, DESCRIPTION, ONLINE, ADDITIONAL_ATTRIBUTES, CONFIGURABLE_VARIATIONS}
    | set(IMAGE_COLUMNS)
    | {ADDITIONAL_IMAGES}
)
VARIANT_LEVEL = frozenset({PRICE, QTY})
# A configurable's child row: its SKU, price, stock and status become the variant's.
CHILD_MAPPED = frozenset({SKU, STORE_VIEW, PRICE, QTY, ONLINE, ADDITIONAL_ATTRIBUTES})

# Columns read into catalog fields or used to link rows: the rest is "unmapped" (kept in
# metadata) for the schema-drift check.
MAPPED = PRODUCT_MAPPED | {TYPE, PRICE, QTY}

# Headers that identify the format for detection: both of these, and any of the others.
DETECT_REQUIRED = frozenset({SKU, TYPE})
DETECT_ANY = frozenset({STORE_VIEW, ATTRIBUTE_SET, WEBSITES, ADDITIONAL_ATTRIBUTES})
