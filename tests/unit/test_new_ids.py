"""diff.new_ids: the ids an import gives new products, prices, stock items and events."""

from __future__ import annotations

import re

import pytest

from catalog_pipelines.diff import new_ids


def test_ids_are_unique_ordered_and_shaped_like_stripe_ids() -> None:
    ids = new_ids("prod", 70_000)
    assert ids.len() == ids.n_unique() == 70_000
    assert ids.is_sorted()  # ordered keys append to the right edge of the index
    assert all(re.fullmatch(r"prod_[0-9a-f]{24}", i) for i in ids.head(20).to_list())
    assert ids[17][-7:] == f"{17:07x}"
    assert new_ids("evt", 0).len() == 0


def test_two_calls_never_share_an_id() -> None:
    a, b = new_ids("price", 1000), new_ids("price", 1000)
    assert not set(a.to_list()) & set(b.to_list())


def test_more_ids_than_the_counter_holds_is_refused() -> None:
    with pytest.raises(ValueError, match="7 hex digits"):
        new_ids("evt", (1 << 28) + 1)
