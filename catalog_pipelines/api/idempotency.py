"""Idempotency keys: a replayed request never applies twice.

The key's row is inserted in the same transaction as the write it guards. A second request
with the same key, arriving while the first is still running, blocks on the primary key
until the first commits and then replays its stored response (or, if the first rolled back,
takes over). The same key with other parameters, method or path is refused, as at Stripe.
Business refusals (404, 409, ...) are stored and replayed too; only the request that
carried the key decides its outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.api.errors import store_error_body
from catalog_pipelines.store.errors import StoreError
from catalog_pipelines.store.events import Cause

RETENTION = timedelta(hours=24)

Write = Callable[[sa.Connection, Cause], tuple[int, dict[str, Any]]]


class IdempotencyMismatch(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(
            "Keys for idempotent requests can only be used with the same parameters they were"
            f" first used with. Try using a key other than '{key}' if you meant to execute a"
            " different request."
        )


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


_CLAIM = sa.text(
    "INSERT INTO idempotency_keys (account_id, key, method, path, params_hash, request_id)"
    " VALUES (:account, :key, :method, :path, :hash, :request_id)"
    " ON CONFLICT (account_id, key) DO NOTHING RETURNING 1"
)
_STORED = sa.text(
    "SELECT method, path, params_hash, status_code, response FROM idempotency_keys"
    " WHERE account_id = :account AND key = :key"
)
_RECORD = sa.text(
    "UPDATE idempotency_keys SET status_code = :status, response = CAST(:response AS jsonb)"
    " WHERE account_id = :account AND key = :key"
)
_PURGE = sa.text("DELETE FROM idempotency_keys WHERE created < now() - CAST(:age AS interval)")


def params_hash(params: Mapping[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_once(
    engine: sa.Engine,
    *,
    account_id: str,
    key: str,
    method: str,
    path: str,
    params: Mapping[str, Any],
    request_id: str,
    write: Write,
) -> Outcome:
    """Run `write` once per (account, key); later calls get the stored response."""
    digest = params_hash(params)
    ids = {"account": account_id, "key": key}
    for _ in range(3):  # a claim can vanish between the conflict and the read (purge); retry
        with engine.connect() as conn:
            with conn.begin():
                claimed = conn.execute(
                    _CLAIM,
                    {
                        **ids,
                        "method": method,
                        "path": path,
                        "hash": digest,
                        "request_id": request_id,
                    },
                ).scalar_one_or_none()
                if claimed is None:
                    stored = conn.execute(_STORED, ids).one_or_none()
                else:
                    stored = None
                    cause = Cause(request_id=request_id, idempotency_key=key)
                    savepoint = conn.begin_nested()
                    try:
                        status, body = write(conn, cause)
                        savepoint.commit()
                    except StoreError as exc:
                        savepoint.rollback()
                        status, body = exc.status, store_error_body(exc)
                    conn.execute(_RECORD, {**ids, "status": status, "response": json.dumps(body)})
                    return Outcome(status, body, replayed=False)
            if stored is None:
                continue
            if (stored.method, stored.path, stored.params_hash) != (method, path, digest):
                raise IdempotencyMismatch(key)
            return Outcome(stored.status_code, stored.response, replayed=True)
    raise RuntimeError(f"idempotency key {key!r} could be neither claimed nor read")


def purge(engine: sa.Engine, older_than: timedelta = RETENTION) -> int:
    """Forget keys older than the retention (never younger than 24 h)."""
    older_than = max(older_than, RETENTION)
    with engine.begin() as conn:
        return conn.execute(_PURGE, {"age": f"{int(older_than.total_seconds())} seconds"}).rowcount
