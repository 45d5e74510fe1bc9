"""API benchmark: GET /v1/products/{id} latency against a bare psycopg SELECT of the same row,
and inventory `adjust` throughput with 16 concurrent clients (BENCHMARKS.md).

Runs a real uvicorn server (a subprocess, so client and server do not share a GIL) on a
fresh database of the same PostgreSQL server (DATABASE_URL, or the embedded one).

    uv run python bench/api_bench.py [--requests 2000] [--adjusts 4000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog_pipelines import db  # noqa: E402
from catalog_pipelines.api.auth import create_api_key  # noqa: E402
from catalog_pipelines.store import inventory, objects  # noqa: E402
from catalog_pipelines.store.events import Cause  # noqa: E402
from catalog_pipelines.store.migrations import migrate  # noqa: E402

ACCOUNT = "acct_bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`catalog-sync serve`, as users run it."""
    env = {**os.environ, "DATABASE_URL": url}
    code = "import sys; from catalog_pipelines.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def bench(n_requests: int, n_adjusts: int, n_products: int, workers: int) -> dict[str, object]:
    server_url = db.admin_url()
    url = db.create_database(server_url, "cs_bench")
    engine = db.make_engine(url)
    proc = None
    try:
        migrate(engine)
        cause = Cause(request_id="bench")
        with engine.begin() as conn:
            key = create_api_key(conn, ACCOUNT)
            ids = [
                objects.create_product(
                    conn, ACCOUNT, {"name": f"P{i}", "metadata": {"i": str(i)}}, cause
                )["id"]
                for i in range(n_products)
            ]
            inventory.create_inventory_item(
                conn, ACCOUNT, sku="BENCH", product_id=ids[0], quantity=n_adjusts, cause=cause
            )
        port = _free_port()
        proc = _start_server(url, port, workers)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key['secret']}"}
        target = ids[len(ids) // 2]

        # --- baseline: the same row, as JSON, with a bare psycopg SELECT on one connection
        with psycopg.connect(url) as conn:
            sql = "SELECT product_object(p) FROM products p WHERE p.account_id = %s AND p.id = %s"
            for _ in range(200):
                conn.execute(sql, (ACCOUNT, target)).fetchone()
            bare = []
            for _ in range(n_requests):
                t = time.perf_counter()
                conn.execute(sql, (ACCOUNT, target)).fetchone()
                bare.append((time.perf_counter() - t) * 1000)

        # --- GET /v1/products/{id}, one keep-alive client, sequential
        session = requests.Session()
        for _ in range(200):
            session.get(f"{base}/v1/products/{target}", headers=headers, timeout=10)
        api = []
        for _ in range(n_requests):
            t = time.perf_counter()
            r = session.get(f"{base}/v1/products/{target}", headers=headers, timeout=10)
            api.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        # --- adjust throughput: 16 clients, each its own keep-alive session
        counts = {"ok": 0, "refused": 0, "other": 0}
        lock = threading.Lock()
        per_client = n_adjusts // 16
        barrier = threading.Barrier(17)

        def client() -> None:
            s = requests.Session()
            barrier.wait()
            for _ in range(per_client):
                r = s.post(
                    f"{base}/v1/inventory_items/BENCH/adjust",
                    data={"delta": "-1", "reason": "bench"},
                    headers=headers,
                    timeout=30,
                )
                kind = {200: "ok", 409: "refused"}.get(r.status_code, "other")
                with lock:
                    counts[kind] += 1

        threads = [threading.Thread(target=client) for _ in range(16)]
        for th in threads:
            th.start()
        barrier.wait()
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            left = conn.execute(
                "SELECT quantity FROM inventory_items WHERE account_id = %s AND sku = 'BENCH'",
                (ACCOUNT,),
            ).fetchone()[0]
        total = per_client * 16
        return {
            "server_workers": workers,
            "products": n_products,
            "get_requests": n_requests,
            "get_p50_ms": round(statistics.median(api), 3),
            "get_p95_ms": round(_pct(api, 95), 3),
            "bare_select_p50_ms": round(statistics.median(bare), 3),
            "bare_select_p95_ms": round(_pct(bare, 95), 3),
            "get_vs_bare_p50": round(statistics.median(api) / statistics.median(bare), 1),
            "get_vs_bare_p95": round(_pct(api, 95) / _pct(bare, 95), 1),
            "adjust_requests": total,
            "adjust_ok": counts["ok"],
            "adjust_refused": counts["refused"],
            "adjust_other": counts["other"],
            "adjust_per_second": round(total / elapsed, 1),
            "stock_start": n_adjusts,
            "stock_end": left,
            "oversold": max(0, counts["ok"] - n_adjusts),
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
        db.drop_database(server_url, url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--adjusts", type=int, default=4000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = bench(args.requests, args.adjusts, args.products, args.workers)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
