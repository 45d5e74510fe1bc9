"""Ownership across sources: which rows of an import touch what another source owns.

Several sources may describe the same products (docs/hybrid-sources.md): a PIM owns their
content, an ERP their stock. Each catalog table holds one field group (products: content,
prices: pricing, inventory items: inventory), and an object's `source` column names the source
that wrote it. The group of an object is **owned** by that source when the source owns the
group; otherwise nobody owns it, and the next source that owns the group and writes it takes it.

`screen` moves to the rejects every row of a batch that would write a group another source
owns, with a reason naming that source, so an overlap is never a crash and never a silent
"unchanged". A row also may not move another source's SKU or price to a product of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import polars as pl

from catalog_pipelines.normalized import ParsedBatch, Reject

GUIDE = "see docs/hybrid-sources.md"


def _owners(owners: Mapping[str, frozenset[str]], group: str) -> list[str]:
    """Sources that own `group`."""
    return [name for name, owns in owners.items() if group in owns]


def _conflict(
    other: pl.Expr, source: str, owns: frozenset[str], group: str, owners: list[str]
) -> pl.Expr:
    """Rows whose object was written by another source that owns `group`, while this source
    owns it too."""
    if group not in owns:
        return pl.lit(False)
    return other.is_not_null() & (other != source) & other.is_in(owners)


def _others(stored: pl.DataFrame, source: str) -> bool:
    """Whether another named source wrote any of these stored objects."""
    return bool(
        stored.select((pl.col("source").is_not_null() & (pl.col("source") != source)).any()).item()
    )


def screens(stored: Mapping[str, pl.DataFrame], source: str) -> bool:
    """Whether `screen` has rows to look at: another source wrote some of the stored rows."""
    return any(_others(stored[name], source) for name in ("products", "prices", "inventory"))


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, list) and v and isinstance(v[0], dict) and set(v[0]) == {"key", "value"}:
            out[k] = {kv["key"]: kv["value"] for kv in v}
        else:
            out[k] = v
    return out


def screen(
    batch: ParsedBatch,
    stored: Mapping[str, pl.DataFrame],
    *,
    source: str,
    owns: frozenset[str],
    owners: Mapping[str, frozenset[str]],
) -> ParsedBatch:
    """The batch without the rows that hit what another source owns; those become rejects.

    `stored` holds the account's stored products, prices and inventory (store.imports
    read_stored); `owners` maps each source of the account to the groups it owns. A rejected
    product takes its variants with it (as in validation)."""
    products, variants = batch.products, batch.variants
    sp, spr, si = stored["products"], stored["prices"], stored["inventory"]
    if not screens(stored, source):
        return batch  # one source (or the API) wrote everything: nothing to screen
    product_of = sp.filter(pl.col("source").is_not_null() & (pl.col("source") != source)).select(
        pl.col("id").alias("_pid"),
        pl.col("external_id").alias("_pext"),
        pl.col("source").alias("_psrc"),
    )

    reasons: dict[tuple[str, int], list[str]] = {}

    def add(frame: str, rows: pl.DataFrame, message: Any) -> None:
        for r in rows.iter_rows(named=True):
            reasons.setdefault((frame, r["_i"]), []).append(message(r))

    # Products: their content.
    if not batch.stock_only and products.height:
        p = products.with_row_index("_i").join(
            sp.select("external_id", pl.col("source").alias("_src")), on="external_id", how="left"
        )
        hit = p.filter(
            _conflict(pl.col("_src"), source, owns, "content", _owners(owners, "content"))
        )
        add(
            "products",
            hit,
            lambda r: (
                f"external_id: product {r['external_id']!r} belongs to source {r['_src']!r},"
                f" which owns its content; source {source!r} owns content too and may not"
                f" change it ({GUIDE})"
            ),
        )

    # Variants: their price, their stock, and which product they belong to.
    if variants.height:
        v = variants.with_row_index("_i")
        priced = v.join(
            spr.select(
                "variant_key", pl.col("source").alias("_src"), pl.col("product_id").alias("_pid")
            ),
            on="variant_key",
            how="inner",
        )
        stock = v.filter(pl.col("sku").is_not_null()).join(
            si.select("sku", pl.col("source").alias("_src"), pl.col("product_id").alias("_pid")),
            on="sku",
            how="inner",
        )
        add(
            "variants",
            priced.filter(
                _conflict(pl.col("_src"), source, owns, "pricing", _owners(owners, "pricing"))
            ),
            lambda r: (
                f"price: variant {r['variant_key']!r} has a price of source {r['_src']!r}, which"
                f" owns its pricing; source {source!r} owns pricing too and may not change it"
                f" ({GUIDE})"
            ),
        )
        add(
            "variants",
            stock.filter(
                _conflict(pl.col("_src"), source, owns, "inventory", _owners(owners, "inventory"))
            ),
            lambda r: (
                f"sku: the stock of {r['sku']!r} belongs to source {r['_src']!r}, which owns"
                f" inventory; source {source!r} owns inventory too and may not change it"
                f" ({GUIDE})"
            ),
        )
        if not batch.stock_only:
            for what, key, frame in (
                ("price of variant", "variant_key", priced),
                ("SKU", "sku", stock),
            ):
                # a SKU or price of another source's product, sent under another product
                moved = frame.join(product_of, on="_pid", how="inner").filter(
                    pl.col("_pext").ne_missing(pl.col("product_external_id"))
                )
                add(
                    "variants",
                    moved,
                    lambda r, what=what, key=key: (
                        f"product_external_id: the {what} {r[key]!r} belongs to product"
                        f" {r['_pext']!r} of source {r['_psrc']!r}; source {source!r} may not"
                        f" move it to product {r['product_external_id']!r} ({GUIDE})"
                    ),
                )
    if not reasons:
        return batch
    return reject_rows(batch, reasons)


def reject_rows(batch: ParsedBatch, reasons: dict[tuple[str, int], list[str]]) -> ParsedBatch:
    """Move the flagged rows (and the variants of flagged products) to the rejects."""
    products, variants = batch.products, batch.variants
    bad_products = sorted(i for f, i in reasons if f == "products")
    gone = products[bad_products] if bad_products else products.clear()
    gone_ids = dict(zip(gone["external_id"].to_list(), gone["row_number"].to_list(), strict=True))
    if gone_ids:
        cascade = (
            variants.with_row_index("_i")
            .filter(pl.col("product_external_id").is_in(list(gone_ids)))
            .select("_i", "product_external_id")
        )
        for i, pid in cascade.iter_rows():
            reasons.setdefault(("variants", i), []).append(
                f"product_external_id: product {pid!r} (row {gone_ids[pid]}) was rejected"
            )
    by_row: dict[Any, Reject] = {}
    for (frame, i), why in sorted(
        reasons.items(), key=lambda kv: (kv[0][0] != "products", kv[0][1])
    ):
        df = products if frame == "products" else variants
        row = df.row(i, named=True)
        rn = row["row_number"]
        slot: Any = rn if rn is not None else (frame, i)
        reject = by_row.setdefault(slot, Reject(rn or 0, {}, []))
        reject.raw[frame] = _jsonable(row)
        reject.reasons.extend(w for w in why if w not in reject.reasons)
    keep_p = ~pl.Series(range(products.height)).is_in(bad_products)
    bad_variants = sorted(i for f, i in reasons if f == "variants")
    keep_v = ~pl.Series(range(variants.height)).is_in(bad_variants)
    new = list(by_row.values())
    assert batch.rows_valid is not None
    out = replace(
        batch,
        products=products.filter(keep_p),
        variants=variants.filter(keep_v),
        rejects=sorted([*batch.rejects, *new], key=lambda r: r.row_number),
        warnings=list(batch.warnings),
        rows_valid=batch.rows_valid - len(new),
    )
    out.check_reconciles()
    return out
