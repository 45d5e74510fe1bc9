"""An HTTP JSON feed is fetched once, a piece of whole products at a time, each piece
validated and put on disk (first_import.read_feed): a first import writes the pieces, a
re-import takes them as a batch whose products wait on disk (Stream.validated). Either gives
what the feed fetched whole gives. A product id or SKU that a later piece repeats makes the
import fetch the feed again in pieces that remember it (whole, if it still repeats then); a
page that cannot be had fails the run without a second fetch."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from catalog_pipelines import first_import, plan_parts
from catalog_pipelines.connectors.http_json import FeedError, fetch_products_feed
from catalog_pipelines.importer import ImportOptions, import_feed
from catalog_pipelines.progress import quiet
from catalog_pipelines.validation import validate_batch
from tests.support.catalog_view import catalog_by_keys
from tests.support.feed_server import serve_feeds
from tests.support.integrity import assert_catalog_integrity
from tests.support.parent_csv import report_view
from tests.support.streamed import reimported_pieces, stream_small_exports, streamed_pieces


@pytest.fixture
def feed() -> Iterator[tuple[str, Counter[str]]]:
    with serve_feeds() as served:
        yield served


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Pieces that end after four products and variants (a page each, here), parts of five
    products; the pieces of each import that streamed."""
    stream_small_exports(monkeypatch, tmp_path)
    return streamed_pieces(monkeypatch)


def _both_ways(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    urls: list[str],
    account: str,
    hits: Counter[str],
) -> tuple[list[Any], list[int]]:
    """The feeds imported one after another into an account with streaming on, then into
    another with it off: the same reports and catalogs. The reports with streaming on, and
    the pages each import fetched."""
    reports: dict[str, list[Any]] = {}
    fetched = []
    for way in ("1", "0"):
        monkeypatch.setenv(first_import.ENV, way)
        options = ImportOptions(source="shop", account_id=f"{account}_{way}")
        reports[way] = []
        for url in urls:
            hits.clear()
            reports[way].append(report_view(import_feed(engine, url, options, backoff=0.01)))
            fetched.append(sum(hits.values()))
        assert_catalog_integrity(engine, f"{account}_{way}")
    assert reports["1"] == reports["0"]
    assert catalog_by_keys(engine, f"{account}_1") == catalog_by_keys(engine, f"{account}_0")
    return reports["1"], fetched


