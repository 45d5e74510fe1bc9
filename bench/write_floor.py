"""What the catalog's own rows cost to write, against the COPY the import targets are stated
against: a floor under the initial import that no reader, mapping or diff can go below.

    uv run python bench/write_floor.py --rows 1000000 [--turns 2]

In one scratch database: the bench's file (`import_bench.generate`) imported once, timed. Then,
in turns: the client COPY of the file (the targets' baseline), and the floor, which writes the
rows that import wrote, unchanged, into empty copies of its tables (`LIKE ... INCLUDING ALL`:
the same columns, defaults, constraints, indexes and storage) by binary COPY FROM STDIN, in one
transaction. The floor reads nothing, maps, validates and diffs nothing, and sends nothing but
the final rows; triggers are not copied (they cost 0.06-0.1 ms a statement, docs/maintainers.md).
Then the same into copies without indexes, each table's indexes built once it is filled: the
floor of a bulk load into an empty catalog (an account's first import shares its tables with
the other accounts, so it cannot drop their indexes). And the writes of a 1% re-import alone:
one product in a hundred renamed by one UPDATE of the copied products (no events).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_bench import (  # noqa: E402  # the bench's file, baseline and catalog
    MAPPING,
    _phase_copy,
    _settle,
    generate,
    scratch_catalog,
    timed_import,
)

# What an initial import writes, a row or more a product (the run's own bookkeeping aside)
TABLES = ("products", "prices", "inventory_items", "inventory_adjustments", "events")


class _Result:
    """The `out` of import_bench's phases, in process."""

    def put(self, value: dict[str, Any]) -> None:
        self.value = value


def _dump(conn: psycopg.Connection, table: str, to: Path) -> int:
    """The table's rows as binary COPY data in `to`: its size in bytes."""
    query = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)").format(
        sql.Identifier(table)
    )
    with conn.cursor() as cur, cur.copy(query) as cp, open(to, "wb") as f:
        for block in cp:
            f.write(block)
    return to.stat().st_size


def _empty_copies(conn: psycopg.Connection, prefix: str, *, indexes: bool) -> list[str]:
    names = [f"{prefix}_{t}" for t in TABLES]
    like = "INCLUDING ALL EXCLUDING IDENTITY" + ("" if indexes else " EXCLUDING INDEXES")
    for name, table in zip(names, TABLES, strict=True):
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} " + like + ")").format(
                sql.Identifier(name), sql.Identifier(table)
            )
        )
    conn.commit()
    return names


def _build_indexes(conn: psycopg.Connection, name: str, table: str) -> None:
    """`table`'s indexes, built on `name` (filled without them)."""
    for n, (unique, tail) in enumerate(
        conn.execute(
            "SELECT i.indisunique, substring(pg_get_indexdef(i.indexrelid) from ' USING .*$')"
            " FROM pg_index i WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid",
            (table,),
        ).fetchall()
    ):
        create = "CREATE UNIQUE INDEX {} ON {}" if unique else "CREATE INDEX {} ON {}"
        conn.execute(
            sql.SQL(create).format(sql.Identifier(f"{name}_{n}"), sql.Identifier(name))
            + sql.SQL(tail)  # the catalog's own definition, not input
        )


def _floor(url: str, dumps: dict[str, Path], prefix: str, *, late: bool) -> dict[str, Any]:
    """The catalog's rows written into empty copies of its tables, timed, in one transaction.
    `late`: the copies are filled without indexes, which are built afterwards (timed)."""
    with psycopg.connect(url) as conn:
        names = _empty_copies(conn, prefix, indexes=not late)
        took: dict[str, float] = {}
        started = time.perf_counter()
        for name, table in zip(names, TABLES, strict=True):
            t = time.perf_counter()
            query = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(name))
            with conn.cursor() as cur, cur.copy(query) as cp, open(dumps[table], "rb") as f:
                while block := f.read(1 << 20):
                    cp.write(block)
            if late:
                _build_indexes(conn, name, table)
            took[table] = time.perf_counter() - t
        conn.commit()
        seconds = time.perf_counter() - started
        sizes = {
            table: conn.execute(
                "SELECT pg_relation_size(%s), pg_indexes_size(%s)", (name, name)
            ).fetchone()
            for name, table in zip(names, TABLES, strict=True)
        }
    return {"seconds": seconds, "tables": took, "sizes": sizes, "names": names}


