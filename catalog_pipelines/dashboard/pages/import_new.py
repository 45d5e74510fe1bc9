"""Import a file, steps 1 and 2: upload it (streamed to disk, with progress), then check and
save the mapping the assistant suggests, which starts the preview (a dry run).

The same library calls as the API: POST /v1/files (upload_stream + files), POST
/v1/mapping_suggestions (connectors.sampling + mapping.suggest), POST /v1/sources[/{id}]
(store.sources, a new source version) and POST /v1/import_runs with dry_run
(import_jobs.start_import)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from catalog_pipelines import files, import_jobs, upload_stream
from catalog_pipelines.api.routers.files import settings as file_settings
from catalog_pipelines.connectors.sampling import FileSample, sample_file
from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.mapping import MappingError
from catalog_pipelines.mapping.model import PLAIN_TARGETS
from catalog_pipelines.mapping.suggest import BUILT_IN_FORMATS, Suggestion, suggest
from catalog_pipelines.normalized import InputError
from catalog_pipelines.store import sources as source_store
from catalog_pipelines.store.errors import StoreError
from catalog_pipelines.store.events import Cause

router = APIRouter()

UPLOAD_PATH = PREFIX + "/imports/upload"
NEW = "__new__"  # the source <select>'s "a new source" choice
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
METADATA = "metadata"
CURRENCIES = ("usd", "eur", "gbp", "cad", "aud", "chf", "jpy", "sek", "nok", "dkk", "pln", "czk")
FORMAT_LABELS = {
    "shopify": "Shopify product export",
    "woocommerce": "WooCommerce product export",
    "magento": "Magento 2 product export",
    "csv": "CSV file",
    "jsonl": "JSON Lines file",
}
# What a column can become: the key, the catalog's fields, or (the default) metadata.
TARGETS = (
    (METADATA, "metadata"),
    ("external_id", "external_id (the product key)"),
    *((t, t) for t in PLAIN_TARGETS if t != "external_id"),
)


def _source_choice(fields: dict[str, str]) -> dict[str, str]:
    """{source, kind} from the upload form: an existing source, or a new name and kind."""
    chosen = fields.get("source", "").strip()
    if chosen == NEW or not chosen:
        name = fields.get("new_source", "").strip()
        kind = fields.get("kind", "csv")
        if not _NAME.match(name):
            raise files.InvalidRequest(
                "Name the new source: 1-64 letters, digits, '_', '.' or '-'", param="source"
            )
        if kind not in source_store.KINDS:
            raise files.InvalidRequest("Choose the kind of the new source", param="kind")
        return {"source": name, "kind": kind}
    if not _NAME.match(chosen):
        raise files.InvalidRequest("Choose a source", param="source")
    return {"source": chosen}


@router.get(PREFIX + "/imports/new")
async def new_import(page: Page) -> Response:
    def load() -> list[source_store.Source]:
        with page.engine.connect() as conn:
            return [s for s in source_store.list_sources(conn, page.account_id) if s.active]

    existing = await run_in_threadpool(load)
    return page.render(
        "import_new.html",
        sources=existing,
        kinds=source_store.KINDS,
        new=NEW,
        upload_path=UPLOAD_PATH,
        max_bytes=files.FileSettings.from_env().max_bytes,
    )


def _refusal(page: Page, request: Request, status: int, message: str) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return page.finish(JSONResponse({"error": message}, status_code=status))
    raise DashboardError(status, "The upload was refused", message)


@router.post(UPLOAD_PATH)
async def upload(page: Page, request: Request) -> Response:
    """The file, streamed to disk; the CSRF token comes first (an `X-CSRF-Token` header, or
    the `csrf_token` field before the file part), so a forged upload writes nothing."""
    header = request.headers.get("x-csrf-token")
    if header is not None:
        page.check_csrf(header)

    def on_file(fields: dict[str, str]) -> None:
        if header is None:
            page.check_csrf(fields.get("csrf_token"))
        _source_choice(fields)

    try:
        received = await upload_stream.receive(
            request, page.account_id, file_settings(request), on_file
        )
    except DashboardError as e:
        return _refusal(page, request, e.status, e.message)
    except StoreError as e:
        return _refusal(page, request, e.status, str(e))
    try:
        if header is None:
            page.check_csrf(received.fields.get("csrf_token"))
        if received.writer is None:
            return _refusal(page, request, 400, "Choose a CSV or JSON Lines file to upload.")
        choice = _source_choice(received.fields)
        obj = await run_in_threadpool(received.writer.commit, page.engine)
    except DashboardError as e:
        received.abort()
        return _refusal(page, request, e.status, e.message)
    except StoreError as e:
        received.abort()
        return _refusal(page, request, e.status, str(e))
    except BaseException:
        received.abort()
        raise
    target = f"{PREFIX}/imports/new/{obj['id']}?{urlencode(choice)}"
    if "application/json" in request.headers.get("accept", ""):
        return page.finish(JSONResponse({"file": obj, "next": target}))
    return page.redirect(target)


@dataclass
class MappingView:
    """What the mapping page shows for one file and source."""

    file: Any
    source: str
    kind: str | None
    existing: source_store.Source | None
    sample: FileSample
    shown: Suggestion  # the suggestion for the detected format (built-in connectors included)
    generic: Suggestion  # the column-by-column mapping (what the dropdowns hold)
    read_as: str
    currency: str


def _file(page: Page, file_id: str) -> Any:
    with page.engine.connect() as conn:
        row = files.get_file(conn, page.account_id, file_id)
    if row is None:
        raise DashboardError(
            404, "File not found", "There is no such upload, or it belongs to another account."
        )
    return row


def _view(page: Page, request: Request, file_id: str, source: str, kind: str | None) -> MappingView:
    row = _file(page, file_id)
    if not _NAME.match(source):
        raise DashboardError(400, "Choose a source", "Go back and choose a source for the file.")
    with page.engine.connect() as conn:
        existing = source_store.get_source(conn, page.account_id, source)
        history = source_store.mapping_history(conn, page.account_id, prefer=source)
    try:
        sample = sample_file(files.file_path(file_settings(request), row))
    except InputError as e:
        raise DashboardError(
            400, "This file cannot be mapped", str(e).replace(str(file_settings(request).root), "")
        ) from None
    shown = suggest(
        sample.columns, sample.rows, format=sample.format, dialect=sample.dialect, history=history
    )
    generic = shown
    if sample.format in BUILT_IN_FORMATS:
        generic = suggest(
            sample.columns, sample.rows, format="csv", dialect=sample.dialect, history=history
        )
    saved = existing.mapping if existing is not None else None
    read_as = shown.format
    currency = (shown.mapping.currency or "") if read_as not in BUILT_IN_FORMATS else ""
    if saved and saved.get("format") in (shown.format, generic.format):
        read_as = saved["format"]
        currency = saved.get("currency") or ""
        by_column = {v: k for k, v in (saved.get("fields") or {}).items()}
        if saved.get("key"):
            by_column[saved["key"]] = "external_id"
        where = f"the saved mapping of {source} (version {existing.version})"  # type: ignore[union-attr]
        for c in generic.columns:
            if c.column in by_column:
                c.field, c.reason = by_column[c.column], f"as in {where}"
            elif saved["format"] == generic.format:
                c.field, c.reason = METADATA, f"kept in metadata by {where}"
            c.confidence = 1.0
    return MappingView(row, source, kind, existing, sample, shown, generic, read_as, currency)


def _columns(view: MappingView) -> list[dict[str, Any]]:
    builtin = view.shown.format in BUILT_IN_FORMATS
    out = []
    for i, (shown, generic) in enumerate(
        zip(view.shown.columns, view.generic.columns, strict=True)
    ):
        out.append(
            {
                "index": i,
                "column": shown.column,
                "samples": shown.samples,
                "field": generic.field,
                "confidence": shown.confidence if builtin else generic.confidence,
                "reason": f"read by the built-in {view.shown.format} connector"
                if builtin
                else generic.reason,
                "generic_reason": generic.reason if builtin else None,
            }
        )
    return out


def _confidence(value: float) -> str:
    return "high" if value >= 0.8 else "medium" if value >= 0.6 else "low"


def _render_mapping(
    page: Page, view: MappingView, *, error: str | None = None, status: int = 200
) -> Response:
    columns = _columns(view)
    options = list(TARGETS)
    for c in columns:  # targets a saved mapping used (option.Color, metadata.x) stay choosable
        if c["field"] not in dict(options):
            options.append((c["field"], c["field"]))
    for c in columns:
        c["level"] = _confidence(c["confidence"])
        c["option_target"] = f"option.{c['column']}"
    read_as = [
        (view.generic.format, f"Generic {view.generic.format.upper()}: the column mapping below")
    ]
    if view.shown.format in BUILT_IN_FORMATS:
        read_as.insert(
            0, (view.shown.format, f"{FORMAT_LABELS[view.shown.format]} (built-in connector)")
        )
    return page.render(
        "import_mapping.html",
        status=status,
        error=error,
        file=view.file,
        source=view.source,
        kind=view.kind,
        existing=view.existing,
        detected=FORMAT_LABELS.get(view.sample.format, view.sample.format),
        builtin=view.shown.format in BUILT_IN_FORMATS,
        dialect=view.shown.dialect,
        columns=columns,
        options=options,
        metadata_columns=[c["column"] for c in columns if c["field"] == METADATA],
        needs_review=view.generic.needs_review if view.shown.format not in BUILT_IN_FORMATS else [],
        read_as=read_as,
        chosen_read_as=view.read_as,
        currencies=CURRENCIES,
        currency=view.currency,
        modes=import_jobs.MODES,
    )


@router.get(PREFIX + "/imports/new/{file_id}")
async def mapping_page(
    page: Page, request: Request, file_id: str, source: str = "", kind: str | None = None
) -> Response:
    view = await run_in_threadpool(_view, page, request, file_id, source, kind)
    return _render_mapping(page, view)


def mapping_document(view: MappingView, form: dict[str, str]) -> dict[str, Any]:
    """The mapping the merchant chose, as a document (`MappingError` if it is not valid)."""
    read_as = form.get("read_as", view.read_as)
    currency = form.get("currency", "").strip().lower() or None
    if currency is not None and currency not in CURRENCIES:
        raise MappingError(f"currency: choose one of {', '.join(CURRENCIES)}")
    if read_as in BUILT_IN_FORMATS and read_as == view.shown.format:
        doc: dict[str, Any] = {"format": read_as}
        if currency:
            doc["currency"] = currency
        return source_store.check_mapping(doc) or doc
    if read_as != view.generic.format:
        raise MappingError(f"read_as: choose how to read the file, not {read_as!r}")
    base = view.generic.mapping
    doc = {"format": read_as}
    if currency or base.currency:
        doc["currency"] = currency or base.currency
    for name in ("encoding", "delimiter", "thousands_separator"):
        if getattr(base, name):
            doc[name] = getattr(base, name)
    doc["decimal_separator"] = base.decimal_separator
    fields: dict[str, str] = {}
    for i, column in enumerate(view.sample.columns):
        target = form.get(f"field_{i}", METADATA)
        if target == METADATA:
            continue
        if target in fields:
            raise MappingError(
                f"{target}: both {fields[target]!r} and {column!r} map to it; choose one"
            )
        fields[target] = column
    key = fields.pop("external_id", None)
    if key:
        doc["key"] = key
    parent = fields.pop("parent_external_id", None)
    if parent:
        doc["parent_key"] = parent
    doc["fields"] = fields
    return source_store.check_mapping(doc) or doc


def _save_and_preview(
    page: Page, request: Request, view: MappingView, doc: dict[str, Any], mode: str
) -> dict[str, Any]:
    cause = Cause(request_id="req_" + secrets.token_hex(12))
    with page.engine.begin() as conn:
        if view.existing is None:
            source_store.create_source(
                conn,
                account_id=page.account_id,
                name=view.source,
                kind=view.kind if view.kind in source_store.KINDS else "csv",
                owns=frozenset(source_store.GROUPS),
                mapping=doc,
                cause=cause,
            )
        else:
            source_store.update_source(conn, page.account_id, view.source, mapping=doc, cause=cause)
    return import_jobs.start_import(
        page.engine,
        account_id=page.account_id,
        path=files.file_path(file_settings(request), view.file),
        file_id=view.file.id,
        filename=view.file.filename,
        source=view.source,
        mode=mode,
        dry_run=True,
        trigger="dashboard",
    )


@router.post(PREFIX + "/imports/new/{file_id}")
async def save_mapping(page: Page, request: Request, file_id: str) -> Response:
    """Save the mapping to the source (a new version, as POST /v1/sources/{id} does), then
    preview the import with it."""
    form = await page.form()
    view = await run_in_threadpool(
        _view, page, request, file_id, form.get("source", ""), form.get("kind")
    )
    mode = form.get("mode", "full")
    try:
        if mode not in import_jobs.MODES:
            raise MappingError("mode: full or incremental")
        doc = mapping_document(view, form)
        run = await run_in_threadpool(_save_and_preview, page, request, view, doc, mode)
    except (MappingError, StoreError) as e:
        return _render_mapping(page, view, error=str(e), status=400)
    return page.redirect(f"{PREFIX}/imports/{run['id']}")
