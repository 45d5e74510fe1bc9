"""API keys: `sk_` secrets shown once, stored as SHA-256, each bound to one account.
Keys can be listed, revoked and rolled (`catalog-sync api-keys`); a revoked key stops working
on every server process within CACHE_SECONDS. Failed authentications are rate-limited per
client address (api/auth_failures.py; docs/production-roles.md, API keys)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.objects import new_id

_INSERT = sa.text(
    "INSERT INTO api_keys (id, account_id, secret_hash, hint) VALUES (:id, :account, :hash, :hint)"
)
_ENSURE_ACCOUNT = sa.text("INSERT INTO accounts (id) VALUES (:id) ON CONFLICT DO NOTHING")
_LOOKUP = sa.text("SELECT account_id FROM api_keys WHERE secret_hash = :hash AND revoked IS NULL")

_LIST = sa.text(
    "SELECT id, account_id AS account, hint, created, revoked FROM api_keys"
    " WHERE CAST(:account AS text) IS NULL OR account_id = :account"
    " ORDER BY created, id"
)
_REVOKE = sa.text(
    "UPDATE api_keys SET revoked = now() WHERE id = :id AND revoked IS NULL RETURNING account_id"
)

# Auth is one indexed lookup; a short cache takes even that off the hot path. Every process
# forgets a key after this many seconds, so a revoked key stops working everywhere within it.
CACHE_SECONDS = 0.5


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(conn: sa.Connection, account_id: str) -> dict[str, str]:
    """Create a key (and the account if it is new). The secret is in the result only."""
    conn.execute(_ENSURE_ACCOUNT, {"id": account_id})
    secret = "sk_" + secrets.token_urlsafe(32)
    key_id = new_id("key")
    conn.execute(
        _INSERT,
        {"id": key_id, "account": account_id, "hash": hash_secret(secret), "hint": secret[-4:]},
    )
    return {"id": key_id, "account": account_id, "secret": secret}


def list_api_keys(conn: sa.Connection, account_id: str | None = None) -> list[dict[str, Any]]:
    """Every key (or one account's), oldest first: ids and hints, never secrets."""
    return [dict(row._mapping) for row in conn.execute(_LIST, {"account": account_id})]


def revoke_api_key(conn: sa.Connection, key_id: str) -> str | None:
    """Revoke a live key; its account, or None if there is no such live key."""
    return conn.execute(_REVOKE, {"id": key_id}).scalar_one_or_none()


def roll_api_key(conn: sa.Connection, key_id: str) -> dict[str, str] | None:
    """Replace a live key by a new one for the same account (one transaction: the old secret
    stops working as the new one starts); the new key, or None if there is no such live key."""
    account = revoke_api_key(conn, key_id)
    return None if account is None else create_api_key(conn, account)


def secret_from_header(authorization: str | None) -> str | None:
    """`Bearer sk_...`, or Basic with the key as user name (both are Stripe's)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user = base64.b64decode(value, validate=True).decode("utf-8").split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


class KeyCache:
    """secret hash -> (account, expiry); only successful lookups are cached."""

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self._ttl = ttl
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> str | None:
        """The account of a key looked up less than the TTL ago; never touches the database,
        so the event loop may call it (the common case costs no thread hop)."""
        with self._lock:
            hit = self._items.get(hash_secret(secret))
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def account_for(self, engine: sa.Engine, secret: str) -> str | None:
        return self.account_for_digest(engine, hash_secret(secret))

    def account_for_digest(self, engine: sa.Engine, digest: str) -> str | None:
        """The live key's account by its SHA-256 (what a dashboard session keeps)."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with engine.connect() as conn:
            account = conn.execute(_LOOKUP, {"hash": digest}).scalar_one_or_none()
        if account is not None:
            with self._lock:
                if len(self._items) > 10_000:
                    self._items.clear()
                self._items[digest] = (account, now + self._ttl)
        return account
