"""Request parameters as Stripe sends them: `metadata[color]=red`, `images[0]=...`,
`types[]=...`, `created[gte]=...`, in a query string, a form body or a JSON body.

Everything is parsed into plain nested dicts/lists/strings; the store coerces types and names
the parameter it refuses. JSON is parsed strictly (docs/maintainers.md, JSON): duplicate keys,
NaN/Infinity and deep nesting are refused rather than guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from catalog_pipelines.api.errors import ApiError

MAX_DEPTH = 5
MAX_PARAMS = 1000
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, code="parameter_invalid", param=param)


def _split(key: str) -> list[str]:
    m = _KEY.match(key)
    if not m:
        raise _bad(f"Invalid parameter name: {key!r}", key)
    parts = [m.group(1), *_PART.findall(m.group(2))]
    if len(parts) > MAX_DEPTH:
        raise _bad(f"Parameter {key!r} is nested too deeply", key)
    return parts


def _listify(node: Any) -> Any:
    """Dicts whose keys are all indexes (or '' from `x[]`) become lists, recursively."""
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() or k.startswith("\x00append") for k in node):
            order = sorted(
                node, key=lambda k: (0, int(k)) if k.isdigit() else (1, int(k.split(":")[1]))
            )
            return [node[k] for k in order]
    return node


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """[('metadata[a]', '1'), ('images[]', 'x')] -> {'metadata': {'a': '1'}, 'images': ['x']}."""
    root: dict[str, Any] = {}
    appended = 0
    for n, (key, value) in enumerate(pairs):
        if n >= MAX_PARAMS:
            raise _bad("Too many parameters")
        parts = _split(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if i == 0:
                    raise _bad(f"Invalid parameter name: {key!r}", key)
                appended += 1
                part = f"\x00append:{appended}"
            if last:
                if part in node:
                    if isinstance(node[part], dict):
                        raise _bad(f"Parameter {key!r} is both a value and a hash", parts[0])
                    # `x=a&x=b` (a form-encoded array) is the list [a, b]
                    held = node[part] if isinstance(node[part], list) else [node[part]]
                    node[part] = [*held, value]
                else:
                    node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise _bad(f"Parameter {key!r} is both a value and a hash", parts[0])
                node = child
    return _listify(root)


def parse_query(query_string: str) -> dict[str, Any]:
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, strict_parsing=False)
    except ValueError as e:
        raise _bad(f"Malformed query string: {e}") from None
    return nest(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _depth(node: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(node, dict):
        return max((_depth(v, level + 1) for v in node.values()), default=level + 1)
    if isinstance(node, list):
        return max((_depth(v, level + 1) for v in node), default=level + 1)
    return level


def json_scalars(node: Any) -> Any:
    """JSON numbers as the strings the form path would give (Decimal keeps them exact)."""
    if isinstance(node, dict):
        return {k: json_scalars(v) for k, v in node.items()}
    if isinstance(node, list):
        return [json_scalars(v) for v in node]
    if isinstance(node, Decimal):
        return str(node)
    return node


def parse_body_typed(body: bytes, content_type: str | None) -> tuple[dict[str, Any], bool]:
    """The body as parsed, and whether it was JSON (numbers then stay exact `Decimal`s)."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    is_json = ctype == "application/json" or ctype.endswith("+json")
    if not body.strip():
        return {}, is_json
    if is_json:
        if body.count(b"[") + body.count(b"{") > 10_000:
            raise _bad("JSON body is too deeply nested or too large")
        try:
            data = json.loads(
                body.decode("utf-8"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_reject_constant,
                parse_float=Decimal,
                parse_int=Decimal,
            )
        except (ValueError, RecursionError, UnicodeDecodeError) as e:
            raise _bad(f"Invalid JSON body: {e}") from None
        if not isinstance(data, dict):
            raise _bad("The JSON body must be an object")
        if _depth(data) > MAX_DEPTH + 1:
            raise _bad("JSON body is nested too deeply")
        _check_storable(data)
        return data, True
    if ctype in ("application/x-www-form-urlencoded", ""):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("The form body is not UTF-8") from None
        params = parse_query(text)
        _check_storable(params)
        return params, False
    raise ApiError(
        415,
        f"Unsupported Content-Type {ctype!r}: send application/x-www-form-urlencoded or"
        " application/json",
        code="unsupported_media_type",
    )


def _param_name(loc: tuple[int | str, ...]) -> str | None:
    """('metadata', 'k') -> 'metadata[k]', as the parameter was sent."""
    parts = [str(p) for p in loc if p not in ("function-after", "function-before")]
    if not parts:
        return None
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def validate_params(
    model: type[BaseModel], params: dict[str, Any], *, form: bool, schema: dict[str, Any]
) -> dict[str, Any]:
    """400 naming the first parameter that breaks `model` (unknown, missing, mistyped, too
    long...). Validation is strict: a JSON body must carry the documented JSON types, and a
    form body's strings are decoded by the documented schema (`schema`, the model's own),
    so the server accepts exactly what the OpenAPI document describes. Returns the params
    with those types (the store takes typed values as well as strings)."""
    data: dict[str, Any] = decode_form(params, schema) if form else _json_types(params)
    try:
        model.model_validate(data, strict=True)
        return data
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        param = _param_name(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            raise ApiError(
                400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
            ) from None
        if err["type"] == "missing":
            raise ApiError(
                400, f"Missing required param: {param}.", code="parameter_missing", param=param
            ) from None
        message = err["msg"].removeprefix("Value error, ")
        if param is None and ": " in message:  # a model-level rule names its parameter
            param, message = message.split(": ", 1)
        if message == "Missing required param":
            raise ApiError(
                400, f"Missing required param: {param}.", code="parameter_missing", param=param
            ) from None
        raise _bad(f"Invalid {param}: {message}" if param else message, param) from None


def _json_types(node: Any) -> Any:
    """JSON numbers (kept as Decimal) as int when integral (JSON Schema counts 2.0 as an
    integer), float otherwise."""
    if isinstance(node, dict):
        return {k: _json_types(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_types(v) for v in node]
    if isinstance(node, Decimal):
        if node.is_finite() and node == node.to_integral_value() and abs(node) < 10**30:
            return int(node)
        return float(node)
    return node


_INTEGER = re.compile(r"^-?\d{1,30}(\.0*)?$")
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def decode_form(value: Any, schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """Form strings as the types `schema` documents (`true` -> True, `12` -> 12, a lone
    value -> a one-item list); anything that does not decode is left for validation to refuse."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return decode_form(value, defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for option in schema.get("anyOf", []):
        decoded = decode_form(value, option, defs)
        if decoded is not value:
            return decoded
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
        if kind == "integer" and _INTEGER.match(value):
            return int(value.split(".")[0])
        if kind == "number" and _NUMBER.match(value):
            return float(value)
        if kind == "array":
            return [decode_form(value, schema.get("items", {}), defs)] if value else []
        return value
    if kind == "array" and isinstance(value, list):
        return [decode_form(v, schema.get("items", {}), defs) for v in value]
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: decode_form(v, props.get(k, extra if isinstance(extra, dict) else {}), defs)
            for k, v in value.items()
        }
    return value


def _check_storable(node: Any, path: str = "") -> None:
    """PostgreSQL text holds neither NUL nor lone surrogates (which UTF-8 cannot encode):
    refuse them here, naming the parameter, rather than fail in the database."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_storable(k, path)
            _check_storable(v, f"{path}[{k}]" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_storable(v, f"{path}[{i}]")
    elif isinstance(node, str):
        if "\x00" in node:
            raise _bad(
                f"Invalid {path or 'parameter'}: text may not contain NUL (\\u0000)", path or None
            )
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(
                f"Invalid {path or 'parameter name'}: not valid Unicode (a lone surrogate)",
                path or None,
            ) from None
