"""WooCommerce export benchmark: the time and peak memory of importing a shop's product
export, a million rows, against a bare COPY of the same file, in one run.

    uv run python bench/woo_export_bench.py --products 250000 [--late-every 10] [--json]

The export has the 51 columns of WooCommerce's product export (the real sample's header) and,
for each product, a `variable` row and three `variation` rows that name it in `Parent` by its
SKU, as WooCommerce writes them. Phases, each in its own child process (peak RSS per phase),
on a settled server (see import_bench.py):
  copy     the client streams the file through `COPY ... FROM STDIN` into a table of 51 text
           columns
  initial  `import --format woocommerce` into an empty catalog (streamed: built in pieces of
           whole products, woocommerce_csv/pieces.py)
  noop     the same file again: nothing is written; the products whose rows the initial
           import saw are skipped by their fingerprints (woocommerce_csv/keys.py)
  changed  the file with every hundredth product renamed: exactly that many events
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_bench import timed_import  # noqa: E402
from shop_export_bench import run_phases  # noqa: E402

SAMPLE = REPO / "tests" / "fixtures" / "real" / "woocommerce_sample_products.csv"
VARIATIONS = 3


def generate(
    path: Path, products: int, *, renamed_every: int | None = None, late_every: int | None = None
) -> int:
    """Write a WooCommerce export of `products` variable products of VARIATIONS variations
    each; its rows. `renamed_every`: every so many products get another name; `late_every`:
    every so many products have their last variation at the end of the file, as in a store
    that added it later (WooCommerce writes rows in the order of their ids)."""
    header = pl.read_csv(SAMPLE, n_rows=0, encoding="utf8-lossy").columns
    header = [c.lstrip("\ufeff") for c in header]
    per = VARIATIONS + 1
    index = pl.int_range(products * per, eager=True)
    rows = pl.DataFrame({"i": index, "p": (index // per).cast(pl.Utf8), "v": index % per})
    parent = pl.col("v") == 0
    size = pl.format("Size {}", pl.col("v"))
    renamed = (
        pl.when(pl.col("p").cast(pl.Int64) % renamed_every == 0).then(pl.lit(" (renamed)"))
        if renamed_every
        else pl.lit(None, dtype=pl.Utf8)
    ).fill_null("")
    cells = {
        "ID": (pl.col("i") + 10).cast(pl.Utf8),
        "Type": pl.when(parent).then(pl.lit("variable")).otherwise(pl.lit("variation")),
        "SKU": pl.when(parent)
        .then(pl.format("woo-{}", "p"))
        .otherwise(pl.format("woo-{}-{}", "p", "v")),
        "Name": pl.when(parent)
        .then(pl.format("Hoodie {}", "p") + renamed)
        .otherwise(pl.format("Hoodie {} - ", "p") + size),
        "Published": pl.lit("1"),
        "Is featured?": pl.lit("0"),
        "Visibility in catalog": pl.lit("visible"),
        "Short description": pl.when(parent).then(pl.lit("A warm hoodie.")),
        "Description": pl.when(parent).then(
            pl.format("<p>Hoodie number {}, brushed cotton, made to order.</p>", "p")
        ),
        "Tax status": pl.lit("taxable"),
        "In stock?": pl.lit("1"),
        "Stock": pl.when(~parent).then(pl.col("v").cast(pl.Utf8)),
        "Backorders allowed?": pl.lit("0"),
        "Sold individually?": pl.lit("0"),
        "Weight (lbs)": pl.lit("1.5"),
        "Allow customer reviews?": pl.lit("1"),
        "Regular price": pl.when(~parent).then(pl.lit("45")),
        "Categories": pl.lit("Clothing > Hoodies"),
        "Images": pl.when(parent).then(pl.format("https://cdn.example.com/img/{}.jpg", "p")),
        "Parent": pl.when(~parent).then(pl.format("woo-{}", "p")),
        "Position": pl.col("v").cast(pl.Utf8),
        "Attribute 1 name": pl.lit("Size"),
        "Attribute 1 value(s)": pl.when(parent)
        .then(pl.lit(", ".join(f"Size {v}" for v in range(1, per))))
        .otherwise(size),
        "Attribute 1 visible": pl.when(parent).then(pl.lit("1")),
        "Attribute 1 global": pl.lit("1"),
    }
    if late_every:
        late = (pl.col("v") == VARIATIONS) & (pl.col("p").cast(pl.Int64) % late_every == 0)
        rows = rows.sort(late, "i")  # stable: the late variations last, in id order
    rows.select(
        cells.get(c, pl.lit(None, dtype=pl.Utf8)).cast(pl.Utf8).alias(c) for c in header
    ).write_csv(path)
    return rows.height


def _phase_import(url: str, csv_path: str, out: Any) -> None:
    result = timed_import(url, csv_path, format="woocommerce", source="woo", account="acct_woo")
    out.put({**result, "events": result["report"]["events"]})


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--products", type=int, default=25_000)
    ap.add_argument("--late-every", type=int, default=None, help="see generate()")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    run_phases(
        "cs_woo_bench",
        args.products,
        generate,
        _phase_import,
        as_json=args.json,
        late_every=args.late_every,
    )


if __name__ == "__main__":
    main()
