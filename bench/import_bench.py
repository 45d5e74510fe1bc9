"""Import benchmark: our import against a bare COPY of the same rows, measured in one run.

    uv run python bench/import_bench.py --rows 100000 [--json]

Phases (each in its own child process, so peak RSS is per phase):
  copy      bare COPY of the CSV into a text table with a primary key (the baseline)
  initial   full import into an empty catalog: read, validate, map, diff, write, versions, events
  noop      the same file again: must write 0 versions and 0 events
  changed   the file with 1% of rows changed: exactly those versions and events
Ratios are phase time / COPY time, so a noisy shared machine cancels out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

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


def generate(path: Path, rows: int, seed: int, changed_fraction: float = 0.0) -> int:
    """A seeded catalog with a realistic width (a few hundred bytes a row: a paragraph of
    description, an image URL, a barcode and a few attributes); one variant per product.
    `changed_fraction` renames that share of the rows."""
    rng = random.Random(seed)
    colors = ["red", "green", "blue", "black", "white"]
    names = [f"Product {i} {rng.choice(colors)}" for i in range(rows)]
    changed = 0
    if changed_fraction:
        crng = random.Random(seed + 1)
        for i in crng.sample(range(rows), int(rows * changed_fraction)):
            names[i] += " v2"
            changed += 1
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(997)]
    df = pl.DataFrame(
        {
            "external_id": [f"P{i:08d}" for i in range(rows)],
            "name": names,
            "description": [paragraphs[i % 997] for i in range(rows)],
            "price": [f"{rng.randint(100, 99999) / 100:.2f}" for _ in range(rows)],
            "sku": [f"SKU-{i:08d}" for i in range(rows)],
            "quantity": [str(rng.randint(0, 500)) for _ in range(rows)],
            "image": [f"https://cdn.example.com/img/{i:08d}.jpg" for i in range(rows)],
            "barcode": [f"{rng.randint(10**11, 10**12 - 1)}" for _ in range(rows)],
            "vendor": [rng.choice(["Acme", "Globex", "Initech"]) for _ in range(rows)],
            "color": [rng.choice(colors) for _ in range(rows)],
            "weight_grams": [str(rng.randint(50, 2000)) for _ in range(rows)],
        }
    )
    df.write_csv(path)
    return changed


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase_copy(url: str, csv_path: str, out: Any) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bench_copy (external_id text PRIMARY KEY, name text, description text,"
            " price text, sku text, quantity text, image text, barcode text, vendor text,"
            " color text, weight_grams text)"
        )
        conn.commit()
        t = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER)") as cp,
            open(csv_path, "rb") as f,
        ):
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - t
    out.put({"seconds": elapsed, "rss_mib": _rss_mib()})


def _phase_import(url: str, csv_path: str, mapping_path: str, out: Any) -> None:
    os.environ["DATABASE_URL"] = url
    from catalog_pipelines import db
    from catalog_pipelines.importer import ImportOptions, import_path

    engine = db.make_engine(url)
    t = time.perf_counter()
    report = import_path(
        engine,
        Path(csv_path),
        ImportOptions(source="bench", account_id="acct_bench"),
        format="csv",
        mapping_path=Path(mapping_path),
    )
    elapsed = time.perf_counter() - t
    out.put({"seconds": elapsed, "rss_mib": _rss_mib(), "report": report.to_json()})


def _run(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    result = q.get()
    p.join()
    if p.exitcode:
        raise SystemExit(f"phase {target.__name__} failed with exit code {p.exitcode}")
    return result


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
    args = ap.parse_args()

    from catalog_pipelines import db
    from catalog_pipelines.store.migrations import migrate

    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    server = db.admin_url()
    url = db.create_database(server, "cs_bench")
    results: dict[str, Any] = {"rows": args.rows, "seed": args.seed, "phases": {}}
    try:
        engine = db.make_engine(url)
        migrate(engine)
        engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            base, changed, mapping = (
                Path(tmp, "base.csv"),
                Path(tmp, "changed.csv"),
                Path(tmp, "m.yaml"),
            )
            generate(base, args.rows, args.seed)
            n_changed = generate(changed, args.rows, args.seed, changed_fraction=0.01)
            mapping.write_text(MAPPING)
            phases = results["phases"]
            phases["copy"] = _run(_phase_copy, url, str(base))
            before = _counts(url)
            phases["initial"] = _run(_phase_import, url, str(base), str(mapping))
            after_initial = _counts(url)
            phases["noop"] = _run(_phase_import, url, str(base), str(mapping))
            after_noop = _counts(url)
            phases["changed"] = _run(_phase_import, url, str(changed), str(mapping))
            after_changed = _counts(url)
        copy_s = phases["copy"]["seconds"]
        for k in ("initial", "noop", "changed"):
            phases[k]["ratio_to_copy"] = phases[k]["seconds"] / copy_s
            phases[k]["target_ratio"] = TARGETS[k]
        results["checks"] = {
            "initial_events": after_initial["events"] - before["events"],
            "noop_events_written": after_noop["events"] - after_initial["events"],
            "changed_rows": n_changed,
            "changed_events_written": after_changed["events"] - after_noop["events"],
        }
        assert results["checks"]["noop_events_written"] == 0, "a no-op re-import wrote events"
        assert results["checks"]["changed_events_written"] == n_changed, "1% run wrote extra events"
    finally:
        db.drop_database(server, url)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"rows={args.rows} seed={args.seed}")
    print(f"{'phase':<10}{'seconds':>10}{'x COPY':>9}{'target':>8}{'peak RSS MiB':>14}")
    for k, v in results["phases"].items():
        ratio = f"{v['ratio_to_copy']:.2f}" if "ratio_to_copy" in v else "1.00"
        target = f"<={v['target_ratio']}" if "target_ratio" in v else ""
        print(f"{k:<10}{v['seconds']:>10.2f}{ratio:>9}{target:>8}{v['rss_mib']:>14.0f}")
    print(json.dumps(results["checks"]))


if __name__ == "__main__":
    main()
