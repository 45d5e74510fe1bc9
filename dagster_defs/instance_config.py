"""The production Dagster instance's settings (deploy/dagster.yaml) pointed at one database:
for tests and benchmarks that run jobs on the storage production uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

PRODUCTION_YAML = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def postgres_db_config(url: str) -> dict[str, Any]:
    """dagster-postgres' `postgres_db` block for a libpq URL, Unix-socket hosts included
    (the socket directory goes into `params.host`; Dagster would put a path into the netloc)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    config: dict[str, Any] = {
        "username": parts.username or "postgres",
        "password": parts.password or "",
        "hostname": parts.hostname or "",
        "port": parts.port or int(query.get("port", 5432)),
        "db_name": parts.path.lstrip("/"),
    }
    if "host" in query:
        # libpq takes the port from params too when the host is a socket directory
        config["params"] = {"host": query["host"], "port": str(config["port"])}
    return config


def production_config(url: str, *, pooled: bool = True) -> dict[str, Any]:
    """deploy/dagster.yaml with its storage in the database at `url`; the driver (`scheme`)
    stays the production one. `pooled=False` swaps the pooled storage for dagster-postgres'
    plain one (a connection per call), for comparisons."""
    config = yaml.safe_load(PRODUCTION_YAML.read_text(encoding="utf-8"))
    storage = config["storage"]["custom"]["config"]
    storage["postgres_db"] = {
        **postgres_db_config(url),
        "scheme": storage["postgres_db"]["scheme"],
    }
    if not pooled:
        config["storage"] = {"postgres": {"postgres_db": storage["postgres_db"]}}
    return config