def _update_floor(url: str, products: str) -> float:
    """One product in a hundred renamed, as a 1% re-import's update does (without its events)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE renamed AS SELECT id FROM"
                " (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {}) x WHERE n % 100 = 7"
            ).format(sql.Identifier(products))
        )
        conn.execute("ANALYZE renamed")
        conn.commit()
        started = time.perf_counter()
        conn.execute(
            sql.SQL(
                "UPDATE {} p SET name = p.name || ' v2', version = p.version + 1, updated = now()"
                " FROM renamed r WHERE r.id = p.id"
            ).format(sql.Identifier(products))
        )
        conn.commit()
        return time.perf_counter() - started


def _drop(url: str, names: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--turns", type=int, default=2, help="COPY and floor pairs, in turns")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_catalog("cs_floor") as url:
        csv, mapping = Path(tmp, "base.csv"), Path(tmp, "m.yaml")
        generate(csv, args.rows, args.seed)
        mapping.write_text(MAPPING)
        _settle(url)
        imported = timed_import(url, str(csv), format="csv", mapping_path=str(mapping))
        os.environ.pop("DATABASE_URL", None)
        _settle(url)
        with psycopg.connect(url) as conn:
            dumps = {t: Path(tmp, f"{t}.bin") for t in TABLES}
            dumped = {t: _dump(conn, t, dumps[t]) for t in TABLES}
        turns: list[dict[str, Any]] = []
        for turn in range(args.turns):
            _settle(url)
            copy = _Result()
            _phase_copy(url, str(csv), f"copy{turn}", copy)
            _settle(url)
            floor = _floor(url, dumps, f"floor{turn}", late=False)
            _settle(url)
            update = _update_floor(url, floor["names"][0])
            _drop(url, floor["names"])
            _settle(url)
            late = _floor(url, dumps, f"late{turn}", late=True)
            _drop(url, [*late["names"], f"copy{turn}"])
            turns.append(
                {
                    "copy": copy.value["seconds"],
                    "floor": floor["seconds"],
                    "floor_tables": floor["tables"],
                    "late_indexes": late["seconds"],
                    "late_tables": late["tables"],
                    "update_1pct": update,
                    "sizes": floor["sizes"],
                }
            )
    results = {
        "rows": args.rows,
        "import": imported["seconds"],
        "import_rss_mib": imported["rss_mib"],
        "binary_bytes": dumped,
        "turns": turns,
    }
    if args.json:
        print(json.dumps(results, indent=2, default=list))
        return
    print(f"{args.rows:,} rows; the initial import took {imported['seconds']:.1f} s")
    print("turn  COPY (s)  import  floor (s)   floor  indexes built after (s)  1% update (s)")
    for i, t in enumerate(turns):
        copy = t["copy"]
        print(
            f"{i:4d}  {copy:8.2f}  {imported['seconds'] / copy:5.2f}x"
            f"  {t['floor']:9.2f}  {t['floor'] / copy:5.2f}x"
            f"  {t['late_indexes']:9.2f} ({t['late_indexes'] / copy:5.2f}x)"
            f"  {t['update_1pct']:9.2f} ({t['update_1pct'] / copy:4.2f}x)"
        )
    last = turns[-1]
    print("table                   binary MB  heap MB  index MB  floor s  built after s")
    for table in TABLES:
        heap, index = last["sizes"][table]
        print(
            f"{table:22s}  {dumped[table] / 1e6:9.0f}  {heap / 1e6:7.0f}  {index / 1e6:8.0f}"
            f"  {last['floor_tables'][table]:7.2f}  {last['late_tables'][table]:13.2f}"
        )


if __name__ == "__main__":
    main()
