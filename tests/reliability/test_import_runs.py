"""Every attempt leaves a run: failed runs with their error, killed runs marked abandoned by
the next run of their source, database failures with their own exit code, and never a
traceback or a partial write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipelines.cli import main
from catalog_pipelines.cli_args import EXIT_ENVIRONMENT, EXIT_USAGE

MAPPING = """\
format: csv
key: handle
currency: usd
fields:
  name: title
  price: price
  sku: sku
  inventory_quantity: qty
"""


def _runs(engine: sa.Engine, account: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT id, status, error, rows_read FROM import_runs WHERE account_id = :a"
                " ORDER BY started"
            ),
            {"a": account},
        ).all()


def _count(engine: sa.Engine, table: str, account: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),  # noqa: S608
            {"a": account},
        ).scalar_one()


def _mapping(tmp_path: Path) -> Path:
    m = tmp_path / "m.yaml"
    m.write_text(MAPPING)
    return m


def test_unreadable_file_is_a_failed_run(
    database_url: str, engine: sa.Engine, account: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = tmp_path / "broken.csv"
    path.write_text('handle,title,price,sku,qty\ntee,"Tee,1.00,T-1,1\n')  # unbalanced quote
    code = main(
        ["import", str(path), "--source", "broken", "--mapping", str(_mapping(tmp_path)),
         "--account", account]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "unbalanced quote" in err
    runs = _runs(engine, account)
    assert [r.status for r in runs] == ["failed"]
    assert "broken.csv" in runs[0].error and "unbalanced quote" in runs[0].error


def test_database_error_mid_run_is_rolled_back_and_recorded_as_failed(
    database_url: str, engine: sa.Engine, account: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A real error from PostgreSQL in the middle of the writes (a trigger on this account's
    inventory items): nothing is written, and the run says why, in one line, exit 4."""
    fn = f"fail_{account}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'disk_full'; END $$;"
                f" CREATE TRIGGER {fn} BEFORE INSERT ON inventory_items FOR EACH ROW"
                f" WHEN (NEW.account_id = '{account}') EXECUTE FUNCTION {fn}()"
            )
        )
    try:
        path = tmp_path / "ok.csv"
        path.write_text("handle,title,price,sku,qty\ntee,Tee,1.00,T-1,1\nmug,Mug,2.00,M-1,2\n")
        code = main(
            ["import", str(path), "--source", "s", "--mapping", str(_mapping(tmp_path)),
             "--account", account]
        )  # fmt: skip
        err = capsys.readouterr().err
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TRIGGER {fn} ON inventory_items; DROP FUNCTION {fn}()"))
    assert code == EXIT_ENVIRONMENT
    assert "Traceback" not in err and err.count("\n") == 1
    assert "disk on fire" in err and "recorded as failed" in err
    runs = _runs(engine, account)
    assert [r.status for r in runs] == ["failed"]
    assert "disk on fire" in runs[0].error
    assert _count(engine, "products", account) == 0  # the products before it were rolled back
    assert _count(engine, "events", account) == 0


def test_unreachable_database_exits_4_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("handle,title\nx,y\n")
    env = {**os.environ, "DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:9/catalog"}
    proc = subprocess.run(
        [sys.executable, "-m", "catalog_pipelines.cli", "import", str(path), "--source", "s"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == EXIT_ENVIRONMENT
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database at 127.0.0.1:9/catalog")
    assert "hunter2" not in proc.stderr


def _big_csv(path: Path, rows: int, prefix: str) -> None:
    with path.open("w") as f:
        f.write("handle,title,price,sku,qty\n")
        for i in range(rows):
            f.write(f"{prefix}{i},Product {i} {'x' * 80},{i % 500}.99,{prefix}SKU-{i},{i % 7}\n")


def test_kill_9_mid_copy_leaves_nothing_and_the_next_run_marks_it_abandoned(
    database_url: str, engine: sa.Engine, account: str, tmp_path: Path
) -> None:
    rows = 80_000
    path = tmp_path / "big.csv"
    _big_csv(path, rows, "k")
    argv = [
        sys.executable, "-m", "catalog_pipelines.cli", "import", str(path), "--source", "bulk",
        "--mapping", str(_mapping(tmp_path)), "--account", account,
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    copying = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'COPY products%'"
    )
    deadline = time.monotonic() + 50
    seen = False
    with engine.connect() as conn:
        while time.monotonic() < deadline and proc.poll() is None:
            if conn.execute(copying).scalar_one():
                seen = True
                break
            conn.rollback()
            time.sleep(0.01)
    assert seen, "the import never reached its COPY"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Nothing partial: the killed transaction is gone once its session is.
    assert _count(engine, "products", account) == 0
    assert _count(engine, "events", account) == 0
    killed = _runs(engine, account)
    assert [r.status for r in killed] == ["running"]

    # The next run of the source waits for the dead session, marks it abandoned, is exact.
    small = tmp_path / "small.csv"
    _big_csv(small, 500, "k")
    rerun = subprocess.run(argv[:4] + [str(small)] + argv[5:], capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    runs = {r.id: r for r in _runs(engine, account)}
    assert runs[killed[0].id].status == "abandoned"
    assert "stopped before it finished" in runs[killed[0].id].error
    assert sorted(r.status for r in runs.values()) == ["abandoned", "applied"]
    assert _count(engine, "products", account) == 500
    assert _count(engine, "inventory_items", account) == 500
    assert _count(engine, "events", account) == 1500
