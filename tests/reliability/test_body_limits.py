"""Request bodies are bounded before they are read (api/body_limit.py): a declared length over
the limit is refused at once, and a chunked or lying body is cut off as it arrives, so the
server's memory stays flat however much a client sends, with or without an API key."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines.api.auth import create_api_key
from tests.support.server_process import serve

MiB = 1 << 20
STREAMED = 400 * MiB  # what a client tries to send in the streaming tests
RSS_GROWTH_BOUND = 100 * MiB  # the server's peak RSS may grow by at most this much


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[str, int]]:
    with serve() as (base, pid):
        yield base, pid


def peak_rss(pid: int) -> int:
    """The process's high-water RSS (VmHWM): growth between two samples can't be missed."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return psutil.Process(pid).memory_info().rss


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        data += sock.recv(65536)
    except (ConnectionResetError, TimeoutError):
        pass
    if not data:
        return 0, b""
    return int(data.split(b" ", 2)[1]), data


def send_streaming(
    base: str, path: str, head: dict[str, str], body_bytes: int, chunked: bool
) -> tuple[int, int, bytes]:
    """Send headers, then up to `body_bytes` of body until the server answers or hangs up.
    Returns (status, bytes of body sent, raw response)."""
    sock = _connect(base)
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in head.items())]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    block = b"x" * (256 * 1024)
    frame = (b"%x\r\n" % len(block) + block + b"\r\n") if chunked else block
    sent = 0
    try:
        while sent < body_bytes:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered (413) before taking everything
                break
            sock.sendall(frame)
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, raw = _read_response(sock)
    sock.close()
    return status, sent, raw


def test_declared_length_over_the_limit_is_refused_before_any_body_is_sent(
    server: tuple[str, int],
) -> None:
    base, _ = server
    sock = _connect(base)
    started = time.monotonic()
    sock.sendall(
        b"POST /v1/incoming/shopify/shop HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n"
    )
    status, raw = _read_response(sock)  # not one byte of the 2 GiB was sent
    sock.close()
    assert status == 413, raw
    assert time.monotonic() - started < 5
    assert b"body_too_large" in raw


def test_chunked_body_is_cut_off_and_memory_stays_flat(server: tuple[str, int]) -> None:
    base, pid = server
    before = peak_rss(pid)
    status, sent, raw = send_streaming(
        base,
        "/v1/incoming/shopify/shop",
        {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": "x",
            "X-Shopify-Webhook-Id": "w",
        },
        STREAMED,
        chunked=True,
    )
    assert status == 413, raw[:300]
    assert sent < 64 * MiB, f"the server took {sent / MiB:.0f} MiB before refusing"
    assert peak_rss(pid) - before < RSS_GROWTH_BOUND
    # and it still serves
    assert requests.get(base + "/openapi.json", timeout=10).status_code == 200


def test_lying_content_length_reads_only_what_was_declared(server: tuple[str, int]) -> None:
    """A small declared length followed by hundreds of MB: the server takes the declared
    bytes as the body, refuses the rest as garbage, and its memory stays flat."""
    base, pid = server
    before = peak_rss(pid)
    status, _, raw = send_streaming(
        base,
        "/v1/products",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"},
        STREAMED,
        chunked=False,
    )
    assert status in (400, 401), raw[:300]  # no key; the rest is not an HTTP request
    assert peak_rss(pid) - before < RSS_GROWTH_BOUND
    assert requests.get(base + "/openapi.json", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/products",
        "/v1/products/prod_x",
        "/v1/prices",
        "/v1/prices/price_x",
        "/v1/inventory_items/sku_x/adjust",
        "/v1/webhook_endpoints",
        "/v1/webhook_endpoints/we_x",
        "/v1/incoming/shopify/shop",
    ],
)
def test_every_endpoint_with_a_body_refuses_an_oversized_one(
    server: tuple[str, int], engine: sa.Engine, account: str, path: str
) -> None:
    """With a valid key, a 1 MiB + 1 body is 413 wherever a body is accepted; a body just
    under the limit is not (it may fail for what it says, never for its size)."""
    base, _ = server
    with engine.begin() as conn:
        secret = create_api_key(conn, account)["secret"]
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    over = requests.post(base + path, data=b"a=" + b"x" * MiB, headers=headers, timeout=30)
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "body_too_large"
    under = requests.post(base + path, data=b"a=" + b"x" * (MiB - 100), headers=headers, timeout=30)
    assert under.status_code != 413, under.text


def test_chunked_body_over_the_limit_gets_stripe_shaped_413(server: tuple[str, int]) -> None:
    """Through a real client library: a generator body is sent chunked."""
    base, _ = server

    def body() -> Iterator[bytes]:
        for _ in range(8):
            yield b"x" * (256 * 1024)

    try:
        r = requests.post(
            base + "/v1/incoming/shopify/shop",
            data=body(),
            headers={"X-Shopify-Hmac-Sha256": "x", "X-Shopify-Webhook-Id": "w"},
            timeout=30,
        )
    except requests.ConnectionError:
        pytest.fail("the server hung up without answering 413")
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"
