"""`catalog-sync serve` as a real process on a free loopback port, for tests that measure the
server itself (its memory, its answers while the database is frozen, its key cache)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env: dict[str, str] | None = None, *, workers: int = 1) -> Iterator[tuple[str, int]]:
    """Start the API server; yield (base URL, pid). Stops it afterwards."""
    port = free_port()
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty server never blocks
        yield from _run(port, log, env, workers)


def _run(
    port: int, log: IO[bytes], env: dict[str, str] | None, workers: int
) -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "catalog_pipelines.cli", "serve", "--port", str(port)]
        + ["--log-level", "warning", "--workers", str(workers)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the API server exited: {log.read().decode()[-2000:]}")
            try:
                requests.get(base + "/openapi.json", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start") from None
                time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
