"""The dashboard's import flow over HTTP: upload (streamed, CSRF first), the mapping step
saved to the source, the preview's numbers and diffs, apply, the run page, the rejects CSV,
revert, and other accounts' files and runs answering 404."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import requests
import sqlalchemy as sa

from catalog_pipelines import files
from tests.e2e.conftest import new_client
from tests.support.dashboard import Merchant, csrf_from

HEADER = "handle,title,body,price,sku,qty,vendor\n"
V1 = (
    "tee,Organic Cotton Tee,Soft tee,25.00,TEE-1,5,Acme\n"
    "mug,Stoneware Mug,Big mug,8.50,MUG-1,12,Acme\n"
    "cap,Wool Cap,Warm cap,12.00,CAP-1,3,Globex\n"
)
# tee's price goes up, mug's description changes, a row with a formula for a price is rejected
V2 = (
    "tee,Organic Cotton Tee,Soft tee,29.99,TEE-1,5,Acme\n"
    "mug,Stoneware Mug,Bigger mug,8.50,MUG-1,12,Acme\n"
    "cap,Wool Cap,Warm cap,12.00,CAP-1,3,Globex\n"
    'bad,Bad Row,Nope,"=HYPERLINK(""http://evil"")",BAD-1,1,Evil\n'
)


def upload(
    merchant: Merchant,
    content: bytes,
    *,
    source: str,
    kind: str | None = None,
    filename: str = "catalog.csv",
    token: str | None = "page",
) -> requests.Response:
    """The upload form as the page's script sends it (token and source before the file)."""
    data: dict[str, str] = {}
    if token == "page":
        data["csrf_token"] = merchant.csrf("/dashboard/imports/new")
    elif token is not None:
        data["csrf_token"] = token
    if kind is not None:
        data.update(source="__new__", new_source=source, kind=kind)
    else:
        data["source"] = source
    return merchant.http.post(
        merchant.url("/dashboard/imports/upload"),
        data=data,
        files={"file": (filename, content, "text/csv")},
        headers={"Accept": "application/json"},
        timeout=60,
    )


def selects(page: str) -> dict[str, str]:
    """column name -> the catalog field selected for it on the mapping page."""
    out: dict[str, str] = {}
    for row in re.findall(r"<tr>\s*<td><label for=\"field_\d+\".*?</tr>", page, re.S):
        column = html.unescape(re.search(r'class="plain">(.*?)</label>', row).group(1))  # type: ignore[union-attr]
        chosen = re.search(r'<option value="([^"]+)" selected>', row)
        out[column] = html.unescape(chosen.group(1)) if chosen else ""
    return out


def mapping_form(page: str, changes: dict[str, str] | None = None) -> dict[str, str]:
    """The mapping form as the page filled it in, with some dropdowns changed."""
    form = {"csrf_token": csrf_from(page)}
    for name in ("source", "kind"):
        found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
        if found:
            form[name] = html.unescape(found.group(1))
    for name in ("read_as", "currency", "mode"):
        block = re.search(rf'<select id="{name}" name="{name}">(.*?)</select>', page, re.S)
        assert block, name
        option = re.search(r'<option value="([^"]*)" selected>', block.group(1)) or re.search(
            r'<option value="([^"]*)"', block.group(1)
        )
        assert option, name
        form[name] = html.unescape(option.group(1))
    columns = re.findall(r'<label for="(field_\d+)" class="plain">(.*?)</label>', page)
    chosen = selects(page)
    for field_name, column in columns:
        form[field_name] = chosen[html.unescape(column)]
        if changes and html.unescape(column) in changes:
            form[field_name] = changes[html.unescape(column)]
    return form


