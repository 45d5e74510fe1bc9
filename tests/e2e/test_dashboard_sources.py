"""/dashboard/sources: ownership in plain words, creating a source, changing what it owns
(a new version the API shows), archiving, the history; escaping, tenancy and CSRF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.support.browser import assert_all_local, console_errors, requested_urls, screenshot
from tests.support.browser import wait as wait_for
from tests.support.dashboard import Merchant, browser_sign_in, csrf_from
from tests.support.dashboard_data import SHOPIFY_EXPORT, import_file

HYBRID = "shopify-main is the source of truth for content; the catalog owns prices and stock."
MIRROR = (
    "shopify-main is the source of truth for content, prices and stock; the catalog mirrors it."
)


def _create(merchant: Merchant, **fields: str) -> requests.Response:
    return merchant.post_form("/dashboard/sources", fields, page="/dashboard/sources")


def test_create_hybrid_then_mirror_with_history(merchant: Merchant) -> None:
    merchant.sign_in()
    empty = merchant.get("/dashboard/sources")
    assert "No sources yet" in empty.text
    made = _create(merchant, name="shopify-main", kind="shopify", mode="hybrid", content="1")
    assert made.status_code == 200 and "/dashboard/sources/shopify-main" in made.url
    assert HYBRID in made.text and "Source shopify-main created." in made.text
    api = merchant.api("GET", "/v1/sources/shopify-main").json()
    assert (api["owns"], api["mode"], api["version"]) == (["content"], "hybrid", 1)

    # The mirror preset wins over stale checkboxes: the source owns everything.
    changed = merchant.post_form(
        f"/dashboard/sources/{api['id']}/ownership",
        {"mode": "mirror", "content": "1"},
        page=f"/dashboard/sources/{api['id']}",
    )
    assert changed.status_code == 200 and MIRROR in changed.text
    after = merchant.api("GET", "/v1/sources/shopify-main").json()
    assert (after["mode"], after["version"]) == ("mirror", 2)
    versions = merchant.api("GET", f"/v1/sources/{api['id']}/versions").json()["data"]
    assert [v["source"]["mode"] for v in versions] == ["hybrid", "mirror"]
    history = changed.text[changed.text.index("<h2>History</h2>") :]
    assert history.index("Version 2") < history.index("Version 1")  # newest first
    assert "Ownership Hybrid → Mirror" in history and "Created as a shopify source" in history
    assert 'by request <span class="mono">req_' in history

    listing = merchant.get("/dashboard/sources").text
    assert MIRROR in listing and "Shopify export" in listing and "never imported" in listing


def test_last_import_links_to_its_run(merchant: Merchant) -> None:
    merchant.sign_in()
    run = import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
    listing = merchant.get("/dashboard/sources").text
    assert f'href="/dashboard/imports/{run["id"]}"' in listing
    # A first import creates its source as a mirror, and the page says so.
    assert MIRROR in listing
    page = merchant.get("/dashboard/sources/shopify-main").text
    assert run["id"] in page and "built-in mapping" in page


def test_catalog_as_source_and_archive_restore(merchant: Merchant) -> None:
    merchant.sign_in()
    made = _create(merchant, name="seed-sheet", kind="csv", mode="catalog", pricing="1")
    assert "seed-sheet owns nothing" in made.text
    assert merchant.api("GET", "/v1/sources/seed-sheet").json()["owns"] == []
    archived = merchant.post_form(
        "/dashboard/sources/seed-sheet/archive", {}, page="/dashboard/sources/seed-sheet"
    )
    assert "is archived" in archived.text and "Restore source" in archived.text
    assert merchant.api("GET", "/v1/sources/seed-sheet").json()["active"] is False
    assert "archived" in merchant.get("/dashboard/sources").text
    restored = merchant.post_form(
        "/dashboard/sources/seed-sheet/restore", {}, page="/dashboard/sources/seed-sheet"
    )
    assert "restored" in restored.text and "Archive source" in restored.text
    assert merchant.api("GET", "/v1/sources/seed-sheet").json()["active"] is True


def test_refusals_are_shown_on_the_form(merchant: Merchant) -> None:
    merchant.sign_in()
    bad = _create(merchant, name="<script>alert(1)</script>", kind="shopify", mode="mirror")
    assert bad.status_code == 400 and "name must be" in bad.text
    assert "<script>alert(1)</script>" not in bad.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.text
    _create(merchant, name="erp", kind="csv", mode="hybrid", pricing="1", inventory="1")
    again = _create(merchant, name="erp", kind="csv", mode="mirror")
    assert again.status_code == 400 and "already exists" in again.text
    unknown = _create(merchant, name="odd", kind="ftp", mode="mirror")
    assert unknown.status_code == 400 and "kind must be one of" in unknown.text


def test_mapping_and_sentences_are_escaped(merchant: Merchant) -> None:
    merchant.sign_in()
    mapping = {
        "format": "csv",
        "key": "<script>alert(1)</script>",
        "fields": {"name": "<img src=x onerror=alert(1)>", "price": "Price"},
    }
    made = merchant.api(
        "POST",
        "/v1/sources",
        json={"name": "pim", "kind": "csv", "owns": ["content"], "mapping": mapping},
    )
    assert made.status_code == 200, made.text
    merchant.api(
        "POST", "/v1/sources", json={"name": "erp", "kind": "csv", "owns": ["pricing", "inventory"]}
    )
    page = merchant.get("/dashboard/sources/pim").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # Another source owns prices and stock: the sentence names it, not the catalog.
    assert "pim is the source of truth for content; erp owns prices and stock." in page


def test_other_accounts_sources_are_404(merchant: Merchant, other_client: Any) -> None:
    theirs = other_client.post("/v1/sources", json={"name": "theirs", "kind": "shopify"}).json()
    merchant.sign_in()
    token = csrf_from(merchant.get("/dashboard/sources").text)
    for ref in (theirs["id"], "theirs"):
        page = merchant.get(f"/dashboard/sources/{ref}")
        assert page.status_code == 404 and "theirs" not in page.text.replace(ref, "")
        for action in ("ownership", "archive", "restore"):
            out = merchant.http.post(
                merchant.url(f"/dashboard/sources/{ref}/{action}"),
                data={"csrf_token": token, "mode": "catalog"},
                timeout=30,
            )
            assert out.status_code == 404, action
    still = other_client.get(f"/v1/sources/{theirs['id']}").json()
    assert (still["mode"], still["active"], still["version"]) == ("mirror", True, 1)


def test_posts_without_the_csrf_token_are_403(merchant: Merchant) -> None:
    merchant.sign_in()
    _create(merchant, name="shop", kind="shopify", mode="mirror")
    for path, data in (
        ("/dashboard/sources", {"name": "x", "kind": "csv", "mode": "mirror"}),
        ("/dashboard/sources/shop/ownership", {"mode": "catalog"}),
        ("/dashboard/sources/shop/archive", {}),
    ):
        out = merchant.http.post(merchant.url(path), data=data, timeout=30)
        assert out.status_code == 403, path
    src = merchant.api("GET", "/v1/sources/shop").json()
    assert (src["mode"], src["active"]) == ("mirror", True)
    assert merchant.api("GET", "/v1/sources/x").status_code == 404


def test_sources_in_a_browser(merchant: Merchant, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("performance")
    browser_sign_in(browser, merchant)
    browser.get(merchant.url("/dashboard/sources"))
    form = browser.find_element(By.CSS_SELECTOR, "form.source-form")
    form.find_element(By.NAME, "name").send_keys("shopify-main")
    form.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=shopify]").click()
    form.find_element(By.CSS_SELECTOR, "input[name=mode][value=hybrid]").click()
    # Unticking prices and stock leaves content: the page's script keeps "Hybrid" chosen.
    for group in ("pricing", "inventory"):
        form.find_element(By.CSS_SELECTOR, f"input[name={group}]").click()
    assert form.find_element(By.CSS_SELECTOR, "input[value=hybrid]").is_selected()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "/dashboard/sources/shopify-main" in d.current_url)
    lead = browser.find_element(By.CSS_SELECTOR, ".ownership-sentence.lead")
    assert lead.text == HYBRID

    # Mirror: the preset ticks every group, and saving makes version 2.
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=mirror]").click()
    boxes = browser.find_elements(By.CSS_SELECTOR, "fieldset.ownership input[type=checkbox]")
    assert all(b.is_selected() for b in boxes)
    browser.find_element(By.XPATH, "//button[text()='Save ownership']").click()
    wait_for(browser, lambda d: "saved" in d.find_element(By.CSS_SELECTOR, ".flash").text)
    assert browser.find_element(By.CSS_SELECTOR, ".ownership-sentence.lead").text == MIRROR
    history = browser.find_element(By.CSS_SELECTOR, ".source-history").text
    assert "Version 2" in history and "Ownership Hybrid → Mirror" in history

    run = import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
    browser.set_window_size(1280, 1250)  # the page with its history, in one picture
    browser.refresh()
    screenshot(browser, tmp_path, "dashboard-source.png")

    # A hybrid setup: Shopify keeps the content, an ERP feed prices and stock, and a
    # spreadsheet only seeds new products.
    back = merchant.api("POST", "/v1/sources/shopify-main", json={"owns": ["content"]})
    assert back.status_code == 200, back.text
    for name, kind, owns in (
        ("erp-stock", "http_json", ["pricing", "inventory"]),
        ("seed-sheet", "csv", []),
    ):
        made = merchant.api("POST", "/v1/sources", json={"name": name, "kind": kind, "owns": owns})
        assert made.status_code == 200, made.text
    browser.get(merchant.url("/dashboard/sources"))
    table = browser.find_element(By.CSS_SELECTOR, "table.sources").text
    for sentence in (
        "shopify-main is the source of truth for content; erp-stock owns prices and stock.",
        "erp-stock is the source of truth for prices and stock; shopify-main owns content.",
        "seed-sheet owns nothing: it only creates products that do not exist yet;"
        " shopify-main owns content; erp-stock owns prices and stock.",
    ):
        assert sentence in table.replace("\n", " ")
    assert run["id"] in table
    screenshot(browser, tmp_path, "dashboard-sources.png")
    browser.set_window_size(1280, 900)
    link = browser.find_element(By.LINK_TEXT, run["id"]).get_attribute("href")
    assert link.endswith(f"/dashboard/imports/{run['id']}")
    assert_all_local(requested_urls(browser))
    assert not console_errors(browser)
