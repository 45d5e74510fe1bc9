"""`python -m dagster_defs.demo` (and `catalog-sync demo`): the main job, end to end, locally.

1. starts (or attaches to) the embedded PostgreSQL, or uses DATABASE_URL, and migrates it;
2. registers the two bundled sample exports as sources `shopify-demo` and `woocommerce-demo`;
3. materializes the asset graph in-process, one run per source partition, on a persistent
   Dagster instance (DAGSTER_HOME, default ./.dagster_home) so the runs show up in the UI;
4. delivers the resulting webhooks to a local receiver, as the delivery sensor would;
5. prints a summary and how to open the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.store.migrations import migrate_catalog
from catalog_pipelines.store.sources import GROUPS, add_source
from dagster_defs.assets import IMPORT_ASSETS
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import DEFAULT_ACCOUNT, CatalogDatabase, InboxResource

SAMPLES = Path(__file__).resolve().parents[1] / "catalog_pipelines" / "samples"
DEMO_SOURCES: dict[str, tuple[str, Path]] = {
    "shopify-demo": ("shopify", SAMPLES / "shopify_product_template.csv"),
    "woocommerce-demo": ("woocommerce", SAMPLES / "woocommerce_sample_products.csv"),
}
# The plan's kinds (validated_rows' `planned_changes`) and how the summary names them.
KINDS = {"products": "products", "prices": "prices", "inventory_items": "inventory"}


def demo_instance(home: Path) -> dg.DagsterInstance:
    """A persistent instance, so `DAGSTER_HOME=<home> uv run dagster dev` shows the demo runs."""
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


def register_sources(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        for name, (kind, path) in DEMO_SOURCES.items():
            add_source(
                conn,
                account_id=account,
                name=name,
                kind=kind,
                owns=frozenset(GROUPS),
                config={"path": str(path)},
            )


def run_source(
    instance: dg.DagsterInstance, resources: dict[str, Any], source: str
) -> dict[str, dict[str, Any]]:
    """Materialize one source partition; return each asset's recorded metadata."""
    result = dg.materialize(
        IMPORT_ASSETS,
        partition_key=source,
        instance=instance,
        resources=resources,
        tags={"catalog-sync/trigger": "demo"},
        # The run's full event log is in the UI; the terminal shows only the summary.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    return {
        e.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


@contextmanager
def local_subscriber(engine: sa.Engine, account: str) -> Iterator[Any]:
    """A local receiver subscribed to every event type for the demo's duration. The endpoint
    is created before the imports (an endpoint receives the events after its creation) and
    disabled afterwards, because the receiver stops with the demo."""
    os.environ.setdefault("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")  # loopback receiver
    from catalog_pipelines.webhooks.endpoints import create_endpoint, update_endpoint
    from catalog_pipelines.webhooks.receiver import LocalReceiver

    with LocalReceiver() as receiver:
        with engine.begin() as conn:
            endpoint = create_endpoint(
                conn, account_id=account, url=receiver.url, description="catalog-sync demo"
            )
        try:
            yield receiver
        finally:
            with engine.begin() as conn:
                update_endpoint(conn, account_id=account, endpoint_id=endpoint.id, disabled=True)


def deliver_webhooks(engine: sa.Engine) -> int:
    """What webhook_delivery_sensor does on its ticks: fan out and deliver, in bounded passes."""
    from catalog_pipelines.webhooks.delivery import deliver_due

    delivered = 0
    for _ in range(20):
        stats = deliver_due(engine, max_seconds=10.0)
        delivered += stats.delivered
        if stats.claimed == 0 and stats.fanned_out_events == 0:
            break
    return delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalog-sync demo", description=__doc__.splitlines()[0])
    parser.add_argument("--account", default=DEFAULT_ACCOUNT)
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=Path(os.environ.get("DAGSTER_HOME", ".dagster_home")),
        help="Dagster instance directory (default: $DAGSTER_HOME or ./.dagster_home)",
    )
    args = parser.parse_args(argv)

    url = db.libpq_url()
    applied = migrate_catalog()
    engine = db.shared_engine(url)
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else f"embedded ({db.catalog_home()})"
    print(f"database: {where}; migrations applied now: {len(applied)}")

    register_sources(engine, args.account)
    home = args.dagster_home.resolve()
    resources = {
        "catalog_db": CatalogDatabase(database_url=url, account_id=args.account),
        "inbox": InboxResource(base_dir=os.environ.get("CATALOG_INBOX", "inbox")),
    }
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    with local_subscriber(engine, args.account) as receiver, demo_instance(home) as instance:
        known = set(instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME))
        missing = [s for s in DEMO_SOURCES if s not in known]
        if missing:
            instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, missing)
        for source in DEMO_SOURCES:
            summaries[source] = run_source(instance, resources, source)
        delivered = deliver_webhooks(engine)
        received = len(receiver.received)

    print()
    print(
        f"{'source':<18}{'asset':<20}{'created':>8}{'updated':>8}{'unchanged':>10}{'archived':>9}"
    )
    for source, assets in summaries.items():
        # The plan's counts: those the catalog assets record, which a run that changes
        # nothing does not materialize.
        snap = assets["validated_rows"]
        for key, kind in KINDS.items():
            md = snap["planned_changes"][key]
            print(
                f"{source:<18}{kind:<20}{md['created']:>8}{md['updated']:>8}"
                f"{md['unchanged']:>10}{md['archived']:>9}"
            )
        events = assets.get("webhook_deliveries", {}).get("events", 0)
        print(
            f"{'':<18}rows read {snap['rows_read']}, valid {snap['rows_valid']},"
            f" rejected {snap['rows_rejected']}; events {events}"
        )
    print()
    print(f"webhooks: {delivered} delivered to a local receiver, {received} requests received")
    print()
    print("Open the UI on the same Dagster instance and catalog:")
    print(f"  DAGSTER_HOME={home} uv run dagster dev")
    print("then http://127.0.0.1:3000 -> Assets -> catalog_import: the lineage, each partition's")
    print("counts, change preview and checks. Drop a file into inbox/<source>/ to import it.")
    print("Re-run the demo: every row comes back `unchanged`, with no events and no webhooks.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
