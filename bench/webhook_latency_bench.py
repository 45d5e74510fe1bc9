"""Commit-to-receipt latency of webhooks under a running `dagster dev` daemon (issue 4 §6).

    uv run python bench/webhook_latency_bench.py [--events 200] [--spread 180] [--json]

What it does, from the repository root:
1. creates a scratch database on DATABASE_URL's server (or the embedded one), migrates it,
   and adds an account (the database is dropped at the end);
2. starts a `LocalReceiver` in this process (it stamps each request's arrival with
   `time.time()`) and subscribes one endpoint (`*`) to it;
3. starts `dagster dev -w workspace.yaml` in its own session with DATABASE_URL pointing at the
   scratch database, its own temporary DAGSTER_HOME and inbox, a free port and
   CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS=1; waits for /server_info, then through GraphQL for
   `webhook_delivery_sensor` to be RUNNING with a tick recorded (if it is not RUNNING once the
   code location is loaded, the bench starts it with the `startSensor` mutation and says so);
4. commits one warm-up event and waits for it (not counted), then commits N
   `product.updated` events with `append_row`, one transaction each, in small bursts at
   jittered gaps spread over `--spread` seconds, stamping `time.time()` right after each
   commit;
5. waits until every event has arrived or `--grace` seconds after the last commit, matches
   receipts to commits by the event id in the body, and reports p50/p95/max latency, how many
   arrived, and the sensor's tick cadence read back from GraphQL.

Every process it starts is stopped with SIGTERM to its process group, then SIGKILL.
Commit and receipt are stamped by the same clock in the same process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog_pipelines import db  # noqa: E402
from catalog_pipelines.store.events import Cause, append_row, event_row  # noqa: E402
from catalog_pipelines.store.migrations import migrate  # noqa: E402
from catalog_pipelines.webhooks.endpoints import create_endpoint  # noqa: E402
from catalog_pipelines.webhooks.receiver import LocalReceiver  # noqa: E402

SENSOR = {
    "repositoryLocationName": "catalog_sync",
    "repositoryName": "__repository__",
    "sensorName": "webhook_delivery_sensor",
}
SENSOR_STATE_QUERY = """
query($s: SensorSelector!, $limit: Int, $after: Float) {
  sensorOrError(sensorSelector: $s) {
    __typename
    ... on Sensor {
      minIntervalSeconds
      sensorState {
        status
        ticks(limit: $limit, afterTimestamp: $after) {
          status timestamp endTimestamp skipReason error { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""
START_SENSOR_MUTATION = """
mutation($s: SensorSelector!) {
  startSensor(sensorSelector: $s) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


# -- helpers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data, headers)  # noqa: S310 - our own local server
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
        return json.loads(r.read())


def graphql(base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    out = http_json(f"{base}/graphql", {"query": query, "variables": variables})
    if out.get("errors"):
        raise RuntimeError(f"GraphQL errors: {out['errors']}")
    return out["data"]


def stop_process_group(proc: subprocess.Popen[bytes], term_timeout: float = 30.0) -> str:
    """SIGTERM to the whole group (webserver, daemon, code server), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return f"already exited ({proc.returncode})"
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "already gone"
    try:
        proc.wait(timeout=term_timeout)
        how = f"SIGTERM (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        how = "SIGKILL after SIGTERM timed out"
    # Children that outlived the leader (or ignored SIGTERM) get SIGKILL too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=10)
    return how


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "min": None, "mean": None}
    return {
        "min": round(min(values), 3),
        "p50": round(pct(values, 50), 3),
        "p95": round(pct(values, 95), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


# -- the scratch world --------------------------------------------------------------------
@dataclass
class Scratch:
    server: str
    url: str = ""
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="webhook_lat_")))

    def create_database(self) -> str:
        self.url = db.create_database(self.server, "cs_benchlat")
        return self.url

    def drop_database(self) -> None:
        if self.url:
            db.drop_database(self.server, self.url)


def start_dagster_dev(
    scratch: Scratch, account: str, port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    home = scratch.tmp / "dagster_home"
    home.mkdir()
    inbox = scratch.tmp / "inbox"
    inbox.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": scratch.url,
        "CATALOG_ACCOUNT": account,
        "CATALOG_INBOX": str(inbox),
        "CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS": "1",
    }
    log_path = scratch.tmp / "dagster_dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
            + ["-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, for SIGTERM/SIGKILL
        )
    return proc, log_path


def wait_for_server(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float) -> float:
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited early:\n{log.read_text()[-3000:]}")
        try:
            http_json(f"{base}/server_info")
            return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > timeout:
                raise
            time.sleep(0.5)


def sensor_state(base: str, *, limit: int = 1, after: float | None = None) -> dict[str, Any]:
    data = graphql(base, SENSOR_STATE_QUERY, {"s": SENSOR, "limit": limit, "after": after})
    return data["sensorOrError"]


def ensure_sensor_ticking(base: str, timeout: float) -> dict[str, Any]:
    """Wait for the code location, check the sensor is RUNNING (start it if not) and has
    ticked once. Returns what was found and done."""
    started = time.monotonic()
    info: dict[str, Any] = {"default_status_running": None, "started_by_bench": False}
    while True:
        got = sensor_state(base)
        if got["__typename"] == "Sensor":
            status = got["sensorState"]["status"]
            if info["default_status_running"] is None:
                info["default_status_running"] = status == "RUNNING"
                info["min_interval_seconds"] = got["minIntervalSeconds"]
            if status != "RUNNING":
                res = graphql(base, START_SENSOR_MUTATION, {"s": SENSOR})["startSensor"]
                if res["__typename"] != "Sensor":
                    raise RuntimeError(f"startSensor failed: {res}")
                info["started_by_bench"] = True
            elif got["sensorState"]["ticks"]:
                info["seconds_to_first_tick"] = round(time.monotonic() - started, 1)
                return info
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"webhook_delivery_sensor did not tick within {timeout:g}s: {got}")
        time.sleep(1)


# -- committing and receiving -------------------------------------------------------------
def make_schedule(n: int, max_burst: int, spread: float, rng: random.Random) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(rng.randint(1, max_burst), n - sum(sizes)))
    return sizes


class Committer:
    def __init__(self, engine: sa.Engine, account: str, objects: int) -> None:
        self.engine = engine
        self.account = account
        self.objects = objects
        self.versions: dict[str, int] = {}
        self.i = 0

    def commit_one(self) -> tuple[str, float]:
        object_id = f"prod_lat_{self.i % self.objects}"
        version = self.versions.get(object_id, 0) + 1
        self.versions[object_id] = version
        obj = {
            "id": object_id,
            "object": "product",
            "name": f"Latency bench product {self.i}",
            "active": True,
            "metadata": {"i": self.i},
            "version": version,
        }
        with self.engine.begin() as conn:
            _seq, event_id = append_row(
                conn,
                event_row(
                    account_id=self.account,
                    type="product.updated" if version > 1 else "product.created",
                    object_type="product",
                    object_id=object_id,
                    version=version,
                    obj=obj,
                    previous_attributes={"name": "before"} if version > 1 else None,
                    cause=Cause(source="bench-latency", request_id=f"req_bench_{self.i}"),
                ),
            )
        committed = time.time()  # right after COMMIT returned
        self.i += 1
        return event_id, committed


def arrivals(receiver: LocalReceiver) -> dict[str, list[float]]:
    with receiver._lock:  # noqa: SLF001 - a snapshot of what arrived so far
        got = list(receiver.received)
    out: dict[str, list[float]] = {}
    for r in got:
        try:
            event_id = json.loads(r.body)["id"]
        except (ValueError, KeyError, TypeError):
            continue
        out.setdefault(event_id, []).append(r.at)
    return out


def wait_for(receiver: LocalReceiver, ids: set[str], deadline: float) -> None:
    while time.time() < deadline:
        if ids <= arrivals(receiver).keys():
            return
        time.sleep(0.1)


# -- the run --------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(ROOT / ".catalog"))
    scratch = Scratch(db.admin_url())
    proc: subprocess.Popen[bytes] | None = None
    receiver: LocalReceiver | None = None
    engine: sa.Engine | None = None
    result: dict[str, Any] = {"events_requested": args.events}
    log_path: Path | None = None
    failed = False
    try:
        scratch.create_database()
        engine = db.make_engine(scratch.url)
        migrate(engine)
        account = f"acct_benchlat_{secrets.token_hex(4)}"
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO accounts (id) VALUES (:id)"), {"id": account})

        receiver = LocalReceiver().start()
        os.environ["CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS"] = "1"  # create_endpoint's SSRF check
        with engine.begin() as conn:
            endpoint = create_endpoint(
                conn, account_id=account, url=receiver.url, description="latency bench"
            )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        proc, log_path = start_dagster_dev(scratch, account, port)
        server_s = wait_for_server(proc, base, log_path, timeout=180)
        sensor_info = ensure_sensor_ticking(base, timeout=180)
        sensor_info["seconds_to_server_info"] = round(server_s, 1)
        sensor_info["seconds_to_ticking_total"] = round(time.monotonic() - t0, 1)
        result["sensor"] = sensor_info
        result["endpoint"] = endpoint.id

        committer = Committer(engine, account, args.objects)
        warm_id, warm_at = committer.commit_one()
        wait_for(receiver, {warm_id}, time.time() + 60)
        warm_got = arrivals(receiver).get(warm_id)
        if not warm_got:
            raise RuntimeError("the warm-up event was not delivered within 60 s")
        result["warmup_latency_s"] = round(min(warm_got) - warm_at, 3)

        rng = random.Random(args.seed)  # noqa: S311 - a schedule, not a secret
        sizes = make_schedule(args.events, args.burst, args.spread, rng)
        mean_gap = args.spread / len(sizes)
        commits: dict[str, float] = {}
        bench_start = time.time()
        for k, size in enumerate(sizes):
            for _ in range(size):
                event_id, at = committer.commit_one()
                commits[event_id] = at
            if k < len(sizes) - 1:
                time.sleep(rng.uniform(0.5, 1.5) * mean_gap)
        last_commit = max(commits.values())
        wait_for(receiver, set(commits), last_commit + args.grace)
        waited = time.time() - last_commit

        got = arrivals(receiver)
        latencies = {e: min(got[e]) - at for e, at in commits.items() if e in got}
        duplicates = sum(len(got[e]) - 1 for e in commits if e in got)
        missing = len(commits) - len(latencies)

        # The sensor's ticks over the measured window (start times and durations).
        state = sensor_state(base, limit=1000, after=bench_start - 30)
        ticks = sorted(state["sensorState"]["ticks"], key=lambda t: t["timestamp"])
        starts = [t["timestamp"] for t in ticks]
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        durations = [t["endTimestamp"] - t["timestamp"] for t in ticks if t["endTimestamp"]]
        # How long each event waited for the next tick to start (the cadence's share).
        to_next_tick: list[float] = []
        for at in commits.values():
            nxt = next((s for s in starts if s >= at), None)
            if nxt is not None:
                to_next_tick.append(nxt - at)

        result.update(
            {
                "events_committed": len(commits),
                "events_arrived": len(latencies),
                "events_missing": missing,
                "duplicate_receipts": duplicates,
                "bursts": len(sizes),
                "max_burst": args.burst,
                "commit_window_s": round(last_commit - bench_start, 1),
                "waited_after_last_commit_s": round(waited, 1),
                "latency_s": summary(list(latencies.values())),
                "target_p95_s": 10.0,
                "ticks": {
                    "count": len(ticks),
                    "statuses": {
                        s: sum(1 for t in ticks if t["status"] == s)
                        for s in sorted({t["status"] for t in ticks})
                    },
                    "gap_between_tick_starts_s": summary(gaps),
                    "tick_duration_s": summary(durations),
                    "gap_histogram": {
                        f"{lo}-{lo + 1}s": sum(1 for g in gaps if lo <= g < lo + 1)
                        for lo in range(int(min(gaps, default=0)), int(max(gaps, default=0)) + 1)
                        if any(lo <= g < lo + 1 for g in gaps)
                    },
                    "errors": [t["error"]["message"][:300] for t in ticks if t["error"]][:3],
                },
                "commit_to_next_tick_start_s": summary(to_next_tick),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
                },
            }
        )
        p95 = result["latency_s"]["p95"]
        result["target_met"] = bool(missing == 0 and p95 is not None and p95 <= 10.0)
        return result
    except BaseException:
        failed = True
        raise
    finally:
        if proc is not None:
            result["dagster_dev_stopped_by"] = stop_process_group(proc)
        if receiver is not None:
            receiver.stop()
        if engine is not None:
            engine.dispose()
        scratch.drop_database()
        if failed and log_path is not None and log_path.exists():
            print(f"dagster dev log tail:\n{log_path.read_text()[-4000:]}", file=sys.stderr)
        if args.keep_tmp:
            print(f"kept {scratch.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(scratch.tmp, ignore_errors=True)


def print_table(r: dict[str, Any]) -> None:
    lat, ticks = r["latency_s"], r["ticks"]
    rows = [
        ("events committed / arrived", f"{r['events_committed']} / {r['events_arrived']}"),
        ("missing, duplicate receipts", f"{r['events_missing']}, {r['duplicate_receipts']}"),
        (
            "commit window",
            f"{r['commit_window_s']} s in {r['bursts']} bursts of 1-{r['max_burst']}",
        ),
        ("latency p50 / p95 / max", f"{lat['p50']} / {lat['p95']} / {lat['max']} s"),
        ("latency min / mean", f"{lat['min']} / {lat['mean']} s"),
        ("target p95 <= 10 s", "met" if r["target_met"] else "NOT met"),
        ("warm-up event latency", f"{r['warmup_latency_s']} s"),
        ("sensor ticks in window", f"{ticks['count']} {ticks['statuses']}"),
        (
            "gap between tick starts p50 / p95 / max",
            "{p50} / {p95} / {max} s".format(**ticks["gap_between_tick_starts_s"]),
        ),
        ("gap histogram", str(ticks["gap_histogram"])),
        (
            "tick duration p50 / p95 / max",
            "{p50} / {p95} / {max} s".format(**ticks["tick_duration_s"]),
        ),
        (
            "commit -> next tick start p50 / p95 / max",
            "{p50} / {p95} / {max} s".format(**r["commit_to_next_tick_start_s"]),
        ),
        ("sensor", json.dumps(r["sensor"])),
        ("dagster dev stopped by", r.get("dagster_dev_stopped_by", "?")),
    ]
    print("| measure | value |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst", type=int, default=5, help="largest burst (1..N events)")
    parser.add_argument("--spread", type=float, default=180.0, help="commit window, seconds")
    parser.add_argument("--grace", type=float, default=60.0, help="wait after the last commit")
    parser.add_argument("--objects", type=int, default=20, help="distinct products")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep-tmp", action="store_true", help="keep DAGSTER_HOME and the log")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = run(args)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        print_table(r)


if __name__ == "__main__":
    main()
