"""Import benchmark: our import against a bare COPY of the same rows, measured in one run.

    uv run python bench/import_bench.py --rows 100000 [--json]

Phases (each in its own child process, so peak RSS is per phase):
  copy      the baseline: the client streams the CSV through `COPY ... FROM STDIN` into a text
            table with a primary key
  copy_server  the same table filled by a server-side `COPY ... FROM 'file'` (reported too)
            Each baseline runs --baseline-runs times (3), into a new table each time; the
            ratios use the median.
  initial   full import into an empty catalog: read, validate, map, diff, write, versions, events
  noop      the same file again: must write 0 versions and 0 events; --noop-runs times (3),
            the median used (as is dagster_noop's)
  changed   the file with 1% of rows changed: exactly those versions and events
  all_changed  with --all-changed: the file with every row renamed, after `changed` (whose
            renamed 1% it keeps), so 99% of the products change: no target, reported for its
            time and memory (a re-import of mostly changed products is written in parts)
With --dagster, more phases run the same files through the Dagster import job
(`dg.materialize` of the import assets, in process, on a throwaway instance), into an empty
catalog database of their own, as the CLI's phases had, and compare with the CLI's phases:
  dagster_initial  vs initial;   dagster_noop  vs noop
  dagster_noop_in_memory  vs noop: the same no-op on an in-memory Dagster instance, so the
            share of the instance's storage (the SQLite files of a dev instance) shows
  dagster_noop_postgres  vs noop: the same no-op on an instance configured as
            deploy/dagster.yaml, its storage in a PostgreSQL database on the catalog's server
            (the pooled storage of dagster_defs/pooled_storage.py)
  dagster_noop_postgres_unpooled  vs noop: the same with dagster-postgres' plain storage,
            which opens a connection for each storage call. The two run in turns, on one
            storage database whose tables are made before them
  dagster_all_changed  with --all-changed, vs all_changed: the job on the file with every
            product renamed (all of them change here, 99% in the CLI's phase), given as the
            run's input as the inbox sensor gives a dropped file
and a third, into another empty catalog, compares with dagster_initial:
  dagster_refused  the file with 1% of its prices invalid and max_reject_rate 0.5%: the
            reject_rate check refuses it, before any part is written
Ratios are phase time / COPY time (both baselines, same run), so a noisy shared machine
cancels out. Before each phase, untimed, the database is vacuumed and analyzed and checkpointed,
so that no phase pays for the autovacuum or the writeback of the one before it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAPPING = """\
format: csv
key: external_id
currency: usd
fields:
  name: name
  description: description
  price: price
  sku: sku
  inventory_quantity: quantity
  images: image
