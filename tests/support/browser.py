"""Debian's headless Chromium driven by Selenium, for every page a person looks at.

A browser that pip or playwright would download does not run here; .ci/run installs
`chromium` and `chromium-driver` with apt. Screenshots go to the test's tmp dir, and to
$CATALOG_SCREENSHOTS when set (that is how the images under docs/img/ are made).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Debian chromium at /usr/bin/chromium"
    " (apt-get install chromium chromium-driver; .ci/run does)",
)


def start_chromium(profile: Path, downloads: Path | None = None) -> Any:
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
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False},
        )
    # Every request the page makes, failed ones included (the Resource Timing API may omit those).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    return driver


def requested_urls(driver: Any) -> tuple[list[str], list[str]]:
    """(URLs requested since the last call, URLs the page's Content-Security-Policy blocked
    before they were sent): the DevTools network log plus the page's resource timing."""
    urls = [
        entry["url"]
        for entry in driver.execute_script(
            "return performance.getEntriesByType('navigation')"
            ".concat(performance.getEntriesByType('resource')).map(e => ({url: e.name}))"
        )
    ]
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
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


def assert_all_local(requested: tuple[list[str], list[str]]) -> list[str]:
    """Every request that left the browser went to the local server; returns the blocked ones."""
    urls, blocked = requested
    network = [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")]
    assert network, "the browser recorded no request at all"
    # chrome://, data: and blob: URLs never leave the machine; everything else must be ours.
    remote = [u for u in network if urlsplit(u).hostname not in LOCAL_HOSTS]
    assert not remote, f"requests left for other hosts: {remote}"
    return blocked


def console_errors(driver: Any) -> list[str]:
    """The page's console errors since the last call (a CSP violation shows up here)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a real rendering, not a blank page
    target = os.environ.get("CATALOG_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def wait(driver: Any, condition: Any, timeout: float = 60) -> Any:
    """Until `condition(driver)` is truthy. An element that htmx or a navigation swapped out
    between finding it and reading it just means: look again. Chromium reports that either as
    a stale reference or, mid-navigation, as a node that "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def looked_again(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            if "does not belong to the document" in (exc.msg or ""):
                return False
            raise

    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(looked_again)


def flash_text(driver: Any, timeout: float = 20) -> str:
    """The flash message of the page a form just loaded. Found and read inside one wait,
    because htmx polling or the navigation may swap the element between the two."""
    from selenium.webdriver.common.by import By

    return str(
        wait(
            driver,
            lambda d: " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".flash")),
            timeout,
        )
    )
