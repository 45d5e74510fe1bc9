"""Ownership in plain words, the way a merchant decides it: "Shopify is the source of truth
for content; the catalog owns prices and stock" (docs/ownership.md has the rules).

Plain text only: templates escape it, so a source named `<script>` stays text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from catalog_pipelines.store.sources import GROUPS

# What a merchant calls each field group.
WORDS = {"content": "content", "pricing": "prices", "inventory": "stock"}
EXPLAINED = {
    "content": "names, descriptions, images and other product details",
    "pricing": "prices and their currencies",
    "inventory": "stock quantities per SKU",
}


@dataclass(frozen=True)
class Preset:
    mode: str
    label: str
    owns: frozenset[str] | None  # None: the merchant picks the groups
    help: str


PRESETS = (
    Preset(
        "mirror",
        "Mirror",
        frozenset(GROUPS),
        "The source owns everything; the catalog mirrors it and refuses edits behind its back.",
    ),
    Preset(
        "hybrid",
        "Hybrid",
        None,
        "The source owns some field groups (tick them); the catalog or other sources own the rest.",
    ),
    Preset(
        "catalog",
        "Catalog as source",
        frozenset(),
        "The catalog is the master: the source only creates new products and never changes"
        " them afterwards.",
    ),
)
MODE_LABELS = {p.mode: p.label for p in PRESETS}


def join(words: Iterable[str]) -> str:
    """['content', 'prices', 'stock'] -> 'content, prices and stock'."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _in_order(groups: Iterable[str]) -> list[str]:
    chosen = set(groups)
    return [g for g in GROUPS if g in chosen]


def sentence(
    name: str, owns: Iterable[str], others: Mapping[str, Iterable[str]] | None = None
) -> str:
    """Who is the source of truth for what, from this source's point of view. `others` maps
    the account's other active sources to what they own: a group this source does not own
    belongs to them if they own it, to the catalog otherwise."""
    mine = _in_order(owns)
    rest = [g for g in GROUPS if g not in mine]
    holders: dict[str, list[str]] = {}
    for group in rest:
        owners = sorted(o for o, theirs in (others or {}).items() if o != name and group in theirs)
        holder = " and ".join(owners) if owners else "the catalog"
        holders.setdefault(holder, []).append(WORDS[group])
    if not mine:
        parts = [f"{name} owns nothing: it only creates products that do not exist yet"]
    elif not rest:
        return (
            f"{name} is the source of truth for {join(WORDS[g] for g in mine)};"
            " the catalog mirrors it."
        )
    else:
        parts = [f"{name} is the source of truth for {join(WORDS[g] for g in mine)}"]
    for holder, words in holders.items():
        verb = "owns" if holder == "the catalog" or " and " not in holder else "own"
        parts.append(f"{holder} {verb} {join(words)}")
    return "; ".join(parts) + "."


def preset_owns(mode: str, ticked: Iterable[str]) -> frozenset[str]:
    """The groups a form's preset and checkboxes choose; unknown modes are a ValueError."""
    for preset in PRESETS:
        if preset.mode == mode:
            if preset.owns is not None:
                return preset.owns
            return frozenset(g for g in ticked if g in GROUPS)
    raise ValueError(f"choose one of {', '.join(p.mode for p in PRESETS)}")


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """What a new source version changed, in words (the first version: how it started)."""
    if before is None:
        return [f"Created as a {after.get('kind')} source: " + sentence_of(after)]
    out: list[str] = []
    if before.get("kind") != after.get("kind"):
        out.append(f"Kind {before.get('kind')} → {after.get('kind')}")
    if set(before.get("owns") or []) != set(after.get("owns") or []):
        out.append(
            f"Ownership {MODE_LABELS.get(str(before.get('mode')), before.get('mode'))}"
            f" → {MODE_LABELS.get(str(after.get('mode')), after.get('mode'))}: "
            + sentence_of(after)
        )
    if before.get("active") != after.get("active"):
        out.append("Archived: it takes no imports" if not after.get("active") else "Restored")
    out += mapping_changes(before.get("mapping"), after.get("mapping"))
    if (before.get("config") or {}) != (after.get("config") or {}):
        out.append("Settings changed")
    return out or ["No visible change"]


def sentence_of(obj: Mapping[str, Any]) -> str:
    return sentence(str(obj.get("name")), obj.get("owns") or [])


def mapping_changes(before: Any, after: Any) -> list[str]:
    """Field by field: which catalog field now reads which column."""
    if before == after:
        return []
    if not after:
        return ["Mapping removed"]
    if not before:
        fields = (after.get("fields") or {}) if isinstance(after, dict) else {}
        return [f"Mapping saved ({len(fields)} fields)"]
    out: list[str] = []
    old, new = before.get("fields") or {}, after.get("fields") or {}
    for target in [*new, *(t for t in old if t not in new)]:
        if target not in new:
            out.append(f"{target} no longer mapped (was {old[target]})")
        elif target not in old:
            out.append(f"{target} ← {new[target]}")
        elif old[target] != new[target]:
            out.append(f"{target} ← {new[target]} (was {old[target]})")
    for setting in ("format", "key", "parent_key", "currency", "encoding", "delimiter"):
        if before.get(setting) != after.get(setting):
            out.append(f"{setting}: {before.get(setting) or '—'} → {after.get(setting) or '—'}")
    return out or ["Mapping rewritten"]
