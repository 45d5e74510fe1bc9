"""The staging step's mass-archive guard counts from keys alone; it must agree with the
plan the importer then applies (same rule, same numbers, same refusal)."""

from __future__ import annotations

import sqlalchemy as sa

from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.normalized import Reject
from catalog_pipelines.preflight import archive_preflight
from tests.support.batches import batch


def _products(ids: range) -> list[dict]:
    return [{"external_id": f"P{i}", "name": f"Product {i}"} for i in ids]


def _preflight(engine: sa.Engine, account: str, b, **kw: object):  # type: ignore[no-untyped-def]
    args = {"full": True, "max_archive_fraction": 0.2, "allow_mass_archive": False, **kw}
    return archive_preflight(engine, b, account_id=account, source="shop", **args)  # type: ignore[arg-type]


def test_preflight_agrees_with_the_applied_plan(engine: sa.Engine, account: str) -> None:
    assert _preflight(engine, account, batch(_products(range(10)))).archived == 0  # no source
    import_batch(engine, batch(_products(range(10))), ImportOptions("shop", account))

    # P9 is named by a rejected row: its row was bad, not missing, so it is not archived
    shrunk = batch(
        _products(range(7)),
        rejects=[Reject(row_number=8, raw={"external_id": "P9"}, reasons=["name: bad"])],
    )
    guard = _preflight(engine, account, shrunk)
    assert (guard.archived, guard.active_of_source) == (2, 10)
    assert guard.refused is None  # 20% is allowed
    dry = import_batch(engine, shrunk, ImportOptions("shop", account, dry_run=True))
    assert dry.products.archived == guard.archived
    assert dry.archive_fraction == guard.fraction

    tiny = batch(_products(range(2)))
    guard = _preflight(engine, account, tiny)
    assert guard.archived == 8 and guard.refused is not None
    dry = import_batch(engine, tiny, ImportOptions("shop", account, dry_run=True))
    assert dry.refused == guard.refused  # word for word what the importer says
    assert _preflight(engine, account, tiny, allow_mass_archive=True).refused is None
    assert _preflight(engine, account, tiny, full=False).archived == 0