"""

TARGETS = {"initial": 3.0, "noop": 0.5, "changed": 0.6}
COLUMNS = (
    "external_id",
    "name",
    "description",
    "price",
    "sku",
    "quantity",
    "image",
    "barcode",
    "vendor",
    "color",
    "weight_grams",
)


WORDS = [
    "soft",
    "cotton",
    "organic",
    "blend",
    "classic",
    "fit",
    "everyday",
    "durable",
    "breathable",
    "lightweight",
    "premium",
    "stitched",
    "pocket",
    "collar",
    "sleeve",
    "recycled",
    "material",
    "comfortable",
    "washable",
    "tailored",
    "modern",
]


GENERATE_CHUNK = 250_000  # rows built at a time: the parent never holds the whole file


def generate(
    path: Path, rows: int, seed: int, changed_fraction: float = 0.0, bad_fraction: float = 0.0
) -> int:
    """A seeded catalog with a realistic width (a few hundred bytes a row: a paragraph of
    description, an image URL, a barcode and a few attributes); one variant per product.
    `changed_fraction` renames that share of the rows; `bad_fraction` gives that share an
    invalid price (rejected rows). Written in chunks of GENERATE_CHUNK rows, each from its own
    seeded generator, so 10M rows need no more memory than 250k."""
    colors = ["red", "green", "blue", "black", "white"]
    prng = random.Random(seed)
    paragraphs = [" ".join(prng.choice(WORDS) for _ in range(40)) for _ in range(997)]
    renamed: set[int] = set()
    if changed_fraction:
        renamed = set(random.Random(seed + 1).sample(range(rows), int(rows * changed_fraction)))
    bad = set(random.Random(seed + 2).sample(range(rows), int(rows * bad_fraction)))
    with path.open("wb") as f:
        for chunk, lo in enumerate(range(0, max(rows, 1), GENERATE_CHUNK)):
            rng = random.Random(seed * 1_000_003 + chunk)
            ids = range(lo, min(lo + GENERATE_CHUNK, rows))
            names = [f"Product {i} {rng.choice(colors)}" for i in ids]
            names = [n + " v2" if i in renamed else n for i, n in zip(ids, names, strict=True)]
            pl.DataFrame(
                {
                    "external_id": [f"P{i:08d}" for i in ids],
                    "name": names,
                    "description": [paragraphs[i % 997] for i in ids],
                    "price": [
                        "not-a-price" if i in bad else f"{rng.randint(100, 99999) / 100:.2f}"
                        for i in ids
                    ],
                    "sku": [f"SKU-{i:08d}" for i in ids],
                    "quantity": [str(rng.randint(0, 500)) for _ in ids],
                    "image": [f"https://cdn.example.com/img/{i:08d}.jpg" for i in ids],
                    "barcode": [f"{rng.randint(10**11, 10**12 - 1)}" for _ in ids],
                    "vendor": [rng.choice(["Acme", "Globex", "Initech"]) for _ in ids],
                    "color": [rng.choice(colors) for _ in ids],
                    "weight_grams": [str(rng.randint(50, 2000)) for _ in ids],
                },
                schema={c: pl.Utf8 for c in COLUMNS},
            ).write_csv(f, include_header=chunk == 0)
    return len(renamed)


def _rss_mib() -> float:
    """This process's own peak RSS (VmHWM, reset by exec). ru_maxrss would carry the parent's
    peak across the spawn's fork+exec, so no phase could report less than the parent."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_COPY_TABLE = sql.SQL(
    "CREATE TABLE {} (external_id text PRIMARY KEY, name text, description text,"
    " price text, sku text, quantity text, image text, barcode text, vendor text,"
    " color text, weight_grams text)"
)


def _phase_copy(url: str, csv_path: str, table: str, out: Any) -> None:
    """The baseline the targets are stated against: a client-side COPY FROM STDIN."""
    with psycopg.connect(url) as conn:
        conn.execute(_COPY_TABLE.format(sql.Identifier(table)))
        conn.commit()
        t = time.perf_counter()
        statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER)").format(sql.Identifier(table))
        with (
            conn.cursor() as cur,
            cur.copy(statement) as cp,
            open(csv_path, "rb") as f,
        ):
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - t
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_copy_server(url: str, csv_path: str, table: str, out: Any) -> None:
    """The server reads the file itself: no client, no socket (the faster baseline)."""
    with psycopg.connect(url) as conn:
        conn.execute(_COPY_TABLE.format(sql.Identifier(table)))
        conn.commit()
        t = time.perf_counter()
        conn.execute(
            sql.SQL("COPY {} FROM {} (FORMAT csv, HEADER)").format(
                sql.Identifier(table), sql.Literal(csv_path)
            )
        )
        conn.commit()
        elapsed = time.perf_counter() - t
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_import(url: str, csv_path: str, mapping_path: str, out: Any) -> None:
    out.put(timed_import(url, csv_path, format="csv", mapping_path=mapping_path))


def timed_import(
    url: str,
    csv_path: str,
    *,
    format: str,
    mapping_path: str | None = None,
    source: str = "bench",
    account: str = "acct_bench",
) -> dict[str, Any]:
    """One `import_path` of the file, timed, with this process's peak RSS and the report."""
    os.environ["DATABASE_URL"] = url
    from catalog_pipelines import db
    from catalog_pipelines.importer import ImportOptions, import_path

    engine = db.make_engine(url)
    t = time.perf_counter()
    report = import_path(
        engine,
        Path(csv_path),
        ImportOptions(source=source, account_id=account),
        format=format,
        mapping_path=Path(mapping_path) if mapping_path else None,
    )
    elapsed = time.perf_counter() - t
    return {"seconds": elapsed, "rss_mib": _rss_mib(), "report": report.to_json()}


