"""Failed API key checks are counted in PostgreSQL, so the limit holds across server
processes: two AuthFailures on one database stand for two API workers."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from catalog_pipelines.api import auth_failures
from catalog_pipelines.api.auth_failures import AuthFailures


@pytest.fixture
def address() -> str:
    return f"198.51.100.{uuid.uuid4().hex[:8]}"  # one per test: the table is shared


def test_failures_seen_by_two_processes_add_up_to_one_limit(
    engine: sa.Engine, address: str
) -> None:
    one, two = AuthFailures(engine, limit=3, window=30), AuthFailures(engine, limit=3, window=30)
    one.record(address)
    one.record(address)
    assert one.retry_after(address) is None  # two failures of three
    two.record(address)  # the third, seen by the other process
    assert 29 <= (two.retry_after(address) or 0) <= 30  # blocked there at once
    assert one.retry_after(address) is None  # this process has not reloaded its view yet
    one.refresh()
    assert 29 <= (one.retry_after(address) or 0) <= 30
    assert one.retry_after("203.0.113.9") is None  # only that address


def test_a_block_ends_when_the_oldest_failure_leaves_the_window(
    engine: sa.Engine, address: str
) -> None:
    failures = AuthFailures(engine, limit=2, window=1)
    failures.record(address)
    failures.record(address)
    assert failures.retry_after(address) == 1
    time.sleep(1.05)
    assert failures.retry_after(address) is None
    failures.refresh()
    assert failures.retry_after(address) is None
    failures.record(address)  # the old failures left the window: one of two again
    assert failures.retry_after(address) is None


def test_one_caller_per_period_reloads_the_view(engine: sa.Engine) -> None:
    failures = AuthFailures(engine)
    assert failures.claim_refresh()
    assert not failures.claim_refresh()  # the others keep the view they have
    time.sleep(auth_failures.REFRESH_SECONDS)
    assert failures.claim_refresh()


def test_a_database_it_cannot_reach_keeps_the_last_view(
    engine: sa.Engine, address: str, caplog: pytest.LogCaptureFixture
) -> None:
    failures = AuthFailures(engine, limit=1, window=30)
    failures.record(address)
    assert failures.retry_after(address) is not None
    failures.engine = sa.create_engine(
        engine.url.set(database="catalog_sync_no_such_database"), poolclass=sa.pool.NullPool
    )
    failures.refresh()  # logs, and neither raises nor forgets the block
    assert failures.retry_after(address) is not None
    assert "could not reload the addresses blocked" in caplog.text


def test_a_reload_that_started_before_a_failure_keeps_its_block(
    engine: sa.Engine, address: str
) -> None:
    failures = AuthFailures(engine, limit=1, window=30)
    fresh = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    reloads = 0

    def fail_while_reloading(_conn: object, _cursor: object, statement: str, *_a: object) -> None:
        nonlocal reloads
        if "row_number()" in statement and reloads == 0:
            reloads += 1
            failures.record(address)  # the reload's answer was read before this failure

    sa.event.listen(fresh, "after_cursor_execute", fail_while_reloading)
    failures.engine = fresh
    failures.refresh()
    assert reloads == 1
    assert 29 <= (failures.retry_after(address) or 0) <= 30
    failures.refresh()  # a later reload sees the failure itself
    assert failures.retry_after(address) is not None
