"""Failed API key checks per client address, counted in PostgreSQL (sql/0017), so that the
limit holds across every server process: with N workers an address still gets `limit` tries
per window, not N x `limit`. Past `limit` failures within `window` seconds the address is
refused (429) until the oldest of its last `limit` failures leaves the window.

Each process keeps a view of the blocked addresses, reloaded at most every REFRESH_SECONDS,
so checking a request costs no query; a failure is recorded at once, and blocks its address
in the recording process at once."""

from __future__ import annotations

import logging
import math
import os
import threading
import time

import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

# How stale a process's view of the blocked addresses may be: an address blocked by the
# failures other processes saw is blocked here within this many seconds.
REFRESH_SECONDS = 0.5

_RECORD = sa.text("INSERT INTO auth_failures (address) VALUES (:address)")
_PRUNE = sa.text(
    "DELETE FROM auth_failures WHERE failed_at < clock_timestamp() - make_interval(secs => :window)"
)
# Addresses with `limit` failures in the window (one, or all when :address is NULL), and the
# seconds until the oldest of their last `limit` failures leaves it.
_BLOCKED = sa.text(
    """
    SELECT address,
           extract(epoch FROM min(failed_at) + make_interval(secs => :window)
                              - clock_timestamp())::float8 AS remaining
    FROM (SELECT address, failed_at,
                 row_number() OVER (PARTITION BY address ORDER BY failed_at DESC) AS n
          FROM auth_failures
          WHERE failed_at > clock_timestamp() - make_interval(secs => :window)
            AND (CAST(:address AS text) IS NULL OR address = :address)) recent
    WHERE n <= :limit
    GROUP BY address
    HAVING count(*) >= :limit
    """
)


class AuthFailures:
    def __init__(
        self, engine: sa.Engine, limit: int | None = None, window: float | None = None
    ) -> None:
        env = os.environ
        self.engine = engine
        self.limit = limit if limit is not None else int(env.get("CATALOG_API_AUTH_FAILURES", 20))
        self.window = (
            window if window is not None else float(env.get("CATALOG_API_AUTH_WINDOW", 60))
        )
        self._blocked: dict[str, float] = {}  # address -> time.monotonic() it may try again
        # Blocks `record` set, with when: a reload that started before one must keep it.
        self._recorded: dict[str, tuple[float, float]] = {}  # address -> (set at, until)
        self._refreshed = -math.inf
        self._lock = threading.Lock()

    async def blocked_for(self, address: str) -> int | None:
        """`retry_after`, from a view reloaded first when it is due (off the event loop):
        what a request handler asks before it checks a key."""
        if self.claim_refresh():
            await run_in_threadpool(self.refresh)
        return self.retry_after(address)

    async def failed(self, address: str) -> None:
        """`record`, off the event loop."""
        await run_in_threadpool(self.record, address)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None if it may now (no query)."""
        now = time.monotonic()
        with self._lock:
            until = self._blocked.get(address)
        if until is None or until <= now:
            return None
        return max(1, math.ceil(until - now))

    def claim_refresh(self) -> bool:
        """Whether the caller should `refresh` now; only one caller per period is told so."""
        now = time.monotonic()
        with self._lock:
            if now - self._refreshed < REFRESH_SECONDS:
                return False
            self._refreshed = now
            return True

    def refresh(self) -> None:
        """Reload the blocked addresses (a query: call it off the event loop). A database
        error keeps the previous view: the limit must not turn into an outage."""
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(_BLOCKED, self._params(None)).all()
        except sa.exc.DBAPIError as e:
            log.warning("could not reload the addresses blocked for failed API keys: %s", e)
            return
        now = time.monotonic()
        blocked = {row.address: now + row.remaining for row in rows}
        with self._lock:
            # A block recorded while the query ran may be missing from its answer.
            self._recorded = {a: r for a, r in self._recorded.items() if r[0] >= started}
            for address, (_at, until) in self._recorded.items():
                blocked[address] = max(blocked.get(address, until), until)
            self._blocked = blocked

    def record(self, address: str) -> None:
        """One more failure from `address` (a query: call it off the event loop)."""
        with self.engine.begin() as conn:
            conn.execute(_PRUNE, {"window": self.window})
            conn.execute(_RECORD, {"address": address})
            row = conn.execute(_BLOCKED, self._params(address)).first()
        if row is not None:
            now = time.monotonic()
            with self._lock:
                self._blocked[address] = now + row.remaining
                self._recorded[address] = (now, now + row.remaining)

    def _params(self, address: str | None) -> dict[str, object]:
        return {"address": address, "window": self.window, "limit": self.limit}
