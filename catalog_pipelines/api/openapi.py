"""The OpenAPI document's shapes: hand-written JSON Schemas of the Stripe-shaped objects.

Handlers return the store's dicts directly (no per-response model validation on the hot
path); these schemas document them, and the schemathesis run checks that every response
conforms, so a drift between the SQL object functions and this file fails a test.
"""

from __future__ import annotations

from typing import Any


def _n(t: str, **kw: Any) -> dict[str, Any]:
    """Nullable scalar."""
    return {"type": [t, "null"], **kw}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                    "param": {"type": "string"},
                },
                ("type", "message"),
            )
        },
        ("error",),
    ),
    "Product": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "product"},
            "active": {"type": "boolean"},
            "name": _n("string"),
            "description": _n("string"),
            "images": {"type": "array", "items": {"type": "string"}},
            "metadata": _STR_MAP,
            "url": _n("string"),
            "shippable": _n("boolean"),
            "tax_code": _n("string"),
            "unit_label": _n("string"),
            "package_dimensions": _n("object"),
            "default_price": _n("string"),
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "livemode": {"type": "boolean"},
            "version": {"type": "integer", "minimum": 1},
            "source": _n("string"),
            "external_id": _n("string"),
        },
        ("id", "object", "active", "images", "metadata", "created", "updated"),
    ),
    "Price": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "price"},
            "product": {"type": "string"},
            "active": {"type": "boolean"},
            "currency": {"type": "string", "pattern": "^[a-z]{3}$"},
            "unit_amount": _n("integer"),
            "unit_amount_decimal": _n("string"),
            "type": {"enum": ["one_time", "recurring"]},
            "recurring": _n("object"),
            "lookup_key": _n("string"),
            "nickname": _n("string"),
            "metadata": _STR_MAP,
            "billing_scheme": {"type": "string"},
            "tax_behavior": {"type": "string"},
            "livemode": {"type": "boolean"},
            "created": {"type": "integer"},
            "version": {"type": "integer", "minimum": 1},
            "source": _n("string"),
        },
        ("id", "object", "product", "active", "currency", "type", "metadata"),
    ),
    "InventoryItem": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "inventory_item"},
            "sku": {"type": "string"},
            "product": {"type": "string"},
            "price": _n("string"),
            "quantity": {"type": "integer", "minimum": 0},
            "policy": {"enum": ["deny", "continue"]},
            "version": {"type": "integer", "minimum": 1},
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "source": _n("string"),
        },
        ("id", "object", "sku", "product", "quantity", "policy", "version"),
    ),
    "Event": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "event"},
            "type": {"type": "string"},
            "api_version": _n("string"),
            "created": {"type": "integer"},
            "data": obj(
                {
                    "object": {"type": "object"},
                    "previous_attributes": {"type": "object"},
                },
                ("object",),
            ),
            "livemode": {"type": "boolean"},
            "pending_webhooks": {"type": "integer"},
            "request": obj({"id": _n("string"), "idempotency_key": _n("string")}),
            "sequence": {"type": "integer"},
            "object_version": {"type": "integer"},
            "source": _n("string"),
            "run_id": _n("string"),
            "account": {"type": "string"},
        },
        ("id", "object", "type", "created", "data", "request", "sequence"),
    ),
    "Change": obj(
        {
            "object": {"const": "change"},
            "sequence": {"type": "integer"},
            "event": {"type": "string"},
            "type": {"type": "string"},
            "object_type": {"enum": ["product", "price", "inventory_item", "source"]},
            "object_id": {"type": "string"},
            "version": {"type": "integer"},
            "created": {"type": "integer"},
            "deleted": {"type": "boolean"},
            "archived": {"type": "boolean"},
            "data": {"type": "object"},
        },
        ("object", "sequence", "event", "type", "object_type", "object_id", "deleted"),
    ),
    "ProductVersion": obj(
        {
            "object": {"const": "product_version"},
            "version": {"type": "integer"},
            "created": {"type": "integer"},
            "event": {"type": "string"},
            "sequence": {"type": "integer"},
            "source": _n("string"),
            "run_id": _n("string"),
            "previous_attributes": _n("object"),
            "product": ref("Product"),
        },
        ("object", "version", "created", "event", "product"),
    ),
    "WebhookEndpoint": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "webhook_endpoint"},
            "url": {"type": "string"},
            "enabled_events": {"type": "array", "items": {"type": "string"}},
            "status": {"enum": ["enabled", "disabled"]},
            "created": {"type": "integer"},
            "secret": {"type": "string"},
            "description": _n("string"),
        },
        ("id", "object", "url", "enabled_events", "status", "created"),
    ),
    "DeletedObject": obj(
        {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "deleted": {"const": True},
        },
        ("id", "object", "deleted"),
    ),
    "WebhookDelivery": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "webhook_delivery"},
            "event": {"type": "string"},
            "event_type": {"type": "string"},
            "status": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "attempt_log": {"type": "array", "items": {"type": "object"}},
        },
        ("id", "object", "event", "status", "attempts"),
    ),
    "Source": obj(
        {
            "id": {"type": "string"},
            "object": {"const": "source"},
            "account": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "owns": {"type": "array", "items": {"enum": ["content", "pricing", "inventory"]}},
            "mode": {"enum": ["mirror", "hybrid", "catalog"]},
            "mapping": _n("object"),
            "config": {"type": "object"},
            "active": {"type": "boolean"},
            "archived": _n("integer"),
            "version": {"type": "integer", "minimum": 1},
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "livemode": {"type": "boolean"},
        },
        ("id", "object", "name", "kind", "owns", "mode", "mapping", "active", "version"),
    ),
    "SourceVersion": obj(
        {
            "object": {"const": "source_version"},
            "version": {"type": "integer", "minimum": 1},
            "created": {"type": "integer"},
            "source": ref("Source"),
        },
        ("object", "version", "created", "source"),
    ),
    "MappingSuggestion": obj(
        {
            "object": {"const": "mapping_suggestion"},
            "format": {"enum": ["csv", "jsonl", "shopify", "woocommerce", "magento"]},
            "dialect": obj(
                {
                    "delimiter": _n("string"),
                    "encoding": _n("string"),
                    "decimal_separator": {"enum": [".", ","]},
                    "thousands_separator": _n("string"),
                }
            ),
            "mapping": {"type": "object"},
            "columns": {
                "type": "array",
                "items": obj(
                    {
                        "column": {"type": "string"},
                        "field": {"type": "string"},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "reason": {"type": "string"},
                        "samples": {"type": "array", "items": {"type": "string"}},
                        "step": {"type": "string"},
                    },
                    ("column", "field", "confidence", "reason", "samples"),
                ),
            },
            "needs_review": {"type": "array", "items": {"type": "string"}},
        },
        ("object", "format", "dialect", "mapping", "columns", "needs_review"),
    ),
    "IncomingResult": obj(
        {
            "object": {"const": "incoming_webhook"},
            "webhook_id": {"type": "string"},
            "topic": {"type": "string"},
            "duplicate": {"type": "boolean"},
            "applied": {"type": "array"},
            "skipped": {"type": "array"},
        },
        ("object", "webhook_id", "topic", "duplicate"),
    ),
}


def list_of(name: str, **extra: Any) -> dict[str, Any]:
    return obj(
        {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref(name)},
            "has_more": {"type": "boolean"},
            "url": {"type": "string"},
            **extra,
        },
        ("object", "data", "has_more", "url"),
    )


_ERRORS = {
    400: "Invalid request",
    401: "Missing or invalid API key",
    404: "No such object in this account",
    409: "Conflict (ownership, stock, compare-and-set)",
    413: "Body too large",
    415: "Unsupported content type",
    503: "The database is unreachable; retry later",
}


def responses(ok: dict[str, Any], *errors: int) -> dict[int | str, Any]:
    """`responses=` for a route: the success schema and the Stripe error envelope."""
    out: dict[int | str, Any] = {
        200: {"description": "OK", "content": {"application/json": {"schema": ok}}}
    }
    for status in (400, 401, 503, *errors):
        out[status] = {
            "description": _ERRORS.get(status, "Error"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
    return out


def body(schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is parsed by hand (form or JSON)."""
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema},
                "application/json": {"schema": schema},
            },
        }
    }


METADATA = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500}}
