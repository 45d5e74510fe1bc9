"""Driving the merchant dashboard over plain HTTP (requests) and in Chromium (Selenium)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no csrf_token input"
    return found.group(1)


@dataclass
class Merchant:
    """One account's API key, and a requests session that signs in to the dashboard with it."""

    base: str
    account: str
    api_key: str
    http: requests.Session

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def csrf(self, path: str = "/dashboard/login") -> str:
        return csrf_from(self.get(path).text)

    def post_form(
        self, path: str, data: dict[str, Any], *, page: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """POST `data` plus the csrf_token read from `page` (default: `path` itself)."""
        token = self.csrf(page or path)
        return self.http.post(
            self.base + path, data={**data, "csrf_token": token}, timeout=60, **kwargs
        )

    def sign_in(self) -> requests.Response:
        response = self.post_form("/dashboard/login", {"api_key": self.api_key})
        assert response.ok and "/login" not in response.url, response.text[:500]
        return response

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The public API with the same key: what the dashboard shows, a script can read."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=60, **kwargs)


def browser_sign_in(driver: Any, merchant: Merchant) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(merchant.url("/dashboard/login"))
    driver.find_element(By.NAME, "api_key").send_keys(merchant.api_key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    from tests.support.browser import wait

    wait(driver, lambda d: "/dashboard/login" not in d.current_url)
