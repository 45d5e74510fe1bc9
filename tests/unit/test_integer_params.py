"""Integer parameters given as text: leading zeros are allowed, as the API's schema allows
them (`unit_amount_decimal` of twenty zeros is 0), and a value too long is refused."""

from __future__ import annotations

import pytest

from catalog_pipelines.store.objects import InvalidRequest, _int


def test_leading_zeros_are_read_as_the_number() -> None:
    assert _int("0" * 20, "unit_amount_decimal") == 0
    assert _int("0" * 25 + "1500", "unit_amount") == 1500


def test_a_number_of_twenty_digits_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="Invalid integer"):
        _int("1" + "0" * 19, "unit_amount")
