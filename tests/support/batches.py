"""Build normalized batches directly, so store tests don't depend on any connector."""

from __future__ import annotations

from typing import Any

import polars as pl

from catalog_pipelines.normalized import PRODUCT_SCHEMA, VARIANT_SCHEMA, ParsedBatch, Reject


def kv(d: dict[str, str] | None) -> list[dict[str, str]] | None:
    return None if d is None else [{"key": k, "value": v} for k, v in d.items()]


def batch(
    products: list[dict[str, Any]],
    variants: list[dict[str, Any]] | None = None,
    rejects: list[Reject] | None = None,
    name: str = "test.csv",
) -> ParsedBatch:
    """Products as dicts (`metadata` a dict); variants default to one per product."""
    prows = []
    for i, p in enumerate(products, start=1):
        row = {"row_number": i, **p}
        row["metadata"] = kv(p.get("metadata"))
        prows.append(row)
    if variants is None:
        variants = [
            {
                "product_external_id": p["external_id"],
                "variant_key": f"SKU-{p['external_id']}",
                "sku": f"SKU-{p['external_id']}",
                "currency": "usd",
                "unit_amount": p.get("_price", 1000),
                "inventory_quantity": p.get("_qty", 5),
            }
            for p in products
        ]
        for r in prows:
            r.pop("_price", None)
            r.pop("_qty", None)
    vrows = []
    for i, v in enumerate(variants, start=1):
        row = {"row_number": i, **v}
        row["options"] = kv(v.get("options"))
        row["metadata"] = kv(v.get("metadata"))
        vrows.append(row)
    rejects = rejects or []
    return ParsedBatch(
        input_name=name,
        rows_read=max(len(prows), len(vrows)) + len(rejects),
        products=pl.DataFrame(prows, schema=PRODUCT_SCHEMA)
        if prows
        else pl.DataFrame(schema=PRODUCT_SCHEMA),
        variants=pl.DataFrame(vrows, schema=VARIANT_SCHEMA)
        if vrows
        else pl.DataFrame(schema=VARIANT_SCHEMA),
        rejects=rejects,
    )
