"""`catalog-sync sources ...`: sources, their ownership and their saved, versioned mappings.

Registered by the main CLI. Every change makes a new version of the source and a
`source.created`/`source.updated` event; `remove` archives (never deletes) and `restore`
undoes it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog_pipelines.cli_args import (
    EXIT_OK,
    EXIT_USAGE,
    add_account,
    add_json,
    migrated_engine,
    print_error,
    print_json,
)
from catalog_pipelines.connectors.registry import KINDS
from catalog_pipelines.store.errors import StoreError
from catalog_pipelines.store.events import Cause

CLI_CAUSE = Cause(request_id="cli")


def _describe(src: Any) -> str:
    owns = ",".join(sorted(src.owns)) or "none"
    state = "" if src.active else "  ARCHIVED"
    return f"source {src.name}: kind={src.kind} owns={owns} ({src.mode}) v{src.version}{state}"


def cmd_add(args: argparse.Namespace) -> int:
    from catalog_pipelines.mapping import load_mapping, mapping_to_dict
    from catalog_pipelines.store.sources import add_source, parse_owns

    mapping = mapping_to_dict(load_mapping(Path(args.mapping))) if args.mapping else None
    config: dict[str, Any] = {}
    if args.path:
        config["path"] = str(Path(args.path).resolve())
    if args.url:
        config["url"] = args.url
    if args.currency:
        from catalog_pipelines.money import MoneyError, normalize_currency

        try:
            config["currency"] = normalize_currency(args.currency)
        except MoneyError as e:
            print_error(f"--currency: {e}")
            return EXIT_USAGE
    try:
        owns = parse_owns(args.owns)
    except ValueError as e:
        print_error(str(e))
        return EXIT_USAGE
    with migrated_engine().begin() as conn:
        src = add_source(
            conn,
            account_id=args.account,
            name=args.name,
            kind=args.kind,
            owns=owns,
            mapping=mapping,
            config=config,
            cause=CLI_CAUSE,
        )
    print_json(src.as_json()) if args.json else print(_describe(src))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from catalog_pipelines.store.sources import list_sources

    with migrated_engine().connect() as conn:
        sources = list_sources(conn, args.account, include_archived=args.all)
    if args.json:
        data = [s.as_json() for s in sources]
        print_json({"object": "list", "data": data, "has_more": False, "url": "/v1/sources"})
        return EXIT_OK
    from catalog_pipelines.cli import _table

    _table(
        [
            [
                s.name,
                s.kind,
                s.mode,
                ",".join(g for g in ("content", "pricing", "inventory") if g in s.owns),
                "yes" if s.mapping else "no",
                s.version,
                "active" if s.active else "archived",
            ]
            for s in sources
        ],
        ["name", "kind", "mode", "owns", "mapping", "version", "status"],
    )
    return EXIT_OK


def _changed(version: dict[str, Any], previous: dict[str, Any] | None) -> str:
    if previous is None:
        return "created"
    state, before = version["source"], previous["source"]
    keys = [k for k in ("kind", "owns", "mapping", "config", "active") if state[k] != before[k]]
    labels = {"active": "archived" if not state["active"] else "restored"}
    return ", ".join(labels.get(k, k) for k in keys) or "unchanged"


def cmd_show(args: argparse.Namespace) -> int:
    from catalog_pipelines.mapping import dump_mapping, mapping_from_dict
    from catalog_pipelines.store.sources import find_source, source_versions

    with migrated_engine().connect() as conn:
        src = find_source(conn, args.account, args.name)
        if src is None:
            print_error(f"no source {args.name!r} in account {args.account}")
            return EXIT_USAGE
        versions = source_versions(conn, src)
    if args.json:
        print_json({**src.as_json(), "versions": versions})
        return EXIT_OK
    print(_describe(src))
    print(f"id: {src.id}")
    if src.config:
        print(f"config: {json.dumps(src.config)}")
    if src.mapping:
        print(f"mapping (as of version {src.version}):")
        text = dump_mapping(mapping_from_dict(src.mapping, where=f"source {src.name}"))
        print("".join(f"  {line}\n" for line in text.splitlines()), end="")
    else:
        print("mapping: none (the built-in mapping of its kind, or --mapping at import)")
    print("versions:")
    for i, v in enumerate(versions):
        when = datetime.fromtimestamp(v["created"]).isoformat(timespec="seconds")
        print(f"  v{v['version']}  {when}  {_changed(v, versions[i - 1] if i else None)}")
    return EXIT_OK


def cmd_set_mapping(args: argparse.Namespace) -> int:
    from catalog_pipelines.mapping import load_mapping, mapping_to_dict
    from catalog_pipelines.store.sources import GROUPS, create_source, get_source, update_source

    mapping = load_mapping(Path(args.file))  # MappingError names the file and the key
    doc = mapping_to_dict(mapping)
    with migrated_engine().begin() as conn:
        existing = get_source(conn, args.account, args.name)
        if existing is None:
            src = create_source(
                conn,
                account_id=args.account,
                name=args.name,
                kind=mapping.format,  # a file format is the kind of source that reads it
                owns=frozenset(GROUPS),
                mapping=doc,
                cause=CLI_CAUSE,
            )
            note = "created as a mirror source (it owns content, pricing and inventory)"
        else:
            src = update_source(conn, args.account, args.name, mapping=doc, cause=CLI_CAUSE)
            note = "mapping unchanged" if src.version == existing.version else "mapping saved"
    if args.json:
        print_json(src.as_json())
    else:
        print(f"{_describe(src)}: {note}")
    return EXIT_OK


def cmd_archive(args: argparse.Namespace) -> int:
    from catalog_pipelines.store.sources import find_source, update_source

    archive = args.action == "remove"
    with migrated_engine().begin() as conn:
        src = find_source(conn, args.account, args.name)
        if src is None:
            print_error(f"no source {args.name!r} in account {args.account}")
            return EXIT_USAGE
        src = update_source(conn, args.account, src.name, archive=archive, cause=CLI_CAUSE)
    if args.json:
        print_json(src.as_json())
    elif archive:
        print(
            f"{_describe(src)}: archived; its products stay in the catalog, its imports are"
            f" refused (undo: catalog-sync sources restore {src.name})"
        )
    else:
        print(f"{_describe(src)}: restored")
    return EXIT_OK


def _guarded(handler: Any) -> Any:
    """Store refusals (a bad kind, a bad mapping) as exit 2 with their message."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except StoreError as e:
            print_error(e.message)
            return EXIT_USAGE

    return run


