"""Both signature schemes of docs/webhooks.md, computed over the exact bytes that are sent.

- `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`: the key is the whole
  `whsec_...` string, as `stripe.Webhook.construct_event` uses it.
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
  `"id.timestamp.body"`; the key is the base64-decoded part after `whsec_`.

The verifiers here are for our own receiver (demo, tests' sanity checks); the tests prove the
headers against the official packages, not against this code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A webhook request whose signature or timestamp does not verify."""


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: valid for both schemes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _standard_key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    key = base64.b64decode(raw, validate=True)
    if not key:
        raise ValueError("empty webhook secret")
    return key


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), b"%d." % timestamp + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def standard_signature(secret: str, msg_id: str, body: bytes, timestamp: int) -> str:
    to_sign = msg_id.encode("utf-8") + b".%d." % timestamp + body
    mac = hmac.new(_standard_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def sign_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Every header a delivery carries. `timestamp` is wall-clock time: receivers check it."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature(secret, body, ts),
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_signature(secret, msg_id, body, ts),
    }


def _check_timestamp(ts: int, now: float | None, tolerance: int) -> None:
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError("timestamp outside the tolerance")


def verify_stripe(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureError unless `header` signs `body` with `secret` within the tolerance."""
    try:
        items = [part.split("=", 1) for part in header.split(",")]
        ts = int(next(v for k, v in items if k == "t"))
    except (ValueError, StopIteration) as exc:
        raise SignatureError("malformed Stripe-Signature header") from exc
    expected = stripe_signature(secret, body, ts).split("v1=", 1)[1]
    candidates = [v for k, v in items if k == "v1"]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no matching v1 signature")
    _check_timestamp(ts, now, tolerance)


def verify_standard(
    secret: str,
    body: bytes,
    headers: dict[str, str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureError unless the Standard Webhooks headers sign `body` with `secret`."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lower["webhook-id"]
        ts = int(lower["webhook-timestamp"])
        signatures = lower["webhook-signature"].split(" ")
    except (KeyError, ValueError) as exc:
        raise SignatureError("missing or malformed webhook-* headers") from exc
    expected = standard_signature(secret, msg_id, body, ts)
    if not any(hmac.compare_digest(expected, s) for s in signatures if s.startswith("v1,")):
        raise SignatureError("no matching v1 signature")
    _check_timestamp(ts, now, tolerance)
