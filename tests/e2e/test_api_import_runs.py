"""Files and import runs through the live API: streamed uploads (size, type, memory),
background runs with the CLI's counts, formula-safe rejects, revert, and tenancy."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import sqlalchemy as sa
import stripe

from catalog_pipelines import files
from catalog_pipelines.api.app import api_engine, create_app
from catalog_pipelines.cli import main
from tests.e2e.conftest import Client, ServerThread, free_port, new_client

MAPPING = {
    "format": "csv",
    "key": "handle",
    "currency": "usd",
    "fields": {
        "name": "title",
        "description": "body",
        "price": "price",
        "sku": "sku",
        "inventory_quantity": "qty",
    },
}
HEADER = "handle,title,body,price,sku,qty,vendor\n"
V1 = (
    "tee,Tee,Soft tee,19.99,TEE-1,5,Acme\n"
    "mug,Mug,Big mug,8.50,MUG-1,12,Acme\n"
    "cap,Cap,Wool cap,12.00,CAP-1,3,Globex\n"
)
V2 = (
    "tee,Tee v2,Soft tee,21.00,TEE-1,7,Acme\n"
    "mug,Mug,Bigger mug,8.50,MUG-1,12,Acme\n"
    "cap,Cap,Wool cap,12.00,CAP-1,3,Globex\n"
    "bag,Bag,Tote,30.00,BAG-1,4,Acme\n"
)


@pytest.fixture(scope="module")
def app_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An API server of this module's own, so the tests can set its file settings."""
    engine = api_engine(database_url)
    app = create_app(engine)
    root = tmp_path_factory.mktemp("files")
    app.state.files = files.FileSettings(root=root)
    with ServerThread(app, free_port()) as server:
        server.app = app
        yield server
    engine.dispose()


@pytest.fixture
def settings(app_server: Any, tmp_path: Path) -> Iterator[files.FileSettings]:
    saved = app_server.app.state.files
    app_server.app.state.files = cfg = files.FileSettings(root=tmp_path / "files")
    yield cfg
    app_server.app.state.files = saved


@pytest.fixture
def api(engine: sa.Engine, app_server: Any, settings: files.FileSettings) -> Client:
    return new_client(engine, app_server.url)


@pytest.fixture
def other(engine: sa.Engine, app_server: Any) -> Client:
    return new_client(engine, app_server.url)


def upload(c: Client, content: bytes, name: str = "catalog.csv") -> requests.Response:
    return c.session.post(
        c.base + "/v1/files",
        data={"purpose": "catalog_import"},
        files={"file": (name, content, "text/csv")},
        headers={"Authorization": f"Bearer {c.secret}"},
        timeout=60,
    )


