"""A subset of Stripe's search query language for products, compiled to parameterized SQL.

    name~"shirt" AND active:"true"
    metadata["brand"]:"acme" OR -description:"draft"
    created>1700000000

Clauses are `field:value` (exact; case-insensitive for text), `field~value` (substring, at
least 3 characters), or `field>N`, `>=`, `<`, `<=` (numbers: `created`, `updated`). A
leading `-` negates a clause. Clauses are joined by `AND` or by `OR`, not both, as at Stripe.
Field names map to constant SQL fragments; values are always bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_CLAUSES = 10

# field -> (SQL expression over alias p, kind)
_TEXT_FIELDS = {
    "id": "p.id",
    "name": "p.name",
    "description": "p.description",
    "url": "p.url",
    "external_id": "p.external_id",
    "source": "p.source",
}
_BOOL_FIELDS = {"active": "p.active", "shippable": "p.shippable"}
_TIME_FIELDS = {"created": "p.created", "updated": "p.updated"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<join>AND|OR)(?=\s)
      | (?P<neg>-)?(?P<field>[a-z_]+)(?:\[\s*"(?P<key>(?:[^"\\]|\\.)*)"\s*\])?
        (?P<op>:|~|>=|<=|>|<)
        (?:"(?P<str>(?:[^"\\]|\\.)*)"|(?P<num>-?\d+))
    )\s*""",
    re.VERBOSE,
)


class SearchQueryError(ValueError):
    """The query does not parse; the message says where and why."""


@dataclass(frozen=True)
class Clause:
    field: str
    key: str | None
    op: str
    value: str | int
    negated: bool


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def parse(query: str) -> tuple[list[Clause], str]:
    """The clauses of `query` and how they are joined ("AND" or "OR")."""
    clauses: list[Clause] = []
    joins: set[str] = set()
    pos, expect_clause = 0, True
    query = query.strip()
    if not query:
        raise SearchQueryError("query is empty")
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            raise SearchQueryError(
                f"cannot parse the query at character {pos + 1}: {query[pos:]!r}"
            )
        if m.group("join"):
            if expect_clause:
                raise SearchQueryError(f"{m.group('join')} at character {pos + 1} joins nothing")
            joins.add(m.group("join"))
            expect_clause = True
        else:
            if not expect_clause:
                raise SearchQueryError(f"missing AND or OR before character {pos + 1}")
            num = m.group("num")
            value: str | int = int(num) if num is not None else _unescape(m.group("str"))
            key = m.group("key")
            clauses.append(
                Clause(
                    field=m.group("field"),
                    key=None if key is None else _unescape(key),
                    op=m.group("op"),
                    value=value,
                    negated=bool(m.group("neg")),
                )
            )
            expect_clause = False
        pos = m.end()
    if expect_clause:
        raise SearchQueryError("the query ends with AND or OR")
    if len(joins) > 1:
        raise SearchQueryError("use either AND or OR in one query, not both")
    if len(clauses) > MAX_CLAUSES:
        raise SearchQueryError(f"at most {MAX_CLAUSES} clauses are allowed")
    return clauses, (joins.pop() if joins else "AND")


def _condition(c: Clause, name: str, params: dict[str, Any]) -> str:
    if c.field == "metadata":
        if c.key is None:
            raise SearchQueryError('metadata needs a key: metadata["key"]:"value"')
        params[f"{name}_k"] = c.key
        expr = f"(p.metadata ->> :{name}_k)"
        return _text_condition(c, expr, name, params)
    if c.key is not None:
        raise SearchQueryError(f"{c.field} takes no [key]")
    if c.field in _TEXT_FIELDS:
        return _text_condition(c, _TEXT_FIELDS[c.field], name, params)
    if c.field in _BOOL_FIELDS:
        if c.op != ":" or str(c.value).lower() not in ("true", "false"):
            raise SearchQueryError(f'{c.field} takes :"true" or :"false"')
        params[name] = str(c.value).lower() == "true"
        return f"{_BOOL_FIELDS[c.field]} = :{name}"
    if c.field in _TIME_FIELDS:
        if c.op in (":", "~") or not isinstance(c.value, int):
            raise SearchQueryError(f"{c.field} takes a comparison with a unix time: {c.field}>N")
        params[name] = c.value
        return f"{_TIME_FIELDS[c.field]} {c.op} to_timestamp(:{name})"
    known = sorted([*_TEXT_FIELDS, *_BOOL_FIELDS, *_TIME_FIELDS, "metadata"])
    raise SearchQueryError(f"unknown field {c.field!r}; searchable fields: {', '.join(known)}")


def _text_condition(c: Clause, expr: str, name: str, params: dict[str, Any]) -> str:
    value = str(c.value)
    if c.op == ":":
        params[name] = value
        return f"lower({expr}) = lower(:{name})"
    if c.op == "~":
        if len(value) < 3:
            raise SearchQueryError(f"{c.field}~ needs at least 3 characters")
        params[name] = (
            "%" + value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        )
        return f"{expr} ILIKE :{name}"
    raise SearchQueryError(f"{c.field} is text: use : or ~, not {c.op}")


def compile_query(query: str) -> tuple[str, dict[str, Any]]:
    """One SQL condition over products `p` and its parameters."""
    clauses, join = parse(query)
    params: dict[str, Any] = {}
    parts = []
    for i, c in enumerate(clauses):
        cond = _condition(c, f"q{i}", params)
        parts.append(f"NOT coalesce({cond}, false)" if c.negated else f"coalesce({cond}, false)")
    return "(" + f" {join} ".join(parts) + ")", params
