import psycopg
import pytest
import sqlalchemy as sa

from catalog_pipelines.store.migrations import discover, migrate
from tests.conftest import owner_url


def test_migrations_are_recorded_once_and_rerun_is_a_noop(engine: sa.Engine) -> None:
    assert migrate(engine) == []  # the session fixture already applied them
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version FROM schema_migrations ORDER BY 1")).all()
    assert [r.version for r in rows] == [m.version for m in discover()]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'x'", "DELETE FROM events", "TRUNCATE events CASCADE"],
)
def test_events_are_append_only_even_for_the_owner(
    database_url: str, account: str, statement: str
) -> None:
    """The trigger holds even for the role that owns the table (the app's role is refused
    earlier, by privileges: tests/reliability/test_event_log_roles.py)."""
    with psycopg.connect(owner_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO events (id, account_id, type, object_type, object_id, object_version, data)"
            " VALUES (%s, %s, 'product.created', 'product', %s, 1, '{}')",
            (f"evt_{account}", account, f"prod_{account}"),
        )
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        conn.rollback()
        n = conn.execute("SELECT count(*) FROM events WHERE account_id = %s", (account,)).fetchone()
    assert n == (1,)
