"""The generic CSV the import scenarios write: a key, a parent key, and a column left unmapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, ImportReport, import_path
from tests.support.catalog_view import catalog_by_keys
from tests.support.integrity import assert_catalog_integrity

MAPPING = """\
format: csv
key: id
parent_key: parent
currency: usd
fields:
  name: name
  price: price
  sku: sku
  inventory_quantity: qty
"""
HEADER = "id,parent,name,price,sku,qty,color"


def import_rows(engine: sa.Engine, tmp: Path, account: str, rows: list[str], **opts: Any) -> Any:
    """Import `rows` (under HEADER) for source `pim` of `account`: the report as the CLI prints
    it, without its run id, plus its rejects and the sorted list of its changes."""
    path = tmp / f"{account}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    mapping = tmp / "m.yaml"
    mapping.write_text(MAPPING)
    options = ImportOptions(source="pim", account_id=account, **opts)
    return report_view(import_path(engine, path, options, format="csv", mapping_path=mapping))


def report_view(report: ImportReport) -> Any:
    """An import's report as the CLI prints it, without its run id, plus its rejects and the
    sorted list of its changes: the same for two ways of importing the same file."""
    out = report.to_json()
    out.pop("run_id")
    out["rejects"] = [(r.row_number, r.reasons) for r in report.rejects]
    out["changes"] = sorted(
        (c["object_type"], c["key"], c["action"], sorted(c["fields"])) for c in report.changes
    )
    return out


def import_both_ways(
    engine: sa.Engine,
    tmp: Path,
    account: str,
    files: list[list[str]],
    ways: dict[str, Callable[[], object]],
    **opts: Any,
) -> list[Any]:
    """The files imported one after another into an account per way (`ways[name]()` sets the
    way up first): every way gives the same reports and catalog. The first way's reports."""
    results = []
    for name, set_up in ways.items():
        set_up()
        acct = f"{account}_{name}"
        results.append([import_rows(engine, tmp, acct, rows, **opts) for rows in files])
        assert_catalog_integrity(engine, acct)
    catalogs = [catalog_by_keys(engine, f"{account}_{name}") for name in ways]
    assert all(r == results[0] for r in results)
    assert all(c == catalogs[0] for c in catalogs)
    return results[0]
