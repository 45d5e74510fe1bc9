"""A re-import's stored rows are the same whether each key is probed or the whole account is
read and filtered (stored_reach.py): the second is what a file changing most products uses."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from catalog_pipelines.store import imports as store
from tests.support.stored_catalog import stored_catalog


def _both(
    engine: sa.Engine, account: str, wanted: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, list[tuple[object, ...]]]]:
    """read_stored_for's rows by probes and by the whole account's, each sorted."""
    out = []
    for whole in (False, True):
        monkeypatch.setattr(store, "WHOLE_READ_MIN_PRODUCTS", 0 if whole else 10**9)
        series = {kind: pl.Series(values, dtype=pl.Utf8) for kind, values in wanted.items()}
        with engine.begin() as conn:
            frames = store.read_stored_for(conn, account, series)
        out.append({name: sorted(f.rows(), key=repr) for name, f in frames.items()})
    return out


@pytest.fixture
def catalog(engine: sa.Engine, tmp_path: Path, account: str) -> dict[str, list[str]]:
    return stored_catalog(engine, tmp_path, account)


def test_keys_ids_variants_and_skus_lead_to_the_same_rows(
    engine: sa.Engine,
    account: str,
    catalog: dict[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "WHOLE_READ_SHARE", 0.0)
    cases = [
        {"external_id": ["P1", "P3", "P9"]},
        # another product's SKU and variant, and an id: each adds its own product
        {"external_id": ["P2"], "sku": ["S4"], "variant_key": [catalog["variant_key"][0]]},
        {"product_id": catalog["product_id"][-1:], "sku": ["S9"], "variant_key": ["V6"]},
        {kind: values for kind, values in catalog.items()},
        {"external_id": [], "product_id": [], "variant_key": [], "sku": []},
    ]
    rng = random.Random(12)
    for _ in range(12):
        cases.append(
            {
                kind: rng.sample(values, rng.randint(0, len(values)))
                for kind, values in catalog.items()
            }
        )
    for wanted in cases:
        probed, whole = _both(engine, account, wanted, monkeypatch)
        assert probed == whole, wanted
    probed, _ = _both(engine, account, {"external_id": ["P1", "P3"]}, monkeypatch)
    assert len(probed["products"]) == 2
    assert len(probed["prices"]) == 3  # P1's two and P3's current one, not the replaced one
    assert len(probed["inventory"]) == 0  # found by SKU only
    # a variant of P1 that P2 takes: P1's other current price comes too (its next default)
    probed, whole = _both(
        engine, account, {"external_id": ["P2"], "variant_key": ["S1L"]}, monkeypatch
    )
    assert probed == whole
    assert sorted(row[1] for row in probed["prices"]) == ["S1", "S1L", "S2"]


def test_a_large_share_of_the_account_reads_it_whole(
    engine: sa.Engine, account: str, catalog: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = store.read_stored

    def spy(conn: sa.Connection, account_id: str) -> dict[str, pl.DataFrame]:
        reads.append(account_id)
        return real(conn, account_id)

    monkeypatch.setattr(store, "read_stored", spy)
    monkeypatch.setattr(store, "WHOLE_READ_MIN_PRODUCTS", 2)
    with engine.begin() as conn:
        # fewer keys than the minimum
        store.read_stored_for(conn, account, {"external_id": pl.Series(["P1"])})
        assert reads == []
        # two of five products: over a quarter, under a half
        two = {"external_id": pl.Series(["P1", "P2"])}
        store.read_stored_for(conn, account, two)
        assert reads == [account]
        monkeypatch.setattr(store, "WHOLE_READ_SHARE", 0.5)
        store.read_stored_for(conn, account, two)
        assert reads == [account]


def test_keys_are_probed_in_index_order(
    engine: sa.Engine, account: str, catalog: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In index order, neighbouring keys share index and heap pages; in the hash order the keys
    arrive in, a 1% re-import of 10M products missed the buffer cache on nearly every probe."""
    monkeypatch.setattr(store, "WHOLE_READ_MIN_PRODUCTS", 10**9)
    shuffled = {
        kind: random.Random(3).sample(values, len(values)) for kind, values in catalog.items()
    }
    with engine.begin() as conn:
        store.read_stored_for(conn, account, {k: pl.Series(v) for k, v in shuffled.items()})
        for in_probe_order in (  # a temp table's rows, in the order they were inserted
            "SELECT sku FROM found_inventory ORDER BY ctid",
            "SELECT external_id FROM found_products ORDER BY ctid",
            "SELECT product_id FROM found_product_prices ORDER BY ctid",
        ):
            visited = list(conn.execute(sa.text(in_probe_order)).scalars())
            assert len(visited) > 2 and visited == sorted(visited), in_probe_order
