"""The delivery worker, shared by `catalog-sync webhooks deliver` and the Dagster sensor.

Rules (docs/webhooks.md): at least once; strict `sequence` order per (endpoint, object) and
parallel across objects; 15 s timeout; only 2xx counts; redirects are never followed; 410
disables the endpoint; Retry-After is honoured; backoff with jitter over the schedule, giving
up after its last step; an endpoint failing continuously for 5 days is disabled; every attempt
is logged.

How the state is kept, so that a crash loses nothing:
- A worker *claims* due rows in one short transaction by pushing their `next_attempt_at` to
  the end of a lease and stamping a `lease_token`; it holds no transaction during HTTP.
- Only the head of a (endpoint, object, replay) queue can be claimed: a row is claimable only
  if no pending row of its queue has a lower sequence. A claimed head stays pending, so the
  next event of that object waits until the head is delivered or given up.
- If the worker dies, its leases expire and the same rows (same `webhook-id`) come due again.
- Outcomes are written in batches; a failure's write is fenced by the lease token, a success
  is always written (it is true whoever wrote it).

The clock is injectable (`now=`) for scheduling decisions: due times, backoff and the 5-day
rule. Signature timestamps are always wall-clock time, because receivers check them.

Settings from the environment are in delivery_settings.py; the lag report in lag.py.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import requests
import sqlalchemy as sa
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from catalog_pipelines.store.events import event_json
from catalog_pipelines.webhooks.delivery_settings import DeliveryConfig
from catalog_pipelines.webhooks.fanout import fan_out
from catalog_pipelines.webhooks.signing import sign_headers

__all__ = ["DeliveryConfig", "DeliveryStats", "DeliveryWorker", "deliver_due", "get_worker"]

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "catalog-sync-webhooks/1"
# Only its Retry-After parsing is used: the retry schedule itself lives in the database.
_RETRY_AFTER = Retry(0)

Clock = Callable[[], datetime]


@dataclass
class DeliveryStats:
    fanned_out_events: int = 0
    fanned_out_deliveries: int = 0
    claimed: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    endpoints_disabled: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"object": "webhook_delivery_run", **self.__dict__}


@dataclass(frozen=True)
class Claimed:
    id: str
    endpoint_id: str
    url: str
    secret: str
    attempts: int
    lease_token: str
    event: dict[str, Any]


@dataclass
class Outcome:
    claimed: Claimed
    attempted_at: datetime
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def make_session(pool_size: int = 16) -> requests.Session:
    """A pooled session with the connect-time SSRF guard and no proxies from the environment."""
    from catalog_pipelines.webhooks.ssrf import GuardedAdapter

    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def encode_event(event: dict[str, Any]) -> bytes:
    """The body: compact JSON of the event. These bytes are signed and sent as they are."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def retry_after_seconds(response: requests.Response) -> float | None:
    """Seconds from the response's Retry-After (delta-seconds or HTTP-date, parsed by
    urllib3); None if absent or malformed."""
    try:
        return _RETRY_AFTER.get_retry_after(response.raw)
    except InvalidHeader:
        return None


_CLAIM = sa.text(
    "WITH due AS ("
    " SELECT d.id FROM webhook_deliveries d"
    " JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.status = 'enabled'"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
    "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
    "   WHERE p.endpoint_id = d.endpoint_id AND p.object_id = d.object_id"
    "    AND p.replay_id = d.replay_id AND p.status = 'pending'"
    "    AND p.event_sequence < d.event_sequence)"
    " ORDER BY d.next_attempt_at, d.event_sequence"
    " LIMIT :limit FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE webhook_deliveries d SET next_attempt_at = :lease_until, lease_token = :token"
    " FROM due, events e, webhook_endpoints w"
    " WHERE d.id = due.id AND e.sequence = d.event_sequence AND w.id = d.endpoint_id"
    " RETURNING d.id AS delivery_id, d.endpoint_id, d.attempts, w.url, w.secret,"
    "  e.sequence, e.id, e.account_id, e.type, e.object_version, event_data(e) AS data,"
    "  e.request,"
    "  e.source, e.run_id, e.created"
)

