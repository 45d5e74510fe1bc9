"""Which product each row of a WooCommerce export belongs to, for its fingerprints
(connectors/export_skip.py): a variation belongs to the product its `Parent` names, any other
row to itself, keyed as the builder keys it (its SKU, else `id:<ID>`).

The builder finds a variation's parent by either of the parent's names, its SKU or
`id:<ID>`. A key can only be one of them, so a file where a variation names by `id:<ID>` a
product keyed by its SKU is read without fingerprints: the two would be different products
here, and one could be skipped without the other.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from catalog_pipelines.connectors.export_skip import check_stripped, stripped_cells
from catalog_pipelines.connectors.woocommerce_csv import settings as s
from catalog_pipelines.connectors.woocommerce_csv.helpers import parse_type
from catalog_pipelines.fingerprints import Unskippable


def is_variation(frame: pl.DataFrame) -> pl.Expr:
    """Whether the builder reads each row as a variation: `parse_type` itself, once for each
    distinct Type cell."""
    kinds = {t: parse_type(t, [])[0] for t in frame[s.TYPE].unique().drop_nulls().to_list()}
    kind = pl.col(s.TYPE).replace_strict(kinds, default=None, return_dtype=pl.Utf8)
    return (kind == s.VARIATION).fill_null(False)


class VariationKey:
    """export_skip.ExportKey of a WooCommerce export."""

    column = s.TYPE

    def __init__(self) -> None:
        self._parents: set[str] = set()  # what variations name their parents by
        self._aliases: set[str] = set()  # id:<ID> of the other rows keyed by their SKU

    def prepare(self, frames: Iterable[pl.DataFrame]) -> None:
        pass

    def of(self, frame: pl.DataFrame) -> pl.Expr:
        own = pl.coalesce(stripped_cells(frame, s.SKU), pl.lit("id:") + stripped_cells(frame, s.ID))
        return pl.when(is_variation(frame)).then(stripped_cells(frame, s.PARENT)).otherwise(own)

    def check(self, frame: pl.DataFrame) -> None:
        check_stripped(frame, [s.SKU, s.ID, s.PARENT])
        cells = frame.select(
            variation=is_variation(frame),
            parent=stripped_cells(frame, s.PARENT),
            alias=pl.lit("id:") + stripped_cells(frame, s.ID),
            sku=stripped_cells(frame, s.SKU),
        )
        variations = cells.filter("variation")
        self._parents.update(variations["parent"].drop_nulls().to_list())
        named = cells.filter(~pl.col("variation") & pl.col("sku").is_not_null())
        self._aliases.update(named["alias"].drop_nulls().to_list())

    def done(self) -> None:
        both = self._parents & self._aliases
        if both:
            raise Unskippable(
                f"a variation names its parent {min(both)!r}, a product keyed by its SKU"
            )
