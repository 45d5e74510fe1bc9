"""Webhook delivery throughput: the worker vs a bare `requests` loop, same payloads, same run.

    uv run python bench/webhook_bench.py [--events 1500] [--objects 500] [--rounds 3]

It creates a scratch database on DATABASE_URL's server (or the embedded one), appends the
events set-wise under the event-log lock, subscribes one endpoint pointing at a local
receiver running in its own process, then measures:
- fan-out: events -> deliveries (one transaction per 2000 events);
- worker: `DeliveryWorker.deliver_due` until nothing is pending: claim, sign, POST,
  record the attempt and the outcome;
- bare loop: one `requests.Session` posting the same signed bodies one after another,
  with no database at all.
Rounds alternate worker and bare loop, so load from other processes hits both alike; the
medians are reported. The ratio is worker/bare (targets: >= 300 deliveries/s and ratio >= 0.5). Results are also
written to bench/results/webhook_bench.json. Commit-to-receipt latency under `dagster dev`
is not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_pipelines import db  # noqa: E402
from catalog_pipelines.store.events import event_json, lock_event_log  # noqa: E402
from catalog_pipelines.store.migrations import migrate  # noqa: E402
from catalog_pipelines.webhooks.delivery import (  # noqa: E402
    DeliveryConfig,
    DeliveryWorker,
    encode_event,
)
from catalog_pipelines.webhooks.endpoints import create_endpoint  # noqa: E402
from catalog_pipelines.webhooks.fanout import fan_out  # noqa: E402
from catalog_pipelines.webhooks.signing import sign_headers  # noqa: E402

_EVENTS = sa.text(
    "INSERT INTO events (id, account_id, type, object_type, object_id, object_version, data,"
    " source, run_id)"
    " SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), :account,"
    "  CASE WHEN g / :objects = 0 THEN 'product.created' ELSE 'product.updated' END, 'product',"
    "  'prod_bench_' || (g % :objects), g / :objects + 1,"
    "  jsonb_build_object('object', jsonb_build_object('id', 'prod_bench_' || (g % :objects),"
    "   'object', 'product', 'name', 'Bench product ' || g, 'active', true,"
    "   'metadata', jsonb_build_object('i', g), 'version', g / :objects + 1)),"
    "  'bench', 'run_bench'"
    " FROM generate_series(CAST(:offset AS integer), :offset + :n - 1) AS g ORDER BY g"
)
_PENDING = sa.text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "catalog_pipelines.webhooks.receiver", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.strip().split(" ", 2)[-1] + "hook"
    return proc, url


def one_round(
    engine: sa.Engine,
    url: str,
    secret: str,
    events: int,
    objects: int,
    concurrency: int,
    offset: int,
) -> dict[str, float]:
    """Append `events` new events, fan them out, deliver them with the worker, then post the
    same signed bodies with a bare loop. Returns the timings of this round."""
    with engine.begin() as conn:
        lock_event_log(conn)
        conn.execute(
            _EVENTS,
            {"account": "acct_bench", "objects": objects, "n": events, "offset": offset},
        )
    t = time.perf_counter()
    fanned = fan_out(engine, max_seconds=600)
    fanout_s = time.perf_counter() - t
    assert fanned.deliveries == events, fanned

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.id AS delivery_id, e.* FROM webhook_deliveries d"
                " JOIN events e ON e.sequence = d.event_sequence"
                " WHERE d.status = 'pending' ORDER BY e.sequence"
            )
        ).all()
    payloads = [(r.delivery_id, encode_event(event_json(r))) for r in rows]

    worker = DeliveryWorker(engine, DeliveryConfig(concurrency=concurrency))
    t = time.perf_counter()
    delivered = 0
    while True:
        delivered += worker.deliver_due(max_seconds=60, fan_out_first=False).delivered
        with engine.connect() as conn:
            if conn.execute(_PENDING).scalar_one() == 0:
                break
    worker_s = time.perf_counter() - t
    assert delivered == events, (delivered, events)

    session = requests.Session()
    t = time.perf_counter()
    for msg_id, body in payloads:
        headers = sign_headers(secret, msg_id, body)
        resp = session.post(url, data=body, headers=headers, timeout=15, allow_redirects=False)
        resp.raise_for_status()
    bare_s = time.perf_counter() - t
    return {"fanout": fanout_s, "worker": worker_s, "bare": bare_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1500, help="events per round")
    parser.add_argument("--objects", type=int, default=500, help="distinct objects per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    os.environ["CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS"] = "1"  # the receiver is on loopback

    server_url = db.admin_url()
    db_url = db.create_database(server_url, "cs_bench")
    engine = db.make_engine(db_url)
    receiver, url = start_receiver()
    rounds: list[dict[str, float]] = []
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO accounts (id) VALUES ('acct_bench')"))
            endpoint = create_endpoint(conn, account_id="acct_bench", url=url)
        for i in range(args.rounds):
            rounds.append(
                one_round(
                    engine,
                    url,
                    endpoint.secret,
                    args.events,
                    args.objects,
                    args.concurrency,
                    offset=i * args.events,
                )
            )
    finally:
        receiver.terminate()
        receiver.wait(10)
        engine.dispose()
        db.drop_database(server_url, db_url)

    n = args.events
    worker_rates = [n / r["worker"] for r in rounds]
    bare_rates = [n / r["bare"] for r in rounds]
    ratios = [w / b for w, b in zip(worker_rates, bare_rates, strict=True)]
    result = {
        "events_per_round": n,
        "objects_per_round": args.objects,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "fanout_per_second_median": round(statistics.median(n / r["fanout"] for r in rounds)),
        "worker_per_second_median": round(statistics.median(worker_rates)),
        "bare_loop_per_second_median": round(statistics.median(bare_rates)),
        "ratio_median": round(statistics.median(ratios), 2),
        "worker_per_second_rounds": [round(x) for x in worker_rates],
        "bare_loop_per_second_rounds": [round(x) for x in bare_rates],
        "ratio_rounds": [round(x, 2) for x in ratios],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "webhook_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    worker_rate = result["worker_per_second_median"]
    ok = worker_rate >= 300 and result["ratio_median"] >= 0.5
    print(f"\ntargets (>= 300/s, ratio >= 0.5): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
