"""`catalog-sync`: the command line of docs/cli.md.

Exit codes (cli_args.EXIT_*): 0 applied; 1 applied but some rows were rejected; 2 bad usage or
unreadable input (nothing written); 3 refused by a guard (mass archive, reject rate,
ownership); 4 the environment is not usable (database unreachable, port in use); 130
interrupted; 141 the reader of the output closed it early (`| head`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from catalog_pipelines.cli_args import (
    EXIT_BROKEN_PIPE,
    EXIT_CODES_HELP,
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_REJECTS,
    EXIT_USAGE,
    Parser,
    add_account,
    add_json,
    add_page_args,
    database_failure,
    database_unreachable,
    migrated_engine,
    print_error,
    print_json,
    share,
    timestamp,
)
from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.connectors.registry import FORMATS

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2, nothing written."""


# --------------------------------------------------------------------------- helpers


def _add_list_args(p: argparse.ArgumentParser) -> None:
    add_account(p)
    add_json(p)
    add_page_args(p)


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _print_page(
    args: argparse.Namespace,
    page: Any,
    url: str,
    headers: Sequence[str],
    row: Callable[[dict[str, Any]], list[Any]] | None = None,
) -> None:
    """A list page: with --json its Stripe envelope, else a table of one `row` per object (by
    default the object's fields named by `headers`) and how to get the next page."""
    if args.json:
        print_json(page.envelope(url))
        return
    _table([row(o) if row else [o[h] for h in headers] for o in page.data], headers)
    if page.has_more and page.data:
        print(f"... more: --starting-after {page.data[-1]['id']}")


# --------------------------------------------------------------------------- db


def cmd_db(args: argparse.Namespace) -> int:
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate_catalog

    if args.action == "start":
        if os.environ.get("DATABASE_URL"):
            print("DATABASE_URL is set: there is no embedded server to start", file=sys.stderr)
            return EXIT_USAGE
        db.start_embedded(keep_running=True)
        print(db.libpq_url())
    elif args.action == "stop":
        stopped = db.stop_embedded()
        print("stopped" if stopped else "the embedded server was not running", file=sys.stderr)
    elif args.action == "url":
        print(db.owner_url() if args.owner else db.libpq_url())
        if not os.environ.get("DATABASE_URL"):
            print(
                "(run `catalog-sync db start` to keep it running for other tools)", file=sys.stderr
            )
    elif args.action == "migrate":
        applied = migrate_catalog()
        names = [f"{m.version:04d}_{m.name}" for m in applied]
        print(f"applied {len(names)} migration(s)" + (": " + ", ".join(names) if names else ""))
    return EXIT_OK


