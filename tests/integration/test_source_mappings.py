"""Saved, versioned source mappings against the real database: a suggestion accepted as it
stands imports the right prices, every change is a version and an event, the history feeds
the next suggestion, and an archived source refuses imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipelines.connectors.reading import InputError
from catalog_pipelines.connectors.sampling import suggest_for_file
from catalog_pipelines.importer import ImportOptions, import_path
from catalog_pipelines.mapping import mapping_to_dict
from catalog_pipelines.store.errors import Conflict
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.sources import (
    SourceArchived,
    create_source,
    get_source,
    mapping_history,
    source_versions,
    update_source,
)

UNSEEN = Path(__file__).resolve().parents[1] / "fixtures" / "unseen"
CAUSE = Cause(request_id="req_test")


def _prices(engine: sa.Engine, account: str) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT lookup_key, currency, unit_amount FROM prices"
                " WHERE account_id = :a AND active"
            ),
            {"a": account},
        )
        return {r.lookup_key: (r.currency, r.unit_amount) for r in rows}


def _source_events(engine: sa.Engine, account: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT type, object_version FROM events WHERE account_id = :a"
                " AND object_type = 'source' ORDER BY sequence"
            ),
            {"a": account},
        )
        return [(r.type, r.object_version) for r in rows]


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (
            "de_excel_export.csv",
            {
                "AX-1001": ("eur", 124900),
                "AX-1002": ("eur", 3490),
                "AX-1003": ("eur", 8950),
                "AX-1004": ("eur", 239999),
                "AX-1005": ("eur", 1900),
            },
        ),
        (
            "pim_export.csv",
            {
                "PIM-000184": ("usd", 12995),
                "PIM-000185": ("usd", 7400),
                "PIM-000186": ("usd", 4950),
                "PIM-000187": ("usd", 108900),
            },
        ),
    ],
)
def test_a_suggestion_saved_as_it_stands_imports_the_right_prices(
    engine: sa.Engine, account: str, file: str, expected: dict[str, tuple[str, int]]
) -> None:
    path = UNSEEN / file
    suggestion = suggest_for_file(path)
    options = ImportOptions(source="shop", account_id=account)
    # no saved mapping and no --mapping: the import refuses; it never applies a suggestion
    with pytest.raises(InputError, match="mapping suggest"):
        import_path(engine, path, options)
    with engine.begin() as conn:
        create_source(
            conn,
            account_id=account,
            name="shop",
            kind="csv",
            owns={"content", "pricing", "inventory"},
            mapping=suggestion.as_json()["mapping"],
            cause=CAUSE,
        )
    report = import_path(engine, path, options)  # the saved mapping, as nothing else is given
    assert report.rows_rejected == 0
    assert report.products.created == len(expected)
    assert _prices(engine, account) == expected
    with engine.connect() as conn:
        stock = conn.execute(
            sa.text("SELECT sku, quantity FROM inventory_items WHERE account_id = :a"),
            {"a": account},
        ).all()
        names = conn.execute(
            sa.text("SELECT name, images FROM products WHERE account_id = :a ORDER BY external_id"),
            {"a": account},
        ).all()
    assert len(stock) == len(expected)
    assert all(name and images for name, images in names)
    # re-importing the same file through the saved mapping writes nothing
    again = import_path(engine, path, options)
    assert again.events == 0


def test_every_change_is_a_version_and_an_event(engine: sa.Engine, account: str) -> None:
    first = {"key": "id", "currency": "usd", "fields": {"name": "title"}}
    with engine.begin() as conn:
        src = create_source(
            conn, account_id=account, name="pim", kind="csv", owns={"content"}, mapping=first,
            cause=CAUSE,
        )  # fmt: skip
        assert (src.version, src.active) == (1, True)
        same = update_source(conn, account, "pim", mapping=first, cause=CAUSE)
        assert same.version == 1  # nothing changed: no version, no event
        second = {**first, "fields": {"name": "title", "price": "amount"}}
        v2 = update_source(conn, account, "pim", mapping=second, cause=CAUSE)
        v3 = update_source(conn, account, "pim", owns={"content", "pricing"}, cause=CAUSE)
        v4 = update_source(conn, account, "pim", archive=True, cause=CAUSE)
        versions = source_versions(conn, v4)
    assert [v.version for v in (v2, v3, v4)] == [2, 3, 4]
    assert v4.active is False and v4.as_json()["archived"] is not None
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert versions[0]["source"]["mapping"]["fields"] == {"name": "title"}
    assert versions[1]["source"]["mapping"]["fields"] == {"name": "title", "price": "amount"}
    assert versions[2]["source"]["owns"] == ["content", "pricing"]
    assert _source_events(engine, account) == [
        ("source.created", 1),
        ("source.updated", 2),
        ("source.updated", 3),
        ("source.updated", 4),
    ]
    with engine.connect() as conn:
        data = conn.execute(
            sa.text(
                "SELECT data FROM events WHERE account_id = :a AND object_type = 'source'"
                " AND object_version = 2"
            ),
            {"a": account},
        ).scalar_one()
    assert data["previous_attributes"] == {"mapping": first | {"format": "csv"}}
    assert data["object"]["mapping"]["fields"]["price"] == "amount"


def test_source_versions_are_append_only(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        create_source(conn, account_id=account, name="s", kind="csv", owns=set(), cause=CAUSE)
    # the app role may not even try; the trigger stops the owner (tests/reliability)
    with (
        pytest.raises(sa.exc.DBAPIError, match="append-only|permission denied"),
        engine.begin() as conn,
    ):
        conn.execute(sa.text("DELETE FROM source_versions WHERE account_id = :a"), {"a": account})


def test_a_bad_mapping_is_refused_with_the_key(engine: sa.Engine, account: str) -> None:
    with (
        pytest.raises(InputError, match="fields.price: must be a non-empty string"),
        engine.begin() as conn,
    ):
        create_source(
            conn, account_id=account, name="bad", kind="csv", owns=set(),
            mapping={"key": "id", "fields": {"price": 3}},
        )  # fmt: skip
    with engine.connect() as conn:
        assert get_source(conn, account, "bad") is None


def test_an_archived_source_refuses_imports(engine: sa.Engine, account: str) -> None:
    path = UNSEEN / "pim_export.csv"
    mapping = mapping_to_dict(suggest_for_file(path).mapping)
    with engine.begin() as conn:
        create_source(
            conn, account_id=account, name="pim", kind="csv", owns={"content", "pricing"},
            mapping=mapping, cause=CAUSE,
        )  # fmt: skip
        update_source(conn, account, "pim", archive=True, cause=CAUSE)
    options = ImportOptions(source="pim", account_id=account)
    with pytest.raises(SourceArchived, match="archived and takes no imports"):
        import_path(engine, path, options)
    assert _prices(engine, account) == {}
    with engine.begin() as conn:
        update_source(conn, account, "pim", archive=False, cause=CAUSE)
    assert import_path(engine, path, options).products.created == 4


def test_history_feeds_the_next_suggestion(engine: sa.Engine, account: str, tmp_path: Path) -> None:
    # the account once mapped a header the assistant would otherwise send to metadata
    saved = {"key": "Nr", "currency": "eur", "fields": {"name": "Kurztext", "sku": "Nr"}}
    with engine.begin() as conn:
        create_source(
            conn, account_id=account, name="erp", kind="csv", owns=set(), mapping=saved,
            cause=CAUSE,
        )  # fmt: skip
        history = mapping_history(conn, account)
        other = mapping_history(conn, "acct_default")
    assert history["Kurztext"] == ("name", "source erp, mapping version 1")
    assert "Kurztext" not in other  # another account's mappings are not this one's history
    path = tmp_path / "erp.csv"
    path.write_text("Nr,Kurztext,Preis\nE-1,Mixer,10.00\nE-2,Toaster,20.00\n", encoding="utf-8")
    s = suggest_for_file(path, history=history)
    assert s.mapping.key == "Nr" and s.mapping.fields["sku"] == "Nr"
    assert s.mapping.fields["name"] == "Kurztext"
    col = next(c for c in s.columns if c.column == "Kurztext")
    assert col.step == "history"
    without = suggest_for_file(path)
    assert "name" not in without.mapping.fields
    assert any(r.startswith("name:") for r in without.needs_review)


def test_creating_a_source_twice_is_refused(engine: sa.Engine, account: str) -> None:
    with engine.begin() as conn:
        create_source(conn, account_id=account, name="x", kind="csv", owns=set(), cause=CAUSE)
    with pytest.raises(Conflict, match="already exists"), engine.begin() as conn:
        create_source(conn, account_id=account, name="x", kind="csv", owns=set(), cause=CAUSE)
