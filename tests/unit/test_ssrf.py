"""The SSRF guard refuses every non-global address, in every spelling, at add and at connect."""

from __future__ import annotations

import ipaddress

import pytest

from catalog_pipelines.webhooks.delivery import make_session
from catalog_pipelines.webhooks.receiver import LocalReceiver
from catalog_pipelines.webhooks.ssrf import (
    ALLOW_ENV,
    UnsafeURLError,
    check_url,
    is_forbidden,
    parse_ip,
)

CORPUS = [
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://localhost:8080/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://0.0.0.0/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://224.0.0.1/hook",
]


@pytest.fixture(autouse=True)
def _deny_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)


@pytest.mark.parametrize("url", CORPUS)
def test_corpus_is_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_url(url)


@pytest.mark.parametrize("url", CORPUS[:8])
def test_corpus_is_allowed_when_opted_in(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_ENV, "1")
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8/hook", "https://[2606:4700:4700::1111]:8443/x", "https://1.1.1.1/"]
)
def test_global_literals_pass(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["ftp://8.8.8.8/x", "file:///etc/passwd", "http:///nohost", "http://user:pw@8.8.8.8/"],
)
def test_bad_urls_are_refused_even_when_private_is_allowed(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, "1")
    with pytest.raises(UnsafeURLError):
        check_url(url)


def test_numeric_spellings_decode_to_loopback() -> None:
    for text in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"]:
        ip = parse_ip(text)
        assert ip is not None and is_forbidden(ip), text
    assert parse_ip("example.com") is None
    assert not is_forbidden(ipaddress.ip_address("8.8.8.8"))


def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UnsafeURLError, match="non-global"):
        check_url("http://localhost/hook")


def test_connect_time_guard_checks_the_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL that passed the add-time check but connects to loopback (DNS rebinding, a
    spelling only the resolver understands) is stopped by the session itself: the TCP
    handshake happens, but not one byte of the request is sent."""
    with LocalReceiver() as receiver:
        session = make_session(2)
        with pytest.raises(UnsafeURLError, match="non-global"):
            session.post(f"http://2130706433:{receiver.port}/hook", data=b"{}", timeout=2)
        with pytest.raises(UnsafeURLError):
            session.post(f"http://localhost:{receiver.port}/hook", data=b"{}", timeout=2)
        assert receiver.received == []
        monkeypatch.setenv(ALLOW_ENV, "1")
        resp = session.post(receiver.url, data=b"{}", timeout=2)
        assert resp.status_code == 200 and len(receiver.received) == 1


def test_session_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a proxy in the environment the request must still go straight to the target (a
    proxy would make the peer check meaningless); the adapter refuses proxies outright."""
    monkeypatch.setenv("HTTP_PROXY", "http://8.8.8.8:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv(ALLOW_ENV, "1")
    with LocalReceiver() as receiver:
        resp = make_session(1).post(receiver.url, data=b"{}", timeout=2)
        assert resp.status_code == 200 and len(receiver.received) == 1
