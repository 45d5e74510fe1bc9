"""A small catalog in two accounts, for the tests of which stored rows a re-import's keys
lead to."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.support.parent_csv import import_rows

# P1 has two variants; P3's amount changes, so its first price stays stored, replaced (and is
# never read); P5 has no SKU. The keys asked for also name what is stored nowhere (P9, S9, V6).
FIRST = [
    "P1,,Product 1,11.00,S1,5,red",
    "V1,P1,Product 1 large,12.00,S1L,5,red",
    "P2,,Product 2,20.00,S2,5,red",
    "P3,,Product 3,30.00,S3,5,red",
    "P4,,Product 4,40.00,S4,5,red",
    "P5,,Product 5,50.00,,5,red",
]
SECOND = [*FIRST[:3], "P3,,Product 3,31.00,S3,5,red", *FIRST[4:]]


def stored_catalog(engine: sa.Engine, tmp_path: Path, account: str) -> dict[str, list[str]]:
    """Two accounts with the same keys; this one's ids, variant keys and SKUs."""
    import_rows(engine, tmp_path, f"{account}_other", FIRST)
    import_rows(engine, tmp_path, account, FIRST)
    import_rows(engine, tmp_path, account, SECOND)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT p.id, p.external_id, r.variant_key, i.sku FROM products p"
                " LEFT JOIN prices r ON r.product_id = p.id"
                " LEFT JOIN inventory_items i ON i.price_id = r.id WHERE p.account_id = :a"
            ),
            {"a": account},
        ).all()
    return {
        "product_id": sorted({r.id for r in rows}),
        "external_id": sorted({r.external_id for r in rows}),
        "variant_key": sorted({r.variant_key for r in rows if r.variant_key}),
        "sku": sorted({r.sku for r in rows if r.sku}),
    }
