"""JSON Lines benchmark: the time and peak memory of importing the import bench's catalog as a
JSON Lines file, against a bare COPY of the same rows as CSV, in one run.

    uv run python bench/jsonl_bench.py --rows 1000000 [--json]

The rows are import_bench.py's (11 columns, ~420 bytes a row as CSV), one JSON object a line,
every value a string. Phases, each in its own child process (so peak RSS is per phase), on a
settled server:
  copy     the client streams the CSV through `COPY ... FROM STDIN` (import_bench.py's baseline)
  initial  `import --format jsonl` into an empty catalog (streamed: in pieces of whole lines,
           each mapped, validated and kept on disk; catalog_pipelines/first_import.py)
  noop     the same file again: nothing is written; the lines of unchanged products are
           hashed, not parsed (catalog_pipelines/connectors/generic/jsonl_skip.py)
  changed  the file with 1% of the names changed: exactly that many events are written
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_bench import (  # noqa: E402
    MAPPING,
    _phase_copy,
    _run,
    _settle,
    generate,
    print_phases,
    scratch_catalog,
    timed_import,
)


def _phase_import(url: str, jsonl_path: str, mapping_path: str, out: Any) -> None:
    result = timed_import(url, jsonl_path, format="jsonl", mapping_path=mapping_path)
    out.put({**result, "events": result["report"]["events"]})


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    results: dict[str, Any] = {"rows": args.rows, "phases": {}}
    with scratch_catalog("cs_jsonl_bench") as url, tempfile.TemporaryDirectory() as tmp:
        csv_path, jsonl_path = Path(tmp, "catalog.csv"), Path(tmp, "catalog.jsonl")
        changed_csv, changed_path = Path(tmp, "changed.csv"), Path(tmp, "changed.jsonl")
        mapping_path = Path(tmp, "mapping.yaml")
        generate(csv_path, args.rows, seed=7)
        n_changed = generate(changed_csv, args.rows, seed=7, changed_fraction=0.01)
        for csv_file, jsonl_file in ((csv_path, jsonl_path), (changed_csv, changed_path)):
            pl.scan_csv(csv_file, infer_schema=False).sink_ndjson(jsonl_file)
        mapping_path.write_text(MAPPING.replace("format: csv", "format: jsonl"))
        results["bytes"] = {"csv": csv_path.stat().st_size, "jsonl": jsonl_path.stat().st_size}
        _settle(url)
        results["phases"]["copy"] = _run(_phase_copy, url, str(csv_path), "bench_copy")
        for name, path in (
            ("initial", jsonl_path),
            ("noop", jsonl_path),
            ("changed", changed_path),
        ):
            _settle(url)
            results["phases"][name] = _run(_phase_import, url, str(path), str(mapping_path))
        events = {"noop": 0, "changed": n_changed}
        for name, expected in events.items():
            got = results["phases"][name]["events"]
            assert got == expected, f"{name}: {got} events, expected {expected}"
    title = f"{args.rows:,} rows ({results['bytes']['jsonl'] / 1e6:.0f} MB of JSON Lines)"
    print_phases(results, args.json, title)


if __name__ == "__main__":
    main()
