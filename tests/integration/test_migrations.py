import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from catalog_pipelines import db
from catalog_pipelines.fingerprints import SNAPSHOT_SCHEMA
from catalog_pipelines.store import reads, snapshots
from catalog_pipelines.store.events import (
    EVENT_LOG_LOCK,
    Cause,
    lock_event_log,
)
from catalog_pipelines.store.migrations import discover, migrate
from tests.conftest import owner_url
from tests.support.webhooks import append_test_event

# a snapshot's columns before it kept Stripe's limits (FINGERPRINT_VERSION 3)
OLD_SNAPSHOT_SCHEMA = {k: v for k, v in SNAPSHOT_SCHEMA.items() if k != "limits"}


@contextmanager
def _database_at(
    server_url: str, tmp_path: Path, version: int, name: str
) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """A new database migrated up to `version` only: (its owner's engine, the app's). The
    test migrates the rest; the database is dropped afterwards."""
    old_sql = tmp_path / "sql"
    old_sql.mkdir()
    for mig in discover():
        if mig.version <= version:
            shutil.copy(mig.path, old_sql / mig.path.name)
    url = db.create_database(server_url, name, owner=db.OWNER_ROLE)
    owner = db.make_engine(db.with_user(url, db.OWNER_ROLE))
    app = db.make_engine(db.with_user(url, db.APP_ROLE))
    try:
        migrate(owner, old_sql, app_role=db.APP_ROLE)
        yield owner, app
    finally:
        owner.dispose()
        app.dispose()
        db.drop_database(server_url, url)


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
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_LOG_LOCK,))
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


_BARE_APPEND = (
    "INSERT INTO events (account_id, type, object_type, object_id, object_version, data)"
    " SELECT :account, 'product.created', 'product', :object, 1, '{}' WHERE :write"
)


@pytest.mark.parametrize("role", ["app", "owner"])
def test_an_event_appended_without_the_log_lock_is_refused(
    database_url: str, account: str, role: str
) -> None:
    """Readers follow the log by sequence, which is safe only while appends hold the log's
    lock to their commit (store/events.py): the database refuses an append that does not,
    from any role, inside a savepoint too, and keeps nothing of it. A statement that appends
    nothing passes."""
    url = database_url if role == "app" else owner_url(database_url)
    engine = db.make_engine(url)
    count = sa.text("SELECT count(*) FROM events WHERE account_id = :a")
    try:
        with (
            pytest.raises(sa.exc.DBAPIError, match="without the event log lock") as refused,
            engine.begin() as conn,
        ):
            conn.execute(
                sa.text(_BARE_APPEND),
                {"account": account, "object": f"prod_a_{account}", "write": True},
            )
        assert isinstance(refused.value.orig, psycopg.errors.ObjectNotInPrerequisiteState)
        with engine.begin() as conn:  # inside a savepoint, rows carry the subtransaction's id
            with (
                pytest.raises(sa.exc.DBAPIError, match="without the event log lock"),
                conn.begin_nested(),
            ):
                savepoint = {"account": account, "object": f"prod_s_{account}", "write": True}
                conn.execute(sa.text(_BARE_APPEND), savepoint)
            # Rolled back to the savepoint, the transaction goes on and commits nothing of it.
            conn.execute(sa.text(_BARE_APPEND), {**savepoint, "write": False})
        with engine.begin() as conn:  # a statement that appends nothing needs no lock
            nothing = {"account": account, "object": f"prod_b_{account}", "write": False}
            conn.execute(sa.text(_BARE_APPEND), nothing)
        with engine.begin() as conn:  # the same append with the lock held
            lock_event_log(conn)
            written = {"account": account, "object": f"prod_b_{account}", "write": True}
            conn.execute(sa.text(_BARE_APPEND), written)
        with engine.begin() as conn:  # the lock taken by the statement itself
            append_test_event(conn, account, "prod_c", 1, "product.created", Cause(source="test"))
        with engine.connect() as conn:
            assert conn.execute(count, {"a": account}).scalar_one() == 2
    finally:
        engine.dispose()


