"""What every `catalog-sync` command line shares: exit codes, common arguments and their
parsing, the migrated engine, and how results and errors are printed.

Used by catalog_pipelines/cli.py, catalog_pipelines/webhooks/cli.py and
catalog_pipelines/api/cli.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.times import parse_time

# docs/cli.md: 0 done; 1 done but some rows were rejected; 2 bad usage or unreadable input
# (nothing written); 3 refused by a guard (mass archive, ownership, SSRF); 4 the environment is
# not usable (the database is unreachable, `serve`'s port is taken); 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_REJECTS, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_ENVIRONMENT = 4
EXIT_INTERRUPTED = 130
# The reader of stdout went away (`| head`): the shell's code for a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 141
EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 done, some rows rejected; 2 bad usage or unreadable input"
    " (nothing written); 3 refused by a guard (mass archive, ownership, SSRF);"
    " 4 environment problem (database unreachable, port in use); 130 interrupted;"
    " 141 output closed early (| head)"
)
DEFAULT_ACCOUNT = "acct_default"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help when it has a default worth showing: not for
    flags (their default is "off") nor for options without one, and not twice."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help
        if (
            help_text
            and "default" not in help_text
            and action.option_strings
            and action.nargs != 0
            and action.default not in (None, argparse.SUPPRESS)
        ):
            help_text += " (default: %(default)s)"
        return help_text


class _SubParsers(argparse._SubParsersAction):
    """A subcommand's one-line help is also the description its own `--help` starts with."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if "help" in kwargs:
            kwargs.setdefault("description", kwargs["help"])
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """The parser of every `catalog-sync` command. `add_subparsers` makes its sub-parsers of this
    class too, so every level shows option defaults and descriptions the same way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)


def migrated_engine() -> sa.Engine:
    """The app's engine on a migrated catalog: no manual step before first use (migrations run
    as the owner, docs/production-roles.md)."""
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate_catalog

    migrate_catalog()
    return db.shared_engine()


# SQLSTATE classes that mean "could not get a usable connection" rather than a failed query:
# 08 connection exception, 28 bad credentials, 3D000 no such database, 57P0x server shutting
# down or starting, 53300 too many connections. Client-side failures have no SQLSTATE.
_UNREACHABLE_SQLSTATES = ("08", "28", "3D000", "57P01", "57P02", "57P03", "53300")


def database_unreachable(exc: BaseException) -> str | None:
    """A one-line error if `exc` means the catalog database cannot be reached, else None.

    Names the server (host, port, database; never the password) so that a wrong
    DATABASE_URL is obvious. Query errors (timeouts, lock waits) return None: they are bugs or
    load, not the environment.
    """
    import psycopg

    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if not isinstance(orig, psycopg.OperationalError):
        return None
    state = orig.sqlstate
    if state is not None and not state.startswith(_UNREACHABLE_SQLSTATES):
        return None
    reason = " ".join(str(orig).split("\n", 1)[0].split())
    return f"cannot reach the catalog database ({database_label()}): {reason}"


def database_label() -> str:
    """Where the catalog database is, without credentials: `host:port/dbname`."""
    import os

    from psycopg.conninfo import conninfo_to_dict

    url = os.environ.get("DATABASE_URL")
    if not url:
        from catalog_pipelines import db

        return f"the embedded server in {db.embedded_data_dir()}"
    try:
        info = conninfo_to_dict(url.replace("postgresql+psycopg://", "postgresql://", 1))
    except Exception:  # noqa: BLE001 - an unparsable URL: name none of it (it may hold a password)
        return "DATABASE_URL"
    host = str(info.get("host") or "localhost")
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


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


def share(value: str) -> float:
    """A share from 0 to 1, e.g. `--max-reject-rate 0.05`."""
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not 0 <= x <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{value!r} is not a share between 0 and 1, e.g. 0.05")
    return x


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
