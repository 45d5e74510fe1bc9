"""What every `catalog-sync` command line shares: exit codes, common arguments and their
parsing, the migrated engine, and how results and errors are printed.

Used by catalog_pipelines/cli.py, catalog_pipelines/webhooks/cli.py and
catalog_pipelines/api/cli.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.times import parse_time

# docs/cli.md: 0 done; 1 done but some rows were rejected; 2 bad usage or unreadable input
# (nothing written); 3 refused by a guard (mass archive, ownership, SSRF); 4 the environment
# failed: the database is unreachable or failed the command (nothing written).
EXIT_OK, EXIT_REJECTS, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_ENVIRONMENT = 4
DEFAULT_ACCOUNT = "acct_default"


def migrated_engine() -> sa.Engine:
    """The catalog's engine, migrated: no manual step before first use."""
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate

    engine = db.shared_engine()
    migrate(engine)
    return engine


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


def database_failure(error: BaseException) -> str:
    """One line for a database error: what failed, where (the URL without its password) and
    the driver's first line. Never a traceback: this is the operator's problem to fix."""
    from urllib.parse import urlsplit

    from catalog_pipelines import db

    orig = getattr(error, "orig", None)
    err = orig if isinstance(orig, BaseException) else error
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    try:
        parts = urlsplit(db.libpq_url() if os.environ.get("DATABASE_URL") else "")
        where = (
            f" at {parts.hostname or 'local socket'}:{parts.port or 5432}/{parts.path.lstrip('/')}"
        )
    except ValueError:
        where = ""
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return f"the database{where} is unreachable or failing: {first}"
    return f"the database{where} failed the command: {first}"
