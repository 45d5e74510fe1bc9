"""Single-object writes to products and prices (API and CLI), with Stripe's semantics.

Each write runs inside the caller's transaction: it locks the row, checks ownership
(docs/ownership.md), bumps `version`, and appends its event through `events.append_row`, so the
object, its version history and its event commit together or not at all. A write that
changes nothing makes no version and no event, as imports do.

Parameters arrive as parsed by the API (strings from form bodies, typed values from JSON or
the CLI); the coercions here accept both and name the offending parameter when they refuse.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.content import hash_text
from catalog_pipelines.money import MAX_UNIT_AMOUNT, MoneyError, normalize_currency
from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound, OwnedBySource
from catalog_pipelines.store.events import Cause, append_row, event_row

_ALPHABET = string.ascii_letters + string.digits

# Field groups (docs/ownership.md). default_price follows the prices, so it is pricing.
CONTENT_FIELDS = (
    "name",
    "description",
    "active",
    "images",
    "url",
    "shippable",
    "tax_code",
    "unit_label",
    "metadata",
    "package_dimensions",
)
PRODUCT_CREATE_PARAMS = frozenset({*CONTENT_FIELDS, "default_price_data"})
PRODUCT_UPDATE_PARAMS = frozenset({*CONTENT_FIELDS, "default_price"})
PRICE_CREATE_PARAMS = frozenset(
    {
        "product",
        "product_data",
        "currency",
        "unit_amount",
        "unit_amount_decimal",
        "active",
        "nickname",
        "lookup_key",
        "transfer_lookup_key",
        "metadata",
        "recurring",
    }
)
PRICE_UPDATE_PARAMS = frozenset(
    {"active", "nickname", "lookup_key", "transfer_lookup_key", "metadata"}
)
# Stripe refuses these on update: a price's amount never changes, a new price is made instead.
PRICE_IMMUTABLE = frozenset(
    {"product", "currency", "unit_amount", "unit_amount_decimal", "recurring", "type"}
)


def new_id(prefix: str) -> str:
    """Stripe-style id: prefix_ + 24 random base62 characters."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


# --------------------------------------------------------------------------- coercion


def _bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequest(f"Invalid boolean: {value!r}", param=param)


