"""What a full import would archive, computed from keys alone, before any diff.

A Dagster run checks the mass-archive guard in its staging step, before it publishes, and
then applies the import once (docs/dagster.md). Counting the products a full import would
archive needs only the keys of the source's active products, not the content hashes of the
whole catalog, so the staging step no longer runs the whole diff as a dry run: the plan that
is previewed is the plan that is applied. The importer still enforces the same guard, with
the same rule (`diff.products_to_archive`), inside the applying transaction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from catalog_pipelines.diff import products_to_archive
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.store.sources import get_source


@dataclass(frozen=True)
class ArchivePreflight:
    archived: int  # products a full import of this batch would archive
    active_of_source: int  # the source's active products now
    refused: str | None  # the guard's message when it would refuse, else None

    @property
    def fraction(self) -> float:
        return self.archived / self.active_of_source if self.active_of_source else 0.0


def protected_keys(rejects: list[Reject]) -> frozenset[str]:
    """Values seen in rejected rows: a full import never archives an object named there."""
    return frozenset(str(v).strip() for r in rejects for v in r.raw.values() if v is not None)


def refusal(
    archived: int,
    active: int,
    *,
    source: str,
    max_archive_fraction: float,
    allow_mass_archive: bool,
) -> str | None:
    """The guard of docs/import-semantics.md: None when it lets the import through."""
    fraction = archived / active if active else 0.0
    if allow_mass_archive or fraction <= max_archive_fraction:
        return None
    return (
        f"a full import would archive {archived} of {active} active products of source"
        f" {source!r} ({fraction:.0%}), more than max_archive_fraction="
        f"{max_archive_fraction:.0%}; pass --allow-mass-archive if that is intended"
    )


_ACTIVE_KEYS = (
    "COPY (SELECT external_id FROM products WHERE account_id = {a} AND source = {s} AND active)"
    " TO STDOUT (FORMAT csv)"
)


def _active_keys(conn: sa.Connection, account_id: str, source: str) -> pl.DataFrame:
    from psycopg import sql

    driver = conn.connection.driver_connection
    buf = io.BytesIO()
    query = sql.SQL(_ACTIVE_KEYS).format(a=sql.Literal(account_id), s=sql.Literal(source))
    with driver.cursor() as cur, cur.copy(query) as copy:  # type: ignore[union-attr]
        for chunk in copy:
            buf.write(chunk)
    if not buf.tell():
        return pl.DataFrame(schema={"external_id": pl.Utf8})
    return pl.read_csv(
        buf.getvalue(), has_header=False, new_columns=["external_id"], infer_schema=False
    )


def archive_preflight(
    engine: sa.Engine,
    batch: ParsedBatch,
    *,
    account_id: str,
    source: str,
    full: bool,
    max_archive_fraction: float,
    allow_mass_archive: bool,
) -> ArchivePreflight:
    with engine.connect() as conn:
        src = get_source(conn, account_id, source)
        if src is None:
            return ArchivePreflight(0, 0, None)
        active = _active_keys(conn, account_id, source)
    if not full or batch.products.height == 0 or "content" not in src.owns:
        return ArchivePreflight(0, active.height, None)
    archived = products_to_archive(
        active, batch.products.select("external_id"), protected_keys(batch.rejects)
    ).height
    return ArchivePreflight(
        archived,
        active.height,
        refusal(
            archived,
            active.height,
            source=source,
            max_archive_fraction=max_archive_fraction,
            allow_mass_archive=allow_mass_archive,
        ),
    )
