"""A product's history as a merchant reads it: moments (one per import run, API request or
revert) with what changed in each, field by field, and who was told.

A product's own versions say little about money: an import that changes a variant's amount
archives the old price and creates a new one, and the product itself may not change at all.
So a moment gathers the product's version with the events of its prices and stock made by
the same cause, and pairs the archived price with the new one of the same SKU: 25.00 -> 29.99.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from catalog_pipelines.dashboard.filters import money

SKIP_FIELDS = {"version", "updated", "created", "livemode", "object", "id"}


@dataclass
class Change:
    """One line of a diff: `label` went from `before` to `after` (None: absent)."""

    label: str
    before: str | None
    after: str | None


@dataclass
class Moment:
    """What one cause did to the product, its prices and its stock."""

    key: str
    created: int
    sequence: int
    run_id: str | None
    request_id: str | None
    source: str | None
    titles: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    version: int | None = None


def show(value: Any) -> str | None:
    """A stored value as short text; None stays None (shown as a dash)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None
    return str(value)


def price_text(price: dict[str, Any] | None, price_id: Any = None) -> str | None:
    """'29.99 USD' for a known price, its id otherwise."""
    if price is None:
        return None if price_id is None else str(price_id)
    return money(price.get("unit_amount"), price.get("currency"))


def product_changes(
    version: dict[str, Any], prices: dict[str, dict[str, Any]]
) -> tuple[str, list[Change]]:
    """The title and field diff of one product version (`reads.product_history` item)."""
    state = version["product"] or {}
    previous = version.get("previous_attributes")
    if version["version"] == 1 or previous is None:
        out = [Change("name", None, show(state.get("name")))]
        if state.get("default_price"):
            price_id = state["default_price"]
            out.append(Change("default price", None, price_text(prices.get(price_id), price_id)))
        return "Product created", out
    changes: list[Change] = []
    title = "Product updated"
    for key in sorted(previous):
        if key in SKIP_FIELDS:
            continue
        old, new = previous[key], state.get(key)
        if key == "metadata" and isinstance(old, dict) and isinstance(new, dict):
            for mk in sorted(set(old) | set(new)):
                if old.get(mk) != new.get(mk):
                    changes.append(Change(f"metadata[{mk}]", show(old.get(mk)), show(new.get(mk))))
        elif key == "default_price":
            before = price_text(prices.get(old or ""), old)
            changes.append(Change("default price", before, price_text(prices.get(new or ""), new)))
        elif key == "active":
            title = "Product archived" if new is False else "Product restored"
            changes.append(Change("status", _status(old), _status(new)))
        else:
            changes.append(Change(key, show(old), show(new)))
    return title, changes


def _status(active: Any) -> str:
    return "active" if active else "archived"


def price_changes(events: list[dict[str, Any]]) -> list[Change]:
    """Price events of one cause as amounts: a price retired and another one of the same SKU
    created or re-activated read as one change (25.00 USD -> 29.99 USD)."""
    retired: dict[str, dict[str, Any]] = {}
    added: dict[str, dict[str, Any]] = {}
    other: list[Change] = []
    for e in events:
        obj = e["data"]["object"]
        prev = e["data"].get("previous_attributes") or {}
        sku = prev.get("lookup_key") or obj.get("lookup_key") or obj.get("nickname") or obj["id"]
        rest = set(prev) - SKIP_FIELDS - {"lookup_key"}
        if e["type"] == "price.created" or ("active" in prev and obj.get("active") is True):
            added[sku] = obj
            rest -= {"active"}
        elif "active" in prev and obj.get("active") is False:
            retired[sku] = obj
            rest -= {"active"}
        for key in sorted(rest):
            other.append(Change(f"price {sku} {key}", show(prev[key]), show(obj.get(key))))
    out = [
        Change(f"price {sku}", price_text(retired.get(sku)), price_text(added.get(sku)))
        for sku in sorted(set(retired) | set(added))
    ]
    return out + other


def stock_changes(events: list[dict[str, Any]]) -> list[Change]:
    """Inventory events as quantities. The price a SKU sells at moves with its price, which
    `price_changes` already shows as amounts."""
    out = []
    for e in events:
        obj = e["data"]["object"]
        prev = e["data"].get("previous_attributes") or {}
        label = f"stock {obj.get('sku')}"
        if e["type"].endswith(".created"):
            out.append(Change(label, None, show(obj.get("quantity"))))
        elif "quantity" in prev:
            out.append(Change(label, show(prev["quantity"]), show(obj.get("quantity"))))
        for key in sorted(set(prev) - SKIP_FIELDS - {"quantity", "price"}):
            out.append(Change(f"{label} {key}", show(prev[key]), show(obj.get(key))))
    return out


def cause_key(event: dict[str, Any]) -> str:
    """Changes with the same cause belong to one moment: the run, else the API request."""
    request = (event.get("request") or {}).get("id")
    return event.get("run_id") or request or event["id"]


def build(
    versions: list[dict[str, Any]],
    product_events: list[dict[str, Any]],
    price_events: list[dict[str, Any]],
    stock_events: list[dict[str, Any]],
    prices: dict[str, dict[str, Any]],
    deliveries: list[dict[str, Any]],
) -> list[Moment]:
    """Moments newest first. `versions` from reads.product_history, events from
    reads.list_events, deliveries from the delivery log of every object involved."""
    moments: dict[str, Moment] = {}
    event_moment: dict[str, Moment] = {}

    def moment_of(e: dict[str, Any]) -> Moment:
        key = cause_key(e)
        m = moments.get(key)
        if m is None:
            m = moments[key] = Moment(
                key=key,
                created=e["created"],
                sequence=e["sequence"],
                run_id=e.get("run_id"),
                request_id=(e.get("request") or {}).get("id"),
                source=e.get("source"),
            )
        m.created, m.sequence = max(m.created, e["created"]), max(m.sequence, e["sequence"])
        m.events.append(e["id"])
        event_moment[e["id"]] = m
        return m

    by_event = {v["event"]: v for v in versions}
    for e in sorted(product_events, key=lambda e: e["sequence"]):
        m = moment_of(e)
        version = by_event.get(e["id"])
        if version is not None:
            title, changes = product_changes(version, prices)
            m.titles.append(title)
            m.changes.extend(changes)
            m.version = version["version"]
        elif e["type"] == "product.deleted":
            m.titles.append("Product deleted")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(price_events, key=lambda e: e["sequence"]):
        moment_of(e)
        grouped.setdefault(cause_key(e), []).append(e)
    for key, events in grouped.items():
        changes = price_changes(events)
        if changes:
            moments[key].changes.extend(changes)
            if not moments[key].titles:
                moments[key].titles.append("Prices changed")
    grouped = {}
    for e in sorted(stock_events, key=lambda e: e["sequence"]):
        moment_of(e)
        grouped.setdefault(cause_key(e), []).append(e)
    for key, events in grouped.items():
        changes = stock_changes(events)
        moments[key].changes.extend(changes)
        if changes and not moments[key].titles:
            moments[key].titles.append("Stock changed")
    for d in sorted(deliveries, key=lambda d: (d["sequence"], d["id"])):
        found = event_moment.get(d["event"])
        if found is not None:
            found.deliveries.append(d)
    return sorted(moments.values(), key=lambda m: m.sequence, reverse=True)
