"""Module-level overrides that give a test module a database of its own.

database_url, engine = isolated_database()   # at module level
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from catalog_pipelines import db


def isolated_database() -> tuple[Callable[..., Any], Callable[..., Any]]:
    @pytest.fixture(scope="module")
    def database_url(isolated_database_url: str) -> str:
        return isolated_database_url

    @pytest.fixture(scope="module")
    def engine(database_url: str) -> Iterator[sa.Engine]:
        eng = db.make_engine(database_url)
        yield eng
        eng.dispose()

    return database_url, engine
