"""Shop export CSVs in connector tests: writing a small one, and reading back what the
connector made of it."""

from __future__ import annotations

import csv
from pathlib import Path

# the columns of the small Shopify exports the tests write
SHOPIFY_HEADER = [
    "Handle",
    "Title",
    "Vendor",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Inventory Qty",
    "Variant Grams",
]


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8"
) -> Path:
    """Write `header` and `rows` as CSV (as the csv module quotes them) to `path`."""
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def as_dict(items: list[dict[str, str]]) -> dict[str, str]:
    """A normalized key/value list (metadata, options) as a dict."""
    return {i["key"]: i["value"] for i in items}
