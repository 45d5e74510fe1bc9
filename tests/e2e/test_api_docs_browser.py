"""The API docs and the front door in a real headless browser, with the real `catalog-sync serve`.

Swagger UI and ReDoc must render from assets the server itself serves: the test fails if any
request leaves for another host (a CDN), which is what makes them blank on an offline machine.
Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); a browser that pip or
playwright would download does not run here.

Screenshots go to the test's tmp dir, and to $CATALOG_SCREENSHOTS when set (that is how
docs/img/api-docs.png and docs/img/front-door.png are made).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Debian chromium at /usr/bin/chromium"
    " (apt-get install chromium chromium-driver; .ci/run does)",
)


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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMEDRIVER.exists():  # a half install is a broken machine, not a reason to skip
        pytest.fail(
            f"chromium is installed but {CHROMEDRIVER} is not: apt-get install chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    # Every request the page makes, failed ones included (the Resource Timing API may omit those).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _requested_urls(driver: object) -> tuple[list[str], list[str]]:
    """(URLs requested since the last call, URLs the page's Content-Security-Policy blocked
    before they were sent): the DevTools network log plus the page's resource timing."""
    urls = [
        entry["url"]
        for entry in driver.execute_script(  # type: ignore[attr-defined]
            "return performance.getEntriesByType('navigation')"
            ".concat(performance.getEntriesByType('resource')).map(e => ({url: e.name}))"
        )
    ]
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason") == "csp":
            blocked.add(params["requestId"])
    blocked_urls = {sent[rid] for rid in blocked if rid in sent}
    # Resource timing lists a blocked request too, though it never reached the network.
    urls = [u for u in urls if u not in blocked_urls]
    urls += [url for rid, url in sent.items() if rid not in blocked]
    return urls, sorted(blocked_urls)


def _assert_all_local(requested: tuple[list[str], list[str]]) -> list[str]:
    """Every request that left the browser went to the local server; returns the blocked ones."""
    urls, blocked = requested
    network = [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")]
    assert network, "the browser recorded no request at all"
    # chrome://, data: and blob: URLs never leave the machine; everything else must be ours.
    remote = [u for u in network if urlsplit(u).hostname not in LOCAL_HOSTS]
    assert not remote, f"requests left for other hosts: {remote}"
    return blocked


def _screenshot(driver: object, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000  # a real rendering, not a blank page
    target = os.environ.get("CATALOG_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def _wait(driver: object, condition: object, timeout: float = 60) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)  # type: ignore[arg-type]


def test_swagger_ui_renders_the_operations_offline(
    served: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get_log("performance")  # type: ignore[attr-defined]  # start from an empty log
    driver.get(served + "/docs")  # type: ignore[attr-defined]
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
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
    _screenshot(driver, tmp_path, "api-docs.png")
    _assert_all_local(_requested_urls(driver))


def test_redoc_renders_offline(served: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get_log("performance")  # type: ignore[attr-defined]
    driver.get(served + "/redoc")  # type: ignore[attr-defined]
    _wait(
        driver,
        lambda d: "/v1/products" in d.execute_script("return document.body.innerText"),
    )
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "catalog-sync API" in body and "/v1/products" in body
    _screenshot(driver, tmp_path, "redoc.png")
    blocked = _assert_all_local(_requested_urls(driver))
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
    assert set(links) == {served + "/docs", served + "/redoc", served + "/openapi.json"}
    assert "Swagger UI" in links[served + "/docs"]
    _screenshot(driver, tmp_path, "front-door.png")
    _assert_all_local(_requested_urls(driver))
    # Every link works: following the Swagger one lands on the rendered docs.
    driver.find_element(By.LINK_TEXT, links[served + "/docs"]).click()  # type: ignore[attr-defined]
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    for href in links:
        assert requests.get(href, timeout=10).status_code == 200
