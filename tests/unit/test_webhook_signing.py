"""Our headers must satisfy the official verifiers, not just our own code."""

from __future__ import annotations

import base64
import json
import time

import pytest
import standardwebhooks
import stripe

from catalog_pipelines.webhooks.delivery import encode_event
from catalog_pipelines.webhooks.signing import (
    SignatureError,
    new_secret,
    sign_headers,
    verify_standard,
    verify_stripe,
)

EVENT = {
    "id": "evt_123",
    "object": "event",
    "type": "product.updated",
    "created": 1_700_000_000,
    "data": {"object": {"id": "prod_1", "object": "product", "name": "Crème brûlée ☕"}},
    "livemode": False,
    "sequence": 42,
}


def test_secret_shape() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :])) == 32
    assert new_secret() != secret


def test_stripe_construct_event_accepts_our_signature() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    headers = sign_headers(secret, "msg_abc", body)
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
    assert event["id"] == "evt_123"
    assert event["data"]["object"]["name"] == "Crème brûlée ☕"


def test_stripe_rejects_a_tampered_body_or_other_secret() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    headers = sign_headers(secret, "msg_abc", body)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body + b" ", headers["Stripe-Signature"], secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], new_secret())


def test_standard_webhooks_verify_accepts_our_signature() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    headers = sign_headers(secret, "msg_abc", body)
    payload = standardwebhooks.Webhook(secret).verify(body, headers)
    assert payload == json.loads(body)
    assert headers["webhook-id"] == "msg_abc"


def test_standard_webhooks_rejects_tampering() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    headers = sign_headers(secret, "msg_abc", body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body.replace(b"42", b"43"), headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, {**headers, "webhook-id": "msg_other"})


def test_official_verifiers_reject_stale_timestamps() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    old = sign_headers(secret, "msg_abc", body, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, old["Stripe-Signature"], secret)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, old)


def test_own_verifiers_agree_and_allow_skew_both_ways() -> None:
    secret = new_secret()
    body = encode_event(EVENT)
    now = 1_800_000_000
    for skew in (-299, 0, 299):
        headers = sign_headers(secret, "msg_1", body, timestamp=now + skew)
        verify_stripe(secret, body, headers["Stripe-Signature"], now=now)
        verify_standard(secret, body, headers, now=now)
    for skew in (-301, 301):
        headers = sign_headers(secret, "msg_1", body, timestamp=now + skew)
        with pytest.raises(SignatureError):
            verify_stripe(secret, body, headers["Stripe-Signature"], now=now)
        with pytest.raises(SignatureError):
            verify_standard(secret, body, headers, now=now)
    headers = sign_headers(secret, "msg_1", body, timestamp=now)
    with pytest.raises(SignatureError):
        verify_stripe(new_secret(), body, headers["Stripe-Signature"], now=now)
    with pytest.raises(SignatureError):
        verify_standard(secret, body + b"x", headers, now=now)