def test_events_stored_before_0009_read_the_same_after_it(server_url: str, tmp_path: Path) -> None:
    """A database from before lean created events migrates, and its created events, which
    stored their object, keep reading exactly as stored, before and after their row changes."""
    # As store/bulk.py wrote them before 0009: Polars' key order, metadata keys sorted.
    stored = (
        '{"object":{"id":"prod_old","object":"product","active":true,"name":"Old",'
        '"description":null,"images":[],"url":null,"shippable":null,"tax_code":null,'
        '"unit_label":null,"package_dimensions":null,"default_price":null,"updated":1700000000,'
        '"external_id":"E1","created":1700000000,"version":1,"source":"shop","livemode":false,'
        '"metadata":{"b":"2","aa":"1"}}}'
    )
    with _database_at(server_url, tmp_path, 8, "cs_upgrade") as (owner, app):
        with owner.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO products (id, account_id, source, external_id, name, metadata,"
                    " version, content_hash, created, updated) VALUES ('prod_old', 'acct_default',"
                    " 'shop', 'E1', 'Old', '{\"aa\": \"1\", \"b\": \"2\"}', 1, 'h',"
                    " to_timestamp(1700000000), to_timestamp(1700000000))"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO events (id, account_id, type, object_type, object_id,"
                    " object_version, data, source)"
                    " VALUES ('evt_old', 'acct_default', 'product.created', 'product', 'prod_old',"
                    " 1, CAST(:data AS json), 'shop')"
                ),
                {"data": stored},
            )
        assert [m.version for m in migrate(owner, app_role=db.APP_ROLE)] == [
            m.version for m in discover() if m.version > 8
        ]
        with app.begin() as conn:
            before = json.dumps(reads.get_event(conn, "acct_default", "evt_old"))
            conn.execute(sa.text("UPDATE products SET name = 'New', version = 2"))
        with app.connect() as conn:
            after = json.dumps(reads.get_event(conn, "acct_default", "evt_old"))
            frozen = conn.execute(sa.text("SELECT count(*) FROM event_objects")).scalar_one()
        assert before == after
        assert json.dumps(json.loads(stored)) in after  # the stored text, key order included
        assert frozen == 0  # a stored event needs nothing frozen


def test_lean_events_frozen_before_0021_read_the_same_after_it(
    server_url: str, tmp_path: Path
) -> None:
    """Lean created events whose rows changed before 0021 (their state frozen as JSON) and
    after it (frozen as a row copy) read as they did while their rows were unchanged."""
    product = (
        "INSERT INTO products (id, account_id, source, external_id, name, metadata, version,"
        " content_hash, created, updated) VALUES (:id, 'acct_default', 'shop', :id, 'Old',"
        ' \'{"b": "2", "aa": "1"}\', 1, \'h\', to_timestamp(1700000000),'
        " to_timestamp(1700000000))"
    )
    lean = (
        "INSERT INTO events (id, account_id, type, object_type, object_id, object_version,"
        " source) VALUES (:id, 'acct_default', 'product.created', 'product', :object, 1, 'shop')"
    )
    change = "UPDATE products SET name = 'New', version = 2 WHERE id = :id"
    with _database_at(server_url, tmp_path, 20, "cs_upgrade_frozen") as (owner, app):
        with app.begin() as conn:
            for n in ("before", "after"):
                conn.execute(sa.text(product), {"id": f"prod_{n}"})
                conn.execute(sa.text(lean), {"id": f"evt_{n}", "object": f"prod_{n}"})
        with app.begin() as conn:
            unchanged = {
                n: reads.get_event(conn, "acct_default", f"evt_{n}") for n in ("before", "after")
            }
            conn.execute(sa.text(change), {"id": "prod_before"})
        migrate(owner, app_role=db.APP_ROLE)
        with app.begin() as conn:
            conn.execute(sa.text(change), {"id": "prod_after"})
        with app.connect() as conn:
            read = {
                n: reads.get_event(conn, "acct_default", f"evt_{n}") for n in ("before", "after")
            }
            frozen = conn.execute(sa.text("SELECT id FROM frozen_products")).scalars().all()
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                conn.execute(sa.text("DELETE FROM frozen_products"))
        with owner.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text("UPDATE frozen_products SET name = 'x'"))
    assert read == unchanged
    assert read["after"]["data"]["object"]["name"] == "Old"
    assert frozen == ["prod_after"]  # the other one's state was frozen as JSON, before 0021