def _int(value: Any, param: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(f"Invalid integer: {value!r}", param=param)
    if isinstance(value, int):
        result = value
    elif (
        isinstance(value, str)
        and (digits := value.strip().lstrip("-")).isdigit()
        and len(digits.lstrip("0")) < 20  # leading zeros are allowed (the API's pattern)
    ):
        result = int(value)
    else:
        raise InvalidRequest(f"Invalid integer: {value!r}", param=param)
    if minimum is not None and result < minimum:
        raise InvalidRequest(f"{param} must be at least {minimum}", param=param)
    if abs(result) >= 2**63:
        raise InvalidRequest(f"{param} is out of range", param=param)
    return result


def _text(value: Any, param: str, *, max_len: int = 5000, nullable: bool = True) -> str | None:
    """Stripe's convention: an empty string unsets an optional field."""
    if value is None or value == "":
        if not nullable:
            raise InvalidRequest(f"{param} cannot be empty", param=param)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid string: {value!r}", param=param)
    if len(value) > max_len or "\x00" in value:
        raise InvalidRequest(
            f"{param} must be at most {max_len} characters, without NUL", param=param
        )
    return value


def _string_list(value: Any, param: str) -> list[str]:
    if value == "" or value is None:
        return []
    if isinstance(value, Mapping):  # form bodies: images[0]=a&images[1]=b
        value = [value[k] for k in sorted(value, key=lambda k: int(k) if k.isdigit() else 0)]
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidRequest("Expected a list of at most 100 strings", param=param)
    return [t for i, v in enumerate(value) if (t := _text(v, f"{param}[{i}]")) is not None]


def apply_metadata(
    current: Mapping[str, str], update: Any, param: str = "metadata"
) -> dict[str, str]:
    """Stripe's merge: keys are added or replaced, a key set to "" is removed, and
    `metadata=""` clears everything."""
    if update == "" or update is None:
        return {}
    if not isinstance(update, Mapping):
        raise InvalidRequest("metadata must be a hash of string keys and values", param=param)
    merged = dict(current)
    for key, value in update.items():
        if not isinstance(key, str) or not key or "\x00" in key:
            raise InvalidRequest(f"Invalid metadata key {key!r}", param=param)
        if value == "" or value is None:
            merged.pop(key, None)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            if "\x00" in text:
                raise InvalidRequest(f"Invalid metadata value for {key!r}", param=f"{param}[{key}]")
            merged[key] = text
        else:
            raise InvalidRequest(f"metadata[{key}] must be a string", param=f"{param}[{key}]")
    return merged


def _package_dimensions(value: Any) -> dict[str, float] | None:
    if value == "" or value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequest("package_dimensions must be a hash", param="package_dimensions")
    out: dict[str, float] = {}
    for key in ("height", "length", "weight", "width"):
        if key not in value:
            raise InvalidRequest(
                f"Missing required param: package_dimensions[{key}]",
                param=f"package_dimensions[{key}]",
                code="parameter_missing",
            )
        try:
            number = float(value[key])
        except (TypeError, ValueError):
            number = -1.0
        if not (0 <= number < 1e9):
            raise InvalidRequest(
                f"Invalid number: {value[key]!r}", param=f"package_dimensions[{key}]"
            )
        out[key] = number
    return out


def _check_params(params: Mapping[str, Any], allowed: frozenset[str], hint: str = "") -> None:
    for key in params:
        if key not in allowed:
            raise InvalidRequest(
                f"Received unknown parameter: {key}{hint}",
                param=key,
                code="parameter_unknown",
            )


# --------------------------------------------------------------------------- content hashes


def _kv(metadata: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": metadata[k]} for k in sorted(metadata)]


def _hash(content: dict[str, Any]) -> str:
    """The import's content hash (catalog_pipelines.content) of compact JSON in a fixed field
    order, so an unchanged object hashes the same whoever wrote it."""
    return hash_text(json.dumps(content, ensure_ascii=False, separators=(",", ":")))


def product_hash(p: Mapping[str, Any]) -> str:
    return _hash(
        {
            "name": p.get("name"),
            "description": p.get("description"),
            "images": list(p.get("images") or []),
            "url": p.get("url"),
            "shippable": p.get("shippable"),
            "tax_code": p.get("tax_code"),
            "unit_label": p.get("unit_label"),
            "metadata": _kv(p.get("metadata") or {}),
        }
    )


def price_hash(p: Mapping[str, Any]) -> str:
    return _hash(
        {
            "currency": p.get("currency"),
            "unit_amount": p.get("unit_amount"),
            "lookup_key": p.get("lookup_key"),
            "nickname": p.get("nickname"),
            "metadata": _kv(p.get("metadata") or {}),
        }
    )


def inventory_hash(quantity: int, policy: str) -> str:
    """As content.inventory_content: the key itself, not a digest."""
    return f"{quantity}:{policy}"


def previous_attributes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Stripe's previous_attributes: the changed keys with their old values (as the SQL
    function of the same name, minus the bookkeeping fields)."""
    return {k: v for k, v in old.items() if k not in ("version", "updated") and new.get(k) != v}


def _locked(
    conn: sa.Connection, for_update: sa.TextClause, account_id: str, object_id: str, what: str
) -> dict[str, Any]:
    """The object `for_update` selects, its row locked; NotFound when there is none."""
    old = conn.execute(for_update, {"account": account_id, "id": object_id}).scalar_one_or_none()
    if old is None:
        raise NotFound(f"No such {what}: '{object_id}'", param="id")
    return old


def _record(
    conn: sa.Connection,
    account_id: str,
    object_type: str,
    obj: dict[str, Any],
    cause: Cause,
    *,
    old: Mapping[str, Any] | None = None,
) -> None:
    """The event of a write: `<object_type>.created`, or, given the `old` object,
    `<object_type>.updated` with the attributes that changed."""
    append_row(conn, record_row(account_id, object_type, obj, cause, old=old))


def record_row(
    account_id: str,
    object_type: str,
    obj: dict[str, Any],
    cause: Cause,
    *,
    old: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`_record`'s event as `events.event_row` parameters, for writes batched by the caller."""
    return event_row(
        account_id=account_id,
        type=f"{object_type}.{'created' if old is None else 'updated'}",
        object_type=object_type,
        object_id=obj["id"],
        version=obj["version"],
        obj=obj,
        previous_attributes=None if old is None else previous_attributes(old, obj),
        cause=cause,
    )


# --------------------------------------------------------------------------- ownership

_OWNS = sa.text("SELECT owns FROM sources WHERE account_id = :account AND name = :name")


def owning_source(
    conn: sa.Connection, account_id: str, source: str | None, group: str
) -> str | None:
    """The source that owns `group` of an object written by `source`, or None (catalog)."""
    if source is None:
        return None
    owns = conn.execute(_OWNS, {"account": account_id, "name": source}).scalar_one_or_none()
    return source if owns is not None and group in owns else None


def _refuse_if_owned(
    conn: sa.Connection, account_id: str, source: str | None, group: str, param: str
) -> None:
    owner = owning_source(conn, account_id, source, group)
    if owner is not None:
        raise OwnedBySource(group, owner, param=param)


# --------------------------------------------------------------------------- products

_PRODUCT_FOR_UPDATE = sa.text(
    "SELECT product_object(p) AS obj FROM products p"
    " WHERE p.account_id = :account AND p.id = :id FOR UPDATE"
)
_INSERT_PRODUCT = sa.text(
    "INSERT INTO products (id, account_id, active, name, description, images, metadata, url,"
    " shippable, tax_code, unit_label, package_dimensions, version, content_hash)"
    " VALUES (:id, :account, :active, :name, :description, CAST(:images AS jsonb),"
    " CAST(:metadata AS jsonb), :url, :shippable, :tax_code, :unit_label,"
    " CAST(:package_dimensions AS jsonb), 1, :hash)"
    " RETURNING product_object(products) AS obj"
)
_UPDATE_PRODUCT = sa.text(
    "UPDATE products SET active = :active, name = :name, description = :description,"
    " images = CAST(:images AS jsonb), metadata = CAST(:metadata AS jsonb), url = :url,"
    " shippable = :shippable, tax_code = :tax_code, unit_label = :unit_label,"
    " package_dimensions = CAST(:package_dimensions AS jsonb), default_price = :default_price,"
    " version = version + 1, updated = now(), content_hash = :hash"
    " WHERE account_id = :account AND id = :id RETURNING product_object(products) AS obj"
)


def _product_values(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "active": state["active"],
        "name": state["name"],
        "description": state["description"],
        "images": json.dumps(state["images"]),
        "metadata": json.dumps(state["metadata"]),
        "url": state["url"],
        "shippable": state["shippable"],
        "tax_code": state["tax_code"],
        "unit_label": state["unit_label"],
        "package_dimensions": (
            json.dumps(state["package_dimensions"]) if state["package_dimensions"] else None
        ),
        "hash": product_hash(state),
    }


def _apply_content(state: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Merge content parameters into a product state (create starts from an empty one)."""
    if "name" in params:
        state["name"] = _text(params["name"], "name", nullable=False)
    for key in ("description", "url", "tax_code", "unit_label"):
        if key in params:
            state[key] = _text(params[key], key)
    if "active" in params:
        state["active"] = _bool(params["active"], "active")
    if "shippable" in params:
        state["shippable"] = (
            None if params["shippable"] == "" else _bool(params["shippable"], "shippable")
        )
    if "images" in params:
        state["images"] = _string_list(params["images"], "images")
    if "metadata" in params:
        state["metadata"] = apply_metadata(state["metadata"], params["metadata"])
    if "package_dimensions" in params:
        state["package_dimensions"] = _package_dimensions(params["package_dimensions"])


def create_product(
    conn: sa.Connection, account_id: str, params: Mapping[str, Any], cause: Cause
) -> dict[str, Any]:
    """Create a catalog-owned product (no source); `default_price_data` also makes its price."""
    _check_params(params, PRODUCT_CREATE_PARAMS)
    if params.get("name") in (None, ""):
        raise InvalidRequest(
            "Missing required param: name.", param="name", code="parameter_missing"
        )
    state: dict[str, Any] = {
        "active": True,
        "name": None,
        "description": None,
        "images": [],
        "metadata": {},
        "url": None,
        "shippable": None,
        "tax_code": None,
        "unit_label": None,
        "package_dimensions": None,
    }
    _apply_content(state, params)
    product_id = new_id("prod")
    obj = conn.execute(
        _INSERT_PRODUCT, {"id": product_id, "account": account_id, **_product_values(state)}
    ).scalar_one()
    _record(conn, account_id, "product", obj, cause)
    price_data = params.get("default_price_data")
    if price_data not in (None, ""):
        if not isinstance(price_data, Mapping):
            raise InvalidRequest("default_price_data must be a hash", param="default_price_data")
        allowed = frozenset(
            {
                "currency",
                "unit_amount",
                "unit_amount_decimal",
                "recurring",
                "metadata",
                "nickname",
                "lookup_key",
            }
        )
        _check_params(price_data, allowed)
        price = create_price(conn, account_id, {**price_data, "product": product_id}, cause)
        obj = update_product(conn, account_id, product_id, {"default_price": price["id"]}, cause)
    return obj


def update_product(
    conn: sa.Connection,
    account_id: str,
    product_id: str,
    params: Mapping[str, Any],
    cause: Cause,
) -> dict[str, Any]:
    """Stripe's POST /v1/products/{id}: partial update. 409 if the group is source-owned."""
    _check_params(params, PRODUCT_UPDATE_PARAMS)
    old = _locked(conn, _PRODUCT_FOR_UPDATE, account_id, product_id, "product")
    content_params = [k for k in params if k in CONTENT_FIELDS]
    if content_params:
        _refuse_if_owned(conn, account_id, old["source"], "content", content_params[0])
    state = dict(old)
    _apply_content(state, params)
    if "default_price" in params:
        _refuse_if_owned(conn, account_id, old["source"], "pricing", "default_price")
        wanted = _text(params["default_price"], "default_price")
        if wanted is not None:
            owner = conn.execute(
                sa.text("SELECT product_id FROM prices WHERE account_id = :account AND id = :id"),
                {"account": account_id, "id": wanted},
            ).scalar_one_or_none()
            if owner is None:
                raise NotFound(f"No such price: '{wanted}'", param="default_price")
            if owner != product_id:
                raise NotFound(
                    f"No such price for this product: '{wanted}' belongs to another product.",
                    param="default_price",
                )
        state["default_price"] = wanted
    comparable = [*CONTENT_FIELDS, "default_price"]
    if all(state[k] == old[k] for k in comparable):
        return old  # no-op: no version, no event
    values = _product_values(state)
    obj = conn.execute(
        _UPDATE_PRODUCT,
        {
            "account": account_id,
            "id": product_id,
            "default_price": state["default_price"],
            **values,
        },
    ).scalar_one()
    _record(conn, account_id, "product", obj, cause, old=old)
    return obj


_PRODUCT_REFERENCES = sa.text(
    "SELECT (SELECT count(*) FROM prices WHERE account_id = :account AND product_id = :id),"
    " (SELECT count(*) FROM inventory_items WHERE account_id = :account AND product_id = :id)"
)
_DELETE_PRODUCT = sa.text("DELETE FROM products WHERE account_id = :account AND id = :id")


def delete_product(
    conn: sa.Connection, account_id: str, product_id: str, cause: Cause
) -> dict[str, Any]:
    """Stripe's DELETE /v1/products/{id}: only a product without prices can be deleted.

    The row goes; its history stays in the event log, closed by a `product.deleted` event
    that carries the last state (so `/v1/changes` readers see a tombstone)."""
    old = _locked(conn, _PRODUCT_FOR_UPDATE, account_id, product_id, "product")
    _refuse_if_owned(conn, account_id, old["source"], "content", "id")
    prices, items = conn.execute(
        _PRODUCT_REFERENCES, {"account": account_id, "id": product_id}
    ).one()
    if prices or items:
        raise InvalidRequest(
            "This product cannot be deleted because it has one or more prices or inventory"
            " items. Archive it instead (active=false).",
            param="id",
            code="product_has_prices",
        )
    conn.execute(_DELETE_PRODUCT, {"account": account_id, "id": product_id})
    append_row(
        conn,
        event_row(
            account_id=account_id,
            type="product.deleted",
            object_type="product",
            object_id=product_id,
            version=old["version"] + 1,
            obj={**old, "version": old["version"] + 1, "deleted": True},
            previous_attributes=None,
            cause=cause,
        ),
    )
    return {"id": product_id, "object": "product", "deleted": True}


# --------------------------------------------------------------------------- prices

_PRICE_FOR_UPDATE = sa.text(
    "SELECT price_object(p) AS obj FROM prices p"
    " WHERE p.account_id = :account AND p.id = :id FOR UPDATE"
)
_PRICE_BY_LOOKUP_KEY = sa.text(
    "SELECT id FROM prices WHERE account_id = :account AND lookup_key = :lookup_key FOR UPDATE"
)
_PRODUCT_SOURCE = sa.text(
    "SELECT source FROM products WHERE account_id = :account AND id = :id FOR SHARE"
)
_INSERT_PRICE = sa.text(
    "INSERT INTO prices (id, account_id, product_id, variant_key, lookup_key, active, currency,"
    " unit_amount, type, recurring, nickname, metadata, version, content_hash)"
    " VALUES (:id, :account, :product, :id, :lookup_key, :active, :currency, :unit_amount,"
    " :type, CAST(:recurring AS jsonb), :nickname, CAST(:metadata AS jsonb), 1, :hash)"
    " RETURNING price_object(prices) AS obj"
)
_UPDATE_PRICE = sa.text(
    "UPDATE prices SET active = :active, nickname = :nickname, lookup_key = :lookup_key,"
    " metadata = CAST(:metadata AS jsonb), version = version + 1, updated = now(),"
    " content_hash = :hash WHERE account_id = :account AND id = :id"
    " RETURNING price_object(prices) AS obj"
)

_INTERVALS = ("day", "week", "month", "year")


def _recurring(value: Any) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequest("recurring must be a hash", param="recurring")
    _check_params(value, frozenset({"interval", "interval_count", "usage_type"}))
    interval = value.get("interval")
    if interval not in _INTERVALS:
        raise InvalidRequest(
            f"recurring[interval] must be one of {', '.join(_INTERVALS)}",
            param="recurring[interval]",
        )
    count = _int(value.get("interval_count", 1), "recurring[interval_count]", minimum=1)
    if count > 365:
        raise InvalidRequest(
            "recurring[interval_count] is too large", param="recurring[interval_count]"
        )
    usage = value.get("usage_type", "licensed")
    if usage not in ("licensed", "metered"):
        raise InvalidRequest(
            "recurring[usage_type] must be licensed or metered", param="recurring[usage_type]"
        )
    return {
        "interval": interval,
        "interval_count": count,
        "usage_type": usage,
        "aggregate_usage": None,
        "meter": None,
        "trial_period_days": None,
    }


def _unit_amount(params: Mapping[str, Any]) -> int:
    """At most Stripe's 99,999,999 minor units (money.MAX_UNIT_AMOUNT)."""
    if params.get("unit_amount") not in (None, ""):
        return _at_most_stripe(_int(params["unit_amount"], "unit_amount", minimum=0), "unit_amount")
    dec = params.get("unit_amount_decimal")
    if dec not in (None, ""):
        text = str(dec)
        whole, _, frac = text.partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or frac.strip("0"):
            raise InvalidRequest(
                "unit_amount_decimal must be a whole number of minor units here",
                param="unit_amount_decimal",
            )
        return _at_most_stripe(_int(whole, "unit_amount_decimal", minimum=0), "unit_amount_decimal")
    raise InvalidRequest(
        "Missing required param: unit_amount.", param="unit_amount", code="parameter_missing"
    )


def _at_most_stripe(amount: int, param: str) -> int:
    if amount > MAX_UNIT_AMOUNT:
        raise InvalidRequest(
            f"{param} must be at most {MAX_UNIT_AMOUNT} (Stripe's largest amount)", param=param
        )
    return amount


def _take_lookup_key(
    conn: sa.Connection,
    account_id: str,
    lookup_key: str,
    transfer: bool,
    taker: str,
    cause: Cause,
) -> None:
    """Stripe's transfer_lookup_key: free the key from the price that holds it, if allowed."""
    holder = conn.execute(
        _PRICE_BY_LOOKUP_KEY, {"account": account_id, "lookup_key": lookup_key}
    ).scalar_one_or_none()
    if holder is None or holder == taker:
        return
    if not transfer:
        raise Conflict(
            f"A price ('{holder}') already uses the lookup key '{lookup_key}'; pass"
            " transfer_lookup_key=true to move it.",
            param="lookup_key",
            code="lookup_key_exists",
        )
    _write_price(conn, account_id, holder, {"lookup_key": None}, cause)


PRODUCT_DATA_PARAMS = frozenset({"name", "active", "metadata", "tax_code", "unit_label"})


def _create_inline_product(
    conn: sa.Connection, account_id: str, product_data: Any, cause: Cause
) -> str:
    """Stripe's `product_data` on price create: a new catalog-owned product for the price."""
    if not isinstance(product_data, Mapping):
        raise InvalidRequest("product_data must be a hash", param="product_data")
    _check_params(product_data, PRODUCT_DATA_PARAMS)
    try:
        return str(create_product(conn, account_id, product_data, cause)["id"])
    except InvalidRequest as e:
        raise InvalidRequest(e.message, param=f"product_data[{e.param}]", code=e.code) from None


def create_price(
    conn: sa.Connection, account_id: str, params: Mapping[str, Any], cause: Cause
) -> dict[str, Any]:
    _check_params(params, PRICE_CREATE_PARAMS)
    product_id = _text(params.get("product"), "product")
    product_data = params.get("product_data")
    if product_id is not None and product_data not in (None, ""):
        raise InvalidRequest(
            "You may only specify one of these parameters: product, product_data.",
            param="product_data",
        )
    if product_id is None and product_data in (None, ""):
        raise InvalidRequest(
            "Missing required param: product.", param="product", code="parameter_missing"
        )
    if params.get("currency") in (None, ""):
        raise InvalidRequest(
            "Missing required param: currency.", param="currency", code="parameter_missing"
        )
    try:
        currency = normalize_currency(str(params["currency"]))
    except MoneyError as e:
        raise InvalidRequest(str(e), param="currency") from None
    amount = _unit_amount(params)
    if product_id is None:
        product_id = _create_inline_product(conn, account_id, product_data, cause)
    found = conn.execute(_PRODUCT_SOURCE, {"account": account_id, "id": product_id}).one_or_none()
    if found is None:
        raise NotFound(f"No such product: '{product_id}'", param="product")
    _refuse_if_owned(conn, account_id, found.source, "pricing", "product")
    recurring = _recurring(params.get("recurring"))
    price_id = new_id("price")
    lookup_key = _text(params.get("lookup_key"), "lookup_key", max_len=200)
    if lookup_key is not None:
        transfer = _bool(params.get("transfer_lookup_key", False), "transfer_lookup_key")
        _take_lookup_key(conn, account_id, lookup_key, transfer, price_id, cause)
    state = {
        "currency": currency,
        "unit_amount": amount,
        "lookup_key": lookup_key,
        "nickname": _text(params.get("nickname"), "nickname"),
        "metadata": apply_metadata({}, params.get("metadata", {})),
        "active": _bool(params.get("active", True), "active"),
    }
    obj = conn.execute(
        _INSERT_PRICE,
        {
            "id": price_id,
            "account": account_id,
            "product": product_id,
            "type": "recurring" if recurring else "one_time",
            "recurring": json.dumps(recurring) if recurring else None,
            **state,
            "metadata": json.dumps(state["metadata"]),
            "hash": price_hash(state),
        },
    ).scalar_one()
    _record(conn, account_id, "price", obj, cause)
    return obj


def _write_price(
    conn: sa.Connection,
    account_id: str,
    price_id: str,
    changes: Mapping[str, Any],
    cause: Cause,
    *,
    old: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply already-validated changes to the mutable fields of a price (locks the row)."""
    if old is None:
        old = _locked(conn, _PRICE_FOR_UPDATE, account_id, price_id, "price")
    state = {
        k: old[k]
        for k in ("currency", "unit_amount", "lookup_key", "nickname", "metadata", "active")
    }
    state.update(changes)
    if all(state[k] == old[k] for k in changes):
        return dict(old)
    obj = conn.execute(
        _UPDATE_PRICE,
        {
            "account": account_id,
            "id": price_id,
            "active": state["active"],
            "nickname": state["nickname"],
            "lookup_key": state["lookup_key"],
            "metadata": json.dumps(state["metadata"]),
            "hash": price_hash(state),
        },
    ).scalar_one()
    _record(conn, account_id, "price", obj, cause, old=old)
    return obj


def update_price(
    conn: sa.Connection,
    account_id: str,
    price_id: str,
    params: Mapping[str, Any],
    cause: Cause,
) -> dict[str, Any]:
    """Stripe's POST /v1/prices/{id}: only active, nickname, lookup_key and metadata change.
    An amount or currency change is refused: create a new price instead."""
    for key in params:
        if key in PRICE_IMMUTABLE:
            raise InvalidRequest(
                f"Received unknown parameter: {key}. A price's {key} cannot be changed; create"
                " a new price and deactivate this one.",
                param=key,
                code="parameter_unknown",
            )
    _check_params(params, PRICE_UPDATE_PARAMS)
    old = _locked(conn, _PRICE_FOR_UPDATE, account_id, price_id, "price")
    changes: dict[str, Any] = {}
    if "active" in params:
        changes["active"] = _bool(params["active"], "active")
    if "nickname" in params:
        changes["nickname"] = _text(params["nickname"], "nickname")
    if "metadata" in params:
        changes["metadata"] = apply_metadata(old["metadata"], params["metadata"])
    if "lookup_key" in params:
        changes["lookup_key"] = _text(params["lookup_key"], "lookup_key", max_len=200)
    if changes:
        _refuse_if_owned(conn, account_id, old["source"], "pricing", next(iter(changes)))
    if changes.get("lookup_key") is not None:
        transfer = _bool(params.get("transfer_lookup_key", False), "transfer_lookup_key")
        _take_lookup_key(conn, account_id, changes["lookup_key"], transfer, price_id, cause)
    if not changes:
        return dict(old)
    return _write_price(conn, account_id, price_id, changes, cause, old=old)
