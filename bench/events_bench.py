"""Events query for one object in a large log: `list_events(object_id=...)`, as the API and
`catalog-sync events list --object` run it, against a bare primary-key SELECT in the same run.

    uv run python bench/events_bench.py --events 10000000 [--queries 2000] [--json]

The log is filled server-side (generate_series) with events of 1,000,000 objects spread over
20 accounts, ten versions each, in a scratch database that is dropped afterwards. Then one hot
object (a SKU adjusted --hot-versions times) gets its events, and its first page and a page
from the middle of its history are timed too: a plan that sorted an object's whole history for
one page would show there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FILL = """
WITH locked AS (SELECT pg_advisory_xact_lock(%(lock)s))
INSERT INTO events (account_id, type, object_type, object_id, object_version, data, source)
SELECT 'acct_bench_' || (g %% 20),
       CASE WHEN g / %(objects)s = 0 THEN 'product.created' ELSE 'product.updated' END,
       'product', 'prod_bench_' || (g %% %(objects)s), g / %(objects)s + 1,
       json_build_object('object', json_build_object('id', 'prod_bench_' || (g %% %(objects)s),
                         'object', 'product', 'name', 'Product ' || g, 'version', g / %(objects)s + 1)),
       'bench'
FROM locked, generate_series(%(start)s::bigint, %(stop)s::bigint) g
"""


HOT = """
WITH locked AS (SELECT pg_advisory_xact_lock(%(lock)s))
INSERT INTO events (account_id, type, object_type, object_id, object_version, data, source)
SELECT 'acct_bench_0', 'inventory_item.updated', 'inventory_item', 'iitem_bench_hot', v,
       json_build_object('object', json_build_object('id', 'iitem_bench_hot', 'quantity', v)),
       'bench'
FROM locked, generate_series(1, %(versions)s) v
"""


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--hot-versions", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from catalog_pipelines import db
    from catalog_pipelines.store import reads
    from catalog_pipelines.store.events import EVENT_LOG_LOCK
    from catalog_pipelines.store.migrations import migrate

    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    server = db.admin_url()
    url = db.create_database(server, "cs_evbench")
    result: dict[str, object] = {"events": args.events, "objects": args.objects}
    try:
        engine = db.make_engine(url)
        migrate(engine)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            step = 1_000_000
            for start in range(0, args.events, step):
                stop = min(start + step, args.events) - 1
                conn.execute(
                    FILL,
                    {"objects": args.objects, "start": start, "stop": stop, "lock": EVENT_LOG_LOCK},
                )
            conn.execute(HOT, {"versions": args.hot_versions, "lock": EVENT_LOG_LOCK})
            conn.execute("VACUUM ANALYZE events")
        result["fill_seconds"] = round(time.perf_counter() - started, 1)

        rng = random.Random(7)
        picks = [rng.randrange(args.objects) for _ in range(args.queries)]
        ours: list[float] = []
        bare: list[float] = []
        with engine.connect() as conn, psycopg.connect(url) as raw:
            for i in picks:
                object_id, account = f"prod_bench_{i}", f"acct_bench_{i % 20}"
                t = time.perf_counter()
                page = reads.list_events(conn, account, object_id=object_id, limit=10)
                ours.append((time.perf_counter() - t) * 1000)
                assert len(page.data) == min(10, args.events // args.objects), page
                t = time.perf_counter()
                raw.execute(
                    "SELECT data FROM events WHERE object_id = %s AND object_version = 1",
                    (object_id,),
                ).fetchall()
                bare.append((time.perf_counter() - t) * 1000)
        hot: dict[str, list[float]] = {"first": [], "middle": []}
        with engine.connect() as conn, psycopg.connect(url) as raw:
            row = raw.execute(
                "SELECT id FROM events WHERE object_id = 'iitem_bench_hot' AND object_version = %s",
                (args.hot_versions // 2,),
            ).fetchone()
            assert row is not None
            cursor = row[0]  # half way through its history
            for _ in range(200):
                for name, after in (("first", None), ("middle", cursor)):
                    t = time.perf_counter()
                    page = reads.list_events(
                        conn, "acct_bench_0", object_id="iitem_bench_hot", limit=10,
                        starting_after=after,
                    )  # fmt: skip
                    hot[name].append((time.perf_counter() - t) * 1000)
                    assert len(page.data) == 10, page
        result.update(
            {
                "list_events_p50_ms": round(pct(ours, 50), 3),
                "list_events_p95_ms": round(pct(ours, 95), 3),
                "bare_pk_select_p50_ms": round(pct(bare, 50), 3),
                "bare_pk_select_p95_ms": round(pct(bare, 95), 3),
                "hot_object_versions": args.hot_versions,
                "hot_first_page_p95_ms": round(pct(hot["first"], 95), 3),
                "hot_page_after_cursor_p95_ms": round(pct(hot["middle"], 95), 3),
                "target_p95_ms": 20,
            }
        )
        engine.dispose()
    finally:
        db.drop_database(server, url)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:<30}{v}")


if __name__ == "__main__":
    main()
