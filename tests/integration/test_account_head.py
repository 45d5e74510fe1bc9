"""The sequence of an account's last event (the Dagster job's "events after", a replay's end)
is found with a few index pages, however many events other accounts wrote after it, and
before the statistics know about them (right after a bulk import)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.store.events import _ACCOUNT_HEAD, account_head, lock_event_log
from tests.conftest import owner_url

_EVENTS = sa.text(
    "INSERT INTO events (account_id, type, object_type, object_id, object_version, data)"
    " SELECT :account, 'product.created', 'product', :prefix || n, 1, '{}'"
    " FROM generate_series(1, :n) n"
)


@pytest.fixture(scope="module")
def log(isolated_database_url: str) -> Iterator[sa.Engine]:
    """An account's 5,000 events, analyzed; then 50,000 of another account's bulk import that
    the statistics do not know yet (autovacuum is off for the module's own database)."""
    owner = db.make_engine(owner_url(isolated_database_url))
    with owner.begin() as conn:
        conn.execute(sa.text("ALTER TABLE events SET (autovacuum_enabled = false)"))
        lock_event_log(conn)
        conn.execute(_EVENTS, {"account": "acct_quiet", "prefix": "prod_q", "n": 5_000})
    with owner.begin() as conn:
        conn.execute(sa.text("ANALYZE events"))
    with owner.begin() as conn:
        lock_event_log(conn)
        conn.execute(_EVENTS, {"account": "acct_bulk", "prefix": "prod_b", "n": 50_000})
    owner.dispose()
    engine = db.make_engine(isolated_database_url)  # the app's role, as the code runs
    yield engine
    engine.dispose()


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def test_each_account_gets_its_own_last_event(log: sa.Engine) -> None:
    with log.connect() as conn:
        last = dict(
            conn.execute(
                sa.text("SELECT account_id, max(sequence) FROM events GROUP BY account_id")
            ).all()
        )
        assert account_head(conn, "acct_quiet") == last["acct_quiet"]
        assert account_head(conn, "acct_bulk") == last["acct_bulk"]
        assert account_head(conn, "acct_none") is None


@pytest.mark.parametrize("account", ["acct_quiet", "acct_bulk", "acct_none"])
def test_the_head_reads_one_index_entry_not_the_log(log: sa.Engine, account: str) -> None:
    with log.connect() as conn:
        explained = conn.execute(
            sa.text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {_ACCOUNT_HEAD.text}"),
            {"account": account},
        ).scalar_one()
    nodes = list(
        _scans((explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"])
    )
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    assert [n.get("Index Name") for n in scans] == ["events_account_sequence"]
    assert scans[0]["Actual Rows"] <= 1 and not scans[0].get("Rows Removed by Filter")
    assert sum(n.get("Shared Hit Blocks", 0) + n.get("Shared Read Blocks", 0) for n in scans) < 20
