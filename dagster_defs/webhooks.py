"""Dagster pieces of webhook delivery: a sensor that follows the event log, and a
`replay_webhooks` job. The delivery logic itself is `catalog_pipelines.webhooks.delivery`,
shared with `catalog-sync webhooks deliver`.

Why the sensor delivers inline instead of launching a run per tick:
- Latency: a run costs a process start and Dagster's run bookkeeping (seconds) before the
  first request; inline, a committed event reaches the receiver within one tick interval.
- Correctness lives in Postgres, not in the cursor: deliveries are claimed with leases and
  written back in short transactions, so a tick that times out or crashes loses nothing (its
  leases expire and the same `webhook-id`s are retried). A `run_key` per tick would add
  nothing but the trap docs/maintainers.md describes (permanent dedup if the cursor ever went back).
- Bounded: each tick claims work for at most `max_seconds_per_tick` (25 s by default);
  requests in flight then finish within the 15 s timeout, so a tick ends well under 60 s.

The sensor's cursor (JSON) and each tick's message carry the lag: head sequence minus the
highest sequence whose live deliveries are all done. The same numbers are reported as an
observation of the `webhook_delivery_lag` asset, so they are charted in the UI, but only
when they change: a tick every few seconds would otherwise write an event every few seconds.

Use `webhook_definitions()` (sensor, job, lag asset spec, and the `webhooks` resource) and
merge it into the code location's Definitions.

No `from __future__ import annotations` here: Dagster reads the config and resource
annotations at decoration time.
"""

import json
from datetime import datetime
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from catalog_pipelines import db
from catalog_pipelines.webhooks.delivery import DeliveryConfig, DeliveryStats, get_worker
from catalog_pipelines.webhooks.lag import delivery_lag
from catalog_pipelines.webhooks.replay import replay

RESOURCE_KEY = "webhooks"
LAG_ASSET_KEY = dg.AssetKey("webhook_delivery_lag")

webhook_delivery_lag_spec = dg.AssetSpec(
    key=LAG_ASSET_KEY,
    description="How far webhook delivery trails the event log, observed on every tick of"
    " webhook_delivery_sensor (head sequence minus delivered-through sequence).",
    group_name="webhooks",
    kinds={"postgres"},
)


class WebhookDelivery(dg.ConfigurableResource):
    """Where deliveries are stored and how much one tick may do. Timeouts, the retry
    schedule and concurrency come from the CATALOG_WEBHOOK_* environment variables."""

    database_url: str | None = Field(
        default=None,
        description="postgresql:// URL of the catalog; unset means DATABASE_URL or the"
        " embedded server.",
    )
    max_seconds_per_tick: float = Field(
        default=25.0, description="Stop claiming deliveries after this long (tick bound)."
    )
    max_deliveries_per_tick: int = Field(default=20_000, description="Claim at most this many.")

    def engine(self) -> sa.Engine:
        return db.shared_engine(self.database_url or db.libpq_url())

    def deliver(self, *, max_seconds: float | None = None) -> DeliveryStats:
        worker = get_worker(self.engine(), DeliveryConfig.from_env())
        return worker.deliver_due(
            max_seconds=self.max_seconds_per_tick if max_seconds is None else max_seconds,
            max_deliveries=self.max_deliveries_per_tick,
        )


# The lag itself; the other metadata (this tick's counts and duration) differ on every tick.
LAG_FIELDS = (
    "lag",
    "head_sequence",
    "delivered_through",
    "fanned_out_through",
    "pending_deliveries",
)


def lag_changed(previous_cursor: str | None, meta: dict[str, Any]) -> bool:
    """Whether the lag differs from the one the previous tick recorded in its cursor."""
    try:
        previous = json.loads(previous_cursor or "{}")
    except ValueError:
        return True
    return not isinstance(previous, dict) or any(
        previous.get(name) != meta[name] for name in LAG_FIELDS
    )


