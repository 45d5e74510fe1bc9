"""Client CPU, wall time and peak RSS of one `import_path` call, for comparing two versions of
the code on a loaded machine (CPU time moves far less with the load than wall time).

    uv run python bench/import_cpu.py setup FILE.csv          # new database + initial import
    uv run python bench/import_cpu.py run DBNAME FILE.csv     # re-import into that database
    uv run python bench/import_cpu.py drop DBNAME
    uv run python bench/import_cpu.py renamed FILE.csv K OUT.csv   # see below

FILE.csv is a file of `import_bench.generate` (its mapping is `import_bench.MAPPING`). Run the
same commands from a checkout of each version; each uses its own embedded server, unless
CATALOG_HOME (or DATABASE_URL) names the same one for both.
CATALOG_DEBUG=1 prints the importer's debug log, with the time of each statement it runs.

`renamed` writes OUT.csv: FILE.csv with the names of the rows whose index modulo 100 is
below K changed. Re-importing K = 1, 2, 3, ... in turn changes 10,000 more products of a 1M file
each time, each still at version 1: the case of the bench's 1% phase, repeatable on one
catalog, so two versions of the code can take turns on it.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    import sqlalchemy as sa
    from import_bench import MAPPING

    from catalog_pipelines import db
    from catalog_pipelines.importer import ImportOptions, import_path
    from catalog_pipelines.store.migrations import migrate

    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "renamed":
        _renamed(Path(args[0]), int(args[1]), Path(args[2]))
        return
    if os.environ.get("CATALOG_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)8.0f %(message)s")
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = db.admin_url()
    if mode == "drop":
        db.drop_database(server, db.with_database(server, args[0]))
        return
    if mode == "setup":
        url = db.create_database(server, "cs_cpu")
        migrate(db.make_engine(url))
        print("database", sa.make_url(url).database)
        csv = Path(args[0])
    else:
        url, csv = db.with_database(server, args[0]), Path(args[1])
    engine = db.make_engine(url)
    with tempfile.TemporaryDirectory() as tmp:
        mapping = Path(tmp, "m.yaml")
        mapping.write_text(MAPPING)
        before, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        report = import_path(
            engine,
            csv,
            ImportOptions(source="bench", account_id="acct_bench"),
            format="csv",
            mapping_path=mapping,
        )
        wall, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(
        f"{mode}: wall {wall:.2f} s, client CPU {cpu:.2f} s, events {report.events},"
        f" peak RSS {after.ru_maxrss / 1024:.0f} MiB"
    )


def _renamed(source: Path, k: int, out: Path) -> None:
    import polars as pl

    rows = pl.read_csv(source, infer_schema=False)
    index = pl.int_range(pl.len())
    renamed = pl.when(index % 100 < k).then(pl.col("name") + " v2").otherwise(pl.col("name"))
    rows.with_columns(renamed.alias("name")).write_csv(out)
    print(f"{out}: {rows.height} rows, names of index % 100 < {k} changed")


if __name__ == "__main__":
    main()