# --------------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace) -> int:
    from catalog_pipelines.connectors.reading import InputError
    from catalog_pipelines.importer import ImportOptions, ImportRefused, import_path
    from catalog_pipelines.progress import for_terminal
    from catalog_pipelines.store.sources import SourceArchived

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    options = ImportOptions(
        source=args.source,
        account_id=args.account,
        mode=args.mode,
        dry_run=args.dry_run,
        allow_mass_archive=args.allow_mass_archive,
        max_archive_fraction=args.max_archive_fraction,
        max_reject_rate=args.max_reject_rate,
        trigger="cli",
    )
    progress = for_terminal(f"import {path.name}")
    try:
        report = import_path(
            migrated_engine(),
            path,
            options,
            format=args.format,
            mapping_path=Path(args.mapping) if args.mapping else None,
            encoding=args.encoding,
            progress=progress,
        )
    except InputError as e:
        raise UsageError(str(e)) from e
    except SourceArchived as e:
        print_error(e.message)
        return EXIT_REFUSED
    except ImportRefused as e:
        if args.json:
            print_json(e.report.to_json())
        print(f"refused: {e}", file=sys.stderr)
        if e.report.rows_rejected:  # a refused run keeps its rejects
            print(f"rejected rows: catalog-sync rejects export {e.report.run_id}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print_json(report.to_json())
    else:
        _print_import_summary(report)
    if report.refused:
        return EXIT_REFUSED
    return EXIT_REJECTS if report.rows_rejected else EXIT_OK


def _print_import_summary(report: Any) -> None:
    out = report.to_json()
    verb = "would change" if report.dry_run else "applied"
    print(f"{out['run_id']}  source={out['source']}  mode={out['mode']}  {verb}")
    print(
        f"rows: read {out['rows_read']}, valid {out['rows_valid']}, rejected {out['rows_rejected']}"
    )
    _table(
        [[kind, *out[kind].values()] for kind in ("products", "prices", "inventory_items")],
        ["", "created", "updated", "unchanged", "archived"],
    )
    print(f"events: {out['events']}   ignored (not owned): {out['ignored_not_owned']}")
    for w in out["warnings"]:
        print(f"warning: {w}")
    if report.dry_run:
        for c in report.changes[:50]:
            fields = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in c["fields"].items())
            print(f"  {c['action']:<8} {c['object_type']:<14} {c['key']}  {fields}"[:200])
    if report.rows_rejected:
        print(f"rejected rows: catalog-sync rejects export {out['run_id']}")
        for r in report.rejects[:5]:
            print(f"  row {r.row_number}: {'; '.join(r.reasons)}")


# --------------------------------------------------------------------------- reads


def cmd_products(args: argparse.Namespace) -> int:
    from catalog_pipelines.store import reads

    engine = migrated_engine()
    with engine.connect() as conn:
        if args.action == "list":
            page = reads.list_products(
                conn,
                args.account,
                limit=args.limit,
                starting_after=args.starting_after,
                source=args.source,
                external_id=args.external_id,
            )
            _print_page(
                args,
                page,
                "/v1/products",
                ["id", "external_id", "name", "active", "version", "source"],
            )
            return EXIT_OK
        if args.history:
            history = reads.product_history(conn, args.account, args.id)
            if not history:
                raise UsageError(f"no such product: {args.id}")
            if args.json:
                print_json(
                    {
                        "object": "list",
                        "data": history,
                        "has_more": False,
                        "url": f"/v1/products/{args.id}/versions",
                    }
                )
            else:
                for h in history:
                    changed = (
                        ", ".join(sorted((h["previous_attributes"] or {}).keys())) or "created"
                    )
                    when = datetime.fromtimestamp(h["created"]).isoformat()
                    print(
                        f"v{h['version']}  {when}  {h['event']}  source={h['source']} run={h['run_id']}  {changed}"
                    )
            return EXIT_OK
        if args.as_of:
            obj = reads.product_as_of(conn, args.account, args.id, args.as_of)
        else:
            obj = reads.get_product(conn, args.account, args.id)
    if obj is None:
        raise UsageError(
            f"no such product: {args.id}"
            + (f" as of {args.as_of.isoformat()}" if args.as_of else "")
        )
    print_json(obj) if args.json else _print_object(obj)
    return EXIT_OK


def _print_object(obj: dict[str, Any]) -> None:
    width = max(len(k) for k in obj)
    for k, v in obj.items():
        shown = json.dumps(v) if isinstance(v, dict | list) else v
        print(f"{k.ljust(width)}  {shown}")


def cmd_prices(args: argparse.Namespace) -> int:
    from catalog_pipelines.store import reads

    with migrated_engine().connect() as conn:
        page = reads.list_prices(
            conn,
            args.account,
            limit=args.limit,
            starting_after=args.starting_after,
            product=args.product,
        )
    _print_page(
        args,
        page,
        "/v1/prices",
        ["id", "product", "lookup_key", "currency", "unit_amount", "active"],
    )
    return EXIT_OK


