"""A unit of work: one transaction that is committed only when asked, and rolled back otherwise.

SQLAlchemy's `engine.begin()` commits when its block ends without an exception. A long import
must never commit by accident (an early `return`, a guard that refuses), so the import runs
in a `UnitOfWork`: `commit()` is explicit, and leaving the block any other way rolls back.
"""

from __future__ import annotations

from types import TracebackType

import sqlalchemy as sa


class UnitOfWork:
    """`with UnitOfWork(conn) as uow: ...; uow.commit()`. Without `commit()`, the transaction
    is rolled back when the block ends, whether by return, guard or exception."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._transaction: sa.RootTransaction | None = None
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        if self.conn.in_transaction():
            # An implicit transaction (autobegin) would swallow ours: finish it first.
            self.conn.commit()
        self._transaction = self.conn.begin()
        return self

    def commit(self) -> None:
        assert self._transaction is not None, "commit() outside the `with` block"
        self._transaction.commit()
        self.committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()