def _lag_metadata(engine: sa.Engine, stats: DeliveryStats) -> dict[str, Any]:
    with engine.connect() as conn:
        lag = delivery_lag(conn)
    return {
        "lag": lag.lag,
        "head_sequence": lag.head_sequence,
        "delivered_through": lag.delivered_through,
        "fanned_out_through": lag.fanned_out_through,
        "pending_deliveries": lag.pending_deliveries,
        "delivered": stats.delivered,
        "failed_attempts": stats.failed_attempts,
        "gave_up": stats.gave_up,
        "endpoints_disabled": stats.endpoints_disabled,
        "tick_seconds": stats.seconds,
    }


@dg.sensor(
    name="webhook_delivery_sensor",
    # Below the daemon's 5 s loop on purpose: at exactly 5 s a tick is often skipped for
    # being 4.99 s after the last one, which doubles the gap (bench/webhook_latency_bench.py).
    minimum_interval_seconds=2,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Follows the event log: fans new events out to subscribed endpoints and"
    " delivers what is due, inline and bounded (see dagster_defs/webhooks.py).",
)
def webhook_delivery_sensor(
    context: dg.SensorEvaluationContext, webhooks: WebhookDelivery
) -> dg.SensorResult:
    stats = webhooks.deliver()
    meta = _lag_metadata(webhooks.engine(), stats)
    context.log.info(f"webhooks: {json.dumps(meta)}")
    return dg.SensorResult(
        skip_reason=(
            f"delivered {stats.delivered}, failed attempts {stats.failed_attempts},"
            f" lag {meta['lag']} (head {meta['head_sequence']},"
            f" delivered through {meta['delivered_through']})"
        ),
        cursor=json.dumps(meta, sort_keys=True),
        asset_events=(
            [dg.AssetObservation(asset_key=LAG_ASSET_KEY, metadata=meta)]
            if lag_changed(context.cursor, meta)
            else []
        ),
    )


class ReplayWebhooksConfig(dg.Config):
    """One endpoint and either a sequence range (inclusive) or a time range [since, until)."""

    endpoint_id: str = Field(description="we_... id of the endpoint")
    account_id: str = Field(default="acct_default")
    from_sequence: int | None = None
    to_sequence: int | None = None
    since: str | None = Field(default=None, description="ISO 8601, inclusive")
    until: str | None = Field(default=None, description="ISO 8601, exclusive")
    deliver_seconds: float = Field(
        default=30.0,
        description="How long this run delivers before leaving the rest to the sensor.",
    )


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise dg.Failure(f"{value!r}: give a time zone (e.g. Z or +00:00)")
    return ts


@dg.op(name="replay_webhooks_op", tags={"kind": "webhooks"})
def replay_webhooks_op(
    context: dg.OpExecutionContext, config: ReplayWebhooksConfig, webhooks: WebhookDelivery
) -> dict[str, Any]:
    """Queue the range as new deliveries, then deliver for a bounded while."""
    from catalog_pipelines.webhooks.endpoints import EndpointError

    try:
        with webhooks.engine().begin() as conn:
            result = replay(
                conn,
                account_id=config.account_id,
                endpoint_id=config.endpoint_id,
                from_sequence=config.from_sequence,
                to_sequence=config.to_sequence,
                since=_parse_time(config.since),
                until=_parse_time(config.until),
            )
    except EndpointError as exc:
        raise dg.Failure(str(exc)) from exc
    stats = webhooks.deliver(max_seconds=config.deliver_seconds)
    summary = {**result.to_json(), "delivered_now": stats.delivered}
    context.add_output_metadata(
        {
            "replay_id": result.id,
            "deliveries": result.deliveries,
            "delivered_now": stats.delivered,
            "failed_attempts": stats.failed_attempts,
        }
    )
    return summary


@dg.job(
    name="replay_webhooks",
    description="Send a sequence or time range of the event log to one endpoint again"
    " (new webhook-ids).",
    tags={"kind": "webhooks"},
)
def replay_webhooks_job() -> None:
    replay_webhooks_op()


def webhook_resources() -> dict[str, Any]:
    return {RESOURCE_KEY: WebhookDelivery()}


def webhook_definitions() -> dg.Definitions:
    """Everything above, to merge into the code location: `Definitions.merge(defs, this)`."""
    return dg.Definitions(
        assets=[webhook_delivery_lag_spec],
        jobs=[replay_webhooks_job],
        sensors=[webhook_delivery_sensor],
        resources=webhook_resources(),
    )
