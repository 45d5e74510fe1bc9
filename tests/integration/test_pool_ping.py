"""The API's pool pings only connections that sat idle in it (a ping per request was a second
round trip on every write), and still replaces a dead idle one without the caller seeing an
error (db_timeouts.ping_when_idle)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.api.app import api_engine
from catalog_pipelines.db_timeouts import PING_AFTER_IDLE, ping_when_idle

_PID = sa.text("SELECT pg_backend_pid()")


def _pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_PID).scalar_one())


@pytest.fixture
def api_db(database_url: str) -> Iterator[sa.Engine]:
    eng = api_engine(database_url)
    yield eng
    eng.dispose()


def test_idle_dead_connection_is_replaced_by_the_ping(database_url: str, engine: sa.Engine) -> None:
    pooled = db.make_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_idle(pooled, idle=0.3)
    try:
        first = _pid(pooled)
        with engine.connect() as conn:  # the same role may end its own sessions
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        time.sleep(0.5)  # idle past the threshold: pinged at checkout, found dead, replaced
        assert _pid(pooled) != first
    finally:
        pooled.dispose()


def test_only_idle_connections_are_pinged(
    api_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    real = api_db.dialect.do_ping

    def counted(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(api_db.dialect, "do_ping", counted)
    pid = _pid(api_db)
    for _ in range(5):
        assert _pid(api_db) == pid  # the same pooled connection, reused at once
    assert pings == []
    time.sleep(PING_AFTER_IDLE + 0.2)
    assert _pid(api_db) == pid
    assert len(pings) == 1
