"""Resources: where the catalog database and the inbox live.

Both are configured from the environment through `EnvVar`, so the values (a database password,
a mounted volume) never appear in the UI or in run config. Both variables are optional: without
`DATABASE_URL` the embedded PostgreSQL under CATALOG_HOME is used (docs/cli.md), and without
`CATALOG_INBOX` the inbox is `./inbox`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import overload

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from catalog_pipelines import db

DEFAULT_ACCOUNT = "acct_default"
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # the sources.name CHECK


class CatalogDatabase(dg.ConfigurableResource):
    """The catalog's PostgreSQL. One pooled engine per URL per process (`db.shared_engine`),
    because under the multiprocess executor every step builds its resources again."""

    database_url: str | None = Field(
        default=None,
        description="postgresql:// URL of the catalog; unset means the embedded server.",
    )
    account_id: str = Field(
        default=DEFAULT_ACCOUNT,
        description="The account whose sources this code location imports.",
    )

    def engine(self) -> sa.Engine:
        return db.shared_engine(self.database_url or db.libpq_url())


class InboxResource(dg.ConfigurableResource):
    """Where merchants drop files: `<base_dir>/<source>/<file>`. Files leave the inbox for
    `processed_dir` or `failed_dir` (same layout) once the run that imported them ends."""

    base_dir: str = Field(default="inbox", description="The inbox root.")
    processed_dir: str | None = Field(
        default=None, description="Default: a `processed` folder next to the inbox."
    )
    failed_dir: str | None = Field(
        default=None, description="Default: a `failed` folder next to the inbox."
    )
    settle_seconds: float = Field(
        default=2.0,
        description="A file younger than this may still be being written; it waits a tick.",
    )
    max_runs_per_tick: int = Field(
        default=50, description="Bounds each tick well under the 60 s sensor timeout."
    )

    def root(self) -> Path:
        return Path(self.base_dir).resolve()

    def processed_root(self) -> Path:
        return (
            Path(self.processed_dir).resolve()
            if self.processed_dir
            else self.root().parent / "processed"
        )

    def failed_root(self) -> Path:
        return Path(self.failed_dir).resolve() if self.failed_dir else self.root().parent / "failed"


@overload
def _env_or(name: str, default: str) -> str: ...
@overload
def _env_or(name: str, default: None) -> str | None: ...
def _env_or(name: str, default: str | None) -> str | None:
    """`EnvVar(name)` when the variable is set where the code location loads, else `default`.

    EnvVar fails at run time when its variable is missing; these two variables are optional.
    Code servers, the daemon and run workers share one environment, so checking at load is fine.
    """
    return dg.EnvVar(name) if os.environ.get(name) else default


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "catalog_db": CatalogDatabase(
            database_url=_env_or("DATABASE_URL", None),
            account_id=_env_or("CATALOG_ACCOUNT", DEFAULT_ACCOUNT),
        ),
        "inbox": InboxResource(base_dir=_env_or("CATALOG_INBOX", "inbox")),
    }
