"""Read side of the catalog: Stripe-shaped objects, cursor-paginated lists, history, changes.

Shared by the HTTP API and the CLI so both print the same shapes. Every query is scoped by
`account_id` and every value travels as a bind parameter; the SQL text is assembled only
from the constant fragments in this module.

Ordering is Stripe's, newest first: products and prices by (`created`, `pk`) descending, so
rows created in one import transaction (same `created`) still have a total, stable order.
Events are ordered by `sequence`, which is the commit order of the log (`created` is the
transaction's start time and can disagree with it by the length of a transaction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.events import EVENT_COLUMNS, event_json
from catalog_pipelines.store.search import compile_query

MAX_LIMIT = 100
DEFAULT_LIMIT = 10

# A range filter as in Stripe's `created[gte]=...`: keys gt/gte/lt/lte. Integer values are
# unix seconds compared the way the objects show them (whole seconds); datetimes are exact.
RangeFilter = Mapping[str, datetime | int]

_TYPE_PATTERN = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")


class CursorNotFound(LookupError):
    """`starting_after`/`ending_before` names no object of this account (Stripe: 404)."""

    def __init__(self, param: str, object_id: str) -> None:
        super().__init__(f"No such object: '{object_id}'")
        self.param = param
        self.object_id = object_id


@dataclass
class ListPage:
    """One page of a list endpoint, in list order."""

    data: list[dict[str, Any]]
    has_more: bool

    def envelope(self, url: str) -> dict[str, Any]:
        return {"object": "list", "data": self.data, "has_more": self.has_more, "url": url}


@dataclass
class ChangesPage:
    """One page of the reconciliation feed; `next_after_sequence` is the cursor to resume from."""

    data: list[dict[str, Any]]
    has_more: bool
    next_after_sequence: int

    def envelope(self, url: str) -> dict[str, Any]:
        return {
            "object": "list",
            "data": self.data,
            "has_more": self.has_more,
            "url": url,
            "next_after_sequence": self.next_after_sequence,
        }


# --------------------------------------------------------------------------- single objects

_GET_PRODUCT = sa.text(
    "SELECT product_object(p) AS obj FROM products p WHERE p.account_id = :account AND p.id = :id"
)
_GET_PRICE = sa.text(
    "SELECT price_object(p) AS obj FROM prices p WHERE p.account_id = :account AND p.id = :id"
)
_GET_INVENTORY_BY_SKU = sa.text(
    "SELECT inventory_item_object(i) AS obj FROM inventory_items i"
    " WHERE i.account_id = :account AND i.sku = :sku"
)

# An item's `inv_` id, when one matches exactly, else its SKU (docs/api.md: any SKU, even one
# with `/`, `?` or `#`, and the id both reach the item).
_SKU_OF_ID = sa.text("SELECT sku FROM inventory_items WHERE account_id = :account AND id = :id")


def inventory_sku(conn: sa.Connection, account_id: str, key: str) -> str:
    """The SKU an API path names: an `inv_` id of the account resolves to its item's SKU;
    anything else is the SKU itself."""
    if key.startswith("inv_"):
        sku = conn.execute(_SKU_OF_ID, {"account": account_id, "id": key}).scalar_one_or_none()
        if sku is not None:
            return str(sku)
    return key


def get_product(conn: sa.Connection, account_id: str, product_id: str) -> dict[str, Any] | None:
    return conn.execute(
        _GET_PRODUCT, {"account": account_id, "id": product_id}
    ).scalar_one_or_none()


def get_price(conn: sa.Connection, account_id: str, price_id: str) -> dict[str, Any] | None:
    return conn.execute(_GET_PRICE, {"account": account_id, "id": price_id}).scalar_one_or_none()


def get_inventory_item_by_sku(
    conn: sa.Connection, account_id: str, sku: str
) -> dict[str, Any] | None:
    return conn.execute(
        _GET_INVENTORY_BY_SKU, {"account": account_id, "sku": sku}
    ).scalar_one_or_none()


def get_inventory_item(conn: sa.Connection, account_id: str, key: str) -> dict[str, Any] | None:
    """An item by its `inv_` id or by its SKU (see `inventory_sku`)."""
    return get_inventory_item_by_sku(conn, account_id, inventory_sku(conn, account_id, key))


def get_event(conn: sa.Connection, account_id: str, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.text(
            f"SELECT {EVENT_COLUMNS} FROM events e"  # noqa: S608 - constant column list
            " WHERE e.account_id = :account AND e.id = :id"
        ),
        {"account": account_id, "id": event_id},
    ).one_or_none()
    return None if row is None else event_json(row)


# --------------------------------------------------------------------------- filters


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _range_clauses(
    column: str, prefix: str, rng: RangeFilter | None, params: dict[str, Any]
) -> list[str]:
    """SQL conditions for a gt/gte/lt/lte filter on a timestamptz column.

    `column` and `prefix` are constants of this module, never input. Integer bounds follow
    the shown value (`floor(epoch)`): gt T means at or after T+1 s, lte T means before T+1 s.
    """
    if not rng:
        return []
    clauses = []
    for op, value in rng.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise ValueError(f"unknown range operator {op!r}: use gt, gte, lt or lte")
        if isinstance(value, bool):
            raise ValueError(f"{op}: expected a unix timestamp or datetime")
        if isinstance(value, int):
            base = datetime.fromtimestamp(value, tz=UTC)
            sql_op, bound = {
                "gt": (">=", base + timedelta(seconds=1)),
                "gte": (">=", base),
                "lt": ("<", base),
                "lte": ("<", base + timedelta(seconds=1)),
            }[op]
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{op}: datetime must be timezone-aware")
            sql_op, bound = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op], value
        else:
            raise ValueError(f"{op}: expected a unix timestamp or datetime")
        name = f"{prefix}_{op}"
        params[name] = bound
        clauses.append(f"{column} {sql_op} :{name}")
    return clauses


# --------------------------------------------------------------------------- generic paging


@dataclass(frozen=True)
class _Listing:
    """A list query over one table: constant SQL pieces for it."""

    table: str  # "products p"
    alias: str  # "p"
    select: str  # "product_object(p)"
    key: tuple[str, ...]  # ordering key columns, e.g. ("created", "pk")


_PRODUCTS = _Listing("products p", "p", "product_object(p)", ("created", "pk"))
_PRICES = _Listing("prices p", "p", "price_object(p)", ("created", "pk"))
_INVENTORY = _Listing("inventory_items i", "i", "inventory_item_object(i)", ("created", "id"))


def _paginate(
    conn: sa.Connection,
    listing: _Listing,
    account_id: str,
    where: list[str],
    params: dict[str, Any],
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
) -> ListPage:
    """Keyset pagination, newest first, with Stripe's starting_after / ending_before. Given
    both, the page is the objects strictly between them, read from `starting_after`."""
    _check_limit(limit)
    a = listing.alias
    key_cols = ", ".join(f"{a}.{k}" for k in listing.key)
    conds = [f"{a}.account_id = :account", *where]
    params = {**params, "account": account_id, "limit": limit + 1}
    backwards = bool(ending_before) and not starting_after
    for name, cursor_id, op in (
        ("starting_after", starting_after, "<"),
        ("ending_before", ending_before, ">"),
    ):
        if not cursor_id:
            continue
        cursor = conn.execute(
            sa.text(
                f"SELECT {key_cols} FROM {listing.table}"  # noqa: S608 - constant fragments
                f" WHERE {a}.account_id = :account AND {a}.id = :cursor"
            ),
            {"account": account_id, "cursor": cursor_id},
        ).one_or_none()
        if cursor is None:
            raise CursorNotFound(name, cursor_id)
        cursor_params = ", ".join(f":{name}_{k}" for k in listing.key)
        for k, v in zip(listing.key, cursor, strict=True):
            params[f"{name}_{k}"] = v
        conds.append(f"({key_cols}) {op} ({cursor_params})")
    direction = "ASC" if backwards else "DESC"
    order = ", ".join(f"{a}.{k} {direction}" for k in listing.key)
    sql = (
        f"SELECT {listing.select} AS obj FROM {listing.table}"  # noqa: S608 - constant fragments
        f" WHERE {' AND '.join(conds)} ORDER BY {order} LIMIT :limit"
    )
    rows = list(conn.execute(sa.text(sql), params).scalars())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return ListPage(data=rows, has_more=has_more)


def _list_objects(
    conn: sa.Connection,
    listing: _Listing,
    account_id: str,
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    equal: Mapping[str, Any],
    one_of: Mapping[str, Sequence[str] | None],
    created: RangeFilter | None,
    updated: RangeFilter | None,
) -> ListPage:
    """A page of `listing`'s objects whose `equal` columns hold the given values and whose
    `one_of` columns hold one of the given values (None: any), created and updated in range."""
    a = listing.alias
    where: list[str] = []
    params: dict[str, Any] = {}
    for column, value in equal.items():
        if value is not None:
            where.append(f"{a}.{column} = :{column}")
            params[column] = value
    for column, values in one_of.items():
        if values is not None:
            where.append(f"{a}.{column} = ANY(:{column})")
            params[column] = list(values)
    where += _range_clauses(f"{a}.created", "created", created, params)
    where += _range_clauses(f"{a}.updated", "updated", updated, params)
    return _paginate(
        conn,
        listing,
        account_id,
        where,
        params,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


# --------------------------------------------------------------------------- lists


def list_products(
    conn: sa.Connection,
    account_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    source: str | None = None,
    external_id: str | None = None,
    active: bool | None = None,
    created: RangeFilter | None = None,
    updated: RangeFilter | None = None,
    ids: Sequence[str] | None = None,
) -> ListPage:
    return _list_objects(
        conn,
        _PRODUCTS,
        account_id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        equal={"source": source, "external_id": external_id, "active": active},
        one_of={"id": ids},
        created=created,
        updated=updated,
    )


def search_products(
    conn: sa.Connection,
    account_id: str,
    query: str,
    *,
    limit: int = DEFAULT_LIMIT,
    page: str | None = None,
) -> ListPage:
    """Products matching a search query (store/search.py), newest first; `page` is the id
    of the last product of the previous page."""
    condition, params = compile_query(query)
    return _paginate(
        conn,
        _PRODUCTS,
        account_id,
        [condition],
        params,
        limit=limit,
        starting_after=page,
        ending_before=None,
    )


def list_prices(
    conn: sa.Connection,
    account_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    product: str | None = None,
    active: bool | None = None,
    lookup_keys: Sequence[str] | None = None,
    currency: str | None = None,
    type: str | None = None,
    created: RangeFilter | None = None,
    updated: RangeFilter | None = None,
) -> ListPage:
    return _list_objects(
        conn,
        _PRICES,
        account_id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        equal={
            "product_id": product,
            "active": active,
            "currency": None if currency is None else currency.lower(),
            "type": type,
        },
        one_of={"lookup_key": lookup_keys},
        created=created,
        updated=updated,
    )


def list_inventory_items(
    conn: sa.Connection,
    account_id: str,
    *,
    product: str,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> ListPage:
    """A product's inventory items (one per SKU), newest first: its stock per variant."""
    return _list_objects(
        conn,
        _INVENTORY,
        account_id,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        equal={"product_id": product},
        one_of={},
        created=None,
        updated=None,
    )


