"""The sentences merchants read on /dashboard/sources to tell mirror, hybrid and
catalog-as-source apart."""

from __future__ import annotations

import pytest

from catalog_pipelines.dashboard import ownership_words as words


def test_hybrid_names_what_the_catalog_keeps() -> None:
    assert (
        words.sentence("Shopify", {"content"})
        == "Shopify is the source of truth for content; the catalog owns prices and stock."
    )


def test_mirror_and_catalog_as_source() -> None:
    assert words.sentence("shop", {"inventory", "content", "pricing"}) == (
        "shop is the source of truth for content, prices and stock; the catalog mirrors it."
    )
    assert words.sentence("seed", set()) == (
        "seed owns nothing: it only creates products that do not exist yet;"
        " the catalog owns content, prices and stock."
    )


def test_groups_owned_by_other_sources_name_them() -> None:
    others = {"erp": frozenset({"pricing", "inventory"}), "pim": frozenset({"content"})}
    assert words.sentence("pim", {"content"}, others) == (
        "pim is the source of truth for content; erp owns prices and stock."
    )
    both = {"erp": frozenset({"inventory"}), "wms": frozenset({"inventory"})}
    assert words.sentence("pim", {"content", "pricing"}, both) == (
        "pim is the source of truth for content and prices; erp and wms own stock."
    )


def test_presets_override_the_checkboxes_except_hybrid() -> None:
    assert words.preset_owns("mirror", []) == {"content", "pricing", "inventory"}
    assert words.preset_owns("catalog", ["content"]) == frozenset()
    assert words.preset_owns("hybrid", ["pricing", "bogus"]) == {"pricing"}
    with pytest.raises(ValueError, match="mirror"):
        words.preset_owns("everything", [])


def test_version_changes_in_words() -> None:
    v1 = {"name": "s", "kind": "shopify", "owns": ["content"], "mode": "hybrid", "active": True}
    v2 = {**v1, "owns": ["content", "pricing", "inventory"], "mode": "mirror"}
    assert words.changes(None, v1) == [
        "Created as a shopify source: s is the source of truth for content;"
        " the catalog owns prices and stock."
    ]
    assert words.changes(v1, v2) == [
        "Ownership Hybrid → Mirror: s is the source of truth for content, prices and stock;"
        " the catalog mirrors it."
    ]
    m1 = {"format": "csv", "key": "id", "fields": {"name": "title", "price": "cost"}}
    m2 = {"format": "csv", "key": "id", "fields": {"name": "Title", "sku": "ref"}}
    assert words.changes({**v2, "mapping": m1}, {**v2, "mapping": m2, "active": False}) == [
        "Archived: it takes no imports",
        "name ← Title (was title)",
        "sku ← ref",
        "price no longer mapped (was cost)",
    ]