def _phase_dagster(url: str, csv_path: str, mapping_path: str, out: Any) -> None:
    """The import job of one partition, as the daemon would run it (minus process launch)."""
    elapsed, success = _dagster_job(url, csv_path, mapping_path)
    assert success
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_dagster_in_memory(url: str, csv_path: str, mapping_path: str, out: Any) -> None:
    """The job on an in-memory Dagster instance: what it costs without the storage's writes."""
    elapsed, success = _dagster_job(url, csv_path, mapping_path, in_memory=True)
    assert success
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_dagster_postgres(
    url: str, csv_path: str, mapping_path: str, storage_url: str, pooled: bool, out: Any
) -> None:
    """The job on an instance configured as deploy/dagster.yaml, storage in PostgreSQL (a
    database of its own on the catalog's server): the storage production uses, or with
    `pooled=False` dagster-postgres' plain one (a connection per call)."""
    elapsed, success = _dagster_job(
        url, csv_path, mapping_path, storage_url=storage_url, pooled=pooled
    )
    assert success
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


@contextlib.contextmanager
def dagster_storage(server: str) -> Iterator[str]:
    """A PostgreSQL database with Dagster's tables, made before the phases that use it (as a
    deployment's exists before its runs): made inside a timed phase, its writeback would fall
    into the run."""
    import dagster as dg
    import yaml

    from catalog_pipelines import db
    from dagster_defs.instance_config import production_config

    with db.scratch_database("cs_bench_dagster", server) as storage_url:
        with tempfile.TemporaryDirectory() as home:
            config = production_config(storage_url)
            Path(home, "dagster.yaml").write_text(yaml.safe_dump(config))
            with dg.DagsterInstance.from_config(home):
                pass
        yield storage_url


def _phase_dagster_all_changed(
    url: str, csv_path: str, mapping_path: str, base_path: str, out: Any
) -> None:
    """The job on the file with every product renamed, given as the run's input the way the
    inbox sensor gives a dropped file. The source keeps the settings of its first import:
    redefining it (its path) would leave the snapshot that import took unusable."""
    config = {"ops": {"source_snapshot": {"config": {"path": csv_path}}}}
    elapsed, success = _dagster_job(url, base_path, mapping_path, config)
    assert success
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_dagster_refused(url: str, csv_path: str, mapping_path: str, out: Any) -> None:
    """The job refused by its reject_rate check: 1% of the rows rejected, 0.5% allowed."""
    config = {"ops": {"validated_rows": {"config": {"max_reject_rate": 0.005}}}}
    elapsed, success = _dagster_job(url, csv_path, mapping_path, config)
    assert not success
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _dagster_job(
    url: str,
    csv_path: str,
    mapping_path: str,
    run_config: dict[str, Any] | None = None,
    *,
    in_memory: bool = False,
    storage_url: str | None = None,
    pooled: bool = True,
) -> tuple[float, bool]:
    """One materialization of the import assets, timed: on a development (SQLite) instance,
    an in-memory one, or, with `storage_url`, the production instance's settings."""
    import dagster as dg
    import yaml

    from catalog_pipelines import db
    from catalog_pipelines.store.sources import GROUPS, add_source
    from dagster_defs.assets import IMPORT_ASSETS
    from dagster_defs.partitions import SOURCES_PARTITIONS_NAME
    from dagster_defs.resources import CatalogDatabase, InboxResource

    engine = db.make_engine(url)
    with engine.begin() as conn:
        add_source(
            conn,
            account_id="acct_dagster",
            name="bench",
            kind="csv",
            owns=frozenset(GROUPS),
            mapping=yaml.safe_load(Path(mapping_path).read_text()),
            config={"path": csv_path},
        )
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory())
        if in_memory:
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
        elif storage_url is not None:
            from dagster_defs.instance_config import production_config

            config = production_config(storage_url, pooled=pooled)
            Path(home, "dagster.yaml").write_text(yaml.safe_dump(config))
            instance = stack.enter_context(dg.DagsterInstance.from_config(home))
        else:
            instance = stack.enter_context(dg.instance_for_test(temp_dir=home))
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["bench"])
        resources = {
            "catalog_db": CatalogDatabase(database_url=url, account_id="acct_dagster"),
            "inbox": InboxResource(base_dir=str(Path(home, "inbox")), settle_seconds=0),
        }
        t = time.perf_counter()
        result = dg.materialize(
            IMPORT_ASSETS,
            partition_key="bench",
            instance=instance,
            resources=resources,
            run_config=run_config,
            raise_on_error=False,
        )
        return time.perf_counter() - t, result.success


