"""`catalog-sync api-keys create --json` prints the key once; only its hash is stored."""

from __future__ import annotations

import json
import secrets

import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines.api.auth import hash_secret
from catalog_pipelines.cli import main


def test_api_keys_create(
    database_url: str, engine: sa.Engine, api_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    account = f"acct_cli_{secrets.token_hex(4)}"  # does not exist yet: it is created
    assert main(["api-keys", "create", "--account", account, "--json"]) == 0
    key = json.loads(capsys.readouterr().out)
    assert set(key) == {"id", "account", "secret"} and key["account"] == account
    assert key["secret"].startswith("sk_")
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT secret_hash FROM api_keys WHERE id = :id"), {"id": key["id"]}
        ).scalar_one()
    assert stored == hash_secret(key["secret"]) and key["secret"] not in stored
    r = requests.get(
        api_server + "/v1/products",
        headers={"Authorization": f"Bearer {key['secret']}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["data"] == []
    assert main(["api-keys", "create", "--account", "bad id!", "--json"]) == 2
