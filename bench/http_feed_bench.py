"""HTTP JSON feed benchmark: the time and peak memory of reading a paginated feed of Shopify
`products.json` pages (connectors/http_json), and of importing it.

    uv run python bench/http_feed_bench.py --products 100000 [--json]

A local server, in a process of its own, serves N products of two variants each, 250 to a page
(Shopify's largest), linked by `Link: <...>; rel="next"` headers. Phases, each in a child
process, so peak RSS is that phase's alone:
  fetch    `fetch_products_feed`: every page fetched, checked and mapped into one batch
  import   `import_feed` into an empty catalog: a first import, fetched, validated and kept
           on disk a piece at a time, then written a part at a time (with
           CATALOG_IMPORT_STREAM=0 set: fetched whole, then imported)
  reimport the same feed again into that catalog: fetched a piece at a time, its pieces then
           diffed as one batch whose products wait on disk; it must write nothing
  reconcile  the Dagster reconcile job (`source_snapshot`, `validated_rows`, `catalog_drift`,
           on an in-memory instance) on that catalog, as the nightly schedule runs it: its
           plan is a dry run of the re-import; it must find no drift
  heal     (--heal) the reconcile job with `heal: true`, after the server renamed one product
           in a hundred: it reads the feed twice (the drift, then the import that heals it)
           and must update exactly those products
With --repeat, the last page serves the first product again: its id repeats across pieces,
so each read fetches the feed twice (in pieces, the second remembering that id) and rejects it.
The server's own time and memory are not counted, but it shares the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_bench import _rss_mib, _run, scratch_catalog  # noqa: E402

PAGE = 250
WORDS = [
    "soft",
    "organic",
    "cotton",
    "durable",
    "classic",
    "modern",
    "tailored",
    "breathable",
    "premium",
    "blend",
]


def product(pid: int, renamed: bool = False) -> dict[str, Any]:
    """One product as the Admin REST API returns it, about 2 KB of JSON. `renamed`: one
    product in a hundred has another title."""
    words = " ".join(WORDS[(pid + i) % len(WORDS)] for i in range(40))
    return {
        "id": pid,
        "title": f"Product {pid}" + (" (renamed)" if renamed and pid % 100 == 0 else ""),
        "body_html": f"<p>{words}</p>",
        "handle": f"product-{pid}",
        "status": "active",
        "vendor": "Globex",
        "product_type": "Shirts",
        "tags": "summer, cotton",
        "created_at": "2026-01-02T03:04:05-05:00",
        "options": [{"name": "Size", "position": 1, "values": ["S", "M"]}],
        "images": [{"src": f"https://cdn.example.com/{pid}.jpg", "position": 1, "alt": None}],
        "variants": [
            {
                "id": pid * 10 + n,
                "product_id": pid,
                "title": size,
                "sku": f"SKU-{pid}-{size}",
                "price": f"{10 + pid % 90}.{n * 25:02d}",
                "inventory_quantity": pid % 50,
                "inventory_policy": "deny",
                "option1": size,
                "barcode": f"{pid:012d}",
                "requires_shipping": True,
                "weight": 0.25,
            }
            for n, size in enumerate(["S", "M"])
        ],
    }


def _serve(products: int, ready: Any, stop: Any, renamed: Any, repeat: bool = False) -> None:
    pages = (products + PAGE - 1) // PAGE

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            page = int(self.path.rpartition("=")[2]) if "page_info=" in self.path else 0
            first = page * PAGE
            ids = [*range(first + 1, min(first + PAGE, products) + 1)]
            if repeat and page + 1 == pages:
                ids.append(1)  # the first page's first product again, as a shifting shop gives
            drifted = renamed.is_set()
            body = json.dumps({"products": [product(i, drifted) for i in ids]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if page + 1 < pages:
                host, port = self.server.server_address[:2]
                url = f"http://{host}:{port}/products.json?page_info={page + 1}"
                self.send_header("Link", f'<{url}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.put(f"http://127.0.0.1:{server.server_address[1]}/products.json")
    stop.wait()
    server.shutdown()


def _phase_fetch(url: str, out: Any) -> None:
    from catalog_pipelines.connectors.http_json import fetch_products_feed

    t = time.perf_counter()
    batch = fetch_products_feed(url, max_pages=10**6)
    elapsed = time.perf_counter() - t
    out.put(
        {
            "seconds": elapsed,
            "rss_mib": _rss_mib(),
            "products": batch.products.height,
            "variants": batch.variants.height,
        }
    )


def _phase_import(db_url: str, url: str, out: Any) -> None:
    """`import_feed`, as the Dagster job imports a feed source: fetched a piece at a time
    (`CATALOG_IMPORT_STREAM=0`: whole)."""
    os.environ["DATABASE_URL"] = db_url
    from catalog_pipelines import db
    from catalog_pipelines.importer import ImportOptions, import_feed

    engine = db.make_engine(db_url)
    t = time.perf_counter()
    options = ImportOptions(source="feed", account_id="acct_feed")
    report = import_feed(engine, url, options, max_pages=10**6)
    out.put(
        {
            "seconds": time.perf_counter() - t,
            "rss_mib": _rss_mib(),
            "report": report.to_json(),
        }
    )


def _phase_reconcile(db_url: str, url: str, heal: bool, out: Any) -> None:
    import dagster as dg

    from catalog_pipelines import db
    from catalog_pipelines.store.sources import GROUPS, add_source
    from dagster_defs.assets import ALL_ASSETS
    from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
    from dagster_defs.resources import CatalogDatabase, InboxResource

    if not heal:  # the heal runs after the plan-only reconcile, which gave the source its URL
        with db.make_engine(db_url).begin() as conn:  # the source the import made
            add_source(
                conn,
                account_id="acct_feed",
                name="feed",
                kind="http_json",
                owns=frozenset(GROUPS),
                config={"url": url},
            )
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["feed"])
        resources = {
            "catalog_db": CatalogDatabase(database_url=db_url, account_id="acct_feed"),
            "inbox": InboxResource(base_dir=tempfile.mkdtemp(), settle_seconds=0),
        }
        t = time.perf_counter()
        result = dg.materialize(
            ALL_ASSETS,
            selection=["source_snapshot", "validated_rows", "catalog_drift"],
            partition_key="feed",
            instance=instance,
            resources=resources,
            run_config={"ops": {"catalog_drift": {"config": {"heal": heal}}}},
        )
        elapsed = time.perf_counter() - t
        recorded = {
            e.asset_key.to_user_string(): {
                k: v.value for k, v in e.materialization.metadata.items()
            }
            for e in result.get_asset_materialization_events()
        }
    drift = recorded["catalog_drift"]
    healed = recorded.get("catalog_products", {}).get("updated", 0)
    out.put(
        {
            "seconds": elapsed,
            "rss_mib": _rss_mib(),
            "drift_total": drift["drift_total"],
            "products_updated": healed,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-import", action="store_true", help="time the fetch only")
    parser.add_argument("--no-fetch", action="store_true", help="skip the whole fetch's phase")
    parser.add_argument(
        "--repeat", action="store_true", help="the last page repeats the first product"
    )
    parser.add_argument(
        "--heal", action="store_true", help="rename 1%% of the products, then heal the drift"
    )
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ready, stop, renamed = ctx.Queue(), ctx.Event(), ctx.Event()
    server = ctx.Process(
        target=_serve, args=(args.products, ready, stop, renamed, args.repeat), daemon=True
    )
    server.start()
    url = ready.get()
    try:
        phases: dict[str, dict[str, Any]] = {}
        if not args.no_fetch:
            phases["fetch"] = fetched = _run(_phase_fetch, url)
            expected = (args.products, 2 * args.products)
            assert (fetched["products"], fetched["variants"]) == expected
        if not args.no_import:
            with scratch_catalog("cs_feed_bench") as db_url:
                phases["import"] = _run(_phase_import, db_url, url)
                report = phases["import"]["report"]
                rejected = int(args.repeat)  # the repeated product
                assert report["rows_rejected"] == rejected, report
                # a product, two prices and two stock items created each, and an event for each
                assert report["events"] == 5 * args.products, report
                phases["reimport"] = _run(_phase_import, db_url, url)
                again = phases["reimport"]["report"]
                assert again["events"] == 0 and again["rows_rejected"] == rejected, again
                phases["reconcile"] = _run(_phase_reconcile, db_url, url, False)
                assert phases["reconcile"]["drift_total"] == 0, phases["reconcile"]
                if args.heal:
                    renamed.set()
                    phases["heal"] = _run(_phase_reconcile, db_url, url, True)
                    changed = args.products // 100
                    assert phases["heal"]["drift_total"] == changed, phases["heal"]
                    assert phases["heal"]["products_updated"] == changed, phases["heal"]
    finally:
        stop.set()
        server.join(5)
    if args.json:
        print(json.dumps(phases, indent=2, default=str))
        return
    print(f"HTTP JSON feed, {args.products:,} products of 2 variants, {PAGE} a page")
    for name, phase in phases.items():
        print(f"{name:9s} {phase['seconds']:8.1f} s  peak {phase['rss_mib']:6.0f} MiB")


if __name__ == "__main__":
    main()
