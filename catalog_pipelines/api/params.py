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
                    if node[part] != value:
                        raise _bad(f"Parameter {key!r} is given twice", parts[0])
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


def _json_scalars(node: Any) -> Any:
    """JSON numbers as the strings the form path would give (Decimal keeps them exact)."""
    if isinstance(node, dict):
        return {k: _json_scalars(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_scalars(v) for v in node]
    if isinstance(node, Decimal):
        return str(node)
    return node


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A form-encoded or JSON body as nested params. An empty body is no params. (Its size
    was bounded while it was received: api/body_limit.py.)"""
    if not body.strip():
        return {}
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        if body.count(b"[") + body.count(b"{") > 10_000:
            raise _bad("JSON body is too deeply nested or too large")
        try:
            data = json.loads(
                body.decode("utf-8"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_reject_constant,
                parse_float=Decimal,
            )
        except (ValueError, RecursionError, UnicodeDecodeError) as e:
            raise _bad(f"Invalid JSON body: {e}") from None
        if not isinstance(data, dict):
            raise _bad("The JSON body must be an object")
        if _depth(data) > MAX_DEPTH + 1:
            raise _bad("JSON body is nested too deeply")
        return _json_scalars(data)
    if ctype in ("application/x-www-form-urlencoded", ""):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("The form body is not UTF-8") from None
        return parse_query(text)
    raise ApiError(
        415,
        f"Unsupported Content-Type {ctype!r}: send application/x-www-form-urlencoded or"
        " application/json",
        code="unsupported_media_type",
    )


# --------------------------------------------------------------------------- query helpers


def one(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"Invalid {name}: expected a single value", name)
    return value


def opt_int(
    params: dict[str, Any], name: str, *, minimum: int = 0, maximum: int = 2**63 - 1
) -> int | None:
    value = one(params, name)
    if value is None:
        return None
    if not re.fullmatch(r"-?\d{1,19}", value) or not minimum <= int(value) <= maximum:
        raise _bad(f"Invalid integer for {name}: {value!r}", name)
    return int(value)


def opt_bool(params: dict[str, Any], name: str) -> bool | None:
    value = one(params, name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise _bad(f"Invalid boolean for {name}: {value!r}", name)
    return value.lower() == "true"


def string_list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"Invalid {name}: expected a list of strings", name)
    return value


def range_filter(params: dict[str, Any], name: str) -> dict[str, int] | None:
    """`created=T` (exact second) or `created[gte]=T&created[lt]=U`, unix seconds."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        t = opt_int(params, name, minimum=0, maximum=10**11)
        assert t is not None
        return {"gte": t, "lte": t}
    if not isinstance(value, dict):
        raise _bad(f"Invalid {name}", name)
    out: dict[str, int] = {}
    for op, raw in value.items():
        if op not in ("gt", "gte", "lt", "lte") or not isinstance(raw, str):
            raise _bad(f"Invalid {name}[{op}]: use gt, gte, lt or lte", f"{name}[{op}]")
        if not re.fullmatch(r"\d{1,11}", raw):
            raise _bad(f"Invalid timestamp for {name}[{op}]: {raw!r}", f"{name}[{op}]")
        out[op] = int(raw)
    return out
