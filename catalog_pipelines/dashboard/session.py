"""The dashboard's session: a signed cookie (HMAC-SHA256), HttpOnly and SameSite=Lax.

It holds a session id, the signed-in account and the SHA-256 of the API key used to sign in,
never the key. Every request re-checks that hash against the live keys, so revoking a key
(`catalog-sync api-keys revoke`) also ends the dashboard sessions opened with it. The id is
new at every sign-in (no session fixation), and the cookie expires after SESSION_SECONDS.

The signing secret is CATALOG_DASHBOARD_SECRET; without it each server process draws its
own, so sessions end at a restart and do not cross workers (docs/dashboard.md).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

COOKIE = "catalog_session"
DEFAULT_SESSION_SECONDS = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    sid: str
    expires: int
    account_id: str | None = None
    key_hash: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.account_id is not None


class SessionCodec:
    """Signs and reads session cookies; a tampered, foreign or expired cookie reads as None."""

    def __init__(self, secret: bytes | None = None, max_age: int | None = None) -> None:
        env_secret = os.environ.get("CATALOG_DASHBOARD_SECRET")
        self._secret = secret or (env_secret.encode() if env_secret else secrets.token_bytes(32))
        self.max_age = max_age or int(
            os.environ.get("CATALOG_DASHBOARD_SESSION_SECONDS", DEFAULT_SESSION_SECONDS)
        )

    def _sign(self, purpose: str, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, purpose.encode() + b"\0" + payload, "sha256").digest())

    def new(self, account_id: str | None = None, key_hash: str | None = None) -> Session:
        return Session(
            sid=secrets.token_urlsafe(18),
            expires=int(time.time()) + self.max_age,
            account_id=account_id,
            key_hash=key_hash,
        )

    def dumps(self, session: Session) -> str:
        payload = json.dumps(
            {
                "s": session.sid,
                "e": session.expires,
                "a": session.account_id,
                "k": session.key_hash,
            },
            separators=(",", ":"),
        ).encode()
        return _b64(payload) + "." + self._sign("session", payload)

    def loads(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 4096 or "." not in cookie:
            return None
        body, _, signature = cookie.partition(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            return None
        try:
            data: dict[str, Any] = json.loads(payload)
            session = Session(
                sid=str(data["s"]),
                expires=int(data["e"]),
                account_id=data.get("a"),
                key_hash=data.get("k"),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session) -> str:
        """Bound to the session id: a token from another session, or the last one, fails."""
        return self._sign("csrf", session.sid.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def seal(self, session: Session, purpose: str, text: str) -> str:
        """`text` signed for this session and purpose: a value shown once on the next page
        (a new webhook endpoint's secret) rides in a short-lived cookie, not in server memory,
        so any worker can show it."""
        payload = text.encode()
        return _b64(payload) + "." + self._sign(f"{purpose}\0{session.sid}", payload)

    def unseal(self, session: Session, purpose: str, sealed: str | None) -> str | None:
        if not sealed or len(sealed) > 4096 or "." not in sealed:
            return None
        body, _, signature = sealed.partition(".")
        try:
            payload = _unb64(body)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(f"{purpose}\0{session.sid}", payload)):
            return None
        return payload.decode(errors="replace")
