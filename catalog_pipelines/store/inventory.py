"""Inventory quantities: adjust by a delta, set, and compare-and-set, without overselling.

A decrement is one conditional UPDATE (`quantity + delta >= 0`), never a read-modify-write
in Python (docs/maintainers.md): concurrent sales serialise on the row lock and the losers see the
new quantity and fail the condition. `CHECK (quantity >= 0)` backs it up.
Every change writes one ledger row (inventory_adjustments) and one `inventory_item.updated`
event in the caller's transaction.

Ownership (docs/ownership.md): an item whose source owns `inventory` may be changed only by that
source (its imports, its incoming webhooks); API and CLI writes get 409 owned_by_source.
`actor_source` names the source a write comes from (None for API/CLI).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from catalog_pipelines.store.errors import Conflict, InvalidRequest, NotFound, OwnedBySource
from catalog_pipelines.store.events import EVENT_LOG_LOCK, Cause, append_row, event_row
from catalog_pipelines.store.objects import _text, inventory_hash, new_id

MAX_QUANTITY = 10**12

# Not owned by another source: the item's source does not own inventory, or is the actor.
_WRITABLE = (
    "NOT EXISTS (SELECT 1 FROM sources s WHERE s.account_id = i.account_id"
    " AND s.name = i.source AND 'inventory' = ANY(s.owns)"
    " AND s.name IS DISTINCT FROM CAST(:actor AS text))"
)

# One conditional statement. The CTE locks the row and reads its committed quantity (after
# waiting for any concurrent writer), so `before` is exact and the condition sees the latest
# stock. `continue` items may sell past zero; the stored quantity then stops at zero.
# One statement, one round trip while the row is locked: the conditional UPDATE (the CTE
# locks the row and reads its committed quantity, after waiting for any concurrent writer, so
# the condition sees the latest stock), its ledger row, then the log lock and the event. The
# event's row is produced only from `locked`, i.e. after the log lock is held, so its sequence
# is allocated under it (store/events.py). `continue` items may sell past zero; the stored
# quantity then stops at zero.
_ADJUST = sa.text(
    "WITH old AS (SELECT id, quantity FROM inventory_items"  # noqa: S608 - constant fragments
    " WHERE account_id = :account AND sku = :sku FOR UPDATE),"
    " upd AS (UPDATE inventory_items i SET quantity = greatest(old.quantity + :delta, 0),"
    " version = i.version + 1, updated = now(),"
    " content_hash = greatest(old.quantity + :delta, 0)::text || ':' || i.policy"
    " FROM old WHERE i.id = old.id"
    " AND (old.quantity + :delta >= 0 OR i.policy = 'continue')"
    " AND old.quantity + :delta <= :max_quantity AND "
    + _WRITABLE
    + " RETURNING i.id, i.quantity, i.version, old.quantity AS before,"
    " inventory_item_object(i) AS obj),"
    " ledger AS (INSERT INTO inventory_adjustments (account_id, inventory_item_id, kind, delta,"
    " quantity_after, reason, reference, idempotency_key, source, run_id, request_id)"
    " SELECT :account, upd.id, 'delta', upd.quantity - upd.before, upd.quantity, :reason,"
    " :reference, :idem, :source, :run_id, :request_id FROM upd),"
    " locked AS (SELECT upd.*, pg_advisory_xact_lock(:lock_key) FROM upd),"
    " event AS (INSERT INTO events (account_id, type, object_type, object_id, object_version,"
    " data, request, source, run_id)"
    " SELECT :account, 'inventory_item.updated', 'inventory_item', locked.id, locked.version,"
    " json_build_object('object', locked.obj,"
    " 'previous_attributes', json_build_object('quantity', locked.before)),"
    " CAST(:request AS jsonb), :source, :run_id FROM locked RETURNING sequence)"
    " SELECT upd.id, upd.before, upd.obj, (SELECT sequence FROM event) AS sequence FROM upd"
)

_SET = sa.text(
    "WITH old AS (SELECT id, quantity FROM inventory_items"  # noqa: S608 - constant fragments
    " WHERE account_id = :account AND sku = :sku FOR UPDATE)"
    " UPDATE inventory_items i SET quantity = :quantity, version = i.version + 1,"
    " updated = now(), content_hash = CASE i.policy WHEN 'continue' THEN :hash_continue"
    " ELSE :hash_deny END"
    " FROM old WHERE i.id = old.id AND old.quantity <> :quantity"
    " AND (CAST(:expected AS bigint) IS NULL OR old.quantity = CAST(:expected AS bigint))"
    " AND " + _WRITABLE + " RETURNING i.id, old.quantity AS before, inventory_item_object(i) AS obj"
)

_DIAGNOSE = sa.text(
    "SELECT i.id, i.quantity, i.policy, i.source, inventory_item_object(i) AS obj,"
    " (s.name IS NOT NULL AND 'inventory' = ANY(s.owns)) AS source_owns"
    " FROM inventory_items i LEFT JOIN sources s ON s.account_id = i.account_id"
    " AND s.name = i.source WHERE i.account_id = :account AND i.sku = :sku"
)

_LEDGER = sa.text(
    "INSERT INTO inventory_adjustments (account_id, inventory_item_id, kind, delta,"
    " quantity_after, reason, reference, idempotency_key, source, run_id, request_id)"
    " VALUES (:account, :item, :kind, :delta, :after, :reason, :reference, :idem, :source,"
    " :run_id, :request_id)"
)


def _cause_params(reason: str | None, reference: str | None, cause: Cause) -> dict[str, Any]:
    """The ledger row's why and who."""
    return {
        "reason": reason,
        "reference": reference,
        "idem": cause.idempotency_key,
        "source": cause.source,
        "run_id": cause.run_id,
        "request_id": cause.request_id,
    }