_CURSOR = sa.text(
    "SELECT sequence, object_id, object_version FROM events WHERE account_id = :account"
    " AND id = :id"
)


def list_events(
    conn: sa.Connection,
    account_id: str,
    *,
    limit: int = DEFAULT_LIMIT,
    starting_after: str | None = None,
    ending_before: str | None = None,
    type: str | None = None,
    types: Sequence[str] | None = None,
    created: RangeFilter | None = None,
    object_id: str | None = None,
    after_sequence: int | None = None,
) -> ListPage:
    """Events newest first; with `after_sequence` the list becomes a forward feed (oldest
    first, `sequence > after_sequence`), so a follower can page through it in log order.

    `type` accepts an exact type, `*`, or a prefix wildcard such as `product.*`; `types`
    exact types (given both, an event must match both). Given both cursors, the page is the
    events strictly between them.
    """
    _check_limit(limit)
    conds = ["e.account_id = :account"]
    params: dict[str, Any] = {"account": account_id, "limit": limit + 1}
    if type is not None and type != "*":
        if not _TYPE_PATTERN.match(type):
            raise ValueError(f"invalid event type filter {type!r}")
        if type.endswith(".*"):
            conds.append("starts_with(e.type, :type_prefix)")
            params["type_prefix"] = type[:-1]  # keep the dot: product.* -> 'product.'
        else:
            conds.append("e.type = :type")
            params["type"] = type
    if types is not None:
        conds.append("e.type = ANY(:types)")
        params["types"] = list(types)
    if object_id is not None:
        conds.append("e.object_id = :object_id")
        params["object_id"] = object_id
    forward = after_sequence is not None
    if forward:
        conds.append("e.sequence > :after_sequence")
        params["after_sequence"] = after_sequence
    conds += _range_clauses("e.created", "created", created, params)
    # "after" means later in list order: lower sequences when newest first.
    later, earlier = (">", "<") if forward else ("<", ">")
    for name, cursor_id, op in (
        ("starting_after", starting_after, later),
        ("ending_before", ending_before, earlier),
    ):
        if not cursor_id:
            continue
        cursor = conn.execute(_CURSOR, {"account": account_id, "id": cursor_id}).first()
        if cursor is None:
            raise CursorNotFound(name, cursor_id)
        if cursor.object_id == object_id:  # the same order, on the object's own index
            params[f"{name}_version"] = cursor.object_version
            conds.append(f"e.object_version {op} :{name}_version")
        else:
            params[f"{name}_seq"] = cursor.sequence
            conds.append(f"e.sequence {op} :{name}_seq")
    backwards = bool(ending_before) and not starting_after
    ascending = forward != backwards
    # One object's events are in log order by version (sql/0018), on its (object_id,
    # object_version) key: no sort of a busy object's whole history for one page.
    order = "e.object_version" if object_id is not None else "e.sequence"
    sql = (
        f"SELECT {EVENT_COLUMNS} FROM events e"  # noqa: S608 - constant fragments
        f" WHERE {' AND '.join(conds)}"
        f" ORDER BY {order} {'ASC' if ascending else 'DESC'} LIMIT :limit"
    )
    rows = list(conn.execute(sa.text(sql), params))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return ListPage(data=[event_json(r) for r in rows], has_more=has_more)


