"""/dashboard/webhooks: add an endpoint (its secret shown once), see its deliveries, replay a
range, disable, enable and delete it; POST /v1/webhook_endpoints/{id}/replay underneath;
escaping, tenancy and CSRF."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import standardwebhooks

from catalog_pipelines.webhooks.delivery import deliver_due
from catalog_pipelines.webhooks.receiver import LocalReceiver
from tests.support.browser import (
    assert_all_local,
    console_errors,
    flash_text,
    requested_urls,
    screenshot,
)
from tests.support.browser import wait as wait_for
from tests.support.dashboard import Merchant, browser_sign_in, csrf_from
from tests.support.dashboard_data import SHOPIFY_EXPORT, import_file
from tests.support.webhooks import allow_loopback  # noqa: F401 (autouse fixture)

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")
# The Shopify template: 3 products, 16 prices, 16 inventory items.
EXPORT_EVENTS = 35


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    with LocalReceiver() as r:
        yield r


@pytest.fixture(autouse=True)
def no_endpoints_left(engine: sa.Engine, merchant: Merchant) -> Iterator[None]:
    """Delivery workers act on every account: leave no endpoint of ours behind."""
    yield
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM webhook_endpoints WHERE account_id = :a"),
            {"a": merchant.account},
        )


def add_endpoint(merchant: Merchant, url: str, **fields: str) -> requests.Response:
    data = {"url": url, "all_events": "1", **fields}
    return merchant.post_form("/dashboard/webhooks", data, page="/dashboard/webhooks")


def endpoint_id(response: requests.Response) -> str:
    found = re.search(r"/dashboard/webhooks/(we_[a-z0-9]+)", response.url)
    assert found, response.url
    return found.group(1)


def deliver(engine: sa.Engine, receiver: LocalReceiver, expected: int) -> None:
    """Run the delivery worker until the receiver has answered `expected` requests."""
    deadline = time.monotonic() + 60
    while len(receiver.delivered()) < expected:
        assert time.monotonic() < deadline, (len(receiver.delivered()), expected)
        deliver_due(engine, max_seconds=5)
        time.sleep(0.05)


def test_secret_is_shown_once_and_signs_the_deliveries(
    merchant: Merchant, engine: sa.Engine, receiver: LocalReceiver
) -> None:
    merchant.sign_in()
    made = add_endpoint(merchant, receiver.url, description="Storefront cache")
    assert made.status_code == 200 and "shown only this once" in made.text
    secrets_shown = SECRET.findall(made.text)
    assert len(secrets_shown) == 1
    secret = secrets_shown[0]
    we = endpoint_id(made)
    # Gone on reload, on the list, and from the API.
    again = merchant.get(f"/dashboard/webhooks/{we}")
    assert again.status_code == 200 and not SECRET.search(again.text)
    assert "Storefront cache" in again.text
    assert not SECRET.search(merchant.get("/dashboard/webhooks").text)
    assert "secret" not in merchant.api("GET", f"/v1/webhook_endpoints/{we}").json()

    import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
    deliver(engine, receiver, EXPORT_EVENTS)
    first = receiver.delivered()[0]
    verified = standardwebhooks.Webhook(secret).verify(first.body, first.headers)
    assert verified["type"].endswith(".created")

    page = merchant.get(f"/dashboard/webhooks/{we}").text
    assert f"{EXPORT_EVENTS} delivered" in page and "HTTP 200" in page
    assert "product.created" in page and "inventory_item.created" in page
    listing = merchant.get("/dashboard/webhooks").text
    assert "Recent deliveries" in listing and receiver.url in listing


def test_replay_a_time_range_and_an_event_range(
    merchant: Merchant, engine: sa.Engine, receiver: LocalReceiver
) -> None:
    merchant.sign_in()
    we = endpoint_id(add_endpoint(merchant, receiver.url))
    import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
    deliver(engine, receiver, EXPORT_EVENTS)
    live_ids = {r.webhook_id for r in receiver.delivered()}

    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00")
    out = merchant.post_form(
        f"/dashboard/webhooks/{we}/replay",
        {"by": "time", "since": today, "until": ""},
        page=f"/dashboard/webhooks/{we}",
    )
    assert out.status_code == 200
    assert f"queued {EXPORT_EVENTS} deliveries" in out.text
    deliver(engine, receiver, 2 * EXPORT_EVENTS)
    replayed = receiver.delivered()[EXPORT_EVENTS:]
    assert not {r.webhook_id for r in replayed} & live_ids  # new messages, same events
    assert sorted(r.body for r in replayed) == sorted(
        r.body for r in receiver.delivered()[:EXPORT_EVENTS]
    )
    log = merchant.get(f"/dashboard/webhooks/{we}").text
    # the latest 50 deliveries: the last 25 events, each sent live and replayed
    assert log.count('<span class="badge">replay</span>') == 25

    events = merchant.api("GET", "/v1/events", params={"limit": 100}).json()["data"][::-1]
    by_events = merchant.post_form(
        f"/dashboard/webhooks/{we}/replay",
        {"by": "events", "from_event": events[0]["id"], "to_event": events[2]["id"]},
        page=f"/dashboard/webhooks/{we}",
    )
    assert "queued 3 deliveries" in by_events.text
    deliver(engine, receiver, 2 * EXPORT_EVENTS + 3)
    tail = [r.webhook_id for r in receiver.delivered()[-3:]]
    assert len(set(tail)) == 3

    refused = merchant.post_form(
        f"/dashboard/webhooks/{we}/replay",
        {"by": "events", "from_event": "evt_nope"},
        page=f"/dashboard/webhooks/{we}",
    )
    assert refused.status_code == 400 and "no such event: evt_nope" in refused.text


def test_replay_api(merchant: Merchant, receiver: LocalReceiver, other_client: Any) -> None:
    made = merchant.api(
        "POST",
        "/v1/webhook_endpoints",
        data={"url": receiver.url, "enabled_events[0]": "product.*"},
    )
    assert made.status_code == 200, made.text
    we = made.json()["id"]
    import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
    path = f"/v1/webhook_endpoints/{we}/replay"
    start = int(time.time()) - 3600
    form = merchant.api("POST", path, data={"created[gte]": str(start)})
    assert form.status_code == 200, form.text
    body = form.json()
    assert (body["object"], body["endpoint"], body["deliveries"]) == ("webhook_replay", we, 3)
    assert body["id"].startswith("wr_") and body["since"] == start
    as_json = merchant.api("POST", path, json={"created": {"gt": start, "lte": int(time.time())}})
    assert as_json.status_code == 200 and as_json.json()["deliveries"] == 3
    events = merchant.api("GET", "/v1/events", params={"type": "product.created"}).json()["data"]
    one = merchant.api(
        "POST", path, json={"from_event": events[0]["id"], "to_event": events[0]["id"]}
    )
    assert one.status_code == 200 and one.json()["deliveries"] == 1
    log = merchant.api("GET", f"/v1/webhook_endpoints/{we}/deliveries", params={"limit": 100})
    assert sum(1 for d in log.json()["data"] if d["replay"]) == 7

    for bad, status, param in (
        ({}, 400, "from_event"),
        ({"created": {"gte": start}, "from_event": events[0]["id"]}, 400, "created"),
        ({"created": {"lte": start}}, 400, "created[gte]"),
        ({"created": {"gte": start}, "to_event": events[0]["id"]}, 400, "to_event"),
        ({"created": {"gte": start, "lt": start}}, 400, "created"),
        ({"from_event": "evt_missing"}, 404, "from_event"),
    ):
        r = merchant.api("POST", path, json=bad)
        assert r.status_code == status, (bad, r.text)
        assert r.json()["error"]["param"] == param, r.text
    theirs = other_client.post(
        "/v1/webhook_endpoints/" + we + "/replay", json={"created": {"gte": start}}
    )
    assert theirs.status_code == 404
    # Another account's event is no event of ours.
    assert other_client.post("/v1/products", data={"name": "Their lamp"}).status_code == 200
    their_event = other_client.get("/v1/events").json()["data"][0]["id"]
    foreign = merchant.api("POST", path, json={"from_event": their_event})
    assert foreign.status_code == 404 and their_event in foreign.json()["error"]["message"]


def test_disable_enable_delete(merchant: Merchant, receiver: LocalReceiver) -> None:
    merchant.sign_in()
    we = endpoint_id(add_endpoint(merchant, receiver.url))
    page = f"/dashboard/webhooks/{we}"
    off = merchant.post_form(f"{page}/disable", {}, page=page)
    assert "Endpoint disabled" in off.text and ">Enable<" in off.text
    assert merchant.api("GET", f"/v1/webhook_endpoints/{we}").json()["status"] == "disabled"
    on = merchant.post_form(f"{page}/enable", {}, page=page)
    assert "Endpoint enabled" in on.text
    assert merchant.api("GET", f"/v1/webhook_endpoints/{we}").json()["status"] == "enabled"
    gone = merchant.post_form(f"{page}/delete", {}, page=page)
    assert gone.url.endswith(
        "/dashboard/webhooks?msg=Endpoint%20deleted%2C%20with%20its%20delivery%20log."
    )
    assert "No endpoints yet" in gone.text
    assert merchant.api("GET", f"/v1/webhook_endpoints/{we}").status_code == 404
    assert merchant.get(page).status_code == 404


def test_refusals_and_escaping(merchant: Merchant, receiver: LocalReceiver) -> None:
    merchant.sign_in()
    bad = add_endpoint(merchant, "ftp://example.com/hook")
    assert bad.status_code == 400 and "must be http:// or https://" in bad.text
    none = merchant.post_form(
        "/dashboard/webhooks", {"url": receiver.url}, page="/dashboard/webhooks"
    )
    assert none.status_code == 400 and "Choose the events" in none.text
    script = "<script>alert(1)</script>"
    made = add_endpoint(merchant, receiver.url + "?q=" + script, description=script)
    assert made.status_code == 200
    for text in (made.text, merchant.get("/dashboard/webhooks").text):
        assert script not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    some = merchant.post_form(
        "/dashboard/webhooks",
        {"url": receiver.url, "price.updated": "1", "inventory_item.updated": "1"},
        page="/dashboard/webhooks",
    )
    events = merchant.api("GET", f"/v1/webhook_endpoints/{endpoint_id(some)}").json()
    assert events["enabled_events"] == ["price.updated", "inventory_item.updated"]


def test_other_accounts_endpoints_are_404(
    merchant: Merchant, other_client: Any, engine: sa.Engine
) -> None:
    theirs = other_client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://example.com/theirs", "enabled_events": ["*"]},
    ).json()
    try:
        merchant.sign_in()
        token = csrf_from(merchant.get("/dashboard/webhooks").text)
        we = theirs["id"]
        for path in (f"/dashboard/webhooks/{we}", f"/dashboard/webhooks/{we}/deliveries"):
            page = merchant.get(path)
            assert page.status_code == 404 and "example.com/theirs" not in page.text
        for action in ("disable", "enable", "delete", "replay"):
            out = merchant.http.post(
                merchant.url(f"/dashboard/webhooks/{we}/{action}"),
                data={"csrf_token": token, "by": "time", "since": "2026-01-01T00:00"},
                timeout=30,
            )
            assert out.status_code == 404, action
        assert other_client.get(f"/v1/webhook_endpoints/{we}").json()["status"] == "enabled"
    finally:
        other_client.delete(f"/v1/webhook_endpoints/{theirs['id']}")


def test_posts_without_the_csrf_token_are_403(merchant: Merchant, receiver: LocalReceiver) -> None:
    merchant.sign_in()
    we = endpoint_id(add_endpoint(merchant, receiver.url))
    for path, data in (
        ("/dashboard/webhooks", {"url": receiver.url, "all_events": "1"}),
        (f"/dashboard/webhooks/{we}/disable", {}),
        (f"/dashboard/webhooks/{we}/delete", {}),
        (f"/dashboard/webhooks/{we}/replay", {"by": "time", "since": "2026-01-01T00:00"}),
    ):
        out = merchant.http.post(merchant.url(path), data=data, timeout=30)
        assert out.status_code == 403, path
    listed = merchant.api("GET", "/v1/webhook_endpoints").json()["data"]
    assert [(e["id"], e["status"]) for e in listed] == [(we, "enabled")]


def test_webhooks_in_a_browser(
    merchant: Merchant, engine: sa.Engine, receiver: LocalReceiver, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("performance")
    browser_sign_in(browser, merchant)
    browser.get(merchant.url("/dashboard/webhooks"))
    browser.find_element(By.NAME, "url").send_keys(receiver.url)
    browser.find_element(By.NAME, "description").send_keys("Storefront search index")
    browser.find_element(By.XPATH, "//button[text()='Add endpoint']").click()
    wait_for(browser, lambda d: "/dashboard/webhooks/we_" in d.current_url)
    secret = browser.find_element(By.CSS_SELECTOR, ".secret").text
    assert SECRET.fullmatch(secret)
    browser.refresh()
    assert not browser.find_elements(By.CSS_SELECTOR, ".secret")
    assert secret not in browser.page_source

    # A second endpoint whose receiver is down: its deliveries wait, with their attempts.
    with LocalReceiver(responder=lambda _r: 503) as down:
        erp = merchant.api(
            "POST",
            "/v1/webhook_endpoints",
            json={
                "url": down.url.replace("/hook", "/erp"),
                "enabled_events": ["product.*"],
                "description": "ERP product sync (down for maintenance)",
            },
        )
        assert erp.status_code == 200, erp.text
        import_file(merchant, SHOPIFY_EXPORT, "shopify-main")
        deliver(engine, receiver, EXPORT_EVENTS)
        wait_for(browser, lambda _d: deliver_due(engine, max_seconds=2) and len(down.received) >= 3)
    # The log refreshes itself (htmx polling): no reload needed.
    counts = (By.CSS_SELECTOR, ".delivery-counts")
    wait_for(browser, lambda d: f"{EXPORT_EVENTS} delivered" in d.find_element(*counts).text, 20)

    browser.find_element(By.XPATH, "//button[text()='Replay']").click()
    # the form posts and the page reloads: wait for the answer instead of racing it
    flash = flash_text(browser)
    assert f"queued {EXPORT_EVENTS} deliveries" in flash
    deliver(engine, receiver, 2 * EXPORT_EVENTS)
    wait_for(browser, lambda d: " 0 waiting" in d.find_element(*counts).text, 20)
    replays = browser.find_elements(By.CSS_SELECTOR, "#deliveries .badge:not(.delivered)")
    assert [b.text for b in replays].count("replay") >= 20  # of the latest 50
    browser.set_window_size(1280, 1250)
    screenshot(browser, tmp_path, "dashboard-webhook.png")
    browser.get(merchant.url("/dashboard/webhooks"))
    assert (
        "Storefront search index" in browser.find_element(By.CSS_SELECTOR, "table.endpoints").text
    )
    screenshot(browser, tmp_path, "dashboard-webhooks.png")
    browser.set_window_size(1280, 900)
    assert_all_local(requested_urls(browser))
    assert not console_errors(browser)