def _run(target: Any, *args: Any) -> dict[str, Any]:
    """`target(*args, queue)` in a spawned child: what it puts on the queue. A child that dies
    first (an exception, the OOM killer) ends the bench instead of leaving it waiting."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    while True:
        try:
            result = q.get(timeout=1)
            break
        except queue.Empty:
            if not p.is_alive() and q.empty():
                raise SystemExit(
                    f"phase {target.__name__} died with exit code {p.exitcode}"
                ) from None
    p.join()
    if p.exitcode:
        raise SystemExit(f"phase {target.__name__} failed with exit code {p.exitcode}")
    return result


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def _settle(url: str, *, cold: bool = False) -> None:
    """Start each phase on a settled server, untimed: the previous phase's tables vacuumed
    and analyzed (as autovacuum would have done before a real re-import, instead of during
    it) and its dirty pages, and the generated files, written out. `cold`: then the kernel's
    page cache is dropped, so every phase reads the file and the catalog from disk, at 1M
    rows as at 10M (PostgreSQL's own shared_buffers stay)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    os.sync()
    if cold:
        DROP_CACHES.write_text("3\n")


def _drop(url: str, table: str) -> None:
    """A baseline's table goes once timed: the imports run beside the catalog only."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


@contextlib.contextmanager
def scratch_catalog(name: str) -> Iterator[str]:
    """A migrated database of its own on the catalog's server (the embedded one unless
    DATABASE_URL names another), dropped afterwards: its URL."""
    from catalog_pipelines import db

    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    server = db.admin_url()
    url = _migrated(db.create_database(server, name))
    try:
        yield url
    finally:
        db.drop_database(server, url)


def print_phases(results: dict[str, Any], as_json: bool, title: str) -> None:
    """Each phase's ratio to the `copy` phase, then the results as JSON or as a table."""
    copy = results["phases"]["copy"]["seconds"]
    for phase in results["phases"].values():
        phase["ratio_to_copy"] = phase["seconds"] / copy
    if as_json:
        print(json.dumps(results, indent=2))
        return
    print(title)
    for name, phase in results["phases"].items():
        print(
            f"{name:8s} {phase['seconds']:8.1f} s  {phase['ratio_to_copy']:6.1f}x COPY"
            f"  peak {phase['rss_mib']:6.0f} MiB  events {phase.get('events', '-')}"
        )