# --------------------------------------------------------------------------- history


_HISTORY = sa.text(
    "SELECT version, state, previous_attributes, created, sequence, event_id, source, run_id"
    " FROM object_versions"
    " WHERE account_id = :account AND object_type = 'product' AND object_id = :id"
    " ORDER BY version"
)

_AS_OF = sa.text(
    "SELECT state FROM object_versions"
    " WHERE account_id = :account AND object_type = 'product' AND object_id = :id"
    " AND created <= :as_of ORDER BY version DESC LIMIT 1"
)


def product_history(conn: sa.Connection, account_id: str, product_id: str) -> list[dict[str, Any]]:
    """Every version of a product, oldest first; empty when the product does not exist."""
    return [
        {
            "object": "product_version",
            "version": r.version,
            "created": int(r.created.timestamp()),
            "event": r.event_id,
            "sequence": r.sequence,
            "source": r.source,
            "run_id": r.run_id,
            "previous_attributes": r.previous_attributes,
            "product": r.state,
        }
        for r in conn.execute(_HISTORY, {"account": account_id, "id": product_id})
    ]


def product_as_of(
    conn: sa.Connection, account_id: str, product_id: str, as_of: datetime
) -> dict[str, Any] | None:
    """The product as it was at `as_of`: the newest version whose event was created by then."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return conn.execute(
        _AS_OF, {"account": account_id, "id": product_id, "as_of": as_of}
    ).scalar_one_or_none()


# --------------------------------------------------------------------------- changes feed

_CHANGES = sa.text(
    "SELECT e.sequence, e.id, e.type, e.object_type, e.object_id, e.object_version, e.created,"
    " event_data(e) -> 'object' AS state FROM events e"
    " WHERE e.account_id = :account AND e.sequence > :after ORDER BY e.sequence LIMIT :limit"
)


def changes_after(
    conn: sa.Connection, account_id: str, after_sequence: int, limit: int = DEFAULT_LIMIT
) -> ChangesPage:
    """Every object change after a cursor, in log order, for reconciliation.

    Never skips: events become visible in sequence order (see store/events.py). An archive
    (new state with active=false) is a tombstone flagged `deleted` and `archived`; a product
    deleted through the API (only possible without prices) is flagged `deleted` alone. Both
    carry the full final state.
    """
    _check_limit(limit)
    if after_sequence < 0:
        raise ValueError("after_sequence must be >= 0")
    rows = list(
        conn.execute(_CHANGES, {"account": account_id, "after": after_sequence, "limit": limit + 1})
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    data = []
    for r in rows:
        state = r.state or {}
        archived = state.get("active") is False
        deleted = archived or r.type.endswith(".deleted")
        data.append(
            {
                "object": "change",
                "sequence": r.sequence,
                "event": r.id,
                "type": r.type,
                "object_type": r.object_type,
                "object_id": r.object_id,
                "version": r.object_version,
                "created": int(r.created.timestamp()),
                "deleted": deleted,
                "archived": archived,
                "data": state,
            }
        )
    next_after = rows[-1].sequence if rows else after_sequence
    return ChangesPage(data=data, has_more=has_more, next_after_sequence=next_after)
