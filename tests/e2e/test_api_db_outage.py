"""While the database is unreachable the API answers 503 with a clear body, and it recovers
by itself once the database is back. The outage is a TCP proxy in front of the real server
that we stop and start."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
import sqlalchemy as sa

from catalog_pipelines.api.app import api_engine, create_app
from tests.e2e.conftest import ServerThread, free_port, new_client


class Proxy:
    """127.0.0.1:port -> the database (Unix socket or TCP); stop() cuts every connection."""

    def __init__(self, upstream: tuple[int, object], port: int) -> None:
        self.family, self.address = upstream
        self.port = port
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(self.family, socket.SOCK_STREAM)
            upstream.connect(self.address)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone may not
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _upstream(url: str) -> tuple[int, object]:
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    port = parts.port or 5432
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(("postgresql", f"{auth}127.0.0.1:{port}", parts.path, "", ""))


def _get(url: str, secret: str) -> requests.Response:
    return requests.get(
        url + "/v1/products", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def test_503_while_unreachable_then_recovers(database_url: str, engine: sa.Engine) -> None:
    proxy = Proxy(_upstream(database_url), free_port())
    proxy.start()
    api_db = api_engine(_through(database_url, proxy.port))
    try:
        with ServerThread(create_app(api_db), free_port()) as server:
            c = new_client(engine, server.url)
            c.post("/v1/products", data={"name": "before"})  # warm the pool and the key cache
            assert _get(server.url, c.secret).status_code == 200
            proxy.stop()
            down = _get(server.url, c.secret)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "database_unavailable"
            assert down.json()["error"]["type"] == "api_error"
            assert down.headers["Retry-After"] == "5"
            assert c.post("/v1/products", data={"name": "during"}).status_code == 503
            proxy.start()
            deadline = time.monotonic() + 15
            while (r := _get(server.url, c.secret)).status_code != 200:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            assert [p["name"] for p in r.json()["data"]] == ["before"]
    finally:
        proxy.stop()
        api_db.dispose()