def cmd_inventory(args: argparse.Namespace) -> int:
    from catalog_pipelines.store import reads

    with migrated_engine().connect() as conn:
        item = reads.get_inventory_item(conn, args.account, args.sku)
    if item is None:
        raise UsageError(f"no inventory item with SKU {args.sku!r}")
    print_json(item) if args.json else _print_object(item)
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from catalog_pipelines.store import reads

    with migrated_engine().connect() as conn:
        try:
            page = reads.list_events(
                conn,
                args.account,
                limit=args.limit,
                starting_after=args.starting_after,
                type=args.type,
                object_id=args.object,
            )
        except ValueError as e:
            raise UsageError(str(e)) from e
    _print_page(
        args,
        page,
        "/v1/events",
        ["seq", "id", "type", "object", "version", "source", "created"],
        lambda e: [
            e["sequence"],
            e["id"],
            e["type"],
            e["data"]["object"]["id"],
            e["object_version"],
            e["source"],
            datetime.fromtimestamp(e["created"]).isoformat(),
        ],
    )
    return EXIT_OK


def cmd_rejects(args: argparse.Namespace) -> int:
    """CSV of a run's rejected rows: row number, fields, reasons, then the raw columns.
    Cells that a spreadsheet would run as formulas get a leading `'` (rejects_csv.py)."""
    engine = migrated_engine()
    with engine.connect() as conn:
        run = conn.execute(
            sa.text("SELECT id FROM import_runs WHERE id = :r AND account_id = :a"),
            {"r": args.run_id, "a": args.account},
        ).first()
        if run is None:
            raise UsageError(f"no import run {args.run_id!r} in account {args.account}")
        rows = conn.execute(
            sa.text(
                "SELECT row_number, raw, reasons FROM rejected_rows WHERE run_id = :r ORDER BY row_number"
            ),
            {"r": args.run_id},
        ).all()
    from catalog_pipelines import rejects_csv

    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        rejects_csv.write(out, rows)
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"{len(rows)} rejected row(s) written to {args.output}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo runs the Dagster asset graph, which lives in dagster_defs: a separate process
    keeps this library free of Dagster imports."""
    argv = [sys.executable, "-m", "dagster_defs.demo", "--account", args.account]
    if args.dagster_home:
        argv += ["--dagster-home", args.dagster_home]
    return subprocess.call(argv)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="catalog-sync",
        description="Keep product catalogs in sync with a versioned PostgreSQL catalog.",
        epilog=EXIT_CODES_HELP,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "demo", help="run the main job on the embedded PostgreSQL and show what happened"
    )
    p.add_argument(
        "--dagster-home", help="Dagster instance folder (default $DAGSTER_HOME or ./.dagster_home)"
    )
    add_account(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("db", help="the catalog database")
    p.add_argument(
        "action",
        choices=["migrate", "url", "start", "stop"],
        help="migrate: apply pending migrations; url: print the database URL; start/stop: keep"
        " the embedded server running for other tools, or stop it",
    )
    p.add_argument(
        "--owner",
        action="store_true",
        help="url: print the schema owner's URL (migrations), not the app's",
    )
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("import", help="import a file into the catalog")
    p.add_argument("path", help="the export file (CSV or JSON Lines)")
    p.add_argument("--source", required=True, help="source name, e.g. shopify-main")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", *FORMATS],
        help="auto: the mapping's format, else sniffed from the file's name and header;"
        " shopify, woocommerce, magento: their product exports (built-in mappings); csv, jsonl:"
        " any other file, read through --mapping",
    )
    p.add_argument(
        "--mapping",
        help="YAML field mapping; default: the source's saved mapping (sources set-mapping)",
    )
    p.add_argument(
        "--mode",
        default="full",
        choices=["full", "incremental"],
        help="full: the file is the source's whole catalog, so its products missing from the"
        " file are archived; incremental: only create and update what the file holds",
    )
    p.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    p.add_argument("--encoding", help="input encoding when not UTF-8, e.g. cp1252 (default: UTF-8)")
    p.add_argument(
        "--allow-mass-archive",
        action="store_true",
        help="let a full import archive more than --max-archive-fraction",
    )
    p.add_argument(
        "--max-archive-fraction",
        type=float,
        default=0.2,
        help="a full import refuses to archive more than this share of the source's products",
    )
    p.add_argument(
        "--max-reject-rate",
        type=share,
        metavar="SHARE",
        help="refuse the import, writing nothing, when more than this share of its rows is"
        " rejected, e.g. 0.05 (default: no limit; rejected rows never stop the others)",
    )
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    add_account(p)
    p.set_defaults(func=cmd_import)

    from catalog_pipelines.mapping_cli import add_commands as add_mapping_commands
    from catalog_pipelines.sources_cli import add_commands as add_source_commands

    add_source_commands(sub)
    add_mapping_commands(sub)

    products = sub.add_parser("products", help="read products").add_subparsers(
        dest="action", required=True
    )
    p = products.add_parser("list", help="list products, newest first")
    p.add_argument("--source", help="only products of this source")
    p.add_argument("--external-id", help="only the product with this id in its source")
    _add_list_args(p)
    p.set_defaults(func=cmd_products)
    p = products.add_parser("show", help="one product (its current or a past version)")
    p.add_argument("id", help="product id (prod_...)")
    p.add_argument("--history", action="store_true", help="every version, oldest first")
    p.add_argument(
        "--as-of", type=timestamp, help="the product as it was at this time (ISO 8601 or unix)"
    )
    add_json(p)
    add_account(p)
    p.set_defaults(func=cmd_products)

    prices = sub.add_parser("prices", help="read prices").add_subparsers(
        dest="action", required=True
    )
    p = prices.add_parser("list", help="list prices, newest first")
    p.add_argument("--product", help="only this product's prices (prod_...)")
    _add_list_args(p)
    p.set_defaults(func=cmd_prices)

    inventory = sub.add_parser("inventory", help="read stock").add_subparsers(
        dest="action", required=True
    )
    p = inventory.add_parser("show", help="stock of one SKU")
    p.add_argument("sku", help="the item's SKU (any characters), or its inv_ id")
    add_json(p)
    add_account(p)
    p.set_defaults(func=cmd_inventory)

    events = sub.add_parser("events", help="read the event log").add_subparsers(
        dest="action", required=True
    )
    p = events.add_parser("list", help="list events, newest first")
    p.add_argument("--type", help="e.g. product.updated or product.*")
    p.add_argument("--object", help="object id")
    _add_list_args(p)
    p.set_defaults(func=cmd_events)

    rejects = sub.add_parser("rejects", help="rejected rows").add_subparsers(
        dest="action", required=True
    )
    p = rejects.add_parser("export", help="CSV of a run's rejected rows with their reasons")
    p.add_argument("run_id", help="the import run (run_...), printed by `import`")
    p.add_argument("--output", "-o", help="file to write (default stdout)")
    add_account(p)
    p.set_defaults(func=cmd_rejects)

    from catalog_pipelines.api.cli import add_commands as add_api_commands
    from catalog_pipelines.imports_cli import add_commands as add_imports_commands
    from catalog_pipelines.webhooks.cli import add_commands as add_webhook_commands

    add_webhook_commands(sub)
    add_api_commands(sub)
    add_imports_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, InputError) as e:
        # InputError: unreadable input or a bad mapping, always named with its file.
        print_error(str(e))
        return EXIT_USAGE
    except (sa.exc.DBAPIError, psycopg.Error) as e:
        # Unreachable, refusing or failing database: one line and its own exit code.
        run_id = getattr(e, "import_run_id", None)
        suffix = f" (import run {run_id} recorded as failed)" if run_id else ""
        print_error((database_unreachable(e) or database_failure(e)) + suffix)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `| head` closed the pipe: stop quietly, and keep Python's exit-time flush of stdout
        # from raising it again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
