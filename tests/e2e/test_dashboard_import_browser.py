"""A merchant imports Shopify's real product export in headless Chromium, with the mouse:
upload, mapping, preview, apply (watching the progress bar), and revert."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.support.browser import (
    assert_all_local,
    console_errors,
    needs_chromium,
    requested_urls,
    screenshot,
    wait,
)
from tests.support.dashboard import Merchant, browser_sign_in

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "shopify_product_template.csv"


def _last_weeks_export(tmp_path: Path) -> Path:
    """The same shop a week earlier: the green shirts cost 22.00 and the jeans had another
    title (so today's file changes them)."""
    text = REAL.read_text(encoding="utf-8")
    older = re.sub(r"(SRT_COT_1\d\d,145,,0,deny,manual,)25,", r"\g<1>22,", text)
    older = older.replace("Example Jeans", "Example Denim Jeans")
    assert older != text
    path = tmp_path / "last-week.csv"
    path.write_text(older, encoding="utf-8")
    return path


def _seed(merchant: Merchant, path: Path) -> None:
    with path.open("rb") as fh:
        f = merchant.api(
            "POST",
            "/v1/files",
            data={"purpose": "catalog_import"},
            files={"file": (path.name, fh, "text/csv")},
        )
    assert f.status_code == 200, f.text
    run = merchant.api(
        "POST", "/v1/import_runs", data={"file": f.json()["id"], "source": "shopify"}
    ).json()
    deadline = time.monotonic() + 60
    while run["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
        run = merchant.api("GET", f"/v1/import_runs/{run['id']}").json()
    assert run["outcome"] == "applied", run


def _shot(driver: Any, tmp_path: Path, name: str, height: int = 1400) -> None:
    """A taller window for pages whose point is below the fold (diffs, plans)."""
    driver.set_window_size(1280, height)
    try:
        screenshot(driver, tmp_path, name)
    finally:
        driver.set_window_size(1280, 900)


def _upload_requests(driver: Any) -> list[dict[str, str]]:
    """The headers of the uploads the page sent (from the DevTools log, which this reads)."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request = message["params"]["request"]
            if request["url"].endswith("/dashboard/imports/upload"):
                out.append(request["headers"])
    return out


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


@needs_chromium
def test_a_merchant_imports_a_shopify_export_and_reverts_it(
    browser: Any, merchant: Merchant, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _seed(merchant, _last_weeks_export(tmp_path))
    driver = browser
    browser_sign_in(driver, merchant)
    requested_urls(driver)
    console_errors(driver)

    # 1. upload: a photo saved as .csv is refused while it streams, on the page
    driver.find_element(By.LINK_TEXT, "Import a file").click()
    wait(driver, lambda d: d.current_url.endswith("/dashboard/imports/new"))
    photo = tmp_path / "photo.csv"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    Select(driver.find_element(By.ID, "source")).select_by_value("shopify")
    driver.find_element(By.ID, "file").send_keys(str(photo))
    driver.find_element(By.ID, "upload-button").click()
    wait(driver, lambda d: d.find_element(By.ID, "upload-error").is_displayed())
    assert "not a text file" in _text(driver, "#upload-error")
    assert driver.current_url.endswith("/dashboard/imports/new")
    # the browser logs the refusal's 400, and nothing else
    assert all("/dashboard/imports/upload" in e and "400" in e for e in console_errors(driver))
    # then the real export: choose the source, pick the file
    driver.refresh()
    Select(driver.find_element(By.ID, "source")).select_by_value("shopify")
    assert not driver.find_element(By.ID, "new-source").is_displayed()
    driver.find_element(By.ID, "file").send_keys(str(REAL))
    screenshot(driver, tmp_path, "dashboard-upload.png")
    driver.find_element(By.ID, "upload-button").click()

    # 2. the mapping: Shopify's export is recognised; the merchant sets the currency
    wait(driver, lambda d: "/dashboard/imports/new/file_" in d.current_url)
    # the page's script sent it (XHR, the token in a header, JSON back), not the bare form
    sent = _upload_requests(driver)
    assert sent and all("X-CSRF-Token" in h and h.get("Accept") == "application/json" for h in sent)
    assert "Shopify product export" in _text(driver, "#detected-format")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.mapping tbody tr")
    assert len(rows) >= 40  # one per column of the export
    assert "Variant Price" in rows[20].text or any("Variant Price" in r.text for r in rows)
    Select(driver.find_element(By.ID, "currency")).select_by_value("usd")
    driver.execute_script("window.scrollTo(0, 0)")
    _shot(driver, tmp_path, "dashboard-mapping.png")
    driver.find_element(By.ID, "preview-button").click()

    # 3. the preview: counts, the price going from 22.00 to 25.00, the jeans' new title
    wait(driver, lambda d: d.find_elements(By.ID, "counts"))
    assert "Preview" in _text(driver, "h1")
    counts = _text(driver, "#counts").lower()
    assert "products 0 2 1 0" in counts  # the shirt's default price and the jeans' title
    assert "prices 3 0 13 3" in counts  # three green shirts: a new price each, the old archived
    diffs = _text(driver, "table.changes")
    assert "22.00 USD" in diffs and "25.00 USD" in diffs
    assert "Example Denim Jeans" in diffs and "Example Jeans" in diffs
    assert "ok" in _text(driver, "#guard")
    _shot(driver, tmp_path, "dashboard-preview.png")
    saved = merchant.api("GET", "/v1/sources/shopify").json()["mapping"]
    assert (saved["format"], saved["currency"]) == ("shopify", "usd")

    # 4. apply, and watch the run finish
    driver.find_element(By.ID, "apply-button").click()
    wait(driver, lambda d: not d.find_elements(By.ID, "apply-button"))
    wait(driver, lambda d: d.find_elements(By.ID, "run-status"), timeout=90)
    assert _text(driver, "#run-status") == "applied"
    assert not driver.find_elements(By.ID, "run-progress")
    run_url = driver.current_url
    _shot(driver, tmp_path, "dashboard-run.png")
    prices = merchant.api("GET", "/v1/prices", params={"lookup_keys[]": "SRT_COT_111"}).json()
    assert [p["unit_amount"] for p in prices["data"]] == [2500]

    # 5. revert: the preview first, then the revert run
    driver.find_element(By.ID, "revert-link").click()
    wait(driver, lambda d: d.current_url.endswith("/revert"))
    plan = _text(driver, "main")
    assert "What goes back" in plan and "25.00 USD" in plan and "22.00 USD" in plan
    _shot(driver, tmp_path, "dashboard-revert.png")
    driver.find_element(By.ID, "revert-button").click()
    wait(driver, lambda d: "was reverted by this run" in d.page_source)
    assert _text(driver, "h1") == "Revert run"
    driver.get(run_url)
    assert "Reverted by" in _text(driver, "dl.facts")
    prices = merchant.api("GET", "/v1/prices", params={"lookup_keys[]": "SRT_COT_111"}).json()
    assert [p["unit_amount"] for p in prices["data"]] == [2200]

    assert console_errors(driver) == []
    assert assert_all_local(requested_urls(driver)) == []
