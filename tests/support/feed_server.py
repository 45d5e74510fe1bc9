"""Shopify `products.json` feeds served by a real local HTTP server, with the pages each
request asked for counted; the feeds the feed-import tests read."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _product(pid: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "title": f"Product {pid}",
        "handle": f"product-{pid}",
        "status": "active",
        "vendor": "Acme",
        "options": [{"name": "Size", "position": 1}],
        "variants": [
            {"id": pid * 10 + n, "sku": f"SKU-{pid}-{size}", "price": f"1{n}.50", "option1": size}
            for n, size in enumerate(["S", "M"])
        ],
        **extra,
    }


def _bad_price(pid: int) -> dict[str, Any]:
    product = _product(pid)
    product["variants"][1]["price"] = "12.345"
    return product


def _sku_of(pid: int, other: int) -> dict[str, Any]:
    product = _product(pid)
    product["variants"][0]["sku"] = f"SKU-{other}-S"
    return product


# path -> the page's products and the next page's path
FEEDS: dict[str, tuple[list[dict[str, Any]], str | None]] = {
    # rejects inside pages: a bad price, an id the same page repeats, a NUL; a key that only
    # the last page has (`seo`), which the batch's columns must list last
    "/shop.json": ([_product(1), _bad_price(2), _product(3)], "/shop-2.json"),
    "/shop-2.json": ([_product(4), _product(4), _product(5, title="bad\x00")], "/shop-3.json"),
    "/shop-3.json": ([_product(6, seo="x"), _product(7)], None),
    # the shop the next day: 2's price fixed, 3 renamed, 4 with a new key, 6 gone, 8 new
    "/shop-next.json": (
        [_product(1), _product(2), _product(3, title="Renamed")],
        "/shop-next-2.json",
    ),
    "/shop-next-2.json": ([_product(4, seo="y"), _product(5), _product(7)], "/shop-next-3.json"),
    "/shop-next-3.json": ([_product(8)], None),
    # a later piece repeats an earlier piece's product id, and another product's SKU
    "/dup.json": ([_product(1), _product(2)], "/dup-2.json"),
    "/dup-2.json": ([_product(3), _product(1, title="again")], "/dup-3.json"),
    "/dup-3.json": ([_sku_of(4, 2)], None),
    # the next day 11 takes 12's first SKU, and 12 gets a new one: the parts of 11 and 12
    # (a page each, a piece each) lead to the same stored SKU: the re-import is planned whole
    "/moved.json": ([_product(11), _product(14)], "/moved-2.json"),
    "/moved-2.json": ([_product(12), _product(15)], None),
    "/moved-next.json": ([_sku_of(11, 12), _product(14)], "/moved-next-2.json"),
    "/moved-next-2.json": ([_sku_of(12, 13), _product(15)], None),
    # the second page is not JSON
    "/broken.json": ([_product(1)], "/broken-2.json"),
}


class _Handler(BaseHTTPRequestHandler):
    hits: Counter[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.hits[self.path] += 1
        if self.path == "/broken-2.json":
            body, link = b'{"products": [', None
        else:
            products, following = FEEDS[self.path]
            body = json.dumps({"products": products}).encode()
            link = f'<http://{self.headers["Host"]}{following}>; rel="next"' if following else None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real local HTTP server answering with `handler`, in a thread: its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_feeds() -> Iterator[tuple[str, Counter[str]]]:
    """FEEDS served: the base URL, and the requests per path answered."""
    handler = type("Handler", (_Handler,), {"hits": Counter()})
    with serve(handler) as base:
        yield base, handler.hits
