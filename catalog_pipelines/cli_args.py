"""What every `catalog-sync` command line shares: exit codes, common arguments and their
parsing, the migrated engine, and how results and errors are printed.

Used by catalog_pipelines/cli.py, catalog_pipelines/webhooks/cli.py and
catalog_pipelines/api/cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.times import parse_time

# docs/cli.md: 0 done; 1 done but some rows were rejected; 2 bad usage or unreadable input
# (nothing written); 3 refused by a guard (mass archive, ownership, SSRF).
EXIT_OK, EXIT_REJECTS, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
DEFAULT_ACCOUNT = "acct_default"


def migrated_engine() -> sa.Engine:
    """The app's engine on a migrated catalog: no manual step before first use (migrations run
    as the owner, docs/production-roles.md)."""
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate_catalog

    migrate_catalog()
    return db.shared_engine()


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def print_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def limit(value: str) -> int:
    """`--limit`: a page size from 1 to 100."""
    n = int(value)
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError("--limit must be between 1 and 100")
    return n


# argparse names a type in its "invalid <name> value" message: keep the name users have seen.
limit.__name__ = "_limit"


def timestamp(value: str) -> datetime:
    """ISO 8601 or unix seconds; naive times are UTC."""
    try:
        return parse_time(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_account(
    p: argparse.ArgumentParser, help_text: str = "account id (default acct_default)"
) -> None:
    p.add_argument("--account", default=DEFAULT_ACCOUNT, help=help_text)


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print Stripe-shaped JSON only")


def add_page_args(p: argparse.ArgumentParser, *, id_of: str = "object") -> None:
    """`--limit` and `--starting-after` of a list command; `id_of` names what is paged."""
    p.add_argument("--limit", type=limit, default=10, help="1-100 (default 10)")
    p.add_argument("--starting-after", help=f"{id_of} id to page after")
