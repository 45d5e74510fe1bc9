"""A run's changes (or a revert plan) as rows a person reads: one line per field, before ->
after, with price amounts beside price ids (29.99 USD, not price_1a2b...)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from catalog_pipelines.dashboard.filters import money
from catalog_pipelines.store.imports import stored_objects

Amount = dict[str, Any] | None
NOTHING = "—"


@dataclass
class FieldChange:
    name: str
    before: str
    after: str


@dataclass
class ChangeRow:
    object_type: str
    id: str
    key: str | None
    action: str
    product_id: str | None  # the product page to link to
    fields: list[FieldChange] = field(default_factory=list)
    note: str | None = None
    amount: str | None = None  # a price: its amount, to tell which price this is


def text(value: Any) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else NOTHING
    return str(value)


def _priced(price_id: Any, amount: Amount) -> str:
    if not price_id:
        return NOTHING
    if amount is None:
        return str(price_id)
    return f"{money(amount['unit_amount'], amount['currency'])} ({price_id})"


def amounts(conn: sa.Connection, account_id: str, ids: Iterable[str]) -> dict[str, Amount]:
    """The current amount of each price id the account has (for revert plans, which carry
    ids only)."""
    found = stored_objects(conn, account_id, "price", sorted(set(ids)))
    return {
        k: {"unit_amount": v.get("unit_amount"), "currency": v.get("currency")}
        for k, v in found.items()
    }


def rows(
    changes: Iterable[dict[str, Any]], known: dict[str, Amount] | None = None
) -> list[ChangeRow]:
    """`changes` as the import_run object or a revert plan holds them."""
    known = known or {}
    out: list[ChangeRow] = []
    for c in changes:
        object_type = c.get("object_type", "")
        fields: dict[str, list[Any]] = c.get("fields") or {}
        amount: Amount = c.get("amount")
        if object_type == "price" and amount is None:
            amount = known.get(c.get("id", ""))
        currency = (amount or {}).get("currency") or (fields.get("currency") or [None, None])[-1]
        amounts_of: dict[str, list[Amount]] = c.get("amounts") or {}
        row = ChangeRow(
            object_type=object_type,
            id=c.get("id", ""),
            key=c.get("key"),
            action=c.get("action", ""),
            product_id=c.get("id") if object_type == "product" else None,
            note=c.get("note") or c.get("reason"),
        )
        for name, (before, after) in fields.items():
            if name == "unit_amount" and currency:
                shown = [money(v, currency) if v is not None else NOTHING for v in (before, after)]
            elif name in ("default_price", "price"):
                pair = amounts_of.get(name) or [None, None]
                shown = [
                    _priced(before, pair[0] or known.get(before or "")),
                    _priced(after, pair[1] or known.get(after or "")),
                ]
            elif isinstance(before, dict | None) and isinstance(after, dict | None):
                # metadata: the keys that changed, not two walls of JSON
                old, new = before or {}, after or {}
                for k in sorted(set(old) | set(new)):
                    if old.get(k) != new.get(k):
                        row.fields.append(
                            FieldChange(f"{name}[{k}]", text(old.get(k)), text(new.get(k)))
                        )
                continue
            else:
                shown = [text(before), text(after)]
            row.fields.append(FieldChange(name, shown[0], shown[1]))
        if object_type == "price" and amount:
            row.amount = money(amount["unit_amount"], amount["currency"])
        out.append(row)
    return out
