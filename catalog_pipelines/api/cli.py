"""`catalog-sync serve` and `catalog-sync api-keys create|list|revoke|roll`, registered by the
main CLI."""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.cli_args import (
    EXIT_ENVIRONMENT,
    EXIT_OK,
    EXIT_USAGE,
    add_account,
    migrated_engine,
    print_error,
    print_json,
)


def port_in_use(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None if it can.

    Binds with SO_REUSEADDR as uvicorn does, so a port left in TIME_WAIT is not reported.
    Checked before starting: uvicorn itself would exit 3, the code of a refusing guard.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot resolve {host!r}: {e.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            return e.strerror or str(e)
    return None


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, then serve the API with uvicorn until interrupted."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from catalog_pipelines.api.app import api_engine, create_app

    problem = port_in_use(args.host, args.port)
    if problem:
        print_error(
            f"cannot listen on {args.host}:{args.port}: {problem}"
            " (is another server running there? pick another --port)"
        )
        return EXIT_ENVIRONMENT
    migrated_engine()  # apply pending migrations before the first request
    base = _base_url(args.host, args.port)
    print(f"API docs:   {base}/docs  (also {base}/redoc)", flush=True)
    print(f"front door: {base}/", flush=True)
    print(f"dashboard:  {base}/dashboard/  (sign in with an API key)", flush=True)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
    }
    try:
        if args.workers > 1:  # each worker process builds its own app and pool
            uvicorn.run(
                "catalog_pipelines.api.app:create_app",
                factory=True,
                workers=args.workers,
                **options,
            )
        else:
            uvicorn.run(create_app(api_engine()), **options)
    except SystemExit as e:
        # uvicorn exits 3 when it cannot start (bind failed, lifespan failed) after logging
        # why; the port may have been taken since the check above. 3 is our guards' code.
        if e.code == STARTUP_FAILURE:
            print_error(f"the server on {args.host}:{args.port} could not start (see above)")
            return EXIT_ENVIRONMENT
        raise
    return EXIT_OK


def cmd_api_keys_create(args: argparse.Namespace) -> int:
    """Print a new key once: only its hash is stored."""
    from catalog_pipelines.api.auth import create_api_key

    engine = migrated_engine()
    try:
        with engine.begin() as conn:
            key = create_api_key(conn, args.account)
    except sa.exc.IntegrityError:  # the accounts table's id pattern refused it
        print_error(f"invalid account id {args.account!r}")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(json.dumps(key) + "\n")
    else:
        print(f"API key {key['id']} for account {key['account']}:")
        print(f"  {key['secret']}")
        print("Store it now: it is not shown again.")
    return EXIT_OK


def cmd_api_keys_list(args: argparse.Namespace) -> int:
    """Ids, accounts, the secrets' last four characters, and whether each key is revoked."""
    from catalog_pipelines.api.auth import list_api_keys

    with migrated_engine().connect() as conn:
        keys = list_api_keys(conn, args.account)
    if args.json:
        print_json(keys)
        return EXIT_OK
    for key in keys:
        state = f"revoked {key['revoked']:%Y-%m-%d %H:%M}" if key["revoked"] else "live"
        print(f"{key['id']}  {key['account']}  ...{key['hint']}  {state}")
    return EXIT_OK


def cmd_api_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a key: every server refuses it within a second."""
    from catalog_pipelines.api.auth import revoke_api_key

    with migrated_engine().begin() as conn:
        account = revoke_api_key(conn, args.key_id)
    if account is None:
        print_error(f"no live API key {args.key_id!r}")
        return EXIT_USAGE
    print(f"revoked {args.key_id} (account {account})")
    return EXIT_OK


def cmd_api_keys_roll(args: argparse.Namespace) -> int:
    """Revoke a key and print its replacement (same account) once."""
    from catalog_pipelines.api.auth import roll_api_key

    with migrated_engine().begin() as conn:
        key = roll_api_key(conn, args.key_id)
    if key is None:
        print_error(f"no live API key {args.key_id!r}")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(json.dumps(key) + "\n")
    else:
        print(f"API key {args.key_id} revoked; its replacement {key['id']}:")
        print(f"  {key['secret']}")
        print("Store it now: it is not shown again.")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the Stripe-compatible HTTP API and its docs")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface"
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level",
    )
    p.set_defaults(func=cmd_serve)

    keys = sub.add_parser("api-keys", help="API keys").add_subparsers(
        dest="api_keys_command", required=True
    )
    p = keys.add_parser("create", help="create an API key (its secret is printed once)")
    add_account(p, "account id (created if new)")
    p.add_argument("--json", action="store_true", help='print {"id","account","secret"}')
    p.set_defaults(func=cmd_api_keys_create)

    p = keys.add_parser("list", help="list API keys (ids and hints, never secrets)")
    p.add_argument("--account", help="only this account's keys")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_api_keys_list)

    p = keys.add_parser("revoke", help="revoke an API key (refused everywhere within 1 s)")
    p.add_argument("key_id", help="key id, as `create --json` or `list` print it")
    p.set_defaults(func=cmd_api_keys_revoke)

    p = keys.add_parser("roll", help="revoke an API key and create its replacement")
    p.add_argument("key_id", help="key id, as `create --json` or `list` print it")
    p.add_argument("--json", action="store_true", help='print {"id","account","secret"}')
    p.set_defaults(func=cmd_api_keys_roll)
