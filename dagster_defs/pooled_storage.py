"""Dagster's PostgreSQL storage with its connections kept open between calls.

dagster-postgres opens and closes a connection for every read and write of its storage
(`NullPool`), so that idle instances hold nothing. A run makes 120 to 190 of those calls, and
each new connection costs the server a backend process: about half of a small run's time in
a long-lived process. `dagster-webserver` pools its own storage's connections for that reason
(`optimize_for_webserver`); this storage does the same in every process that loads the
instance (the daemon, run workers, step processes). A kept connection is checked when taken
from the pool, so one the server closed (a restart, a failover) is replaced, not an error.

deploy/dagster.yaml selects it with `storage: custom:`; its config is dagster-postgres' own
plus an optional `pool` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from dagster import Field, IntSource
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

if TYPE_CHECKING:
    from dagster_postgres.auth import PgTokenProvider

DEFAULT_POOL: dict[str, int] = {"size": 2, "max_overflow": 20, "recycle_seconds": 3600}
"""Up to two kept connections per storage, because some storage calls open a second one inside
the first (an event write checks a table); with one, that second was opened on every call.
Bursts from threads (the daemon's sensors) open more and close them after, as dagster-postgres
always does. Recycled hourly, as the webserver does."""


class _PooledEngine:
    """Replaces a dagster-postgres storage's `NullPool` engine with a small pool, and closes
    the pool's connections when the instance is disposed."""

    postgres_url: str
    _token_provider: PgTokenProvider | None
    _engine: sa.Engine

    def use_pool(self, pool: dict[str, int]) -> None:
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=pool["size"],
            max_overflow=pool["max_overflow"],
            pool_recycle=pool["recycle_seconds"],
            pool_pre_ping=True,
        )

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]  # the storage class this is mixed into
        self._engine.dispose()


class PooledPostgresRunStorage(_PooledEngine, PostgresRunStorage):
    """Also closes the schedule storage's pool (`siblings`): an instance disposes its run and
    event log storages, never its schedule storage."""

    siblings: tuple[_PooledEngine, ...] = ()

    def dispose(self) -> None:
        super().dispose()
        for storage in self.siblings:
            storage.dispose()


class PooledPostgresEventLogStorage(_PooledEngine, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_PooledEngine, PostgresScheduleStorage):
    pass


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose run, event log and schedule storages pool connections."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: PgTokenProvider | None = None,
        pool: dict[str, int] | None = None,
    ) -> None:
        # The parent's __init__ would build the plain storages (and check their tables) only
        # for them to be replaced, so it is not called; its attributes are set here.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        settings = {**DEFAULT_POOL, **(pool or {})}
        storages: list[Any] = []
        for cls in (
            PooledPostgresRunStorage,
            PooledPostgresEventLogStorage,
            PooledPostgresScheduleStorage,
        ):
            storage = cls(postgres_url, should_autocreate_tables, token_provider=token_provider)
            storage.use_pool(settings)
            storages.append(storage)
        runs, events, schedules = storages
        runs.siblings = (schedules,)
        self._run_storage, self._event_log_storage, self._schedule_storage = storages
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **cast(Mapping[str, Any], pg_config()),
            "pool": Field(
                {
                    "size": Field(IntSource, is_required=False),
                    "max_overflow": Field(IntSource, is_required=False),
                    "recycle_seconds": Field(IntSource, is_required=False),
                },
                is_required=False,
                description="Connections kept open per storage, extra ones allowed for "
                "bursts, and the age at which a kept connection is replaced (-1: never).",
            ),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
            pool=config_value.get("pool"),
        )
