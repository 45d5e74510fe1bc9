"""MkDocs hook: renders the HTTP API reference from the app's own OpenAPI document.

api.md holds the marker `<!-- api-reference -->`; at build time it is replaced by every
endpoint (parameters, request body, responses) and every schema of
`create_app(...).openapi()`. The app is built on an engine that is never used: building the
OpenAPI document touches no database, so the docs build needs no server.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "<!-- api-reference -->"
METHODS = ("get", "post", "put", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    import sqlalchemy as sa

    from catalog_pipelines.api.app import create_app

    # create_engine is lazy: it connects on first use, and openapi() never uses it.
    engine = sa.create_engine("postgresql+psycopg://docs@docs.invalid/unused")
    return create_app(engine).openapi()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return "schema-" + name.lower()


def type_of(schema: dict[str, Any]) -> str:
    """A short, readable type: `string`, `integer (1-100)`, `list of Price`, `Product`."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "allOf" in schema:  # pydantic wraps a described $ref this way
        return " and ".join(type_of(s) for s in schema["allOf"])
    for combo in ("anyOf", "oneOf"):
        if combo in schema:
            parts = [type_of(s) for s in schema[combo] if s.get("type") != "null"]
            nullable = any(s.get("type") == "null" for s in schema[combo])
            return " or ".join(parts) + (" (nullable)" if nullable else "")
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        nullable = "null" in kind
        kind = " or ".join(k for k in kind if k != "null") + (" (nullable)" if nullable else "")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of string to {type_of(schema['additionalProperties'])}"
    return str(kind) + _limits(schema)


def _limits(schema: dict[str, Any]) -> str:
    bounds = []
    if "minimum" in schema and "maximum" in schema:
        bounds.append(f"{schema['minimum']}–{schema['maximum']}")
    elif "minimum" in schema:
        bounds.append(f"≥ {schema['minimum']}")
    elif "maximum" in schema:
        bounds.append(f"≤ {schema['maximum']}")
    if "maxLength" in schema:
        bounds.append(f"max {schema['maxLength']} chars")
    if "maxItems" in schema:
        bounds.append(f"max {schema['maxItems']} items")
    if "pattern" in schema:
        bounds.append(f"pattern `{schema['pattern']}`")
    return f" ({', '.join(bounds)})" if bounds else ""


def _property_rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """One row per field; a nested object's fields follow it as `parent.field`."""
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        rows.append(
            f"| `{prefix}{name}` | {_cell(type_of(prop))} | {'yes' if name in required else ''}"
            f" | {_cell(prop.get('description', ''))} |"
        )
        if prop.get("properties"):
            rows += _property_rows(prop, f"{prefix}{name}.")
    return rows


def _properties_table(schema: dict[str, Any]) -> list[str]:
    if not schema.get("properties"):
        return [f"Type: {type_of(schema)}", ""]
    header = ["| field | type | required | description |", "|---|---|---|---|"]
    return [*header, *_property_rows(schema), ""]


def _parameters(op: dict[str, Any]) -> list[str]:
    params = op.get("parameters") or []
    if not params:
        return []
    rows = ["**Parameters**", "", "| name | in | type | required | description |"]
    rows.append("|---|---|---|---|---|")
    for p in params:
        schema = p.get("schema", {})
        default = schema.get("default")
        desc = p.get("description", "") + (f" Default `{default}`." if default is not None else "")
        # FastAPI marks every optional parameter nullable; "required" already says it.
        kind = type_of(schema).replace(" (nullable)", "")
        rows.append(
            f"| `{p['name']}` | {p['in']} | {_cell(kind)}"
            f" | {'yes' if p.get('required') else ''} | {_cell(desc)} |"
        )
    return [*rows, ""]


def _request_body(op: dict[str, Any]) -> list[str]:
    body = op.get("requestBody")
    if not body:
        return []
    content = body.get("content", {})
    types = ", ".join(f"`{t}`" for t in content)
    out = [f"**Request body** ({'required' if body.get('required') else 'optional'}; {types})", ""]
    schema = next(iter(content.values()), {}).get("schema", {})
    return out + _properties_table(schema)


def _responses(op: dict[str, Any]) -> list[str]:
    rows = ["**Responses**", "", "| status | meaning | body |", "|---|---|---|"]
    for status, resp in sorted(op.get("responses", {}).items()):
        content = resp.get("content", {})
        schema = content.get("application/json", {}).get("schema")
        shape = ", ".join(f"`{t}`" for t in content if t != "application/json")
        if schema is not None:
            if schema.get("properties", {}).get("object", {}).get("const") == "list":
                item = schema["properties"]["data"].get("items", {})
                shape = f"list of {type_of(item)}"
                envelope = ("object", "data", "has_more", "url")
                extra = [k for k in schema["properties"] if k not in envelope]
                if extra:
                    shape += " (also " + ", ".join(f"`{k}`" for k in extra) + ")"
            else:
                shape = type_of(schema)
        rows.append(f"| {status} | {_cell(resp.get('description', ''))} | {_cell(shape)} |")
    return [*rows, ""]


def render(doc: dict[str, Any]) -> str:
    out: list[str] = []
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, ops in doc.get("paths", {}).items():
        for method in METHODS:
            if method in ops:
                tag = (ops[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, ops[method]))
    for tag, ops in by_tag.items():
        out += [f"## {tag.replace('_', ' ').capitalize()}", ""]
        for method, path, op in ops:
            out += [f"### `{method.upper()} {path}`", ""]
            if op.get("summary"):
                out += [f"*{op['summary']}.*", ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            if not op.get("security"):
                out += ["No API key: this endpoint authenticates its caller itself.", ""]
            out += _parameters(op) + _request_body(op) + _responses(op)
    out += ["## Schemas", ""]
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        out += [f"### {name} {{: #{_anchor(name)} }}", ""]
        if schema.get("description"):
            out += [schema["description"], ""]
        out += _properties_table(schema)
    return "\n".join(out)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(openapi_document()))
