"""`catalog-sync mapping suggest FILE`: the mapping assistant on the command line.

It prints a mapping file (YAML, with the assistant's reasons as comments) or, with
`--json`, the whole suggestion. It never imports anything: a suggestion becomes a source's
mapping only through `catalog-sync sources set-mapping` (docs/mapping-assistant.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catalog_pipelines.cli_args import (
    EXIT_OK,
    EXIT_USAGE,
    add_account,
    migrated_engine,
    print_error,
    print_json,
)


def _comments(suggestion: Any) -> str:
    lines = [f"# suggested by `catalog-sync mapping suggest` (format {suggestion.format})"]
    for c in suggestion.columns:
        lines.append(f"#   {c.column} -> {c.field} ({c.confidence:.2f}, {c.step}): {c.reason}")
    if suggestion.needs_review:
        lines.append("# NEEDS REVIEW:")
        lines += [f"#   - {why}" for why in suggestion.needs_review]
    else:
        lines.append("# nothing flagged for review; check the columns above before saving")
    lines.append(
        "# save it as the source's mapping: catalog-sync sources set-mapping SOURCE THIS_FILE"
    )
    return "\n".join(lines) + "\n"


def cmd_suggest(args: argparse.Namespace) -> int:
    from catalog_pipelines.connectors.sampling import suggest_for_file
    from catalog_pipelines.mapping import dump_mapping
    from catalog_pipelines.store.sources import mapping_history

    path = Path(args.file)
    if not path.is_file():
        print_error(f"{path}: no such file")
        return EXIT_USAGE
    history: dict[str, tuple[str, str]] = {}
    if not args.no_history:
        with migrated_engine().connect() as conn:
            history = mapping_history(conn, args.account, prefer=args.source)
    suggestion = suggest_for_file(path, history=history)
    if args.json:
        print_json(suggestion.as_json())
    else:
        print(_comments(suggestion) + dump_mapping(suggestion.mapping), end="")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    """Register `mapping suggest`."""
    mapping = sub.add_parser("mapping", help="the mapping assistant").add_subparsers(
        dest="action", required=True
    )
    p = mapping.add_parser(
        "suggest", help="suggest a mapping file for a CSV or JSON Lines file (imports nothing)"
    )
    p.add_argument("file", help="the CSV or JSON Lines file to map")
    p.add_argument(
        "--source", help="prefer this source's saved mappings for headers it has mapped before"
    )
    p.add_argument("--no-history", action="store_true", help="ignore the account's saved mappings")
    p.add_argument(
        "--json",
        action="store_true",
        help="print {format, dialect, mapping, columns, needs_review} as JSON",
    )
    add_account(p)
    p.set_defaults(func=cmd_suggest)
