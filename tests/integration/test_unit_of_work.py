"""The import's unit of work: nothing is committed unless `commit()` is called."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog_pipelines.store.unit_of_work import UnitOfWork

_INSERT = sa.text("INSERT INTO accounts (id) VALUES (:id)")
_EXISTS = sa.text("SELECT count(*) FROM accounts WHERE id = :id")


def _exists(engine: sa.Engine, account: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(_EXISTS, {"id": account}).scalar_one())


def test_commit_is_explicit(engine: sa.Engine, account: str) -> None:
    with engine.connect() as conn, UnitOfWork(conn) as uow:
        conn.execute(_INSERT, {"id": account + "_c"})
        uow.commit()
        assert uow.committed
    assert _exists(engine, account + "_c")


def test_leaving_without_commit_rolls_back(engine: sa.Engine, account: str) -> None:
    def work() -> str:
        with engine.connect() as conn, UnitOfWork(conn):
            conn.execute(_INSERT, {"id": account + "_r"})
            return "returned early"  # a guard refusing, a dry run...

    assert work() == "returned early"
    assert not _exists(engine, account + "_r")


def test_an_error_rolls_back_and_propagates(engine: sa.Engine, account: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), engine.connect() as conn, UnitOfWork(conn):
        conn.execute(_INSERT, {"id": account + "_e"})
        raise RuntimeError("boom")
    assert not _exists(engine, account + "_e")


def test_an_open_implicit_transaction_is_not_swallowed(engine: sa.Engine, account: str) -> None:
    """Work done before the unit of work (autobegin) is committed first, not rolled back with
    the unit of work, and the unit of work is its own transaction."""
    with engine.connect() as conn:
        conn.execute(_INSERT, {"id": account + "_before"})
        with UnitOfWork(conn):
            conn.execute(_INSERT, {"id": account + "_inside"})
    assert _exists(engine, account + "_before")
    assert not _exists(engine, account + "_inside")
