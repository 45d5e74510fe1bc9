"""HTTP details the router leaves to us: the full `Allow` list on a 405, and Stripe's
indexed list parameters (`ids[0]=a&ids[1]=b`, as its clients send them) read as the
declared `ids[]=a&ids[]=b`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

_INDEXED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[\d+\]$")


def allowed_methods(app: object, scope: Scope) -> list[str]:
    """Every method some route serves at this path (FastAPI makes one route per method,
    and Starlette's own 405 names only the first route it matched)."""
    methods: set[str] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router
            if inner is not None:
                walk(inner.routes)
            elif route.matches({**scope, "type": "http"})[0] != Match.NONE:
                methods.update(getattr(route, "methods", None) or ())

    walk(getattr(app, "routes", []))
    return sorted(methods)


class IndexedListParams:
    """Rewrite `name[N]=v` query pairs to `name[]=v`, in index order, before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"[" in query or b"%5B" in query.upper():
            scope = {**scope, "query_string": _normalize(query)}
        await self.app(scope, receive, send)


def _normalize(query: bytes) -> bytes:
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return query
    if not any(_INDEXED.match(k) for k, _ in pairs):
        return query
    indexed = sorted(
        (i for i, (k, _) in enumerate(pairs) if _INDEXED.match(k)),
        key=lambda i: int(pairs[i][0].rsplit("[", 1)[1][:-1]),
    )
    out = [(k, v) for k, v in pairs if not _INDEXED.match(k)]
    out += [(_INDEXED.sub(r"\1[]", pairs[i][0]), pairs[i][1]) for i in indexed]
    return urlencode(out, encoding="latin-1").encode("latin-1")