@pytest.fixture
def reimported(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return reimported_pieces(monkeypatch)


def test_a_feed_is_fetched_once_in_pieces_and_stores_what_the_whole_feed_does(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    feed: tuple[str, Counter[str]],
    account: str,
    streamed: list[int],
    reimported: list[int],
    tmp_path: Path,
) -> None:
    base, hits = feed
    urls = [f"{base}/shop.json", f"{base}/shop.json", f"{base}/shop-next.json"]
    (first, again, changed), fetched = _both_ways(engine, monkeypatch, urls, account, hits)
    # a piece ends at a page with four products and variants: the second page's one valid
    # product is not enough
    assert streamed == [2]  # the first import wrote its pieces
    assert reimported == [2, 3]  # the re-imports took theirs as a batch
    assert fetched == [3, 3, 3, 3, 3, 3]  # each page once, streamed or not
    assert list((tmp_path / "spill").iterdir()) == []
    assert first["products"]["created"] == 5
    assert [row for row, _ in first["rejects"]] == [2, 5, 6]
    assert "already received as row 4" in first["rejects"][1][1][0]
    assert again["events"] == 0
    assert changed["rows_rejected"] == 0
    # 2 and 5 (rejected the day before) and 8 created, 3 and 4 updated, 6 archived
    assert changed["products"] == {"created": 3, "updated": 2, "unchanged": 2, "archived": 1}
    # the columns the whole feed has, in order of first appearance: `seo` the last product key
    url = f"{base}/shop.json"
    whole = fetch_products_feed(url)
    with first_import.read_feed(url, currency="usd", progress=quiet) as stream:
        assert (stream.summary.columns, stream.summary.unmapped_columns) == (
            whole.columns,
            whole.unmapped_columns,
        )
    assert [c for c in whole.columns if not c.startswith("variants.")][-1] == "seo"


def test_a_reimport_holds_its_variants_keys_and_reads_each_parts_variants_from_disk(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    feed: tuple[str, Counter[str]],
    account: str,
    streamed: list[int],
) -> None:
    """The variants wait on disk with their products; the batch keeps what the parts look
    stored rows up by. A SKU that moves between parts has the batch planned whole, with
    every variant read back."""
    base, hits = feed
    whole = validate_batch(fetch_products_feed(f"{base}/shop.json")).batch.variants
    with first_import.read_feed(f"{base}/shop.json", currency="usd", progress=quiet) as stream:
        report, spilled = stream.validated()
        held = report.batch.variants
        others = held.drop(plan_parts.KEY_COLUMNS)
        assert others.null_count().row(0) == (whole.height,) * others.width
        assert spilled.variants is not None
        on_disk = pl.concat([part.frame() for part in spilled.variants])
    assert on_disk.drop("row_number").equals(whole.drop("row_number"))
    assert held.select(plan_parts.KEY_COLUMNS).equals(whole.select(plan_parts.KEY_COLUMNS))

    restored: list[tuple[int, int]] = []  # the variants read back, and those with a price
    real = plan_parts.restore

    def restore(batch: Any, spilled: plan_parts.Spilled) -> Any:
        whole = real(batch, spilled)
        variants = whole.variants
        restored.append((variants.height, variants["unit_amount"].is_not_null().sum()))
        return whole

    monkeypatch.setattr(plan_parts, "restore", restore)
    urls = [f"{base}/moved.json", f"{base}/moved-next.json"]
    (_, moved), _ = _both_ways(engine, monkeypatch, urls, account, hits)
    # each re-import planned whole, streamed or not, with its variants' prices read back
    assert restored == [(8, 8), (8, 8)]
    assert moved["products"] == {"created": 0, "updated": 2, "unchanged": 2, "archived": 0}


def test_a_key_repeated_across_pieces_has_the_feed_fetched_again_in_pieces(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    feed: tuple[str, Counter[str]],
    account: str,
    streamed: list[int],
    reimported: list[int],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """The second fetch remembers the keys that repeat across pieces, so it rejects what the
    whole read rejects, and holds no more than a piece."""
    caplog.set_level(logging.INFO, logger=first_import.__name__)
    base, hits = feed
    urls = [f"{base}/dup.json", f"{base}/dup.json"]
    (first, again), fetched = _both_ways(engine, monkeypatch, urls, account, hits)
    # the second fetch's pieces: the products of pages 2 and 3 that it rejects make them one
    assert streamed == [2] and reimported == [2]
    assert fetched == [6, 6, 3, 3]  # in pieces twice; whole once
    assert "read whole" not in caplog.text
    assert "more than one piece; fetching it again in pieces" in caplog.text
    assert first["products"]["created"] == 3
    reasons = dict(first["rejects"])
    assert list(reasons) == [4, 5]
    assert "product '1' was already received as row 1" in reasons[4][0]
    assert "'SKU-2-S' is already used by the product at row 2" in reasons[5][0]
    assert again["events"] == 0
    assert [list(p.rglob("*")) for p in (tmp_path / "spill").iterdir()] == []


def test_a_key_that_still_repeats_on_the_second_fetch_has_the_feed_fetched_whole(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    feed: tuple[str, Counter[str]],
    account: str,
    streamed: list[int],
    reimported: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As when the feed changed between the fetches: the keys remembered do not cover it."""
    monkeypatch.setattr(first_import, "_repeated_keys", lambda *_: (frozenset(), frozenset()))
    base, hits = feed
    urls = [f"{base}/dup.json"]
    (first,), fetched = _both_ways(engine, monkeypatch, urls, account, hits)
    assert streamed == [] and reimported == []
    assert fetched == [9, 3]  # in pieces twice, then whole; whole only
    assert "read whole" in caplog.text and "more than one piece" in caplog.text
    assert list(dict(first["rejects"])) == [4, 5]


def test_a_page_that_cannot_be_had_fails_the_run_without_a_second_fetch(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    feed: tuple[str, Counter[str]],
    account: str,
    streamed: list[int],
    tmp_path: Path,
) -> None:
    base, hits = feed
    options = ImportOptions(source="shop", account_id=account)
    with pytest.raises(FeedError, match="broken-2.json") as e:
        import_feed(engine, f"{base}/broken.json", options, backoff=0.01)
    assert hits == Counter({"/broken.json": 1, "/broken-2.json": 1})
    assert list((tmp_path / "spill").iterdir()) == []
    with engine.connect() as conn:
        status, stored = conn.execute(
            sa.text(
                "SELECT r.status, (SELECT count(*) FROM products p WHERE p.account_id = :a)"
                " FROM import_runs r WHERE r.id = :r"
            ),
            {"r": e.value.import_run_id, "a": account},  # type: ignore[attr-defined]
        ).one()
    assert (status, stored) == ("failed", 0)
