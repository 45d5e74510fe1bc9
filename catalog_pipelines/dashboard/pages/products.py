"""/dashboard/products: the catalog, searchable (`q`, the API's search language or plain
words) and filtered by status, source and last update, with cursor pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.store import reads
from catalog_pipelines.store.search import SearchQueryError, parse

router = APIRouter()
PAGE_SIZE = 25


@dataclass(frozen=True)
class Filters:
    q: str
    status: str  # active, archived or all
    source: str
    updated_since: str  # YYYY-MM-DD

    def link(self, **extra: str) -> str:
        params = {"q": self.q, "status": self.status, "source": self.source}
        params["updated_since"] = self.updated_since
        params.update(extra)
        return PREFIX + "/products?" + urlencode({k: v for k, v in params.items() if v})


def search_query(f: Filters) -> str:
    """The API search query for the filters: `q` as typed when it is a query (name~"shirt"),
    else a name search for its words; status, source and date as AND clauses."""
    text = f.q.strip()
    clauses: list[str] = []
    if text:
        try:
            _, join = parse(text)
        except SearchQueryError:
            words = text.replace("\\", "\\\\").replace('"', '\\"')
            field = "id" if text.startswith("prod_") else "name"
            op = "~" if len(text) >= 3 and field == "name" else ":"
            clauses.append(f'{field}{op}"{words}"')
        else:
            if join == "OR" and (f.status != "all" or f.source or f.updated_since):
                raise SearchQueryError("a query with OR cannot be combined with the filters")
            clauses.append(text)
    if f.status in ("active", "archived"):
        clauses.append(f'active:"{"true" if f.status == "active" else "false"}"')
    if f.source:
        clauses.append('source:"{}"'.format(f.source.replace("\\", "\\\\").replace('"', '\\"')))
    since = _since(f.updated_since)
    if since is not None:
        clauses.append(f"updated>={since}")
    return " AND ".join(clauses)


def is_plain(text: str) -> bool:
    """Words, not a search query: also looked up as a SKU."""
    try:
        parse(text)
    except SearchQueryError:
        return True
    return False


def _since(day: str) -> int | None:
    if not day:
        return None
    try:
        return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise SearchQueryError(f"updated since: {day!r} is not a date (YYYY-MM-DD)") from None


def row(conn: sa.Connection, account_id: str, product: dict[str, Any]) -> dict[str, Any]:
    """A product with its active prices, SKUs and total stock (as the API lists them)."""
    prices = reads.list_prices(conn, account_id, product=product["id"], active=True, limit=100)
    items = reads.list_inventory_items(conn, account_id, product=product["id"], limit=100)
    amounts = sorted(
        {(p["currency"], p["unit_amount"]) for p in prices.data if p["unit_amount"] is not None}
    )
    return {
        "product": product,
        "amounts": amounts,
        "skus": sorted(i["sku"] for i in items.data),
        "stock": sum(i["quantity"] for i in items.data) if items.data else None,
    }


def _listing(page: Page, f: Filters, after: str | None, before: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"filters": f, "error": None, "sku_match": None}
    with page.engine.connect() as conn:
        try:
            query = search_query(f)
            if query:
                found = reads.search_products(
                    conn, page.account_id, query, limit=PAGE_SIZE, page=after
                )
            else:
                found = reads.list_products(
                    conn,
                    page.account_id,
                    limit=PAGE_SIZE,
                    starting_after=after,
                    ending_before=before,
                )
        except SearchQueryError as e:
            out.update(error=str(e), rows=[], newer=None, older=None)
            return out
        except reads.CursorNotFound:
            raise DashboardError(
                404, "Page not found", "That page of products does not exist."
            ) from None
        if f.q.strip() and is_plain(f.q):
            out["sku_match"] = reads.get_inventory_item_by_sku(conn, page.account_id, f.q.strip())
        out["rows"] = [row(conn, page.account_id, p) for p in found.data]
    data = found.data
    paged_back = before is not None and not query
    has_older = found.has_more if not paged_back else True
    has_newer = (after is not None) or (paged_back and found.has_more)
    out["older"] = f.link(after=data[-1]["id"]) if data and has_older else None
    out["newer"] = (
        (f.link(before=data[0]["id"]) if not query else f.link()) if data and has_newer else None
    )
    return out


@router.get(PREFIX + "/products")
async def products(
    page: Page,
    q: str = "",
    status: str = "all",
    source: str = "",
    updated_since: str = "",
    after: str | None = None,
    before: str | None = None,
) -> Response:
    state = status if status in ("active", "archived") else "all"
    f = Filters(q[:500], state, source[:64], updated_since[:10])
    ctx = await run_in_threadpool(_listing, page, f, after, before)
    return page.render("products.html", **ctx)
