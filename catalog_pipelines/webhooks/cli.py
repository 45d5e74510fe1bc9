"""`catalog-sync webhooks ...`: add, list, enable/disable/delete, deliver, replay, deliveries.

`add_commands` is called by the main CLI (catalog_pipelines/cli.py); `python -m
catalog_pipelines.webhooks` runs these commands on their own. Every handler returns the exit
code of docs/cli.md: 0 done, 2 bad usage, 3 refused by a guard (SSRF), 4 database unreachable. With `--json`, stdout
holds Stripe-shaped objects only (a list envelope for lists).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

import sqlalchemy as sa

from catalog_pipelines.cli_args import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    add_account,
    add_json,
    add_page_args,
    migrated_engine,
    print_error,
    print_json,
    timestamp,
)
from catalog_pipelines.webhooks.delivery_log import DELIVERY_COLUMNS, delivery_json
from catalog_pipelines.webhooks.endpoints import (
    EndpointError,
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    update_endpoint,
)
from catalog_pipelines.webhooks.ssrf import UnsafeURLError


def _events(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# ------------------------------------------------------------------------------ handlers


def cmd_add(args: argparse.Namespace) -> int:
    try:
        with migrated_engine().begin() as conn:
            endpoint = create_endpoint(
                conn,
                account_id=args.account,
                url=args.url,
                enabled_events=args.events,
                skip_sources=args.skip_source or [],
                description=args.description,
            )
    except UnsafeURLError as exc:
        print_error(str(exc))
        return EXIT_REFUSED
    except (EndpointError, sa.exc.IntegrityError) as exc:
        print_error(str(exc).splitlines()[0])
        return EXIT_USAGE
    if args.json:
        print_json(endpoint.to_json(include_secret=True))
    else:
        print(f"{endpoint.id}  {endpoint.url}  events={','.join(endpoint.enabled_events)}")
        print(f"secret: {endpoint.secret}  (shown once; keep it to verify signatures)")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with migrated_engine().connect() as conn:
        page, has_more = list_endpoints(
            conn, account_id=args.account, limit=args.limit, starting_after=args.starting_after
        )
    if args.json:
        print_json(
            {
                "object": "list",
                "url": "/v1/webhook_endpoints",
                "has_more": has_more,
                "data": [e.to_json() for e in page],
            }
        )
    else:
        for e in page:
            reason = f"  ({e.disabled_reason})" if e.disabled_reason else ""
            print(f"{e.id}  {e.status:8}  {e.url}  events={','.join(e.enabled_events)}{reason}")
    return EXIT_OK


def cmd_set_status(args: argparse.Namespace) -> int:
    try:
        with migrated_engine().begin() as conn:
            endpoint = update_endpoint(
                conn,
                account_id=args.account,
                endpoint_id=args.endpoint_id,
                disabled=args.webhooks_command == "disable",
            )
    except EndpointError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    if args.json:
        print_json(endpoint.to_json())
    else:
        print(f"{endpoint.id}  {endpoint.status}")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with migrated_engine().begin() as conn:
        existed = delete_endpoint(conn, account_id=args.account, endpoint_id=args.endpoint_id)
    if not existed:
        print_error(f"no such webhook endpoint: {args.endpoint_id}")
        return EXIT_USAGE
    if args.json:
        print_json({"id": args.endpoint_id, "object": "webhook_endpoint", "deleted": True})
    else:
        print(f"deleted {args.endpoint_id}")
    return EXIT_OK


def cmd_deliver(args: argparse.Namespace) -> int:
    """`--once`: one bounded pass over what is due. Otherwise loop until SIGINT/SIGTERM."""
    from catalog_pipelines.webhooks.delivery import DeliveryConfig, DeliveryWorker

    try:
        config = DeliveryConfig.from_env()
    except ValueError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    worker = DeliveryWorker(migrated_engine(), config)
    stop = threading.Event()
    if not args.once and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        stats = worker.deliver_due(max_seconds=args.max_seconds, stop=stop)
        if args.json:
            sys.stdout.write(json.dumps(stats.to_json()) + "\n")
            sys.stdout.flush()
        elif args.once or stats.claimed:
            print(
                f"delivered {stats.delivered}, failed attempts {stats.failed_attempts},"
                f" gave up {stats.gave_up}, endpoints disabled {stats.endpoints_disabled}"
                f" ({stats.seconds:.1f}s)",
                flush=True,
            )
        if args.once or stop.is_set():
            return EXIT_OK
        if not stats.claimed:
            stop.wait(args.poll_interval)
        if stop.is_set():
            return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from catalog_pipelines.webhooks.replay import replay

    try:
        with migrated_engine().begin() as conn:
            result = replay(
                conn,
                account_id=args.account,
                endpoint_id=args.endpoint,
                from_sequence=args.from_sequence,
                to_sequence=args.to_sequence,
                since=args.since,
                until=args.until,
            )
    except EndpointError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    if args.json:
        print_json(result.to_json())
    else:
        print(f"{result.id}: {result.deliveries} deliveries queued for {result.endpoint_id}")
    return EXIT_OK


_DELIVERIES = sa.text(
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d"  # noqa: S608 - constant column list
    " WHERE d.account_id = :account"
    "  AND (CAST(:endpoint AS text) IS NULL OR d.endpoint_id = :endpoint)"
    "  AND (CAST(:status AS text) IS NULL OR d.status = :status)"
    "  AND (CAST(:after AS text) IS NULL OR (d.created, d.id) < ("
    "    SELECT created, id FROM webhook_deliveries WHERE id = :after))"
    " ORDER BY d.created DESC, d.id DESC LIMIT :limit"
)


def cmd_deliveries(args: argparse.Namespace) -> int:
    """Make failures visible: each delivery with its attempt count and last error."""
    with migrated_engine().connect() as conn:
        rows = conn.execute(
            _DELIVERIES,
            {
                "account": args.account,
                "endpoint": args.endpoint,
                "status": args.status,
                "after": args.starting_after,
                "limit": args.limit + 1,
            },
        ).all()
    page = [delivery_json(r) for r in rows[: args.limit]]
    if args.json:
        print_json(
            {
                "object": "list",
                "url": "/v1/webhook_deliveries",
                "has_more": len(rows) > args.limit,
                "data": page,
            }
        )
    else:
        for d in page:
            error = f"  last: {d['last_status_code'] or ''} {d['last_error'] or ''}".rstrip()
            print(
                f"{d['id']}  {d['status']:9}  attempts={d['attempts']}  {d['event_type']}"
                f"  seq={d['sequence']}  {d['endpoint']}{error if d['status'] != 'delivered' else ''}"
            )
    return EXIT_OK


# ------------------------------------------------------------------------------- parser


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `webhooks ...` on the main parser's subcommands."""
    parser = subparsers.add_parser("webhooks", help="outgoing webhooks: endpoints and delivery")
    sub = parser.add_subparsers(dest="webhooks_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        add_account(p)
        add_json(p)

    p = sub.add_parser("add", help="add an endpoint (prints its secret once)")
    p.add_argument("url", help="where to POST events (https://...)")
    p.add_argument(
        "--events",
        type=_events,
        default="*",
        help="comma-separated event types to send: * (all), product.*, price.created, ...",
    )
    p.add_argument(
        "--skip-source",
        action="append",
        metavar="SOURCE",
        help="echo suppression: never send events caused by this source (repeatable)",
    )
    p.add_argument("--description", help="a note for humans")
    common(p)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="list endpoints")
    common(p)
    add_page_args(p, id_of="endpoint")
    p.set_defaults(func=cmd_list)

    for name, help_text in (("enable", "re-enable an endpoint"), ("disable", "pause an endpoint")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("endpoint_id", help="webhook endpoint id (we_...)")
        common(p)
        p.set_defaults(func=cmd_set_status)

    p = sub.add_parser("delete", help="delete an endpoint and its deliveries")
    p.add_argument("endpoint_id", help="webhook endpoint id (we_...)")
    common(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("deliver", help="send due deliveries (loops; --once for one pass)")
    p.add_argument("--once", action="store_true", help="one pass over what is due, then exit")
    p.add_argument(
        "--max-seconds", type=float, default=25.0, help="time bound of one pass, seconds"
    )
    p.add_argument(
        "--poll-interval", type=float, default=1.0, help="idle wait between passes, seconds"
    )
    p.add_argument("--json", action="store_true", help="one JSON stats object per pass")
    p.set_defaults(func=cmd_deliver)

    p = sub.add_parser("replay", help="send a range of the log to an endpoint again")
    p.add_argument("--endpoint", required=True, help="webhook endpoint id (we_...)")
    p.add_argument("--from-sequence", type=int, help="first event sequence (inclusive)")
    p.add_argument("--to-sequence", type=int, help="last event sequence (inclusive)")
    p.add_argument("--since", type=timestamp, help="ISO 8601 (inclusive)")
    p.add_argument("--until", type=timestamp, help="ISO 8601 (exclusive)")
    common(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("deliveries", help="list deliveries with attempts and last error")
    p.add_argument("--endpoint", help="only this endpoint's deliveries (we_...)")
    p.add_argument(
        "--status",
        choices=["pending", "delivered", "failed"],
        help="pending: to be (re)tried; delivered: got a 2xx; failed: gave up after retries",
    )
    add_page_args(p, id_of="delivery")
    common(p)
    p.set_defaults(func=cmd_deliveries)


def main(argv: list[str] | None = None) -> int:
    """`catalog-sync webhooks ...`, with the main CLI's error handling and exit codes."""
    from catalog_pipelines.cli import main as catalog_sync

    return catalog_sync(["webhooks", *(sys.argv[1:] if argv is None else argv)])
