"""Client CPU, wall time and peak RSS of one `import_path` call, for comparing two versions of
the code on a loaded machine (CPU time moves far less with the load than wall time).

    uv run python bench/import_cpu.py setup FILE.csv          # new database + initial import
    uv run python bench/import_cpu.py run DBNAME FILE.csv     # re-import into that database
    uv run python bench/import_cpu.py drop DBNAME

FILE.csv is a file of `import_bench.generate` (its mapping is `import_bench.MAPPING`). Run the
same commands from a checkout of each version; each uses its own embedded server.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    main()
