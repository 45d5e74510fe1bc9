"""The audit trail in the dashboard: products (search, filters), a product's history (diffs
with amounts, causes, webhook deliveries) and the import runs, over HTTP and in Chromium.

A real Shopify export is imported, then a price and a name are changed through the API, a
webhook endpoint on a local receiver is told, and the pages must say so."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines.api.app import api_engine, create_app
from catalog_pipelines.importer import ImportOptions, import_path
from catalog_pipelines.webhooks.delivery import DeliveryConfig, DeliveryWorker
from catalog_pipelines.webhooks.receiver import LocalReceiver
from tests.e2e.conftest import ServerThread, free_port, new_client
from tests.support.browser import assert_all_local, console_errors, requested_urls, screenshot
from tests.support.dashboard import Merchant, browser_sign_in
from tests.support.isolation import isolated_database

# The delivery worker acts on every account: this module gets a database (and a server) of its own.
database_url, engine = isolated_database()
SHOPIFY = Path(__file__).parents[1] / "fixtures" / "real" / "shopify_product_template.csv"
WOO = SHOPIFY.with_name("woocommerce_sample_products.csv")
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def api_server(database_url: str) -> Iterator[str]:
    eng = api_engine(database_url)
    with ServerThread(create_app(eng), free_port()) as server:
        yield server.url
    eng.dispose()


@pytest.fixture(autouse=True)
def _loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")


def _product(merchant: Merchant, external_id: str) -> dict[str, Any]:
    found = merchant.api("GET", "/v1/products", params={"external_id": external_id}).json()
    (product,) = found["data"]
    return product


def _catalog_with_history(
    merchant: Merchant, engine: sa.Engine, receiver: LocalReceiver, tmp_path: Path | None = None
) -> dict[str, Any]:
    """Import the Shopify export, tell a receiver of changes, change a price and a name.
    With `tmp_path`, a re-priced export is imported and reverted in between."""
    options = ImportOptions(source="shopify", account_id=merchant.account)
    report = import_path(engine, SHOPIFY, options)
    if tmp_path is not None:
        repriced = import_path(engine, _repriced_export(tmp_path), options)
        assert merchant.api("POST", f"/v1/import_runs/{repriced.run_id}/revert").ok
    endpoint = merchant.api(
        "POST",
        "/v1/webhook_endpoints",
        data={"url": receiver.url, "enabled_events[]": "product.*"},
    )
    assert endpoint.ok, endpoint.text
    # Hybrid: the catalog owns content and prices now, Shopify still owns the stock.
    owns = merchant.api("POST", "/v1/sources/shopify", data={"owns": "inventory"})
    assert owns.ok, owns.text
    shirt = _product(merchant, "example-shirt")
    price = merchant.api(
        "POST",
        "/v1/prices",
        data={"product": shirt["id"], "currency": "usd", "unit_amount": "2999"},
    )
    assert price.ok, price.text
    update = merchant.api(
        "POST",
        f"/v1/products/{shirt['id']}",
        data={"default_price": price.json()["id"], "name": "Example Organic T-Shirt"},
    )
    assert update.ok, update.text
    stats = DeliveryWorker(engine, DeliveryConfig(timeout=5)).deliver_due(max_seconds=10)
    assert stats.delivered >= 1 and receiver.delivered()
    return {
        "run_id": report.run_id,
        "shirt": shirt,
        "request_id": update.headers["request-id"],
        "endpoint": endpoint.json(),
    }


def test_product_history_shows_diffs_causes_and_deliveries(
    merchant: Merchant, engine: sa.Engine
) -> None:
    with LocalReceiver() as receiver:
        made = _catalog_with_history(merchant, engine, receiver)
    merchant.sign_in()
    page = merchant.get(f"/dashboard/products/{made['shirt']['id']}")
    assert page.status_code == 200
    html = page.text
    # Now: the new name, the new price, metadata and images from the export.
    assert "Example Organic T-Shirt" in html and "29.99 USD" in html
    assert "SRT_COT_111" in html and "Acme" in html and "burst.shopifycdn.com" in html
    # The API change: name and price diffs with amounts, its request, who was told.
    assert "Example T-Shirt" in html and "25.00 USD" in html
    assert made["request_id"] in html
    assert receiver.url in html and ">delivered<" in html
    # The import that created it, linked to its run page.
    assert f'href="/dashboard/imports/{made["run_id"]}"' in html
    assert "Product created" in html
    # The deliveries the page shows are the public API's.
    api = merchant.api(
        "GET", "/v1/webhook_deliveries", params={"object_id": made["shirt"]["id"]}
    ).json()
    assert api["data"] and {d["status"] for d in api["data"]} == {"delivered"}
    assert all(d["endpoint"] == made["endpoint"]["id"] for d in api["data"])
    assert api["data"][0]["attempt_log"][0]["status_code"] == 200


def _repriced_export(tmp_path: Path) -> Path:
    """The Shopify export with SRT_COT_111 at 29.99 instead of 25."""
    rows = list(csv.reader(SHOPIFY.open(encoding="utf-8", newline="")))
    sku, price = rows[0].index("Variant SKU"), rows[0].index("Variant Price")
    for r in rows[1:]:
        if r[sku] == "SRT_COT_111":
            r[price] = "29.99"
    out = tmp_path / "shopify_repriced.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return out


def test_an_import_that_changes_a_price_and_its_revert(
    merchant: Merchant, engine: sa.Engine, tmp_path: Path
) -> None:
    options = ImportOptions(source="shopify", account_id=merchant.account)
    import_path(engine, SHOPIFY, options)
    second = import_path(engine, _repriced_export(tmp_path), options)
    assert second.prices.as_dict()["created"] == 1
    undo = merchant.api("POST", f"/v1/import_runs/{second.run_id}/revert")
    assert undo.ok, undo.text
    undo_id = undo.json()["id"]
    merchant.sign_in()
    shirt = _product(merchant, "example-shirt")
    page = merchant.get(f"/dashboard/products/{shirt['id']}").text
    moments = page.split('<li class="moment"')[1:]
    # Newest first: the revert, the re-priced import, the first import.
    assert "revert" in moments[0] and f"/dashboard/imports/{undo_id}" in moments[0]
    assert f"/dashboard/imports/{second.run_id}" in moments[0]  # the run it undid
    undone = moments[0].split("price SRT_COT_111")[1]
    assert undone.index("29.99 USD") < undone.index("25.00 USD")  # back to the old amount
    changed = moments[1]
    assert f"/dashboard/imports/{second.run_id}" in changed
    assert "price SRT_COT_111" in changed
    assert changed.index("25.00 USD") < changed.index("29.99 USD")  # before, then after


def test_products_list_search_filters_and_pages(merchant: Merchant, engine: sa.Engine) -> None:
    import_path(engine, SHOPIFY, ImportOptions(source="shopify", account_id=merchant.account))
    merchant.sign_in()
    listing = merchant.get("/dashboard/products").text
    for name in ("Example T-Shirt", "Example Jeans", "Example Beanie"):
        assert name in listing
    assert "25.00 USD" in listing and "archived" in listing
    found = merchant.get("/dashboard/products", params={"q": "jeans"}).text
    assert "Example Jeans" in found and "Example Beanie" not in found
    archived = merchant.get("/dashboard/products", params={"status": "archived"}).text
    assert "Example Beanie" in archived and "Example T-Shirt" not in archived
    sku = merchant.get("/dashboard/products", params={"q": "HAT_GRY_275"}).text
    assert "belongs to" in sku and _product(merchant, "example-hat")["id"] in sku
    advanced = merchant.get("/dashboard/products", params={"q": 'metadata["Type"]:"Hat"'}).text
    assert "Example Beanie" in advanced and "Example Jeans" not in advanced
    bad = merchant.get("/dashboard/products", params={"q": 'colour:"red"'})
    assert bad.status_code == 200 and "unknown field" in bad.text
    # Cursor pages: 26 more products make two pages of 25, newest first.
    for i in range(26):
        assert merchant.api("POST", "/v1/products", data={"name": f"Gift card {i:02d}"}).ok
    first = merchant.get("/dashboard/products").text
    assert "Gift card 25" in first and "Example T-Shirt" not in first
    older = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = merchant.get(older).text
    assert "Gift card 00" in second and "Example T-Shirt" in second and "Gift card 25" not in second
    assert 'rel="prev"' in second


def test_other_accounts_products_are_404_and_names_are_text(
    merchant: Merchant, engine: sa.Engine, api_server: str
) -> None:
    evil = merchant.api("POST", "/v1/products", data={"name": XSS}).json()
    merchant.sign_in()
    for path in ("/dashboard/products", f"/dashboard/products/{evil['id']}"):
        html = merchant.get(path).text
        assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    api = new_client(engine, api_server)
    other = Merchant(api_server, api.account, api.secret, requests.Session())
    other.sign_in()
    stolen = other.get(f"/dashboard/products/{evil['id']}")
    assert stolen.status_code == 404 and "&lt;script&gt;" not in stolen.text
    assert evil["id"] not in other.get("/dashboard/products").text
    assert (
        other.api("GET", "/v1/webhook_deliveries", params={"object_id": evil["id"]}).json()["data"]
        == []
    )


def test_import_runs_list_counts_triggers_and_links(
    merchant: Merchant, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog_pipelines.cli import main

    code = main(["import", str(SHOPIFY), "--source", "shopify", "--account", merchant.account])
    assert code == 0
    dagster_run = "0f6a2c1e-5b7d-4c4e-9a51-3d2f9b8e7c10"
    by_dagster = import_path(
        engine,
        WOO,
        ImportOptions(
            source="woo", account_id=merchant.account, trigger="inbox", dagster_run_id=dagster_run
        ),
    )
    monkeypatch.setenv("CATALOG_DAGSTER_UI_URL", "http://dagster.internal:3000/")
    merchant.sign_in()
    html = merchant.get("/dashboard/imports").text
    assert f'href="/dashboard/imports/{by_dagster.run_id}"' in html
    assert f'href="http://dagster.internal:3000/runs/{dagster_run}"' in html
    assert ">cli<" in html and ">inbox<" in html
    assert ">17<" in html and "3 new" in html  # the Shopify export's rows and products
    only = merchant.get("/dashboard/imports", params={"source": "woo"}).text
    assert by_dagster.run_id in only and ">cli<" not in only
    api = merchant.api("GET", f"/v1/import_runs/{by_dagster.run_id}").json()
    assert api["trigger"] == "inbox" and api["dagster_run"] == dagster_run
    monkeypatch.delenv("CATALOG_DAGSTER_UI_URL")
    assert "dagster.internal" not in merchant.get("/dashboard/imports").text


def _full_page_screenshot(browser: Any, tmp_path: Path, name: str) -> None:
    """The whole page (up to 3000 px tall), so the history shows, then the usual window."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 40, 3000))
    try:
        screenshot(browser, tmp_path, name)
    finally:
        browser.set_window_size(1280, 900)


