"""A live API server (uvicorn in a thread, on a free loopback port) for the e2e tests."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import uvicorn

from catalog_pipelines.api.app import api_engine, create_app
from catalog_pipelines.api.auth import create_api_key
from tests.support.browser import CHROMIUM, start_chromium
from tests.support.dashboard import Merchant


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn.Server run in a daemon thread; stopped by setting should_exit."""

    def __init__(self, app: object, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_server(database_url: str) -> Iterator[str]:
    engine = api_engine(database_url)
    with ServerThread(create_app(engine), free_port()) as server:
        yield server.url
    engine.dispose()


@dataclass
class Client:
    """requests against the live server as one account."""

    base: str
    account: str
    secret: str
    session: requests.Session

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **(extra or {})}

    def get(
        self, path: str, params: object = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.session.get(
            self.base + path, params=params, headers=self._headers(headers), timeout=30
        )

    def post(
        self,
        path: str,
        data: object = None,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        return self.session.post(
            self.base + path, data=data, json=json, headers=self._headers(headers), timeout=30
        )

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path, headers=self._headers(None), timeout=30)


def new_client(engine: sa.Engine, base: str, account: str | None = None) -> Client:
    account = account or f"acct_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        key = create_api_key(conn, account)
    return Client(base=base, account=account, secret=key["secret"], session=requests.Session())


@pytest.fixture
def client(engine: sa.Engine, api_server: str) -> Client:
    return new_client(engine, api_server)


@pytest.fixture
def other_client(engine: sa.Engine, api_server: str) -> Client:
    return new_client(engine, api_server)


@pytest.fixture
def merchant(engine: sa.Engine, api_server: str) -> Merchant:
    """A new account with an API key, and an HTTP session not yet signed in to the dashboard."""
    api = new_client(engine, api_server)
    return Merchant(
        base=api_server, account=api.account, api_key=api.secret, http=requests.Session()
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium per test module (skips where Debian's chromium is missing)."""
    if not CHROMIUM.exists():
        pytest.skip(
            "no Debian chromium at /usr/bin/chromium (apt-get install chromium chromium-driver)"
        )
    driver = start_chromium(
        tmp_path_factory.mktemp("chromium-profile"), downloads=tmp_path_factory.mktemp("downloads")
    )
    try:
        yield driver
    finally:
        driver.quit()
