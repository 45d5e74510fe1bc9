"""`catalog-sync imports revert RUN_ID [--dry-run]`, registered by the main CLI."""

from __future__ import annotations

import argparse
from typing import Any

from catalog_pipelines.cli_args import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    add_account,
    migrated_engine,
    print_error,
    print_json,
)


def cmd_revert(args: argparse.Namespace) -> int:
    """Undo an import run (docs/imports-api.md); with --dry-run, only show what it would do."""
    from catalog_pipelines.store.errors import NotFound, StoreError
    from catalog_pipelines.store.revert import revert_run

    try:
        result = revert_run(migrated_engine(), args.account, args.run_id, dry_run=args.dry_run)
    except NotFound:
        print_error(f"no import run {args.run_id!r} in account {args.account}")
        return EXIT_USAGE
    except StoreError as e:
        print_error(e.message)
        return EXIT_REFUSED
    out = result.to_json()
    if args.json:
        print_json(out)
        return EXIT_OK
    counts = out["counts"]
    if args.dry_run:
        print(f"revert of {args.run_id} (dry run, nothing written) would:")
    else:
        print(f"reverted {args.run_id} as run {out['revert_run']}:")
    print(
        f"  restore {counts['restored']}, archive {counts['archived']},"
        f" leave {counts['skipped']} alone"
    )
    for action, verb in (("restored", "restore"), ("archived", "archive")):
        for item in out[action][:50]:
            fields = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in item["fields"].items())
            print(f"  {verb:<8} {item['object_type']:<14} {item['id']}  {fields}"[:200])
    for item in out["skipped"][:50]:
        print(f"  skip     {item['object_type']:<14} {item['id']}  {item['reason']}"[:200])
    return EXIT_OK


def add_commands(sub: Any) -> None:
    imports = sub.add_parser("imports", help="import runs").add_subparsers(
        dest="imports_command", required=True
    )
    p = imports.add_parser(
        "revert", help="undo an import run: restore what it changed, archive what it created"
    )
    p.add_argument("run_id", help="the import run to undo (run_...)")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p.add_argument("--json", action="store_true", help="print the revert as one JSON object")
    add_account(p)
    p.set_defaults(func=cmd_revert)