_ASYNC_COMMIT = sa.text("SET LOCAL synchronous_commit TO off")
_LOG_ATTEMPT = sa.text(
    "INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempted_at, status_code,"
    " latency_ms, error, outcome)"
    " SELECT :id, :endpoint, :at, :code, :latency, :error, :outcome"
    # the endpoint (and so the delivery) may have been deleted while the request was out
    " WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = :id)"
)
_MARK_DELIVERED = sa.text(
    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
    " delivered_at = :at, last_status_code = :code, last_error = NULL, lease_token = NULL"
    " WHERE id = :id AND status = 'pending'"
)
_MARK_RETRY = sa.text(
    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = :next,"
    " last_status_code = :code, last_error = :error, lease_token = NULL"
    " WHERE id = :id AND status = 'pending' AND lease_token = :token"
)
_MARK_GAVE_UP = sa.text(
    "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,"
    " last_status_code = :code, last_error = :error, lease_token = NULL"
    " WHERE id = :id AND status = 'pending' AND lease_token = :token"
)
_ENDPOINT_OK = sa.text(
    "UPDATE webhook_endpoints SET failing_since = NULL"
    " WHERE id = ANY (:ids) AND failing_since IS NOT NULL"
)
_ENDPOINT_FAILING = sa.text(
    "UPDATE webhook_endpoints SET failing_since = :at"
    " WHERE id = ANY (:ids) AND failing_since IS NULL"
)
_DISABLE_STALE = sa.text(
    "UPDATE webhook_endpoints SET status = 'disabled', updated = now(),"
    " disabled_reason = 'failing continuously since ' || failing_since::text"
    " WHERE id = ANY (:ids) AND status = 'enabled' AND failing_since <= :cutoff"
)
_DISABLE_GONE = sa.text(
    "UPDATE webhook_endpoints SET status = 'disabled', updated = now(),"
    " disabled_reason = 'the receiver answered 410 Gone'"
    " WHERE id = ANY (:ids) AND status = 'enabled'"
)


class _EventRow:
    """Adapts a claim row to what `event_json` reads."""

    def __init__(self, row: Any) -> None:
        self.sequence = row.sequence
        self.id = row.id
        self.account_id = row.account_id
        self.type = row.type
        self.object_version = row.object_version
        self.data = row.data
        self.request = row.request
        self.source = row.source
        self.run_id = row.run_id
        self.created = row.created


