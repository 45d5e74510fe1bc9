"""Which product each row of a Magento export belongs to, for its fingerprints
(connectors/export_skip.py): a configurable's child belongs to the configurable, as do their
store-view rows; any other row to the product of its SKU.

Who is whose child is said by the configurable's row, which may come anywhere in the file, so
the key walks the file once for it first (`prepare`). The builder's linking has warnings and
rejects for a child named twice, a child without a row, a child that is not a simple product
and an unreadable `configurable_variations` cell; a file with any of them is read without
fingerprints, so that no product is grouped otherwise than the builder groups it.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from catalog_pipelines.connectors.export_skip import check_stripped, stripped_cells
from catalog_pipelines.connectors.magento_csv import settings as s
from catalog_pipelines.connectors.magento_csv.helpers import parse_variations
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.frames import compacted
from catalog_pipelines.normalized import ROW_NUMBER


def _cells(frame: pl.DataFrame, column: str) -> pl.Expr:
    return (pl.col(column) if column in frame.columns else pl.lit(None, pl.Utf8)).alias(column)


_NO_LINKS = pl.DataFrame(schema={"child": pl.Utf8, "parent": pl.Utf8})


class ConfigurableKey:
    """export_skip.ExportKey of a Magento export."""

    column = s.TYPE

    def __init__(self) -> None:
        self._links = _NO_LINKS  # (child, parent) of every configurable's children

    def prepare(self, frames: Iterable[pl.DataFrame]) -> None:
        """Find every configurable's children in the walk `frames` (ExportRows.frames)."""
        parts = []
        for frame in frames:
            self.check(frame)
            default = frame.select(
                ROW_NUMBER,
                stripped_cells(frame, s.SKU).alias(s.SKU),
                stripped_cells(frame, s.STORE_VIEW).alias(s.STORE_VIEW),
                _cells(frame, s.TYPE),
                _cells(frame, s.CONFIGURABLE_VARIATIONS),
            ).filter(pl.col(s.STORE_VIEW).is_null() & pl.col(s.SKU).is_not_null())
            parts.append(compacted(default))  # not the piece's whole string buffers
        if not parts:
            return
        # the builder's products: the first default row of each SKU
        rows = pl.concat(parts).unique(s.SKU, keep="first", maintain_order=True)
        del parts
        types = rows[s.TYPE].unique().to_list()  # read as helpers.product_type reads them
        rows = rows.with_columns(
            pl.col(s.TYPE).replace_strict(types, [(t or "").strip().lower() for t in types])
        )
        links = _links(rows.filter(pl.col(s.TYPE) == s.CONFIGURABLE))
        kinds = rows.select(pl.col(s.SKU).alias("child"), s.TYPE)
        del rows
        linked = links.join(kinds, on="child", how="left", maintain_order="left")
        bad = linked.filter(
            (pl.col("child") == pl.col("parent"))
            | ~pl.col(s.TYPE).is_in(list(s.STANDALONE_TYPES)).fill_null(False)
        )
        if bad.height:
            raise Unskippable(
                f"configurable {bad['parent'][0]!r} names {bad['child'][0]!r}, which is not a"
                " simple product of this file"
            )
        twice = links.filter(pl.col("child").is_duplicated())
        if twice.height:
            raise Unskippable(f"{twice['child'][0]!r} is named by two configurables")
        self._links = links

    def of(self, frame: pl.DataFrame) -> pl.Expr:
        own = stripped_cells(frame, s.SKU)
        # the links of this frame's SKUs alone: a lookup table of them all costs each frame
        mine = self._links.filter(pl.col("child").is_in(frame.select(own).to_series().implode()))
        parent = own.replace_strict(
            mine["child"], mine["parent"], default=None, return_dtype=pl.Utf8
        )
        return pl.coalesce(parent, own)

    def check(self, frame: pl.DataFrame) -> None:
        # a store view Python strips to blank makes a default row that Polars would not
        check_stripped(frame, [s.SKU, s.STORE_VIEW, s.CONFIGURABLE_VARIATIONS])

    def done(self) -> None:
        pass


# A `configurable_variations` cell as Magento writes it, which Polars reads as
# helpers.parse_variations does: parts of `sku=<child>` then `,code=value` pairs, split by `|`,
# with nothing to strip around a key or a child's SKU and no `,`, `|` or `=` in a value.
_PAIRS = r"(,[A-Za-z0-9_]+=[^,|=]*)*"
_PLAIN = rf"^sku=[^,|=\s]+{_PAIRS}(\|sku=[^,|=\s]+{_PAIRS})*$"


def _links(configurable: pl.DataFrame) -> pl.DataFrame:
    """(child, parent) of the configurables' children, as helpers.parse_variations reads
    their cells: in Polars when a cell is plain (`_PLAIN`, no code twice in a part), else one
    cell at a time in Python. Raises Unskippable for a cell it cannot read."""
    parts = (
        configurable.select(
            parent=pl.col(s.SKU),
            cell=pl.col(s.CONFIGURABLE_VARIATIONS),
            part=pl.col(s.CONFIGURABLE_VARIATIONS).str.split("|"),
        )
        .with_row_index("cell_index")
        .explode("part")
    )
    codes = (
        pl.col("part")
        .str.extract_all(r"(?:^|,)[A-Za-z0-9_]+=")
        .list.eval(pl.element().str.strip_chars(",="))
    )
    plain = parts.group_by("cell_index", maintain_order=True).agg(
        pl.first("parent"),
        pl.first("cell"),
        pl.col("part").str.extract(r"^sku=([^,|=\s]+)", 1).alias("child"),
        (
            pl.first("cell").fill_null("").str.contains(_PLAIN)
            & (codes.list.n_unique() == codes.list.len()).all()
        ).alias("plain"),
    )
    del parts
    links = [plain.filter("plain").explode("child").select("child", "parent").cast(pl.Utf8)]
    for sku, cell in plain.filter(~pl.col("plain")).select("parent", "cell").iter_rows():
        errors: list[str] = []
        children = [child for child, _ in parse_variations(cell, errors)]
        if errors:
            raise Unskippable(f"configurable {sku!r}: {errors[0]}")
        links.append(
            pl.DataFrame(
                {"child": children, "parent": [sku] * len(children)}, schema=_NO_LINKS.schema
            )
        )
    return pl.concat(links)