def _migrated(url: str) -> str:
    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate

    engine = db.make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "runs": [r["seconds"] for r in runs],
        "rss_mib": max(r["rss_mib"] for r in runs),
    }


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - constant names
            for t in ("products", "prices", "inventory_items", "events")
        }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dagster", action="store_true", help="also time the Dagster import job")
    ap.add_argument(
        "--baseline-runs",
        type=int,
        default=3,
        help="runs of each COPY baseline; the ratios use their median",
    )
    ap.add_argument(
        "--noop-runs",
        type=int,
        default=3,
        help="runs of each no-op re-import (the CLI's and, with --dagster, the job's); the"
        " ratios use their median",
    )
    ap.add_argument(
        "--initial-only",
        action="store_true",
        help="the COPY baselines and the first import only (a 10M first import in ~30 min)",
    )
    ap.add_argument(
        "--all-changed",
        action="store_true",
        help="after the 1%% phase, re-import the file with every product renamed (99%% of them"
        " change): no target, reported for time and memory",
    )
    ap.add_argument(
        "--cold",
        action="store_true",
        help="drop the page cache before every phase (needs root): compares 1M with 10M,"
        " where the file and catalog no longer fit in memory",
    )
    args = ap.parse_args()
    if args.cold and not os.access(DROP_CACHES, os.W_OK):
        raise SystemExit(f"--cold needs write access to {DROP_CACHES} (root)")

    from catalog_pipelines import db

    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    server = db.admin_url()
    url = _migrated(db.create_database(server, "cs_bench"))
    results: dict[str, Any] = {
        "rows": args.rows,
        "seed": args.seed,
        "cold": args.cold,
        "phases": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # the server-side COPY reads the file as the server's user
            base, changed, mapping = (
                Path(tmp, "base.csv"),
                Path(tmp, "changed.csv"),
                Path(tmp, "m.yaml"),
            )
            generate(base, args.rows, args.seed)
            n_changed = n_all = 0
            if not args.initial_only:
                n_changed = generate(changed, args.rows, args.seed, changed_fraction=0.01)
            all_changed = Path(tmp, "all_changed.csv")
            if args.all_changed and not args.initial_only:
                n_all = generate(all_changed, args.rows, args.seed, changed_fraction=1.0)
            mapping.write_text(MAPPING)
            phases = results["phases"]
            base.chmod(0o644)

            def timed(target: Any, *phase_args: Any) -> dict[str, Any]:
                _settle(url, cold=args.cold)
                return _run(target, url, *phase_args)

            def phase(name: str, target: Any, *phase_args: Any) -> None:
                phases[name] = timed(target, *phase_args)

            for name, target in (("copy", _phase_copy), ("copy_server", _phase_copy_server)):
                # The median of several runs: one COPY moved by half on this shared host.
                runs = []
                for i in range(args.baseline_runs):
                    table = f"bench_{name}_{i}"
                    runs.append(timed(target, str(base), table))
                    _drop(url, table)
                phases[name] = _median(runs)
            before = _counts(url)
            phase("initial", _phase_import, str(base), str(mapping))
            after_initial = after_noop = after_changed = after_all = _counts(url)
            if not args.initial_only:
                # A no-op leaves the catalog as it was, so it can run again: the median of
                # several, as for the baselines, since a phase of ~1 s moves by a quarter here.
                runs = [
                    timed(_phase_import, str(base), str(mapping)) for _ in range(args.noop_runs)
                ]
                phases["noop"] = _median(runs)
                after_noop = _counts(url)
                phase("changed", _phase_import, str(changed), str(mapping))
                after_changed = after_all = _counts(url)
                if args.all_changed:
                    phase("all_changed", _phase_import, str(all_changed), str(mapping))
                    after_all = _counts(url)
            if args.dagster and not args.initial_only:
                # An empty catalog, as the CLI's first import had: beside the CLI's million
                # products, the job's writes would maintain indexes twice the size.
                db.drop_database(server, url)
                url = _migrated(db.create_database(server, "cs_bench"))
                phase("dagster_initial", _phase_dagster, str(base), str(mapping))
                runs = [
                    timed(_phase_dagster, str(base), str(mapping)) for _ in range(args.noop_runs)
                ]
                phases["dagster_noop"] = _median(runs)
                runs = [
                    timed(_phase_dagster_in_memory, str(base), str(mapping))
                    for _ in range(args.noop_runs)
                ]
                phases["dagster_noop_in_memory"] = _median(runs)
                # in turns, on one storage database, as a deployment's runs share theirs
                pooled_runs, unpooled_runs = [], []
                with dagster_storage(server) as storage_url:
                    for _ in range(args.noop_runs):
                        for runs, pooled in ((pooled_runs, True), (unpooled_runs, False)):
                            runs.append(
                                timed(
                                    _phase_dagster_postgres,
                                    str(base),
                                    str(mapping),
                                    storage_url,
                                    pooled,
                                )
                            )
                phases["dagster_noop_postgres"] = _median(pooled_runs)
                phases["dagster_noop_postgres_unpooled"] = _median(unpooled_runs)
                if args.all_changed:
                    before_all = _counts(url)
                    phase(
                        "dagster_all_changed",
                        _phase_dagster_all_changed,
                        str(all_changed),
                        str(mapping),
                        str(base),
                    )
                    dagster_all_events = _counts(url)["events"] - before_all["events"]
                    assert dagster_all_events == n_all, (
                        "the job's all-changed run wrote other events"
                    )
                db.drop_database(server, url)
                url = _migrated(db.create_database(server, "cs_bench"))
                rejected = Path(tmp, "rejected.csv")
                generate(rejected, args.rows, args.seed, bad_fraction=0.01)
                rejected.chmod(0o644)
                phase("dagster_refused", _phase_dagster_refused, str(rejected), str(mapping))
                assert _counts(url)["products"] == 0, "a refused import wrote products"
        copy_s = phases["copy"]["seconds"]
        server_s = phases["copy_server"]["seconds"]
        phases["copy_server"]["ratio_to_copy"] = server_s / copy_s
        for k in [p for p in ("initial", "noop", "changed", "all_changed") if p in phases]:
            phases[k]["ratio_to_copy"] = phases[k]["seconds"] / copy_s
            phases[k]["ratio_to_server_copy"] = phases[k]["seconds"] / server_s
            if k in TARGETS:
                phases[k]["target_ratio"] = TARGETS[k]
        for k, cli in (
            ("dagster_initial", "initial"),
            ("dagster_noop", "noop"),
            ("dagster_noop_in_memory", "noop"),
            ("dagster_noop_postgres", "noop"),
            ("dagster_noop_postgres_unpooled", "noop"),
            # the CLI's renames 99% (1% were renamed by the 1% phase), the job's all of them
            ("dagster_all_changed", "all_changed"),
        ):
            if k in phases:
                phases[k]["ratio_to_copy"] = phases[k]["seconds"] / copy_s
                phases[k]["ratio_to_cli"] = phases[k]["seconds"] / phases[cli]["seconds"]
        if "dagster_refused" in phases:
            refused = phases["dagster_refused"]
            refused["ratio_to_copy"] = refused["seconds"] / copy_s
            refused["ratio_to_dagster_initial"] = (
                refused["seconds"] / phases["dagster_initial"]["seconds"]
            )
        results["checks"] = {
            "initial_events": after_initial["events"] - before["events"],
            "noop_events_written": after_noop["events"] - after_initial["events"],
            "changed_rows": n_changed,
            "changed_events_written": after_changed["events"] - after_noop["events"],
        }
        if "all_changed" in phases:
            # the 1% renamed by `changed` are renamed the same way here: unchanged
            results["checks"]["all_changed_rows"] = n_all - n_changed
            results["checks"]["all_changed_events_written"] = (
                after_all["events"] - after_changed["events"]
            )
            assert after_all["events"] - after_changed["events"] == n_all - n_changed, (
                "the all-changed run wrote other events than its renamed products'"
            )
        assert results["checks"]["noop_events_written"] == 0, "a no-op re-import wrote events"
        assert results["checks"]["changed_events_written"] == n_changed, "1% run wrote extra events"
    finally:
        db.drop_database(server, url)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"rows={args.rows} seed={args.seed}" + (" cold page cache" if args.cold else ""))
    print("x COPY: / client COPY FROM STDIN (the target's baseline); x srv: / server-side COPY")
    print(f"{'phase':<32}{'seconds':>10}{'x COPY':>9}{'x srv':>8}{'target':>8}{'peak RSS MiB':>14}")
    for k, v in results["phases"].items():
        ratio = f"{v['ratio_to_copy']:.2f}" if "ratio_to_copy" in v else "1.00"
        srv = f"{v['ratio_to_server_copy']:.2f}" if "ratio_to_server_copy" in v else ""
        target = f"<={v['target_ratio']}" if "target_ratio" in v else ""
        print(f"{k:<32}{v['seconds']:>10.2f}{ratio:>9}{srv:>8}{target:>8}{v['rss_mib']:>14.0f}")
    for k in (
        "dagster_initial",
        "dagster_noop",
        "dagster_noop_in_memory",
        "dagster_noop_postgres",
        "dagster_noop_postgres_unpooled",
        "dagster_all_changed",
    ):
        if k in results["phases"]:
            target = "no target" if k == "dagster_all_changed" else "target <= 1.2"
            print(f"{k} / CLI: {results['phases'][k]['ratio_to_cli']:.2f} ({target})")
    if "dagster_refused" in results["phases"]:
        ratio = results["phases"]["dagster_refused"]["ratio_to_dagster_initial"]
        print(f"dagster_refused / dagster_initial: {ratio:.2f} (a refused import writes nothing)")
    for k in (
        "copy",
        "copy_server",
        "noop",
        "dagster_noop",
        "dagster_noop_in_memory",
        "dagster_noop_postgres",
        "dagster_noop_postgres_unpooled",
    ):
        if "runs" in results["phases"].get(k, {}):
            runs = ", ".join(f"{r:.2f}" for r in results["phases"][k]["runs"])
            print(f"{k} runs: {runs} s (the median is the figure)")
    print(json.dumps(results["checks"]))


if __name__ == "__main__":
    main()