def start_run(c: Client, file_id: str, **params: Any) -> dict[str, Any]:
    body = {"file": file_id, "source": "sheet", "mapping": json.dumps(MAPPING), **params}
    r = c.post("/v1/import_runs", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def wait_run(c: Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = c.get(f"/v1/import_runs/{run_id}").json()
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running"
        time.sleep(0.05)


def import_file(c: Client, text: str, **params: Any) -> dict[str, Any]:
    f = upload(c, text.encode())
    assert f.status_code == 200, f.text
    created = start_run(c, f.json()["id"], **params)
    assert created["status"] == "running" and created["object"] == "import_run"
    assert created["progress"] == {"stage": "queued", "fraction": 0.0}
    return wait_run(c, created["id"])


# --------------------------------------------------------------------------- files


def test_upload_retrieve_and_tenancy(
    api: Client, other: Client, settings: files.FileSettings
) -> None:
    r = upload(api, (HEADER + V1).encode())
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["id"].startswith("file_") and f["object"] == "file"
    assert (f["purpose"], f["filename"], f["size"], f["type"]) == (
        "catalog_import",
        "catalog.csv",
        len(HEADER + V1),
        "csv",
    )
    assert f["expires_at"] - f["created"] == int(settings.retention.total_seconds())
    assert api.get(f"/v1/files/{f['id']}").json() == f
    stored = settings.root / api.account / f["id"]
    assert stored.read_bytes() == (HEADER + V1).encode()  # per-account folder
    missing = other.get(f"/v1/files/{f['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    # another account cannot import it either
    r = other.post("/v1/import_runs", json={"file": f["id"], "source": "sheet"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "file"


def test_binary_and_oversized_uploads_are_refused(
    api: Client, app_server: Any, settings: files.FileSettings
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(5000)
    r = upload(api, png, "catalog.csv")
    assert r.status_code == 400 and "not a text file" in r.json()["error"]["message"]
    r = upload(api, secrets.token_bytes(20_000), "catalog.csv")  # random bytes
    assert r.status_code == 400 and "not a text file" in r.json()["error"]["message"]
    # binary data far past the first chunk is still caught
    late = HEADER.encode() + b"a,b,c,1,s,1,v\n" * 20000 + secrets.token_bytes(70_000)
    assert upload(api, late).status_code == 400
    r = upload(api, b"", "empty.csv")
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]
    r = api.session.post(
        api.base + "/v1/files",
        data={"purpose": "identity_document"},
        files={"file": ("a.csv", b"a,b\n1,2\n")},
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
    app_server.app.state.files = files.FileSettings(root=settings.root, max_bytes=100_000)
    r = upload(api, b"a,b\n" + b"1,2\n" * 50_000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    # nothing of the refused uploads is left on disk
    left = list((settings.root / api.account).iterdir())
    assert left == []


def test_a_50_mb_upload_streams_to_disk_in_bounded_memory(
    api: Client, settings: files.FileSettings
) -> None:
    """The body is generated on the fly and sent chunked; the server (in this process)
    must not grow by anything near the file's size."""
    boundary = "catalogboundary" + secrets.token_hex(8)
    line = b"sku-000000,Some product name,A description of it,19.99,12\n"
    chunks = 50 * 1024 * 1024 // (len(line) * 1000)
    digest = hashlib.sha256()
    size = 0

    def body() -> Iterator[bytes]:
        nonlocal size
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            f'catalog_import\r\n--{boundary}\r\nContent-Disposition: form-data; name="file";'
            f' filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        for _ in range(chunks):
            block = line * 1000
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
    try:
        r = api.session.post(
            api.base + "/v1/files",
            data=body(),
            headers={
                "Authorization": f"Bearer {api.secret}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            timeout=120,
        )
    finally:
        done.set()
        sampler.join()
    assert r.status_code == 200, r.text
    assert size > 50_000_000 and r.json()["size"] == size
    stored = settings.root / api.account / r.json()["id"]
    on_disk = hashlib.sha256()
    with stored.open("rb") as fh:
        while block := fh.read(1 << 20):
            on_disk.update(block)
    assert on_disk.hexdigest() == digest.hexdigest()
    grew = (peak - baseline) / 2**20
    print(f"upload of {size / 2**20:.0f} MiB: RSS grew {grew:.1f} MiB")
    assert grew < 30, f"RSS grew by {grew:.1f} MiB during a {size / 2**20:.0f} MiB upload"


def test_expired_files_are_purged(
    api: Client, engine: sa.Engine, settings: files.FileSettings
) -> None:
    f = upload(api, (HEADER + V1).encode()).json()
    path = settings.root / api.account / f["id"]
    assert path.exists()
    assert files.purge_expired(engine, settings) == 0 and path.exists()
    later = datetime.now(UTC) + settings.retention + timedelta(seconds=1)
    assert files.purge_expired(engine, settings, now=later) >= 1
    assert not path.exists()
    assert api.get(f"/v1/files/{f['id']}").status_code == 404


def test_stripe_client_file_create(api: Client, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + V1)
    client = stripe.StripeClient(
        api.secret, base_addresses={"api": api.base, "files": api.base}, max_network_retries=0
    )
    with path.open("rb") as fh:
        f = client.v1.files.create(params={"purpose": "catalog_import", "file": fh})  # type: ignore[typeddict-item]
    assert isinstance(f, stripe.File) and f.id.startswith("file_")
    assert f.purpose == "catalog_import" and f.size == len(HEADER + V1)
    assert f.filename == "catalog.csv"
    assert client.v1.files.retrieve(f.id).id == f.id


# --------------------------------------------------------------------------- import runs


def test_run_counts_equal_the_cli(
    api: Client, engine: sa.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = import_file(api, HEADER + V1)
    assert run["status"] == "succeeded" and run["outcome"] == "applied", run
    assert run["trigger"] == "api" and run["input"] == "catalog.csv" and run["finished"]
    csv_path = tmp_path / "catalog.csv"
    csv_path.write_text(HEADER + V1)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    cli_account = f"acct_{secrets.token_hex(6)}"
    code = main(
        ["import", str(csv_path), "--source", "sheet", "--mapping", str(mapping),
         "--account", cli_account, "--json"]
    )  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in cli:
        if key != "run_id":
            assert run[key] == cli[key], key
    assert {c["action"] for c in run["changes"]} == {"created"}
    with engine.connect() as conn:
        product_events = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE run_id = :r"), {"r": run["id"]}
        ).scalar_one()
    assert product_events == run["events"] == 9


def test_dry_run_shows_the_diff_and_writes_nothing(api: Client) -> None:
    import_file(api, HEADER + V1)
    products = api.get("/v1/products", params={"limit": 100}).json()["data"]
    dry = import_file(api, HEADER + V2, dry_run=True)
    assert dry["status"] == "succeeded" and dry["outcome"] == "previewed" and dry["dry_run"]
    assert dry["products"] == {"created": 1, "updated": 2, "unchanged": 1, "archived": 0}
    tee = next(c for c in dry["changes"] if c["action"] == "updated" and c["key"] == "tee")
    assert tee["fields"]["name"] == ["Tee", "Tee v2"]
    new_price = next(c for c in dry["changes"] if c["object_type"] == "price" and c["key"] == "TEE-1" and c["action"] == "created")  # fmt: skip
    assert new_price["fields"]["unit_amount"] == [None, 2100]
    assert api.get("/v1/products", params={"limit": 100}).json()["data"] == products
    listed = api.get("/v1/import_runs").json()
    assert listed["object"] == "list" and listed["data"][0]["id"] == dry["id"]


def test_failed_run_and_bad_parameters(api: Client) -> None:
    f = upload(api, (HEADER + V1).encode()).json()
    r = api.post("/v1/import_runs", json={"file": f["id"], "source": "sheet", "mode": "sideways"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "mode"
    r = api.post(
        "/v1/import_runs", json={"file": f["id"], "source": "sheet", "mapping": "fields: [1"}
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "mapping"
    r = api.post("/v1/import_runs", json={"source": "sheet"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = api.session.post(
        api.base + "/v1/files",
        data=b'--xx\r\nContent-Disposition: form-data; name="file"\r\nbroken',
        headers={
            "Authorization": f"Bearer {api.secret}",
            "Content-Type": "multipart/form-data; boundary=xx",
        },
    )
    assert r.status_code == 400, r.text
    # the mass-archive guard refuses a full import that would archive most products
    import_file(api, HEADER + V1)
    refused = import_file(api, HEADER + V1.splitlines(keepends=True)[0])
    assert refused["status"] == "failed" and refused["outcome"] == "refused"
    assert "archive" in refused["error"] and refused["products"]["archived"] == 2
    assert len(api.get("/v1/products", params={"active": "true"}).json()["data"]) == 3
    # a mapping naming a column the file lacks fails the run, with the file's name
    bad = dict(MAPPING, key="nope")
    run = wait_run(api, start_run(api, f["id"], mapping=json.dumps(bad))["id"])
    assert run["status"] == "failed" and run["error"], run
    assert str(Path.cwd()) not in run["error"]


def test_rejects_csv_is_formula_safe(api: Client, other: Client) -> None:
    text = (
        HEADER
        + "tee,Tee,Soft tee,19.99,TEE-1,5,Acme\n"
        + 'evil,=HYPERLINK("http://x"),@SUM(A1),=1+2,-SKU,1,+cmd\n'
    )
    run = import_file(api, text)
    assert run["status"] == "succeeded" and run["rows_rejected"] == 1
    r = api.get(f"/v1/import_runs/{run['id']}/rejects.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["row_number"] == "2" and "price" in row["fields"].split("; ")
    assert "price" in row["reasons"]
    assert row["title"] == '\'=HYPERLINK("http://x")'
    assert row["body"] == "'@SUM(A1)" and row["price"] == "'=1+2"
    assert row["sku"] == "'-SKU" and row["vendor"] == "'+cmd"
    for cell in [v for v in row.values() if v]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert other.get(f"/v1/import_runs/{run['id']}/rejects.csv").status_code == 404


def test_list_pages_newest_first(api: Client) -> None:
    ids = [import_file(api, HEADER + V1, dry_run=True)["id"] for _ in range(3)]
    first = api.get("/v1/import_runs", params={"limit": 2}).json()
    assert [r["id"] for r in first["data"]] == ids[::-1][:2] and first["has_more"]
    rest = api.get(
        "/v1/import_runs", params={"limit": 2, "starting_after": first["data"][-1]["id"]}
    ).json()
    assert [r["id"] for r in rest["data"]] == [ids[0]] and not rest["has_more"]
    newer = api.get("/v1/import_runs", params={"limit": 1, "ending_before": ids[0]}).json()
    assert [r["id"] for r in newer["data"]] == [ids[1]] and newer["has_more"]
    missing = api.get("/v1/import_runs", params={"starting_after": "run_nope"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "starting_after"


# --------------------------------------------------------------------------- revert


def test_revert_through_the_api(api: Client, other: Client) -> None:
    import_file(api, HEADER + V1)
    before = {p["id"]: p for p in api.get("/v1/products", params={"limit": 100}).json()["data"]}
    run = import_file(api, HEADER + V2)
    assert run["status"] == "succeeded" and run["products"]["created"] == 1

    for path in (f"/v1/import_runs/{run['id']}", f"/v1/import_runs/{run['id']}/revert"):
        r = other.get(path) if path.endswith(run["id"]) else other.post(path, data={})
        assert r.status_code == 404, path
    assert other.get("/v1/import_runs").json()["data"] == []

    events = api.get("/v1/events", params={"limit": 100}).json()["data"]
    preview = api.post(f"/v1/import_runs/{run['id']}/revert", data={"dry_run": "true"}).json()
    assert preview["object"] == "import_run_revert" and preview["dry_run"] is True
    assert preview["counts"]["archived"] >= 2 and preview["counts"]["restored"] >= 2
    assert api.get("/v1/events", params={"limit": 100}).json()["data"] == events

    done = api.post(f"/v1/import_runs/{run['id']}/revert")
    assert done.status_code == 200, done.text
    revert_run = done.json()
    assert revert_run["object"] == "import_run" and revert_run["mode"] == "revert"
    assert revert_run["trigger"] == "revert" and revert_run["reverts"] == run["id"]
    assert revert_run["revert"]["counts"] == preview["counts"]
    assert api.get(f"/v1/import_runs/{run['id']}").json()["reverted_by"] == revert_run["id"]
    after = {p["id"]: p for p in api.get("/v1/products", params={"limit": 100}).json()["data"]}
    for pid, product in before.items():
        strip = {"version", "updated"}
        assert {k: v for k, v in after[pid].items() if k not in strip} == {
            k: v for k, v in product.items() if k not in strip
        }
    (bag,) = [p for pid, p in after.items() if pid not in before]
    assert bag["active"] is False
    new_events = [e for e in api.get("/v1/events", params={"limit": 100}).json()["data"]
                  if e["run_id"] == revert_run["id"]]  # fmt: skip
    assert len(new_events) == revert_run["events"] > 0

    again = api.post(f"/v1/import_runs/{run['id']}/revert")
    assert again.status_code == 409 and "already reverted" in again.json()["error"]["message"]


def test_mapping_suggestion_for_an_uploaded_file(api: Client, other: Client) -> None:
    """The dashboard's flow: upload, then ask for a mapping of the upload by its id."""
    content = (
        Path(__file__).parents[1] / "fixtures" / "unseen" / "de_excel_export.csv"
    ).read_bytes()
    file_id = upload(api, content, "artikel.csv").json()["id"]
    r = api.post("/v1/mapping_suggestions", json={"file": file_id})
    assert r.status_code == 200, r.text
    suggestion = r.json()
    assert suggestion["dialect"]["delimiter"] == ";"
    assert suggestion["dialect"]["decimal_separator"] == ","
    fields = suggestion["mapping"]["fields"]
    assert {"name", "price", "inventory_quantity"} <= set(fields)
    # another account's upload is a 404, like a missing one
    r = other.post("/v1/mapping_suggestions", json={"file": file_id})
    assert r.status_code == 404 and r.json()["error"]["param"] == "file"