def finished(merchant: Merchant, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = merchant.api("GET", f"/v1/import_runs/{run_id}").json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def run_id_of(response: requests.Response) -> str:
    found = re.search(r"/dashboard/imports/(run_[0-9a-f]+)(\?msg=.*)?$", response.url)
    assert found, response.url
    return found.group(1)


def counts(page: str) -> dict[tuple[str, str], int]:
    out = {}
    for kind, cells in re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', page, re.S):
        for action, value in re.findall(r'data-action="(\w+)">([\d,]+)<', cells):
            out[(kind, action)] = int(value.replace(",", ""))
    return out


def preview(merchant: Merchant, content: bytes, **kw: Any) -> tuple[str, requests.Response]:
    """Upload, save the mapping as suggested (or changed), and wait for the dry run."""
    changes = kw.pop("changes", None)
    r = upload(merchant, content, **kw)
    assert r.status_code == 200, r.text
    mapping_page = merchant.get(r.json()["next"])
    assert mapping_page.status_code == 200, mapping_page.text
    saved = merchant.http.post(
        mapping_page.url, data=mapping_form(mapping_page.text, changes), timeout=60
    )
    assert saved.status_code == 200, saved.text
    run_id = run_id_of(saved)
    assert finished(merchant, run_id)["dry_run"] is True
    return run_id, merchant.get(f"/dashboard/imports/{run_id}")


def apply(merchant: Merchant, run_id: str) -> tuple[str, requests.Response]:
    page = f"/dashboard/imports/{run_id}"
    r = merchant.post_form(f"{page}/apply", {}, page=page)
    assert r.status_code == 200, r.text
    applied = run_id_of(r)
    assert applied != run_id
    run = finished(merchant, applied)
    assert run["outcome"] == "applied", run
    return applied, merchant.get(f"/dashboard/imports/{applied}")


def test_upload_map_preview_apply_and_revert(merchant: Merchant, engine: sa.Engine) -> None:
    merchant.sign_in()
    # 1. upload into a new source: the mapping page shows the suggestion
    r = upload(merchant, (HEADER + V1).encode(), source="shop-csv", kind="csv")
    assert r.status_code == 200, r.text
    assert r.json()["file"]["size"] == len(HEADER + V1)
    page = merchant.get(r.json()["next"])
    assert page.status_code == 200
    assert "CSV file" in page.text  # the detected format
    chosen = selects(page.text)
    assert chosen["handle"] == "external_id" and chosen["title"] == "name"
    assert chosen["price"] == "price" and chosen["vendor"] == "metadata"
    assert "Organic Cotton Tee" in page.text  # sample values
    assert re.search(r'id="metadata-columns">.*vendor', page.text, re.S)
    # 2. the merchant adjusts the mapping (the body column stays in metadata) and saves
    # it: the new source's version 1 holds it
    form = mapping_form(page.text, {"body": "metadata", "qty": "inventory_quantity"})
    saved = merchant.http.post(page.url, data=form, timeout=60)
    assert saved.status_code == 200, saved.text
    source = merchant.api("GET", "/v1/sources/shop-csv").json()
    assert source["mapping"]["key"] == "handle"
    assert "description" not in source["mapping"]["fields"]
    assert source["mapping"]["fields"]["inventory_quantity"] == "qty"
    # 3. the preview: three products would be created, nothing is written yet
    first = run_id_of(saved)
    assert finished(merchant, first)["outcome"] == "previewed"
    assert finished(merchant, first)["trigger"] == "dashboard"  # the runs list says who
    shown = merchant.get(f"/dashboard/imports/{first}").text
    assert counts(shown)[("products", "created")] == 3
    assert counts(shown)[("prices", "created")] == 3
    assert "Apply the import" in shown and "passes: 0 product(s) would be archived" in shown
    assert merchant.api("GET", "/v1/products").json()["data"] == []
    # 4. apply: the run page shows the same counts
    applied, run_page = apply(merchant, first)
    assert counts(run_page.text)[("products", "created")] == 3
    assert "Revert this import" in run_page.text
    # the progress bar's poll of a finished run tells htmx to show the result
    polled = merchant.get(f"/dashboard/imports/{applied}/progress")
    assert polled.status_code == 200 and polled.headers["HX-Refresh"] == "true"
    assert "<progress" in polled.text
    assert len(merchant.api("GET", "/v1/products").json()["data"]) == 3

    # 5. the next export into the existing source: its saved mapping is preselected, with
    # the description kept in metadata as the merchant chose
    r = upload(merchant, (HEADER + V2).encode(), source="shop-csv")
    page = merchant.get(r.json()["next"])
    assert selects(page.text)["body"] == "metadata"
    assert "as in the saved mapping of shop-csv" in page.text
    form = mapping_form(page.text, {"body": "description"})
    saved = merchant.http.post(page.url, data=form, timeout=60)
    second = run_id_of(saved)
    assert finished(merchant, second)["outcome"] == "previewed"
    versions = merchant.api("GET", "/v1/sources/shop-csv/versions").json()["data"]
    assert [v["version"] for v in versions] == [1, 2]  # the adjusted mapping is version 2
    shown = merchant.get(f"/dashboard/imports/{second}").text
    c = counts(shown)
    assert c[("products", "updated")] == 3  # descriptions move from metadata to the field
    assert c[("prices", "created")] == 1 and c[("prices", "archived")] == 1
    # the price change shows its amounts, before -> after, and links the product
    assert re.search(
        r'class="before">25\.00 USD \(price_\w+\)</span>.*?class="after">29\.99 USD', shown, re.S
    )
    assert re.search(r'href="/dashboard/products/prod_\w+">tee</a>', shown)
    assert "Bigger mug" in shown
    # the rejected row: row number, field and reason
    assert '<td class="num">4</td><td>price</td><td>price: &#39;=HYPERLINK' in shown
    # 6. apply the second file; the rejects download is the formula-safe CSV
    second_applied, run_page = apply(merchant, second)
    assert counts(run_page.text)[("prices", "created")] == 1
    download = merchant.get(f"/dashboard/imports/{second_applied}/rejects.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0][:3] == ["row_number", "fields", "reasons"]
    price_cell = rows[1][rows[0].index("price")]
    assert price_cell.startswith("'="), price_cell
    # 7. revert: the preview lists what goes back, then the revert run is linked
    plan = merchant.get(f"/dashboard/imports/{second_applied}/revert")
    assert plan.status_code == 200
    assert 'data-action="restored">' in plan.text
    assert re.search(
        r'class="before">29\.99 USD \(price_\w+\)</span>.*?class="after">25\.00 USD',
        plan.text,
        re.S,
    )
    done = merchant.post_form(
        f"/dashboard/imports/{second_applied}/revert",
        {},
        page=f"/dashboard/imports/{second_applied}/revert",
    )
    assert done.status_code == 200 and "was reverted by this run" in done.text
    revert_id = run_id_of(done)
    original = merchant.api("GET", f"/v1/import_runs/{second_applied}").json()
    assert original["reverted_by"] == revert_id
    prices = merchant.api("GET", "/v1/prices", params={"lookup_keys[]": "TEE-1"}).json()["data"]
    assert [p["unit_amount"] for p in prices] == [2500]
    assert applied not in (second_applied, revert_id)


def test_preview_does_not_show_fields_the_source_does_not_own(merchant: Merchant) -> None:
    """A source that owns prices and stock only: the file's names are ignored, and the
    preview says so instead of showing them (or None) as changes."""
    merchant.sign_in()
    first, _ = preview(merchant, (HEADER + V1).encode(), source="erp", kind="csv")
    apply(merchant, first)
    r = merchant.api("POST", "/v1/sources/erp", data={"owns": "pricing,inventory"})
    assert r.status_code == 200, r.text
    renamed = V2.replace("Organic Cotton Tee", "Renamed Tee").replace(",Bigger mug,", ",,")
    run_id, shown = preview(merchant, (HEADER + renamed).encode(), source="erp")
    run = finished(merchant, run_id)
    assert run["ignored_not_owned"] >= 1
    assert "Renamed Tee" not in shown.text and "Bigger mug" not in shown.text
    product_changes = [c for c in run["changes"] if c["object_type"] == "product"]
    assert product_changes and all(set(c["fields"]) == {"default_price"} for c in product_changes)
    assert product_changes[0]["amounts"]["default_price"][1] == {
        "unit_amount": 2999,
        "currency": "usd",
    }
    assert re.search(r"<strong>\d+</strong> change\(s\) ignored", shown.text)
    # the API's OpenAPI document describes every key a change carries
    document = requests.get(merchant.url("/openapi.json"), timeout=30).json()
    get = document["paths"]["/v1/import_runs/{run_id}"]["get"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    described = set(schema["properties"]["changes"]["items"]["properties"])
    assert {k for c in run["changes"] for k in c} <= described
    assert {"amount", "amounts"} <= {k for c in run["changes"] for k in c}


def test_the_mass_archive_guard_verdict_is_shown(merchant: Merchant) -> None:
    merchant.sign_in()
    first, _ = preview(merchant, (HEADER + V1).encode(), source="feed", kind="csv")
    apply(merchant, first)
    # a full import of one product would archive two of three
    run_id, shown = preview(merchant, (HEADER + V1.splitlines()[0] + "\n").encode(), source="feed")
    assert finished(merchant, run_id)["outcome"] == "refused"
    assert "Mass-archive guard: refused." in shown.text and "Apply the import" not in shown.text


def test_other_accounts_files_and_runs_are_404(
    merchant: Merchant, engine: sa.Engine, api_server: str
) -> None:
    merchant.sign_in()
    run_id, _ = preview(merchant, (HEADER + V1).encode(), source="mine", kind="csv")
    applied, _ = apply(merchant, run_id)
    file_id = finished(merchant, applied)["file"]
    other_key = new_client(engine, api_server)
    other = Merchant(api_server, other_key.account, other_key.secret, requests.Session())
    other.sign_in()
    for path in (
        f"/dashboard/imports/{applied}",
        f"/dashboard/imports/{applied}/rejects.csv",
        f"/dashboard/imports/{applied}/revert",
        f"/dashboard/imports/{applied}/progress",
        f"/dashboard/imports/new/{file_id}?source=mine",
    ):
        r = other.get(path)
        assert r.status_code == 404, path
        assert applied not in r.text and "Organic" not in r.text
    token = other.csrf("/dashboard/imports/new")
    for path in (f"/dashboard/imports/{run_id}/apply", f"/dashboard/imports/{applied}/revert"):
        r = other.http.post(other.url(path), data={"csrf_token": token}, timeout=30)
        assert r.status_code == 404, path
    r = other.http.post(
        other.url(f"/dashboard/imports/new/{file_id}"),
        data={"csrf_token": token, "source": "mine"},
        timeout=30,
    )
    assert r.status_code == 404
    # and the owner's run was not reverted by any of that
    assert finished(merchant, applied)["reverted_by"] is None


def test_posts_without_the_csrf_token_are_403(merchant: Merchant) -> None:
    merchant.sign_in()
    root = files.FileSettings.from_env().root / merchant.account
    before = set(root.iterdir()) if root.exists() else set()
    for token in (None, "forged"):
        r = upload(merchant, (HEADER + V1).encode(), source="x", kind="csv", token=token)
        assert r.status_code == 403, r.text
    after = set(root.iterdir()) if root.exists() else set()
    assert after == before  # the refused uploads wrote nothing
    r = merchant.http.post(
        merchant.url("/dashboard/imports/upload"),
        data={"source": "__new__", "new_source": "x", "kind": "csv"},
        files={"file": ("a.csv", (HEADER + V1).encode(), "text/csv")},
        headers={"X-CSRF-Token": "forged", "Accept": "application/json"},
        timeout=30,
    )
    assert r.status_code == 403
    run_id, _ = preview(merchant, (HEADER + V1).encode(), source="y", kind="csv")
    for path in (f"/dashboard/imports/{run_id}/apply", f"/dashboard/imports/{run_id}/revert"):
        r = merchant.http.post(merchant.url(path), data={}, timeout=30)
        assert r.status_code == 403, path
    file_id = finished(merchant, run_id)["file"]
    r = merchant.http.post(
        merchant.url(f"/dashboard/imports/new/{file_id}"), data={"source": "y"}, timeout=30
    )
    assert r.status_code == 403
    runs = merchant.api("GET", "/v1/import_runs").json()["data"]
    assert [r["id"] for r in runs] == [run_id]  # nothing was applied or re-previewed


def test_a_binary_file_is_refused_while_it_streams(merchant: Merchant) -> None:
    merchant.sign_in()
    r = upload(
        merchant,
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400,
        source="z",
        kind="csv",
        filename="photo.csv",
    )
    assert r.status_code == 400
    assert "not a text file" in r.json()["error"]


@pytest.mark.parametrize("name", ["", "-bad", "a" * 65])
def test_a_new_source_needs_a_valid_name(merchant: Merchant, name: str) -> None:
    merchant.sign_in()
    r = upload(merchant, (HEADER + V1).encode(), source=name, kind="csv")
    assert r.status_code == 400 and "Name the new source" in r.json()["error"]


def test_a_mapping_error_is_shown_and_nothing_is_saved(merchant: Merchant) -> None:
    merchant.sign_in()
    r = upload(merchant, (HEADER + V1).encode(), source="sheet", kind="csv")
    page = merchant.get(r.json()["next"])
    form = mapping_form(page.text, {"body": "name"})  # title is the name already
    saved = merchant.http.post(page.url, data=form, timeout=60)
    assert saved.status_code == 400
    assert "name: both &#39;title&#39; and &#39;body&#39; map to it" in saved.text
    assert merchant.api("GET", "/v1/sources/sheet").status_code == 404
    assert merchant.api("GET", "/v1/import_runs").json()["data"] == []


def test_names_from_the_file_show_as_text(merchant: Merchant) -> None:
    merchant.sign_in()
    evil = V1.replace("Organic Cotton Tee", "<script>alert(1)</script>")
    run_id, shown = preview(merchant, (HEADER + evil).encode(), source="xss", kind="csv")
    assert "<script>alert(1)</script>" not in shown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    r = upload(merchant, (HEADER + evil).encode(), source="xss")
    page = merchant.get(r.json()["next"])
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


@pytest.mark.slow
def test_a_200_mb_upload_streams_to_disk_in_flat_memory(merchant: Merchant) -> None:
    """The dashboard's upload, generated on the fly and sent chunked as a browser sends it:
    the server (a thread of this process) must not grow by anything near the file's size."""
    merchant.sign_in()
    token = merchant.csrf("/dashboard/imports/new")
    boundary = "dashboardboundary" + secrets.token_hex(8)
    line = b"sku-000000,Some product name,A description of it,19.99,12\n"
    block = line * 4000
    blocks = 200 * 1024 * 1024 // len(block) + 1
    digest = hashlib.sha256()
    size = 0

    def body() -> Iterator[bytes]:
        nonlocal size
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\n__new__\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="new_source"\r\n\r\nbig\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncsv\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"'
            "\r\nContent-Type: text/csv\r\n\r\nsku,name,description,price,qty\n"
        ).encode()
        digest.update(b"sku,name,description,price,qty\n")
        size += 31
        for _ in range(blocks):
            digest.update(block)
            size += len(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        r = merchant.http.post(
            merchant.url("/dashboard/imports/upload"),
            data=body(),
            headers={
                "X-CSRF-Token": token,
                "Accept": "application/json",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            timeout=300,
        )
    finally:
        done.set()
        sampler.join()
    took = time.monotonic() - started
    assert r.status_code == 200, r.text
    stored = files.FileSettings.from_env().root / merchant.account / r.json()["file"]["id"]
    try:
        assert size >= 200 * 1024 * 1024 and r.json()["file"]["size"] == size
        on_disk = hashlib.sha256()
        with stored.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                on_disk.update(chunk)
        assert on_disk.hexdigest() == digest.hexdigest()
        # the next step reads only the file's head
        page = merchant.get(r.json()["next"])
        assert page.status_code == 200 and "Some product name" in page.text
    finally:
        stored.unlink(missing_ok=True)
    grew = (peak - baseline) / 2**20
    print(f"dashboard upload of {size / 2**20:.0f} MiB in {took:.1f} s: RSS grew {grew:.1f} MiB")
    assert grew < 40, f"RSS grew by {grew:.1f} MiB during a {size / 2**20:.0f} MiB upload"