def test_audit_pages_in_a_browser(
    merchant: Merchant, engine: sa.Engine, browser: Any, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with LocalReceiver() as receiver:
        made = _catalog_with_history(merchant, engine, receiver, tmp_path)
    evil = merchant.api("POST", "/v1/products", data={"name": XSS}).json()
    browser.get_log("performance")
    browser_sign_in(browser, merchant)

    browser.get(merchant.url("/dashboard/products"))
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "a.product-name")]
    assert XSS in names and "Example Organic T-Shirt" in names
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    screenshot(browser, tmp_path, "dashboard-products.png")

    browser.get(merchant.url(f"/dashboard/products/{evil['id']}"))
    assert browser.find_element(By.CSS_SELECTOR, "h1.product-name").text == XSS
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018

    browser.get(merchant.url(f"/dashboard/products/{made['shirt']['id']}"))
    moments = browser.find_elements(By.CSS_SELECTOR, "li.moment")
    newest = moments[0].text
    assert "25.00 USD" in newest and "29.99 USD" in newest
    assert "Example T-Shirt" in newest and "Example Organic T-Shirt" in newest
    assert made["request_id"] in newest and "delivered" in newest
    assert made["run_id"] in moments[-1].text
    assert any("revert" in m.text for m in moments)
    _full_page_screenshot(browser, tmp_path, "dashboard-product.png")

    import_path(
        engine,
        WOO,
        ImportOptions(source="woocommerce", account_id=merchant.account, trigger="inbox"),
    )
    browser.get(merchant.url("/dashboard/imports"))
    assert made["run_id"] in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, tmp_path, "dashboard-runs.png")
    assert_all_local(requested_urls(browser))
    assert not console_errors(browser)
