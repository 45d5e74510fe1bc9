"""The Stripe-shaped objects are spelled in several places: the SQL object functions (what the
API and update events return), the bulk create path (what `*.created` events of an import
carry), the OpenAPI schemas, the API's content fields, the normalized batch and the hashed
content group. They must name the same fields, or an API client or a webhook consumer sees a
field appear or vanish depending on how an object was written."""

from __future__ import annotations

import json

import polars as pl
import sqlalchemy as sa

from catalog_pipelines.api.openapi import SCHEMAS
from catalog_pipelines.content import price_content, product_content
from catalog_pipelines.importer import ImportOptions, import_batch
from catalog_pipelines.normalized import PRODUCT_SCHEMA
from catalog_pipelines.store.objects import CONTENT_FIELDS
from tests.support.batches import batch

_OBJECTS = {
    "product": ("products", "product_object", "Product"),
    "price": ("prices", "price_object", "Price"),
    "inventory_item": ("inventory_items", "inventory_item_object", "InventoryItem"),
}


def _json_keys(expr: pl.Expr, frame: pl.DataFrame) -> set[str]:
    return set(json.loads(frame.select(expr).item()))


def test_every_definition_of_an_object_names_the_same_fields(
    engine: sa.Engine, account: str
) -> None:
    b = batch([{"external_id": "SHAPE-1", "name": "Tee", "metadata": {"brand": "Acme"}}])
    import_batch(engine, b, ImportOptions(source="shape", account_id=account))
    with engine.connect() as conn:
        for object_type, (table, function, schema) in _OBJECTS.items():
            row = conn.execute(
                sa.text(
                    f"SELECT {function}(t) AS obj, event_data(e)::jsonb -> 'object' AS created"  # noqa: S608 - constants
                    f" FROM {table} t JOIN events e ON e.object_id = t.id"
                    " AND e.object_version = 1 WHERE t.account_id = :a"
                ),
                {"a": account},
            ).one()
            sql_keys, bulk_keys = set(row.obj), set(row.created)
            assert bulk_keys == sql_keys, object_type
            assert set(SCHEMAS[schema]["properties"]) == sql_keys, object_type
            assert row.created == row.obj, object_type  # same values too, at version 1

    product_fields = set(SCHEMAS["Product"]["properties"])
    assert set(CONTENT_FIELDS) <= product_fields
    assert set(PRODUCT_SCHEMA) - {"row_number"} <= product_fields
    sample = b.products
    assert _json_keys(product_content(), sample) <= product_fields
    price_fields = set(SCHEMAS["Price"]["properties"])
    assert _json_keys(price_content(), b.variants) <= price_fields
