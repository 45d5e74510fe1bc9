"""Whether an account stores anything decides if a first import may be streamed: the answer
is the account's own, whatever other accounts store around it."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.store.imports import holds_nothing
from tests.support.batches import batch


def test_an_account_holds_nothing_until_it_imports(engine: sa.Engine, account: str) -> None:
    with engine.connect() as conn:
        assert holds_nothing(conn, account)
    import_batch(engine, batch([{"external_id": "P0", "name": "a"}]), ImportOptions("s", account))
    with engine.connect() as conn:
        assert not holds_nothing(conn, account)


def test_other_accounts_rows_do_not_count(engine: sa.Engine, account: str) -> None:
    """Accounts whose ids sort just before and after this one's hold products."""
    for neighbour in (account[:-1], f"{account}0"):
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO accounts (id) VALUES (:id) ON CONFLICT DO NOTHING"),
                {"id": neighbour},
            )
        import_batch(
            engine, batch([{"external_id": "P0", "name": "a"}]), ImportOptions("s", neighbour)
        )
    with engine.connect() as conn:
        assert holds_nothing(conn, account)


def test_stock_alone_is_something(engine: sa.Engine, account: str) -> None:
    import_batch(engine, batch([{"external_id": "P0", "name": "a"}]), ImportOptions("s", account))
    with engine.begin() as conn:  # the products go; their stock items stay
        conn.execute(sa.text("DELETE FROM prices WHERE account_id = :a"), {"a": account})
        conn.execute(sa.text("DELETE FROM products WHERE account_id = :a"), {"a": account})
        assert not holds_nothing(conn, account)
