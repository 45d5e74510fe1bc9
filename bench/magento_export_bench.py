"""Magento export benchmark: the time and peak memory of importing a store's product export,
a million rows, against a bare COPY of the same file, in one run.

    uv run python bench/magento_export_bench.py --products 250000 [--json]

The export has the columns of Magento 2's product export (the real sample's header) and, for
each product, three `simple` rows, then the `configurable` row that names them in
`configurable_variations`, as Magento writes a configurable made with its children. Phases,
each in its own child process (peak RSS per phase), on a settled server (see import_bench.py):
  copy     the client streams the file through `COPY ... FROM STDIN` into a table of text
           columns
  initial  `import --format magento` into an empty catalog (streamed: built in pieces of
           whole products, magento_csv/pieces.py)
  noop     the same file again: nothing is written (a Magento export takes no fingerprints,
           so every row is read, built, validated and compared)
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

SAMPLE = REPO / "tests" / "fixtures" / "real" / "magento2_catalog_product.csv"
CHILDREN = 3
VARIATION_COLUMNS = ("configurable_variations", "configurable_variation_labels")


def generate(path: Path, products: int, *, renamed_every: int | None = None) -> int:
    """Write a Magento export of `products` configurables of CHILDREN simple children each;
    its rows. `renamed_every`: every so many products get another name."""
    # the sample has no configurable: Magento writes these two columns after the others
    header = [*pl.read_csv(SAMPLE, n_rows=0).columns, *VARIATION_COLUMNS]
    per = CHILDREN + 1
    index = pl.int_range(products * per, eager=True)
    rows = pl.DataFrame({"p": (index // per).cast(pl.Utf8), "c": index % per})
    parent = pl.col("c") == CHILDREN
    size = pl.format("S{}", pl.col("c"))
    renamed = (
        pl.when(pl.col("p").cast(pl.Int64) % renamed_every == 0).then(pl.lit(" (renamed)"))
        if renamed_every
        else pl.lit(None, dtype=pl.Utf8)
    ).fill_null("")
    variations = pl.concat_str(
        [pl.format("sku=MG{}-S{},size=S{}", "p", pl.lit(c), pl.lit(c)) for c in range(CHILDREN)],
        separator="|",
    )
    cells = {
        "sku": pl.when(parent)
        .then(pl.format("MG{}", "p"))
        .otherwise(pl.format("MG{}-{}", "p", size)),
        "attribute_set_code": pl.lit("Top"),
        "product_type": pl.when(parent).then(pl.lit("configurable")).otherwise(pl.lit("simple")),
        "categories": pl.lit("Default Category/Men/Tops/Hoodies"),
        "product_websites": pl.lit("base"),
        "name": pl.when(parent)
        .then(pl.format("Hoodie {}", "p") + renamed)
        .otherwise(pl.format("Hoodie {}-", "p") + size),
        "description": pl.when(parent).then(
            pl.format("<p>Hoodie number {}, brushed cotton, made to order.</p>", "p")
        ),
        "weight": pl.when(~parent).then(pl.lit("1.5")),
        "product_online": pl.lit("1"),
        "tax_class_name": pl.lit("Taxable Goods"),
        "visibility": pl.when(parent)
        .then(pl.lit("Catalog, Search"))
        .otherwise(pl.lit("Not Visible Individually")),
        "price": pl.lit("45.00"),
        "url_key": pl.format("hoodie-{}-{}", "p", "c"),
        "additional_attributes": pl.when(~parent).then(pl.format("size={}", size)),
        "qty": pl.when(~parent).then(pl.format("{}.0000", "c")),
        "is_in_stock": pl.lit("1"),
        "configurable_variations": pl.when(parent).then(variations),
        "configurable_variation_labels": pl.when(parent).then(pl.lit("size=Size")),
    }
    rows.select(
        cells.get(c, pl.lit(None, dtype=pl.Utf8)).cast(pl.Utf8).alias(c) for c in header
    ).write_csv(path)
    return rows.height


def _phase_import(url: str, csv_path: str, out: Any) -> None:
    result = timed_import(url, csv_path, format="magento", source="mage", account="acct_mage")
    out.put({**result, "events": result["report"]["events"]})


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--products", type=int, default=25_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    run_phases("cs_mage_bench", args.products, generate, _phase_import, as_json=args.json)


if __name__ == "__main__":
    main()
