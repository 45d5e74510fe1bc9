"""The dashboard's session cookie: signed, bound to its CSRF token, and it expires."""

from __future__ import annotations

import time

import pytest

from catalog_pipelines.dashboard.session import SessionCodec


def test_a_cookie_round_trips_and_rejects_edits() -> None:
    codec = SessionCodec(secret=b"k" * 32, max_age=60)
    session = codec.new(account_id="acct_1", key_hash="ab" * 32)
    cookie = codec.dumps(session)
    assert codec.loads(cookie) == session
    body, _, sig = cookie.partition(".")
    assert codec.loads(body + "." + sig[::-1]) is None
    assert codec.loads(body[:-2] + "." + sig) is None
    assert SessionCodec(secret=b"x" * 32).loads(cookie) is None  # another server's secret
    for junk in ("", "abc", "a.b", "." * 5000):
        assert codec.loads(junk) is None


def test_sessions_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = SessionCodec(secret=b"k" * 32, max_age=60)
    cookie = codec.dumps(codec.new(account_id="acct_1"))
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert codec.loads(cookie) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    codec = SessionCodec(secret=b"k" * 32)
    one, two = codec.new(), codec.new()
    assert codec.csrf_ok(one, codec.csrf_token(one))
    assert not codec.csrf_ok(one, codec.csrf_token(two))
    assert not codec.csrf_ok(one, None) and not codec.csrf_ok(one, "")
