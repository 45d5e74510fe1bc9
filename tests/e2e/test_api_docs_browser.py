"""The API docs and the front door in a real headless browser, with the real `catalog-sync serve`.

Swagger UI and ReDoc must render from assets the server itself serves: the test fails if any
request leaves for another host (a CDN), which is what makes them blank on an offline machine.
Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); a browser that pip or
playwright would download does not run here.

Screenshots go to the test's tmp dir, and to $CATALOG_SCREENSHOTS when set (that is how
docs/img/api-docs.png and docs/img/front-door.png are made).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import (
    assert_all_local,
    needs_chromium,
    requested_urls,
    screenshot,
    wait,
)

pytestmark = needs_chromium


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`catalog-sync serve` as a user starts it; yields its base URL once it answers."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog_pipelines.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(base + "/openapi.json", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"catalog-sync serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        printed = log.read_text()
        assert f"API docs:   {base}/docs" in printed, printed
        assert f"front door: {base}/" in printed, printed
        assert f"dashboard:  {base}/dashboard/" in printed, printed
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_swagger_ui_renders_the_operations_offline(
    served: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get_log("performance")  # type: ignore[attr-defined]  # start from an empty log
    driver.get(served + "/docs")  # type: ignore[attr-defined]
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    operations = {
        (
            op.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            op.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text.replace("\u200b", ""),
        )
        for op in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary")  # type: ignore[attr-defined]
        if op.is_displayed()
    }
    assert ("GET", "/v1/products") in operations
    assert ("POST", "/v1/products") in operations
    assert ("GET", "/v1/events") in operations
    title = driver.find_element(By.CSS_SELECTOR, ".info .title").text  # type: ignore[attr-defined]
    assert title.startswith("catalog-sync API")
    screenshot(driver, tmp_path, "api-docs.png")
    assert_all_local(requested_urls(driver))


def test_redoc_renders_offline(served: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get_log("performance")  # type: ignore[attr-defined]
    driver.get(served + "/redoc")  # type: ignore[attr-defined]
    wait(
        driver,
        lambda d: "/v1/products" in d.execute_script("return document.body.innerText"),
    )
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "catalog-sync API" in body and "/v1/products" in body
    screenshot(driver, tmp_path, "redoc.png")
    blocked = assert_all_local(requested_urls(driver))
    # ReDoc asks for the Redocly logo on a CDN; the page's policy stops it in the browser.
    assert all("redoc" in urlsplit(u).hostname for u in blocked), blocked


def test_front_door_links_the_docs(served: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get_log("performance")  # type: ignore[attr-defined]
    driver.get(served + "/")  # type: ignore[attr-defined]
    links = {
        a.get_attribute("href"): a.text
        for a in driver.find_elements(By.TAG_NAME, "a")  # type: ignore[attr-defined]
        if a.is_displayed()
    }
    assert set(links) == {
        served + "/dashboard/",
        served + "/docs",
        served + "/redoc",
        served + "/openapi.json",
    }
    assert "Swagger UI" in links[served + "/docs"]
    screenshot(driver, tmp_path, "front-door.png")
    assert_all_local(requested_urls(driver))
    # Every link works: following the Swagger one lands on the rendered docs.
    driver.find_element(By.LINK_TEXT, links[served + "/docs"]).click()  # type: ignore[attr-defined]
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    for href in links:
        assert requests.get(href, timeout=10).status_code == 200