def _ledger(
    conn: sa.Connection,
    account_id: str,
    item_id: str,
    kind: str,
    delta: int,
    after: int,
    reason: str | None,
    reference: str | None,
    cause: Cause,
) -> None:
    conn.execute(
        _LEDGER,
        {
            "account": account_id,
            "item": item_id,
            "kind": kind,
            "delta": delta,
            "after": after,
            **_cause_params(reason, reference, cause),
        },
    )


def _event(
    conn: sa.Connection, account_id: str, obj: dict[str, Any], before: int, cause: Cause
) -> None:
    append_row(
        conn,
        event_row(
            account_id=account_id,
            type="inventory_item.updated",
            object_type="inventory_item",
            object_id=obj["id"],
            version=obj["version"],
            obj=obj,
            previous_attributes={"quantity": before},
            cause=cause,
        ),
    )


def _refusal(
    conn: sa.Connection, account_id: str, sku: str, actor: str | None, delta: int = 0
) -> Exception:
    """Why a conditional UPDATE matched no row: missing, owned, too much or not enough stock."""
    row = conn.execute(_DIAGNOSE, {"account": account_id, "sku": sku}).one_or_none()
    if row is None:
        return NotFound(f"No such inventory item: '{sku}'", param="sku")
    if row.source_owns and row.source != actor:
        return OwnedBySource("inventory", row.source)
    if row.quantity + delta > MAX_QUANTITY:
        return InvalidRequest(
            f"Adjusting '{sku}' by {delta} would make its quantity {row.quantity + delta},"
            f" more than the maximum of {MAX_QUANTITY}; nothing was changed.",
            param="delta",
        )
    return Conflict(
        f"Insufficient inventory for '{sku}': {row.quantity} available.",
        param="delta",
        code="insufficient_inventory",
    )


def _reason_reference(reason: Any, reference: Any) -> tuple[str | None, str | None]:
    return _text(reason, "reason", max_len=500), _text(reference, "reference", max_len=500)


def adjust(
    conn: sa.Connection,
    account_id: str,
    sku: str,
    delta: int,
    *,
    reason: str | None = None,
    reference: str | None = None,
    cause: Cause,
    actor_source: str | None = None,
) -> dict[str, Any]:
    """Add `delta` (negative for a sale). Refused with 409 when stock would go below zero,
    unless the item's policy is `continue` (it then stops at zero)."""
    if isinstance(delta, bool) or not isinstance(delta, int) or abs(delta) > MAX_QUANTITY:
        raise InvalidRequest("delta must be an integer", param="delta")
    if delta == 0:
        raise InvalidRequest("delta must not be zero", param="delta")
    reason, reference = _reason_reference(reason, reference)
    row = conn.execute(
        _ADJUST,
        {
            "account": account_id,
            "sku": sku,
            "delta": delta,
            "max_quantity": MAX_QUANTITY,
            "actor": actor_source,
            "lock_key": EVENT_LOG_LOCK,
            "request": cause.request_json(),
            **_cause_params(reason, reference, cause),
        },
    ).one_or_none()
    if row is None:
        raise _refusal(conn, account_id, sku, actor_source, delta)
    return row.obj


