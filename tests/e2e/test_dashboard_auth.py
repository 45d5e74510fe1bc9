"""Signing in and out of the merchant dashboard: the session cookie, CSRF, revocation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from catalog_pipelines.api.auth import list_api_keys, revoke_api_key
from tests.support.browser import (
    assert_all_local,
    console_errors,
    flash_text,
    requested_urls,
    screenshot,
    wait,
)
from tests.support.dashboard import Merchant, browser_sign_in, csrf_from


def _cookie_header(response: requests.Response) -> str:
    for r in (*response.history, response):
        if "set-cookie" in r.headers:
            return r.headers["set-cookie"]
    raise AssertionError("no Set-Cookie header")


def test_pages_need_a_session_and_send_back_after_sign_in(merchant: Merchant) -> None:
    first = merchant.get("/dashboard/?from=mail", allow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/dashboard/login?next=")
    login = merchant.get(first.headers["location"])
    assert 'name="api_key"' in login.text
    token = csrf_from(login.text)
    done = merchant.http.post(
        merchant.url("/dashboard/login"),
        data={"api_key": merchant.api_key, "csrf_token": token, "next": "/dashboard/?from=mail"},
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/?from=mail"
    home = merchant.get("/dashboard/")
    assert home.status_code == 200 and merchant.account in home.text


def test_sign_in_rotates_a_signed_httponly_lax_cookie(merchant: Merchant) -> None:
    login = merchant.get("/dashboard/login")
    before = merchant.http.cookies.get("catalog_session")
    cookie = _cookie_header(login).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie
    merchant.sign_in()
    after = merchant.http.cookies.get("catalog_session")
    assert before and after and before != after
    # The pre-sign-in cookie (a planted one, say) does not carry the new session.
    stale = requests.get(
        merchant.url("/dashboard/"), cookies={"catalog_session": before}, allow_redirects=False
    )
    assert stale.status_code == 303
    # A forged or edited cookie reads as no session at all.
    forged = after[:-4] + ("AAAA" if not after.endswith("AAAA") else "BBBB")
    tampered = requests.get(
        merchant.url("/dashboard/"), cookies={"catalog_session": forged}, allow_redirects=False
    )
    assert tampered.status_code == 303


def test_a_wrong_key_is_refused_with_a_message(merchant: Merchant) -> None:
    bad = merchant.post_form("/dashboard/login", {"api_key": "sk_not_a_real_key"})
    assert bad.status_code == 401
    assert "not valid" in bad.text
    assert merchant.get("/dashboard/", allow_redirects=False).status_code == 303


def test_every_post_needs_the_csrf_token(merchant: Merchant) -> None:
    merchant.get("/dashboard/login")
    no_token = merchant.http.post(
        merchant.url("/dashboard/login"), data={"api_key": merchant.api_key}, timeout=30
    )
    assert no_token.status_code == 403
    merchant.sign_in()
    for token in (None, "forged", csrf_from(requests.get(merchant.url("/dashboard/login")).text)):
        data: dict[str, Any] = {} if token is None else {"csrf_token": token}
        out = merchant.http.post(merchant.url("/dashboard/logout"), data=data, timeout=30)
        assert out.status_code == 403, token
        assert "security token" in out.text
    # Still signed in after the refused sign-outs; the real form signs out.
    assert merchant.get("/dashboard/").url.endswith("/dashboard/")
    out = merchant.post_form("/dashboard/logout", {}, page="/dashboard/")
    assert out.ok and "/dashboard/login" in out.url and "signed out" in out.text
    assert merchant.get("/dashboard/", allow_redirects=False).status_code == 303


def test_revoking_the_key_ends_the_session(merchant: Merchant, engine: sa.Engine) -> None:
    merchant.sign_in()
    assert merchant.get("/dashboard/", allow_redirects=False).status_code == 200
    with engine.begin() as conn:
        for key in list_api_keys(conn, merchant.account):
            revoke_api_key(conn, key["id"])
    time.sleep(0.6)  # the key cache's lifetime
    assert merchant.get("/dashboard/", allow_redirects=False).status_code == 303


def test_pages_are_locked_down(merchant: Merchant) -> None:
    merchant.sign_in()
    page = merchant.get("/dashboard/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    missing = merchant.get("/dashboard/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")


def test_sign_in_in_a_browser(merchant: Merchant, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("performance")
    browser.delete_all_cookies()
    browser.get(merchant.url("/dashboard/login"))
    screenshot(browser, tmp_path, "dashboard-login.png")
    browser_sign_in(browser, merchant)
    assert browser.find_element(By.CSS_SELECTOR, ".account").text == merchant.account
    assert "Recent imports" in browser.find_element(By.TAG_NAME, "main").text
    assert_all_local(requested_urls(browser))
    assert not console_errors(browser)
    browser.find_element(By.CSS_SELECTOR, "form[action='/dashboard/logout'] button").click()
    wait(browser, lambda d: "/dashboard/login" in d.current_url)
    assert "signed out" in flash_text(browser)