class DeliveryWorker:
    """Holds the pooled session and the config; `deliver_due` does one bounded pass."""

    def __init__(
        self,
        engine: sa.Engine,
        config: DeliveryConfig | None = None,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or DeliveryConfig.from_env()
        self.session = session or make_session(self.config.concurrency)
        self._rng = random.Random()

    # -- database -------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """A transaction on the caller's connection, or on a pooled one."""
        if conn is None:
            with self.engine.begin() as pooled:
                yield pooled
        else:
            with conn.begin():
                yield conn

    def claim(self, now: datetime, limit: int, conn: sa.Connection | None = None) -> list[Claimed]:
        """Lease up to `limit` due queue heads. The claim commits asynchronously: if the
        server crashed and lost it, the rows would simply be due again (at least once)."""
        token = secrets.token_hex(8)
        lease_until = now + timedelta(seconds=self.config.lease)
        with self._transaction(conn) as tx:
            tx.execute(_ASYNC_COMMIT)
            rows = tx.execute(
                _CLAIM, {"now": now, "limit": limit, "lease_until": lease_until, "token": token}
            ).all()
        return [
            Claimed(
                id=r.delivery_id,
                endpoint_id=r.endpoint_id,
                url=r.url,
                secret=r.secret,
                attempts=r.attempts,
                lease_token=token,
                event=event_json(_EventRow(r)),
            )
            for r in rows
        ]

    def record(
        self, outcomes: Sequence[Outcome], stats: DeliveryStats, conn: sa.Connection | None = None
    ) -> None:
        """Write a batch of outcomes and their attempt log in one transaction."""
        attempts: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        gave_up: list[dict[str, Any]] = []
        ok_endpoints: set[str] = set()
        failing: dict[str, datetime] = {}
        gone: set[str] = set()
        for o in outcomes:
            c = o.claimed
            base = {"id": c.id, "code": o.status_code, "at": o.attempted_at}
            if o.ok:
                delivered.append(base)
                ok_endpoints.add(c.endpoint_id)
                outcome = "delivered"
            else:
                failing.setdefault(c.endpoint_id, o.attempted_at)
                if o.status_code == 410:
                    gone.add(c.endpoint_id)
                delay = self.config.backoff(c.attempts + 1, self._rng)
                params = {**base, "error": o.error, "token": c.lease_token}
                if delay is None:
                    gave_up.append(params)
                    outcome = "gave_up"
                else:
                    if o.retry_after is not None:
                        delay = max(delay, min(o.retry_after, max(self.config.schedule)))
                    retry.append({**params, "next": o.attempted_at + timedelta(seconds=delay)})
                    outcome = "retry"
            attempts.append(
                {
                    "id": c.id,
                    "endpoint": c.endpoint_id,
                    "at": o.attempted_at,
                    "code": o.status_code,
                    "latency": o.latency_ms,
                    "error": o.error,
                    "outcome": outcome,
                }
            )
        # An endpoint with any success in this batch is not failing continuously.
        failing = {e: at for e, at in failing.items() if e not in ok_endpoints}
        disabled = 0
        with self._transaction(conn) as conn:
            conn.execute(_LOG_ATTEMPT, attempts)
            if delivered:
                conn.execute(_MARK_DELIVERED, delivered)
            if retry:
                conn.execute(_MARK_RETRY, retry)
            if gave_up:
                conn.execute(_MARK_GAVE_UP, gave_up)
            if ok_endpoints:
                conn.execute(_ENDPOINT_OK, {"ids": sorted(ok_endpoints)})
            if gone:
                disabled += conn.execute(_DISABLE_GONE, {"ids": sorted(gone)}).rowcount
            for endpoint_id, at in failing.items():
                conn.execute(_ENDPOINT_FAILING, {"ids": [endpoint_id], "at": at})
                disabled += conn.execute(
                    _DISABLE_STALE,
                    {"ids": [endpoint_id], "cutoff": at - self.config.disable_after},
                ).rowcount
        stats.delivered += len(delivered)
        stats.failed_attempts += len(retry) + len(gave_up)
        stats.gave_up += len(gave_up)
        stats.endpoints_disabled += disabled

    # -- HTTP -----------------------------------------------------------------------------
    def send(self, claimed: Claimed, clock: Clock) -> Outcome:
        """One signed POST. Never raises: every failure becomes an Outcome."""
        body = encode_event(claimed.event)
        headers = sign_headers(claimed.secret, claimed.id, body)
        attempted_at = clock()
        started = time.perf_counter()
        outcome = Outcome(claimed=claimed, attempted_at=attempted_at, latency_ms=0)
        try:
            with self.session.post(
                claimed.url,
                data=body,
                headers=headers,
                timeout=self.config.timeout,
                allow_redirects=False,
                stream=True,
            ) as resp:
                outcome.status_code = resp.status_code
                read = 0
                for chunk in resp.iter_content(8192):  # drain a little so the socket is reused
                    read += len(chunk)
                    if read > MAX_RESPONSE_BYTES:
                        break
                if not outcome.ok:
                    outcome.error = f"HTTP {resp.status_code}"
                    outcome.retry_after = retry_after_seconds(resp)
        except requests.Timeout as exc:
            outcome.error = f"timeout after {self.config.timeout:g}s: {type(exc).__name__}"
        except Exception as exc:  # connection refused, TLS, SSRF refusal, anything else
            outcome.error = f"{type(exc).__name__}: {exc}"[:500]
        outcome.latency_ms = int((time.perf_counter() - started) * 1000)
        return outcome

    # -- the pass -------------------------------------------------------------------------
    def deliver_due(
        self,
        *,
        now: datetime | None = None,
        max_seconds: float = 25.0,
        max_deliveries: int = 100_000,
        fan_out_first: bool = True,
        stop: threading.Event | None = None,
    ) -> DeliveryStats:
        """One bounded pass: fan out new events, then send what is due until nothing is due,
        `max_deliveries` were claimed or `max_seconds` passed. Claiming stops at the deadline;
        requests already in flight finish within the timeout after it."""
        offset = (now - datetime.now(UTC)) if now is not None else timedelta(0)

        def clock() -> datetime:
            return datetime.now(UTC) + offset

        stats = DeliveryStats()
        started = time.monotonic()
        deadline = started + max_seconds
        if fan_out_first:
            self._fan_out(stats, max_seconds / 4)
        inflight: dict[Future[Outcome], Claimed] = {}
        refanned = not fan_out_first
        # Fewer, bigger transactions: claim when a quarter of the slots are free, and let a
        # few more requests finish (10 ms at most) before writing their outcomes.
        batch_size = max(1, self.config.concurrency // 4)
        with (
            ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook") as pool,
            self.engine.connect() as conn,
        ):
            while True:
                can_claim = (
                    stats.claimed < max_deliveries
                    and time.monotonic() < deadline
                    and not (stop is not None and stop.is_set())
                )
                free = self.config.concurrency - len(inflight)
                if can_claim and (free >= batch_size or (free > 0 and not inflight)):
                    batch = self.claim(clock(), min(free, max_deliveries - stats.claimed), conn)
                    stats.claimed += len(batch)
                    for c in batch:
                        inflight[pool.submit(self.send, c, clock)] = c
                    if batch:
                        refanned = False
                if not inflight:
                    if not can_claim or refanned:
                        break
                    # nothing due: pick up events that arrived meanwhile, then look again
                    self._fan_out(stats, max(0.0, deadline - time.monotonic()) / 4)
                    refanned = True
                    continue
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                if len(done) < batch_size < len(inflight):
                    done, _ = wait(list(inflight), timeout=0.01, return_when=ALL_COMPLETED)
                outcomes = [f.result() for f in done]
                for f in done:
                    del inflight[f]
                self.record(outcomes, stats, conn)
        stats.seconds = round(time.monotonic() - started, 3)
        return stats

    def _fan_out(self, stats: DeliveryStats, max_seconds: float) -> None:
        result = fan_out(self.engine, max_seconds=max(max_seconds, 0.5))
        stats.fanned_out_events += result.events
        stats.fanned_out_deliveries += result.deliveries


def get_worker(engine: sa.Engine, config: DeliveryConfig | None = None) -> DeliveryWorker:
    """One worker (so one HTTP connection pool) per engine and config per process: sensor
    ticks and `deliver` loops reuse keep-alive connections."""
    return _worker_for(engine, config or DeliveryConfig.from_env())


@lru_cache(maxsize=16)
def _worker_for(engine: sa.Engine, config: DeliveryConfig) -> DeliveryWorker:
    return DeliveryWorker(engine, config)


def deliver_due(
    engine: sa.Engine,
    *,
    now: datetime | None = None,
    max_seconds: float = 25.0,
    max_deliveries: int = 100_000,
    config: DeliveryConfig | None = None,
    fan_out_first: bool = True,
) -> DeliveryStats:
    """Fan out and deliver what is due, bounded in time and count (see DeliveryWorker)."""
    return get_worker(engine, config).deliver_due(
        now=now, max_seconds=max_seconds, max_deliveries=max_deliveries, fan_out_first=fan_out_first
    )
