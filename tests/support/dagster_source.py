"""A generic CSV source for the Dagster import job's tests: its row, its partition, and the
resources a run of it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from catalog_pipelines.store.sources import GROUPS, create_source
from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
from dagster_defs.resources import CatalogDatabase, InboxResource


def csv_source(
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    database_url: str,
    account: str,
    *,
    name: str,
    path: Path,
    mapping: dict[str, Any] | None,
    inbox: Path,
    kind: str = "csv",
) -> dict[str, Any]:
    """Create source `name` of `kind` reading `path` (through `mapping`, for a generic file),
    owning everything, add its partition, and return the run's resources."""
    with engine.begin() as conn:
        create_source(
            conn, account_id=account, name=name, kind=kind, owns=frozenset(GROUPS),
            mapping=mapping, config={"path": str(path)},
        )  # fmt: skip
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [name])
    return {
        "catalog_db": CatalogDatabase(database_url=database_url, account_id=account),
        "inbox": InboxResource(base_dir=str(inbox), settle_seconds=0),
    }