def set_quantity(
    conn: sa.Connection,
    account_id: str,
    sku: str,
    quantity: int,
    *,
    expected_quantity: int | None = None,
    reason: str | None = None,
    reference: str | None = None,
    cause: Cause,
    actor_source: str | None = None,
) -> dict[str, Any]:
    """Set the quantity; with `expected_quantity`, only if the stock is still that
    (compare-and-set, 409 `quantity_mismatch` otherwise). Setting the current value is a
    no-op: no version, no event, no ledger row."""
    for name, value in (("quantity", quantity), ("expected_quantity", expected_quantity)):
        if value is None and name == "expected_quantity":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
            raise InvalidRequest(f"{name} must be an integer >= 0", param=name)
    reason, reference = _reason_reference(reason, reference)
    row = conn.execute(
        _SET,
        {
            "account": account_id,
            "sku": sku,
            "quantity": quantity,
            "expected": expected_quantity,
            "actor": actor_source,
            "hash_deny": inventory_hash(quantity, "deny"),
            "hash_continue": inventory_hash(quantity, "continue"),
        },
    ).one_or_none()
    if row is None:
        current = conn.execute(_DIAGNOSE, {"account": account_id, "sku": sku}).one_or_none()
        if current is None:
            raise NotFound(f"No such inventory item: '{sku}'", param="sku")
        if current.source_owns and current.source != actor_source:
            raise OwnedBySource("inventory", current.source)
        if expected_quantity is not None and current.quantity != expected_quantity:
            raise Conflict(
                f"The quantity of '{sku}' is {current.quantity}, not the expected"
                f" {expected_quantity}.",
                param="expected_quantity",
                code="quantity_mismatch",
            )
        return current.obj  # already at that quantity
    obj = row.obj
    _ledger(
        conn, account_id, row.id, "set", quantity - row.before, quantity, reason, reference, cause
    )
    _event(conn, account_id, obj, row.before, cause)
    return obj


_INSERT_ITEM = sa.text(
    "INSERT INTO inventory_items (id, account_id, sku, product_id, price_id, source, quantity,"
    " policy, version, content_hash)"
    " SELECT :id, :account, :sku, p.id, :price, :source, :quantity, :policy, 1, :hash"
    " FROM products p WHERE p.account_id = :account AND p.id = :product"
    " RETURNING id, inventory_item_object(inventory_items) AS obj"
)


def create_inventory_item(
    conn: sa.Connection,
    account_id: str,
    *,
    sku: str,
    product_id: str,
    price_id: str | None = None,
    quantity: int = 0,
    policy: str = "deny",
    cause: Cause,
) -> dict[str, Any]:
    """Create the stock record of a SKU, with its starting quantity as an `initial` ledger row."""
    if policy not in ("deny", "continue"):
        raise InvalidRequest("policy must be deny or continue", param="policy")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidRequest("quantity must be an integer >= 0", param="quantity")
    row = conn.execute(
        _INSERT_ITEM,
        {
            "id": new_id("inv"),
            "account": account_id,
            "sku": sku,
            "product": product_id,
            "price": price_id,
            "source": cause.source,
            "quantity": quantity,
            "policy": policy,
            "hash": inventory_hash(quantity, policy),
        },
    ).one_or_none()
    if row is None:
        raise NotFound(f"No such product: '{product_id}'", param="product")
    _ledger(conn, account_id, row.id, "initial", quantity, quantity, None, None, cause)
    append_row(
        conn,
        event_row(
            account_id=account_id,
            type="inventory_item.created",
            object_type="inventory_item",
            object_id=row.id,
            version=1,
            obj=row.obj,
            previous_attributes=None,
            cause=cause,
        ),
    )
    return row.obj
