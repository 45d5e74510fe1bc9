"""The OpenAPI document's shapes, generated from the pydantic models in api/models.py.

Request bodies are validated against the same models (`validate_body`), so the document and
the server agree by construction. Optional body fields are documented as optional, not
nullable: `null` is refused (send an empty string to clear a field, as Stripe's clients do).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from catalog_pipelines.api import models

_REF = "#/components/schemas/{model}"
NO_NUL = "^[^\\x00]*$"


class _BodySchema(GenerateJsonSchema):
    """Optional body fields are absent or valued; `None` defaults are not part of the API."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        # PostgreSQL text cannot hold NUL: say so, and the validation below enforces it.
        out = super().str_schema(schema)
        out.setdefault("pattern", NO_NUL)
        return out

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        # A key pattern makes pydantic emit patternProperties, which leaves keys that miss
        # the pattern unconstrained; state it as propertyNames + additionalProperties.
        out = super().dict_schema(schema)
        patterns = out.pop("patternProperties", None)
        if patterns:
            (pattern, values), *_ = patterns.items()
            out["additionalProperties"] = values
            out.setdefault("propertyNames", {})["pattern"] = pattern
        return out

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if schema.get("default") is None:
            return inner
        return super().default_schema(schema)


BODIES: tuple[type[BaseModel], ...] = (
    models.ProductCreate,
    models.ProductUpdate,
    models.PriceCreate,
    models.PriceUpdate,
    models.InventoryAdjust,
    models.InventorySet,
    models.WebhookEndpointCreate,
    models.WebhookEndpointUpdate,
    models.WebhookReplayCreate,
    models.SourceCreate,
    models.SourceUpdate,
    models.MappingSuggestionRequest,
)


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, generator in ((models.OBJECTS, GenerateJsonSchema), (BODIES, _BodySchema)):
        _, defs = models_json_schema(
            [(m, "validation") for m in group], ref_template=_REF, schema_generator=generator
        )
        out.update(defs.get("$defs", {}))
    return out


SCHEMAS: dict[str, Any] = _schemas()


def ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=name)}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


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


def search_of(name: str) -> dict[str, Any]:
    return obj(
        {
            "object": {"const": "search_result"},
            "data": {"type": "array", "items": ref(name)},
            "has_more": {"type": "boolean"},
            "next_page": {"type": ["string", "null"]},
            "url": {"type": "string"},
        },
        ("object", "data", "has_more", "url", "next_page"),
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


@functools.cache
def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's body schema, self-contained (`$defs`), as the document shows it."""
    return model.model_json_schema(schema_generator=_BodySchema)


def body(model: type[BaseModel], *, required: bool = False) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is parsed by hand (form or JSON) and then
    validated against `model` (see deps.Ctx.body). Form bodies nest as Stripe's do:
    `metadata[key]=value`, i.e. OpenAPI's deepObject style."""
    schema = ref(model.__name__)
    properties = body_schema(model).get("properties", {})
    nested = {
        name: {"style": "deepObject", "explode": True}
        for name, prop in properties.items()
        if prop.get("type") == "object" or "$ref" in prop or "anyOf" in prop
    }
    form: dict[str, Any] = {"schema": schema}
    if nested:
        form["encoding"] = nested
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/x-www-form-urlencoded": form,
                "application/json": {"schema": schema},
            },
        }
    }