def cmd_set_webhook_secret(args: argparse.Namespace) -> int:
    from catalog_pipelines.store.sources import find_source, set_webhook_secret

    secret = None
    if not args.clear:
        # From stdin, so the secret stays out of shell history and the process list.
        if sys.stdin.isatty():
            secret = getpass.getpass("webhook secret: ")
        else:
            secret = sys.stdin.readline().strip()
        if not secret:
            print_error("no secret on stdin (pipe it in, or use --clear to remove the secret)")
            return EXIT_USAGE
    with migrated_engine().begin() as conn:
        src = find_source(conn, args.account, args.name)
        if src is None:
            print_error(f"no such source: {args.name}")
            return EXIT_USAGE
        set_webhook_secret(conn, args.account, src.name, secret)
    if secret is None:
        print(f"source {src.name}: webhook secret removed; its incoming webhooks are refused")
    else:
        print(f"source {src.name}: webhook secret set (ending ...{secret[-4:]})")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    """Register `sources add|list|show|set-mapping|set-webhook-secret|remove|restore`."""
    sources = sub.add_parser(
        "sources", help="sources, their ownership and saved mappings"
    ).add_subparsers(dest="action", required=True)
    p = sources.add_parser("add", help="create or redefine a source")
    p.add_argument("name", help="source name, e.g. shopify-main")
    p.add_argument("--kind", required=True, choices=KINDS, help="the connector that reads it")
    p.add_argument(
        "--owns", required=True, help="groups the source owns: content,pricing,inventory (or none)"
    )
    p.add_argument("--mapping", help="YAML field mapping")
    p.add_argument("--path", help="file the scheduled reconciliation re-reads")
    p.add_argument("--url", help="feed URL (http_json)")
    p.add_argument(
        "--currency", help="the shop's currency, for exports that carry none (default: usd)"
    )
    add_json(p)
    add_account(p)
    p.set_defaults(func=_guarded(cmd_add))

    p = sources.add_parser("list", help="the account's sources")
    p.add_argument("--all", action="store_true", help="include archived sources")
    add_json(p)
    add_account(p)
    p.set_defaults(func=_guarded(cmd_list))

    p = sources.add_parser("show", help="a source: ownership, kind, mapping and its versions")
    p.add_argument("name", help="source name or id")
    add_json(p)
    add_account(p)
    p.set_defaults(func=_guarded(cmd_show))

    p = sources.add_parser(
        "set-mapping", help="save a mapping file as the source's mapping (a new version)"
    )
    p.add_argument("name", help="source name or id")
    p.add_argument("file", help="YAML mapping, e.g. from `catalog-sync mapping suggest`")
    add_json(p)
    add_account(p)
    p.set_defaults(func=_guarded(cmd_set_mapping))

    p = sources.add_parser(
        "set-webhook-secret",
        help="store the secret that signs the source's incoming webhooks, read from stdin",
    )
    p.add_argument("name", help="source name or id")
    p.add_argument("--clear", action="store_true", help="remove the secret instead")
    add_account(p)
    p.set_defaults(func=_guarded(cmd_set_webhook_secret))

    for action, text in (
        ("remove", "archive a source (never deleted): its imports are refused"),
        ("restore", "undo `sources remove`"),
    ):
        p = sources.add_parser(action, help=text)
        p.add_argument("name", help="source name or id")
        add_json(p)
        add_account(p)
        p.set_defaults(func=_guarded(cmd_archive))
