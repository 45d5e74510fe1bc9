"""A small local webhook receiver: for the demo, the tests and the benchmark.

It speaks HTTP/1.1 with keep-alive (so the worker's pooled connections are reused), records
every request it gets, and answers what a `responder` decides (default: 200). Run it alone
with `python -m catalog_pipelines.webhooks.receiver --port 8765`.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (timeouts in tests)


Responder = Callable[[Received], Reply | int]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class LocalReceiver:
    """`with LocalReceiver() as r: ... r.url ... r.received`"""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, responder: Responder | None = None
    ) -> None:
        self.responder: Responder = responder or (lambda _r: 200)
        self.received: list[Received] = []
        self.answered: list[tuple[Received, int]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-body: nothing was delivered
                    self.close_connection = True
                    return
                got = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                with outer._lock:
                    outer.received.append(got)
                reply = outer.responder(got)
                if isinstance(reply, int):
                    reply = Reply(reply)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up (timeout test)
                    return
                with outer._lock:
                    outer.answered.append((got, reply.status))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> LocalReceiver:
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LocalReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def delivered(self) -> list[Received]:
        """Requests answered with a 2xx, in the order they were answered."""
        with self._lock:
            return [r for r, status in self.answered if 200 <= status < 300]


def main() -> None:
    parser = argparse.ArgumentParser(description="A local webhook receiver that answers 200.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    receiver = LocalReceiver(args.host, args.port)
    print(f"listening on http://{args.host}:{receiver.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        receiver.server.serve_forever()


if __name__ == "__main__":
    main()