def test_update_events_across_0022_read_the_same(server_url: str, tmp_path: Path) -> None:
    """An update event stored with its JSON before 0022 reads as it did; a lean one after it
    is built from the state before it (frozen) and its own (live, then frozen)."""
    product = (
        "INSERT INTO products (id, account_id, source, external_id, name, metadata, version,"
        " content_hash, created, updated) VALUES ('prod_u', 'acct_default', 'shop', 'U', 'Old',"
        " '{}', 1, 'h', to_timestamp(1700000000), to_timestamp(1700000000))"
    )
    event = (
        "INSERT INTO events (id, account_id, type, object_type, object_id, object_version,"
        " data, source) SELECT :id, 'acct_default', :type, 'product', 'prod_u', p.version,"
        " CAST(:data AS json), 'shop' FROM products p WHERE p.id = 'prod_u'"
    )
    rename = "UPDATE products SET name = :name, version = version + 1 WHERE id = 'prod_u'"
    stored = (
        "SELECT jsonb_build_object('object', product_object(p),"
        " 'previous_attributes', jsonb_build_object('name', 'Old'))::text"
        " FROM products p WHERE p.id = 'prod_u'"
    )
    with _database_at(server_url, tmp_path, 21, "cs_upgrade_updated") as (owner, app):
        with app.begin() as conn:
            conn.execute(sa.text(product))
            conn.execute(sa.text(event), {"id": "evt_c", "type": "product.created", "data": None})
            conn.execute(sa.text(rename), {"name": "New"})
            data = conn.execute(sa.text(stored)).scalar_one()
            conn.execute(sa.text(event), {"id": "evt_u2", "type": "product.updated", "data": data})
        with app.connect() as conn:
            before = [reads.get_event(conn, "acct_default", i) for i in ("evt_c", "evt_u2")]
        migrate(owner, app_role=db.APP_ROLE)
        with app.begin() as conn:
            conn.execute(sa.text(rename), {"name": "Newer"})
            lock_event_log(conn)
            conn.execute(sa.text(event), {"id": "evt_u3", "type": "product.updated", "data": None})
        ids = ("evt_c", "evt_u2", "evt_u3")
        with app.connect() as conn:
            live = [reads.get_event(conn, "acct_default", i) for i in ids]
        with app.begin() as conn:
            conn.execute(sa.text(rename), {"name": "Newest"})
        with app.connect() as conn:
            moved_on = [reads.get_event(conn, "acct_default", i) for i in ids]
            frozen = conn.execute(
                sa.text("SELECT version FROM frozen_products ORDER BY version")
            ).scalars()
            assert list(frozen) == [1, 2, 3]
    assert live[:2] == before and moved_on == live
    lean = live[2]["data"]
    assert lean["previous_attributes"] == {"name": "New"}
    assert (lean["object"]["name"], lean["object"]["version"]) == ("Newer", 3)
    assert list(lean) == ["object", "previous_attributes"]


def test_frozen_tables_have_their_catalog_tables_columns(engine: sa.Engine) -> None:
    """A frozen row is read back as its catalog table's row type: a migration that changes a
    catalog table's columns must change its frozen copy the same way."""
    columns = sa.text(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
    )
    with engine.connect() as conn:
        for table in ("products", "prices", "inventory_items"):
            live = conn.execute(columns, {"t": table}).all()
            frozen = conn.execute(columns, {"t": f"frozen_{table}"}).all()
            assert frozen == live, table


def test_a_snapshot_stored_before_0014_reads_the_same_after_it(
    server_url: str, tmp_path: Path
) -> None:
    """A source's snapshot stored as one value becomes the first of its chunks: the next
    import still finds every key of it."""
    prints = (
        pl.DataFrame(
            {
                "external_id": ["E1", "E2"],
                "fingerprint": [7, None],
                "product_id": ["prod_1", "prod_2"],
            }
        )
        .with_columns(prices=pl.lit(1), items=pl.lit(2))
        .cast(OLD_SNAPSHOT_SCHEMA)
    )  # type: ignore[arg-type]
    buf = io.BytesIO()
    prints.write_ipc(buf, compression="zstd")
    with _database_at(server_url, tmp_path, 13, "cs_upgrade_snap") as (owner, app):
        with owner.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO import_snapshots (account_id, source, run_id, salt, watermark,"
                    " own_from, own_to, products, data)"
                    " VALUES ('acct_default', 'pim', 'run_old', 's', 0, 0, 0, 2, :data)"
                ),
                {"data": buf.getvalue()},
            )
        migrate(owner, app_role=db.APP_ROLE)
        with app.connect() as conn:
            known = snapshots.load_known(conn, "acct_default", "pim")
        assert known is not None
        stale, valid = known.whole()
        assert stale.to_list() == ["E2"]  # no print: processed next time
        assert valid.to_dicts() == [
            {
                "external_id": "E1",
                "fingerprint": 7,
                "product_id": "prod_1",
                "prices": 1,
                "items": 2,
                "limits": None,  # read back from before the snapshot kept any
            }
        ]
