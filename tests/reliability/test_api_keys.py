"""API keys can be listed, revoked and rolled from the CLI, and a revoked key is refused by
every running server process within a second. Repeated invalid keys from one address are
rate-limited (429 with Retry-After) by every server process."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from catalog_pipelines.cli import main
from tests.support.server_process import serve


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str) -> Done:
    """`catalog-sync api-keys ...`, in this process (the servers are the separate processes)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["api-keys", *args])
    return Done(code, out.getvalue(), err.getvalue())


def create(account: str) -> dict[str, str]:
    done = cli("create", "--account", account, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[list[str]]:
    """Two server processes, as behind a load balancer: each has its own key cache."""
    env = {"CATALOG_API_AUTH_FAILURES": "1000"}  # polling a revoked key is no attack
    with serve(env) as (first, _), serve(env) as (second, _):
        yield [first, second]


def status(base: str, secret: str) -> int:
    r = requests.get(
        base + "/v1/products", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    return r.status_code


def refused_within(servers: list[str], secret: str, seconds: float) -> float:
    """Seconds until every server answers 401 for `secret` (fails past `seconds`)."""
    started = time.monotonic()
    pending = set(servers)
    while pending:
        pending = {base for base in pending if status(base, secret) != 401}
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"still accepted after {elapsed:.2f} s by {pending}"
    return time.monotonic() - started


def test_revoked_key_is_refused_by_every_server_within_a_second(
    servers: list[str], account: str
) -> None:
    key = create(account)
    other = create(account)
    for base in servers:  # both servers now have the key in their cache
        assert status(base, key["secret"]) == 200
    listed = json.loads(cli("list", "--account", account, "--json").stdout)
    assert [(k["id"], k["revoked"]) for k in listed] == [(key["id"], None), (other["id"], None)]
    assert all("secret" not in k and len(k["hint"]) == 4 for k in listed)

    revoked = cli("revoke", key["id"])
    assert revoked.returncode == 0, revoked.stderr
    refused_within(servers, key["secret"], 1.0)
    assert all(status(base, other["secret"]) == 200 for base in servers)

    listed = json.loads(cli("list", "--account", account, "--json").stdout)
    assert [k["revoked"] is not None for k in listed] == [True, False]
    again = cli("revoke", key["id"])
    assert again.returncode == 2 and "no live API key" in again.stderr


def test_roll_gives_a_new_secret_and_the_old_one_stops_working(
    servers: list[str], account: str
) -> None:
    key = create(account)
    assert all(status(base, key["secret"]) == 200 for base in servers)
    rolled = cli("roll", key["id"], "--json")
    assert rolled.returncode == 0, rolled.stderr
    new = json.loads(rolled.stdout)
    assert new["account"] == account and new["secret"] != key["secret"]
    assert new["id"] != key["id"]
    refused_within(servers, key["secret"], 1.0)
    assert all(status(base, new["secret"]) == 200 for base in servers)
    assert cli("roll", key["id"]).returncode == 2  # a revoked key can't be rolled again


def test_invalid_keys_are_rate_limited_per_address(database_url: str, account: str) -> None:
    """5 failures in 8 s (set for the test): the 6th try is 429 with Retry-After, even with a
    valid key and on another server process, until the window passes; then the valid key
    works again."""
    good = create(account)["secret"]
    env = {"CATALOG_API_AUTH_FAILURES": "5", "CATALOG_API_AUTH_WINDOW": "8"}
    with serve(env) as (base, _), serve(env) as (other, _):
        check_rate_limit(base, other, good)


def check_rate_limit(base: str, other: str, good: str) -> None:
    for n in range(5):
        assert status(base, f"sk_wrong_{n}") == 401
    r = requests.get(base + "/v1/products", headers={"Authorization": f"Bearer {good}"}, timeout=10)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limit"
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 8
    # the failures are counted in the database: the other process refuses the address too,
    # once its view is reloaded (at most every half second)
    deadline = time.monotonic() + 2
    while (code := status(other, good)) != 429 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert code == 429
    time.sleep(wait + 0.2)
    assert status(base, good) == 200
    assert status(other, good) == 200
