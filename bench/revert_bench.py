"""Reverting imports: a first import of N generated products, then a re-import with 1% of
them changed; each run is then reverted, the newest first, and timed.

    uv run python bench/revert_bench.py --rows 100000

The file is `import_bench.generate`'s. A revert of the first import archives every product and
price it created (a new version and an event each); the 1% revert restores the changed names.
Works in a scratch database that it drops afterwards. Each line reports its own peak RSS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _reset_peak() -> None:
    """Start a new peak RSS (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass  # elsewhere each line reports the process's peak so far


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000)
    args = ap.parse_args()
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("CATALOG_HOME", str(REPO / ".catalog"))
    from import_bench import MAPPING, _rss_mib, generate

    from catalog_pipelines import db
    from catalog_pipelines.importer import ImportOptions, import_path
    from catalog_pipelines.store.migrations import migrate
    from catalog_pipelines.store.revert import revert_run

    with db.scratch_database("cs_revert") as url, tempfile.TemporaryDirectory() as tmp:
        migrate(db.make_engine(url))
        engine = db.make_engine(url)
        base, changed, mapping = Path(tmp, "b.csv"), Path(tmp, "c.csv"), Path(tmp, "m.yaml")
        generate(base, args.rows, 42)
        generate(changed, args.rows, 42, changed_fraction=0.01)
        mapping.write_text(MAPPING)
        options = ImportOptions(source="bench", account_id="acct_bench")
        lines: list[str] = []
        runs = {}
        for name, path in (("first import", base), ("1% changed", changed)):
            _reset_peak()
            t = time.perf_counter()
            runs[name] = import_path(engine, path, options, format="csv", mapping_path=mapping)
            seconds = time.perf_counter() - t
            lines.append(f"{name:<28}{seconds:>9.2f} s  peak {_rss_mib():.0f} MiB")
        for name in ("1% changed", "first import"):
            _reset_peak()
            t = time.perf_counter()
            written = revert_run(engine, options.account_id, runs[name].run_id).events
            seconds = time.perf_counter() - t
            lines.append(
                f"{'revert of the ' + name:<28}{seconds:>9.2f} s  peak {_rss_mib():.0f} MiB"
                f"  ({written} events)"
            )
    print(f"rows={args.rows}", *lines, sep="\n")


if __name__ == "__main__":
    main()
