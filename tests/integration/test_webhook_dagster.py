"""The Dagster sensor delivers inline with a bounded tick and reports the lag; the
replay_webhooks job queues a range as new messages and delivers them."""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa
import standardwebhooks

from catalog_pipelines.store.events import Cause
from catalog_pipelines.webhooks.endpoints import create_endpoint
from catalog_pipelines.webhooks.receiver import LocalReceiver
from dagster_defs.webhooks import (
    LAG_ASSET_KEY,
    LAG_FIELDS,
    WebhookDelivery,
    replay_webhooks_job,
    webhook_definitions,
    webhook_delivery_sensor,
)
from tests.support.isolation import isolated_database
from tests.support.webhooks import (
    allow_loopback,  # noqa: F401 (autouse fixture)
    append_test_event,
    drop_endpoints,  # noqa: F401 (autouse fixture)
)

# Delivery workers act on every account: these tests get a database of their own.
database_url, engine = isolated_database()


def emit(engine: sa.Engine, account: str, n: int, start: int = 0) -> list[int]:
    with engine.begin() as conn:
        return [
            append_test_event(
                conn, account, f"price_{i}", 1, "price.created", Cause(source="dagster-test")
            )[0]
            for i in range(start, start + n)
        ]


def test_definitions_load() -> None:
    defs = webhook_definitions()
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("replay_webhooks").name == "replay_webhooks"
    assert defs.resolve_sensor_def("webhook_delivery_sensor").minimum_interval_seconds == 2


def test_sensor_tick_delivers_and_reports_lag(
    engine: sa.Engine, database_url: str, account: str
) -> None:
    resource = WebhookDelivery(database_url=database_url, max_seconds_per_tick=5)
    with LocalReceiver() as receiver:
        with engine.begin() as conn:
            endpoint = create_endpoint(conn, account_id=account, url=receiver.url)
        seqs = emit(engine, account, 5)
        context = dg.build_sensor_context(cursor=None, resources={"webhooks": resource})
        result = webhook_delivery_sensor(context)
        assert isinstance(result, dg.SensorResult)
        cursor = json.loads(result.cursor or "{}")
        assert cursor["delivered"] >= 5
        assert cursor["head_sequence"] >= seqs[-1]
        assert cursor["lag"] == cursor["head_sequence"] - cursor["delivered_through"]
        assert cursor["delivered_through"] >= seqs[-1]
        assert "lag" in str(result.skip_reason)
        (observation,) = result.asset_events
        assert observation.asset_key == LAG_ASSET_KEY
        assert observation.metadata["lag"].value == cursor["lag"]
        got = [r for r in receiver.delivered() if json.loads(r.body)["sequence"] in seqs]
        assert len(got) == 5
        for r in got:
            standardwebhooks.Webhook(endpoint.secret).verify(r.body, r.headers)

        receiver.responder = lambda _r: 500  # the next events fail: the lag shows them
        more = emit(engine, account, 2, start=5)
        context = dg.build_sensor_context(cursor=result.cursor, resources={"webhooks": resource})
        second_result = webhook_delivery_sensor(context)
        second = json.loads(second_result.cursor or "{}")
        assert second["failed_attempts"] >= 2
        assert second["delivered_through"] < more[0] and second["lag"] >= 2
        assert len(second_result.asset_events) == 1  # the lag changed: observed

        # Nothing new and nothing due (the failures wait for their retry): the lag is the
        # same, so the tick records no observation.
        context = dg.build_sensor_context(
            cursor=second_result.cursor, resources={"webhooks": resource}
        )
        third_result = webhook_delivery_sensor(context)
        third = json.loads(third_result.cursor or "{}")
        assert {k: third[k] for k in LAG_FIELDS} == {k: second[k] for k in LAG_FIELDS}
        assert third_result.asset_events == []


def test_replay_job(engine: sa.Engine, database_url: str, account: str) -> None:
    resource = WebhookDelivery(database_url=database_url, max_seconds_per_tick=5)
    with LocalReceiver() as receiver:
        with engine.begin() as conn:
            endpoint = create_endpoint(conn, account_id=account, url=receiver.url)
        seqs = emit(engine, account, 3)
        webhook_delivery_sensor(
            dg.build_sensor_context(resources={"webhooks": resource})
        )  # live delivery first
        live_ids = {r.webhook_id for r in receiver.delivered()}
        result = replay_webhooks_job.execute_in_process(
            run_config={
                "ops": {
                    "replay_webhooks_op": {
                        "config": {
                            "endpoint_id": endpoint.id,
                            "account_id": account,
                            "from_sequence": seqs[0],
                            "to_sequence": seqs[-1],
                            "deliver_seconds": 5,
                        }
                    }
                }
            },
            resources={"webhooks": resource},
        )
        assert result.success
        summary = result.output_for_node("replay_webhooks_op")
        assert summary["deliveries"] == 3 and summary["delivered_now"] >= 3
        replayed = [r for r in receiver.delivered() if r.webhook_id not in live_ids]
        assert sorted(json.loads(r.body)["sequence"] for r in replayed) == seqs

        bad = replay_webhooks_job.execute_in_process(
            run_config={
                "ops": {
                    "replay_webhooks_op": {
                        "config": {"endpoint_id": endpoint.id, "account_id": account}
                    }
                }
            },
            resources={"webhooks": resource},
            raise_on_error=False,
        )
        assert not bad.success  # neither range given
