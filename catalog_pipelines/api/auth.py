"""API keys: `sk_` secrets shown once, stored as SHA-256, each bound to one account."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time

import sqlalchemy as sa

from catalog_pipelines.store.objects import new_id

_INSERT = sa.text(
    "INSERT INTO api_keys (id, account_id, secret_hash, hint) VALUES (:id, :account, :hash, :hint)"
)
_ENSURE_ACCOUNT = sa.text("INSERT INTO accounts (id) VALUES (:id) ON CONFLICT DO NOTHING")
_LOOKUP = sa.text("SELECT account_id FROM api_keys WHERE secret_hash = :hash AND revoked IS NULL")

# Auth is one indexed lookup; a short cache takes even that off the hot path. A revoked
# key stops working within this many seconds.
CACHE_SECONDS = 5.0


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

    def account_for(self, engine: sa.Engine, secret: str) -> str | None:
        digest = hash_secret(secret)
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
