"""Bounds on every database round trip of a request, so that a frozen or unreachable server
costs a caller seconds, never minutes (docs/production-roles.md, Timeouts).

- connect: libpq's `connect_timeout` (a server that accepts but never answers).
- statement: the server's `statement_timeout` (a slow query, a lock wait).
- io: a client-side bound on each round trip, pre-ping and commit included. A stopped server
  (SIGSTOP, a hung VM) runs no statement_timeout, and the kernel still acknowledges TCP, so
  neither the server nor keepalives notice: only the client can give up.
- pool: how long a request waits for a pooled connection.
- keepalive: TCP keepalives and `tcp_user_timeout`, for peers that vanish off the network.

Each is read from the environment (seconds): CATALOG_DB_CONNECT_TIMEOUT,
CATALOG_DB_STATEMENT_TIMEOUT, CATALOG_DB_IO_TIMEOUT, CATALOG_DB_POOL_TIMEOUT,
CATALOG_DB_KEEPALIVE_IDLE.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import errors

ENV = {
    "connect": "CATALOG_DB_CONNECT_TIMEOUT",
    "statement": "CATALOG_DB_STATEMENT_TIMEOUT",
    "io": "CATALOG_DB_IO_TIMEOUT",
    "pool": "CATALOG_DB_POOL_TIMEOUT",
    "keepalive_idle": "CATALOG_DB_KEEPALIVE_IDLE",
}


@dataclass(frozen=True)
class DbTimeouts:
    """Seconds. The io bound is longer than the statement timeout, so that a slow query on a
    live server ends with the server's clean error, not a dropped connection."""

    connect: float = 3.0
    statement: float = 5.0
    io: float = 7.0  # a frozen server: the pre-ping gives up after io, the reconnect after
    pool: float = 5.0  # connect, so a request has its 503 within about 10 s
    keepalive_idle: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DbTimeouts:
        values: dict[str, float] = {}
        for field, name in ENV.items():
            raw = environ.get(name)
            if raw:
                try:
                    values[field] = float(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
                if values[field] <= 0:
                    raise ValueError(f"{name} must be more than 0 seconds, got {raw!r}")
        return cls(**values)

    def connect_args(self, options: str) -> dict[str, Any]:
        """psycopg/libpq connection parameters; `options` are the session's other settings."""
        idle = max(1, round(self.keepalive_idle))
        return {
            "connect_timeout": max(2, math.ceil(self.connect)),  # libpq's minimum is 2
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": max(1, idle // 2),
            "keepalives_count": 3,
            "tcp_user_timeout": round(self.io * 1000),
            "options": f"{options} -c statement_timeout={round(self.statement * 1000)}",
        }


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait on the server ends after `io_timeout` seconds:
    the connection is then closed (the pool discards it) and OperationalError raised."""

    io_timeout: float = DbTimeouts.io

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval=interval, timeout=timeout or self.io_timeout)
        except errors._WaitTimeout:  # psycopg's own "wait timeout expired"
            self.pgconn.finish()  # its state is unknown: never reuse it
            raise psycopg.OperationalError(
                f"the database did not answer within {self.io_timeout:g} s"
            ) from None


# A pooled connection checked in less than this many seconds ago is trusted without a ping.
# Pinging on every checkout (SQLAlchemy's pool_pre_ping) costs a round trip per request; under
# load, connections come back to the pool within milliseconds, and a connection that died
# since is still caught: its statement fails within the IO bound (503), and SQLAlchemy then
# drops every older pooled connection.
PING_AFTER_IDLE = 1.0


def ping_when_idle(engine: sa.Engine, idle: float = PING_AFTER_IDLE) -> None:
    """Pre-ping (as `pool_pre_ping` does) only connections idle in the pool for `idle` s or
    more. A failed ping makes the pool replace the connection, as with `pool_pre_ping`."""

    @sa.event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        checked_in = record.info.get("checked_in")  # None: opened for this checkout
        if checked_in is None or time.monotonic() - checked_in < idle:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as e:
            raise sa.exc.DisconnectionError(f"pre-ping failed: {e}") from e
        if not alive:
            raise sa.exc.DisconnectionError("pre-ping failed")


def bound_engine(engine: sa.Engine, timeouts: DbTimeouts) -> None:
    """Make `engine` open BoundedConnections with `timeouts.io`."""

    class Bounded(BoundedConnection):
        io_timeout = timeouts.io

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return Bounded.connect(*cargs, **cparams)
