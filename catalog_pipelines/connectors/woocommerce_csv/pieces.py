"""Which rows of a WooCommerce export are built together (connectors/row_groups.py).

The builder relates rows by the names a variation's `Parent` may give its product: a product
row's SKU and its `id:<ID>`. A variation finds its parent, or the parent's reject, among the
rows that carry its Parent's name; two products with one SKU are one accepted and one
rejected. WooCommerce writes rows in the order of their ids, so a product's variations follow
it when they were made with it, and come much later when they were added since.
"""

from __future__ import annotations

import polars as pl

from catalog_pipelines.connectors import row_groups
from catalog_pipelines.connectors.cells import NotInPieces
from catalog_pipelines.connectors.export_skip import check_stripped, stripped_cells
from catalog_pipelines.connectors.woocommerce_csv import settings as s
from catalog_pipelines.connectors.woocommerce_csv.helpers import build_batch, build_walked
from catalog_pipelines.connectors.woocommerce_csv.keys import is_variation
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.normalized import ROW_NUMBER


def names(frame: pl.DataFrame) -> pl.DataFrame:
    """row_groups.Names of a WooCommerce export: a product row's SKU and `id:<ID>`, a
    variation's Parent. Raises NotInPieces when a name cell holds a character that Python
    strips and Polars does not."""
    try:
        check_stripped(frame, [s.SKU, s.ID, s.PARENT])
    except Unskippable as e:
        raise NotInPieces(str(e)) from e
    variation = is_variation(frame)
    own = pl.when(~variation)
    return row_groups.hashed(
        frame.select(
            ROW_NUMBER,
            sku=own.then(stripped_cells(frame, s.SKU)),
            alias=own.then(pl.lit("id:") + stripped_cells(frame, s.ID)),
            parent=pl.when(variation).then(stripped_cells(frame, s.PARENT)),
        ).unpivot(index=ROW_NUMBER, value_name="name")
    )


# The batch `build_batch` builds, in pieces of whole groups (row_groups.py).
build_pieces = row_groups.ExportPieces(names, build_batch, build_walked)
