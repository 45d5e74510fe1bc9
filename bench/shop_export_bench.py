"""Shopify export benchmark: the time and peak memory of importing a shop's product export, a
million variant rows, against a bare COPY of the same file, in one run.

    uv run python bench/shop_export_bench.py --products 250000 [--json]

The export has the 48 columns of Shopify's product template and four variants a product (one
row each; product cells on the first row only), as Shopify writes it. Phases, each in its own
child process (so peak RSS is per phase), on a settled server (see import_bench.py):
  copy     the client streams the file through `COPY ... FROM STDIN` into a table of 48 text
           columns (no key: a variant row has none of its own)
  initial  `import --format shopify` into an empty catalog (streamed: in pieces of whole
           products, each validated and kept on disk; catalog_pipelines/first_import.py)
  noop     the same file again: nothing is written; the products whose rows the initial
           import saw are skipped by their fingerprints (connectors/export_skip.py)
  changed  the file with 1% of the products renamed: exactly that many events are written

With --google-category, every product's first row fills `Google Shopping / Google Product
Category`, as a shop on Shopify's Google channel does: a 41-character metadata key, over
Stripe's 40, so every product is warned about on every run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_bench import (  # noqa: E402
    _rss_mib,
    _run,
    _settle,
    print_phases,
    scratch_catalog,
    timed_import,
)

TEMPLATE = REPO / "tests" / "fixtures" / "real" / "shopify_product_template.csv"
VARIANTS = 4


GOOGLE_CATEGORY = "Google Shopping / Google Product Category"


def generate(
    path: Path, products: int, *, renamed_every: int | None = None, google: bool = False
) -> int:
    """Write a Shopify export of `products` products with VARIANTS variants each; its rows.
    `renamed_every`: every so many products get another title; `google`: each product fills
    GOOGLE_CATEGORY."""
    header = TEMPLATE.read_text(encoding="utf-8").splitlines()[0].split(",")
    index = pl.int_range(products * VARIANTS, eager=True)
    rows = pl.DataFrame(
        {
            "p": (index // VARIANTS).cast(pl.Utf8),
            "v": (index % VARIANTS).cast(pl.Utf8),
            "first": index % VARIANTS == 0,
        }
    )
    on_first = {
        "Title": pl.lit("Product ")
        + pl.col("p")
        + (
            pl.when(pl.col("p").cast(pl.Int64) % renamed_every == 0).then(pl.lit(" (renamed)"))
            if renamed_every
            else pl.lit(None, dtype=pl.Utf8)
        ).fill_null(""),
        "Body (HTML)": pl.lit("<p>A comfortable cotton shirt, number ")
        + pl.col("p")
        + pl.lit(", made to order in our shop.</p>"),
        "Vendor": pl.lit("Acme"),
        "Type": pl.lit("Shirts"),
        "Tags": pl.lit("Made to Order, Shirt"),
        "Published": pl.lit("TRUE"),
        "Option1 Name": pl.lit("Size"),
        "Image Src": pl.lit("https://cdn.example.com/img/") + pl.col("p") + pl.lit(".jpg"),
        "Image Position": pl.lit("1"),
        "Gift Card": pl.lit("FALSE"),
        "Status": pl.lit("active"),
    }
    if google:
        on_first[GOOGLE_CATEGORY] = pl.lit("Apparel & Accessories > Clothing > Shirts & Tops")
    every_row = {
        "Handle": pl.lit("prod-") + pl.col("p"),
        "Option1 Value": pl.lit("S") + pl.col("v"),
        "Variant SKU": pl.lit("SKU-") + pl.col("p") + pl.lit("-") + pl.col("v"),
        "Variant Grams": pl.lit("145"),
        "Variant Inventory Tracker": pl.lit("shopify"),
        "Variant Inventory Qty": pl.col("v"),
        "Variant Inventory Policy": pl.lit("deny"),
        "Variant Fulfillment Service": pl.lit("manual"),
        "Variant Price": pl.lit("25.00"),
        "Variant Requires Shipping": pl.lit("TRUE"),
        "Variant Taxable": pl.lit("TRUE"),
        "Variant Barcode": pl.lit("36527") + pl.col("p"),
        "Variant Weight Unit": pl.lit("kg"),
    }

    def column(name: str) -> pl.Expr:
        if name in on_first:
            return pl.when("first").then(on_first[name])
        return every_row.get(name, pl.lit(None, dtype=pl.Utf8))

    rows.select(column(c).cast(pl.Utf8).alias(c) for c in header).write_csv(path)
    return rows.height


def _phase_copy(url: str, csv_path: str, out: Any) -> None:
    with open(csv_path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split(",")
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("CREATE TABLE bench_copy ({})").format(columns))
        conn.commit()
        t = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER)") as cp,
            open(csv_path, "rb") as f,
        ):
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - t
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_import(url: str, csv_path: str, out: Any) -> None:
    result = timed_import(url, csv_path, format="shopify", source="shop", account="acct_shop")
    out.put({**result, "events": result["report"]["events"]})


def run_phases(
    database: str,
    products: int,
    generate: Callable[..., int],
    phase_import: Callable[[str, str, Any], None],
    *,
    as_json: bool,
    **options: Any,
) -> None:
    """A shop export's phases: `generate(path, products, renamed_every=, **options)` writes
    the file, `phase_import` imports it in a child process."""
    results: dict[str, Any] = {"products": products, "phases": {}}
    with scratch_catalog(database) as url, tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp, "products_export.csv")
        results["rows"] = generate(export, products, **options)
        results["bytes"] = export.stat().st_size
        for name, target in (("copy", _phase_copy), ("initial", phase_import)):
            _settle(url)
            results["phases"][name] = _run(target, url, str(export))
        _settle(url)
        results["phases"]["noop"] = _run(phase_import, url, str(export))
        renamed = Path(tmp, "renamed.csv")
        generate(renamed, products, renamed_every=100, **options)
        _settle(url)
        results["phases"]["changed"] = _run(phase_import, url, str(renamed))
        expected = {"noop": 0, "changed": -(-products // 100)}
        for name, events in expected.items():
            got = results["phases"][name]["events"]
            assert got == events, f"{name}: {got} events, expected {events}"
    title = f"{results['rows']:,} rows ({results['bytes'] / 1e6:.0f} MB), {products:,} products"
    print_phases(results, as_json, title)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--products", type=int, default=25_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--google-category", action="store_true", help="see the docstring")
    args = ap.parse_args()
    run_phases(
        "cs_shop_bench",
        args.products,
        generate,
        _phase_import,
        as_json=args.json,
        google=args.google_category,
    )


if __name__ == "__main__":
    main()
