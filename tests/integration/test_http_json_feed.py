"""The products feed against a real local HTTP server: pagination by Link headers, retries on
429 (honouring Retry-After) and 500, and clear errors when a page cannot be had."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from catalog_pipelines.connectors import http_json
from catalog_pipelines.connectors.http_json import FeedError, fetch_products_feed
from catalog_pipelines.connectors.reading import InputError
from tests.support.feed_server import serve


def _product(pid: int) -> dict:
    return {
        "id": pid,
        "title": f"Product {pid}",
        "body_html": f"<p>{pid}</p>",
        "handle": f"product-{pid}",
        "status": "active" if pid % 3 else "draft",
        "vendor": "Acme",
        "product_type": "Shirts",
        "tags": "a, b",
        "options": [{"name": "Size", "position": 1, "values": ["S", "M"]}],
        "images": [
            {"src": f"https://cdn.test/{pid}/b.jpg", "position": 2, "alt": None},
            {"src": f"https://cdn.test/{pid}/a.jpg", "position": 1, "alt": "front"},
        ],
        "variants": [
            {
                "id": pid * 10 + n,
                "product_id": pid,
                "title": size,
                "sku": f"SKU-{pid}-{size}",
                "price": "19.99" if size == "S" else "21.50",
                "inventory_quantity": n,
                "inventory_policy": "deny",
                "option1": size,
                "requires_shipping": True,
                "weight": 0.25,
                "presentment_prices": [{"price": {"amount": "19.99", "currency_code": "EUR"}}],
            }
            for n, size in enumerate(["S", "M"])
        ],
    }


PAGES = {
    "/products.json": [1, 2, 3],
    "/products.json?page_info=p2": [4, 5, 6],
    "/products.json?page_info=p3": [7],
}
NEXT = {
    "/products.json": "/products.json?page_info=p2",
    "/products.json?page_info=p2": "/products.json?page_info=p3",
}


class _Handler(BaseHTTPRequestHandler):
    hits: Counter[str]
    lock: threading.Lock

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with self.lock:
            self.hits[self.path] += 1
            hit = self.hits[self.path]
        base = f"http://{self.headers['Host']}"
        if self.path == "/products.json?page_info=p2" and hit == 1:
            return self._send(
                429, b'{"errors":"Exceeded 2 calls per second"}', {"Retry-After": "1"}
            )
        if self.path == "/products.json?page_info=p3" and hit == 1:
            return self._send(500, b'{"errors":"Internal Server Error"}')
        if self.path in PAGES:
            links = []
            if self.path != "/products.json":
                links.append(f'<{base}/products.json>; rel="previous"')
            if self.path in NEXT:
                links.append(f'<{base}{NEXT[self.path]}>; rel="next"')
            body = json.dumps({"products": [_product(p) for p in PAGES[self.path]]}).encode()
            return self._send(200, body, {"Link": ", ".join(links)} if links else None)
        if self.path == "/always-500.json":
            return self._send(500, b"oops")
        if self.path == "/slow-retry.json":
            if hit == 1:
                return self._send(503, b"", {"Retry-After": "3600"})
            return self._send(200, json.dumps({"products": [_product(1)]}).encode())
        if self.path == "/broken-second-page.json":
            return self._send(
                200,
                json.dumps({"products": [_product(1)]}).encode(),
                {"Link": '</malformed.json>; rel="next"'},
            )
        if self.path == "/malformed.json":
            return self._send(200, b'{"products": [{"id": 2,')
        if self.path == "/duplicate-keys.json":
            return self._send(200, b'{"products": [], "products": [{"id": 1}]}')
        if self.path == "/nan.json":
            return self._send(200, b'{"products": [{"id": 1, "variants": [{"price": NaN}]}]}')
        if self.path == "/not-found.json":
            return self._send(404, b'{"errors":"Not Found"}')
        if self.path == "/bad-rows.json":
            good, bad = _product(1), _product(2)
            bad["variants"][1]["price"] = "12.345"
            bad["variants"][0]["inventory_quantity"] = -3
            return self._send(200, json.dumps({"products": [good, bad, _product(1)]}).encode())
        return self._send(404, b"{}")


@pytest.fixture
def server() -> Iterator[tuple[str, Counter[str]]]:
    handler = type("Handler", (_Handler,), {"hits": Counter(), "lock": threading.Lock()})
    with serve(handler) as base:
        yield base, handler.hits


def test_every_product_arrives_once_across_pages_despite_429_and_500(server) -> None:
    base, hits = server
    started = time.monotonic()
    batch = fetch_products_feed(f"{base}/products.json", backoff=0.01, max_retries=3)
    elapsed = time.monotonic() - started

    ids = batch.products["external_id"].to_list()
    assert ids == [str(i) for i in range(1, 8)]  # every product, once, in feed order
    assert batch.rows_read == 7 and batch.rejects == []
    batch.check_reconciles()
    assert batch.variants.height == 14
    assert hits["/products.json?page_info=p2"] == 2  # 429, then success
    assert hits["/products.json?page_info=p3"] == 2  # 500, then success
    assert hits["/products.json"] == 1
    assert elapsed >= 1.0  # Retry-After: 1 was honoured

    p1 = batch.products.row(0, named=True)
    assert p1["name"] == "Product 1" and p1["active"] is True and p1["shippable"] is True
    assert p1["images"] == ["https://cdn.test/1/a.jpg", "https://cdn.test/1/b.jpg"]
    meta = {m["key"]: m["value"] for m in p1["metadata"]}
    assert meta["vendor"] == "Acme" and meta["handle"] == "product-1" and meta["status"] == "active"
    assert json.loads(meta["image_alt"]) == {"https://cdn.test/1/a.jpg": "front"}
    assert batch.products.filter(external_id="3")["active"].to_list() == [False]  # draft

    v = batch.variants.filter(variant_key="SKU-1-M").row(0, named=True)
    assert v["product_external_id"] == "1" and v["unit_amount"] == 2150
    assert v["inventory_quantity"] == 1 and v["inventory_policy"] == "deny"
    assert v["options"] == [{"key": "Size", "value": "M"}] and v["nickname"] == "M"
    vmeta = {m["key"]: m["value"] for m in v["metadata"]}
    assert vmeta["id"] == "11" and vmeta["weight"] == "0.25"  # exact number text, no float
    assert json.loads(vmeta["presentment_prices"])[0]["price"]["currency_code"] == "EUR"
    assert "variants.presentment_prices" in batch.unmapped_columns


def test_a_permanent_500_raises_naming_url_and_status(server) -> None:
    base, hits = server
    with pytest.raises(FeedError) as e:
        fetch_products_feed(f"{base}/always-500.json", backoff=0.01, max_retries=2)
    assert f"{base}/always-500.json" in str(e.value)
    assert "500" in str(e.value) and "3 attempts" in str(e.value)
    assert hits["/always-500.json"] == 3
    assert isinstance(e.value, InputError)  # the CLI reports it as unreadable input


def test_retry_after_is_capped(server) -> None:
    base, _ = server
    started = time.monotonic()
    batch = fetch_products_feed(f"{base}/slow-retry.json", backoff=0.01, max_delay=0.2)
    assert time.monotonic() - started < 5
    assert batch.products.height == 1


def test_a_malformed_page_is_an_error_not_a_skipped_page(server) -> None:
    base, _ = server
    with pytest.raises(FeedError, match="malformed.json"):
        fetch_products_feed(f"{base}/broken-second-page.json", backoff=0.01)
    with pytest.raises(FeedError, match="duplicate key 'products'"):
        fetch_products_feed(f"{base}/duplicate-keys.json", backoff=0.01)
    with pytest.raises(FeedError, match="NaN"):
        fetch_products_feed(f"{base}/nan.json", backoff=0.01)


def test_a_404_is_not_retried(server) -> None:
    base, hits = server
    with pytest.raises(FeedError, match="404"):
        fetch_products_feed(f"{base}/not-found.json", backoff=0.01)
    assert hits["/not-found.json"] == 1


def test_bad_products_are_rejected_whole_and_counted(server) -> None:
    base, _ = server
    batch = fetch_products_feed(f"{base}/bad-rows.json", backoff=0.01)
    batch.check_reconciles()
    assert (batch.rows_read, batch.rows_valid, len(batch.rejects)) == (3, 1, 2)
    bad, dup = batch.rejects
    assert bad.row_number == 2
    assert any("variants[1].price" in r and "12.345" in r for r in bad.reasons)
    assert any("variants[0].inventory_quantity" in r for r in bad.reasons)
    assert dup.row_number == 3 and "already received as row 1" in dup.reasons[0]
    assert batch.products["external_id"].to_list() == ["1"]


def test_connection_errors_are_retried_then_reported() -> None:
    """A server that accepts and hangs up at once: every try is a real connection."""
    accepted: list[int] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]

        def hang_up() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(1)
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        url = f"http://127.0.0.1:{port}/products.json"
        with pytest.raises(FeedError) as e:
            fetch_products_feed(url, max_retries=2, backoff=0.01)
    assert url in str(e.value) and "ConnectionError" in str(e.value)
    assert "3 attempts" in str(e.value)
    assert len(accepted) == 3  # the first try and two retries


def test_a_feed_held_in_frames_of_a_few_rows_reads_as_one_held_whole(server, monkeypatch) -> None:
    base, _ = server
    whole = fetch_products_feed(f"{base}/products.json", backoff=0.01, max_retries=3)
    monkeypatch.setattr(http_json, "FRAME_ROWS", 2)  # 7 products, 14 variants: many frames
    framed = fetch_products_feed(f"{base}/products.json", backoff=0.01, max_retries=3)
    assert framed.products.equals(whole.products) and framed.variants.equals(whole.variants)
    assert framed.products["row_number"].to_list() == list(range(1, 8))
    assert framed.rows_read == 7 and framed.rejects == []
    framed.check_reconciles()
