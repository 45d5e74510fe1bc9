"""Pandera (polars) models of the normalized frames in `catalog_pipelines.normalized`.

They restate the contract as checks whose failures are per row, so that a bad row becomes a
reject rather than a failed run. Cross-frame rules (a variant's product must exist) are checked
in `validation.validate_batch`, since a DataFrameModel sees one frame.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from catalog_pipelines.money import CURRENCIES, MAX_UNIT_AMOUNT
from catalog_pipelines.normalized import KV

CURRENCY_PATTERN = r"^[a-z]{3}$"  # the shape; the codes themselves are money.CURRENCIES
POLICIES = ("deny", "continue")
MAX_QUANTITY = 10**12  # as store/inventory.py: the most stock one item may hold


def _not_nan(data: PolarsData) -> pl.LazyFrame:
    """Polars sorts NaN above every number, so `ge(0)` alone lets NaN through."""
    return data.lazyframe.select(pl.col(data.key).cast(pl.Float64).is_nan().not_())


class ProductModel(pa.DataFrameModel):
    row_number: pl.Int64 = pa.Field(nullable=True)
    external_id: pl.Utf8 = pa.Field(nullable=False, unique=True, str_length={"min_value": 1})
    name: pl.Utf8 = pa.Field(nullable=True)
    description: pl.Utf8 = pa.Field(nullable=True)
    active: pl.Boolean = pa.Field(nullable=True)
    images: Annotated[pl.List, pl.Utf8()] = pa.Field(nullable=True)
    url: pl.Utf8 = pa.Field(nullable=True)
    shippable: pl.Boolean = pa.Field(nullable=True)
    tax_code: pl.Utf8 = pa.Field(nullable=True)
    unit_label: pl.Utf8 = pa.Field(nullable=True)
    metadata: Annotated[pl.List, KV.inner] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = False


class VariantModel(pa.DataFrameModel):
    row_number: pl.Int64 = pa.Field(nullable=True)
    product_external_id: pl.Utf8 = pa.Field(nullable=False)
    variant_key: pl.Utf8 = pa.Field(nullable=False, unique=True, str_length={"min_value": 1})
    sku: pl.Utf8 = pa.Field(nullable=True)
    currency: pl.Utf8 = pa.Field(nullable=True, str_matches=CURRENCY_PATTERN)
    unit_amount: pl.Int64 = pa.Field(nullable=True, ge=0, le=MAX_UNIT_AMOUNT)
    nickname: pl.Utf8 = pa.Field(nullable=True)
    options: Annotated[pl.List, KV.inner] = pa.Field(nullable=True)
    metadata: Annotated[pl.List, KV.inner] = pa.Field(nullable=True)
    inventory_quantity: pl.Int64 = pa.Field(nullable=True, ge=0, le=MAX_QUANTITY)
    inventory_policy: pl.Utf8 = pa.Field(nullable=True, isin=list(POLICIES))
    active: pl.Boolean = pa.Field(nullable=True)

    @pa.check("unit_amount", name="not_nan")
    @classmethod
    def unit_amount_not_nan(cls, data: PolarsData) -> pl.LazyFrame:
        return _not_nan(data)

    @pa.check("currency", name="iso_4217")
    @classmethod
    def currency_is_iso_4217(cls, data: PolarsData) -> pl.LazyFrame:
        """A code of the right shape must also be in ISO 4217 (`zzz` is not)."""
        code = pl.col(data.key)
        return data.lazyframe.select(
            code.str.contains(CURRENCY_PATTERN).not_() | code.is_in(sorted(CURRENCIES))
        )

    @pa.dataframe_check(name="price_has_currency")
    @classmethod
    def price_has_currency(cls, data: PolarsData) -> pl.LazyFrame:
        """A price without a currency cannot become a Stripe price."""
        return data.lazyframe.select(
            pl.col("unit_amount").is_null() | pl.col("currency").is_not_null()
        )

    class Config:
        strict = True
        coerce = False
