"""/dashboard/sources: each source's kind, last import and ownership in plain words; create a
source, change what it owns (a new version, as POST /v1/sources/{id} does), archive or restore
it, and read its history. Writes go through the same functions as the /v1/sources routes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.api.routers.sources import _create, _update
from catalog_pipelines.connectors.registry import CONNECTORS, KINDS
from catalog_pipelines.dashboard import ownership_words as words
from catalog_pipelines.dashboard.web import PREFIX, DashboardError, Page
from catalog_pipelines.store import reads, runs
from catalog_pipelines.store import sources as store
from catalog_pipelines.store.errors import StoreError
from catalog_pipelines.store.events import Cause

router = APIRouter()

KIND_LABELS = {
    "shopify": "Shopify export",
    "woocommerce": "WooCommerce export",
    "magento": "Magento export",
    "csv": "CSV file (with a mapping)",
    "jsonl": "JSON Lines file (with a mapping)",
    "http_json": "JSON feed over HTTP",
}


def _kind_rank(kind: str) -> int:
    """Shop exports first (the common case), then generic files and feeds."""
    order = list(KIND_LABELS)
    return order.index(kind) if kind in order else len(order)


def _cause() -> Cause:
    """A dashboard write is a request like an API call: its events name a request id."""
    return Cause(request_id="req_" + secrets.token_hex(12))


def _owners(sources: list[store.Source]) -> dict[str, frozenset[str]]:
    return {s.name: s.owns for s in sources if s.active}


def _row(conn: sa.Connection, source: store.Source, owners: dict[str, Any]) -> dict[str, Any]:
    last = runs.list_runs(conn, source.account_id, limit=1, source=source.name).data
    return {
        "source": source.as_json(),
        "kind_label": KIND_LABELS.get(source.kind, source.kind),
        "mode_label": words.MODE_LABELS[source.mode],
        "sentence": words.sentence(source.name, source.owns, owners),
        "last_run": last[0] if last else None,
    }


def _form_context() -> dict[str, Any]:
    return {
        "kinds": [(k, KIND_LABELS.get(k, k)) for k in sorted(KINDS, key=_kind_rank)],
        "presets": words.PRESETS,
        "groups": [(g, words.WORDS[g], words.EXPLAINED[g]) for g in store.GROUPS],
    }


def _listing(page: Page) -> dict[str, Any]:
    with page.engine.connect() as conn:
        sources = store.list_sources(conn, page.account_id)
        owners = _owners(sources)
        rows = [_row(conn, s, owners) for s in sources]
    return {"rows": rows, **_form_context()}


def _owns_from(form: dict[str, str]) -> frozenset[str]:
    try:
        return words.preset_owns(form.get("mode", ""), [g for g in store.GROUPS if form.get(g)])
    except ValueError as e:
        raise StoreError(f"Ownership: {e}", param="owns") from None


@router.get(PREFIX + "/sources")
async def sources_page(page: Page) -> Response:
    return page.render("sources.html", **await run_in_threadpool(_listing, page))


@router.post(PREFIX + "/sources")
async def create_source(page: Page) -> Response:
    form = await page.form()
    name = form.get("name", "").strip()

    def create() -> None:
        params = {"name": name, "kind": form.get("kind"), "owns": sorted(_owns_from(form))}
        with page.engine.begin() as conn:
            _create(conn, page.account_id, params, _cause())

    try:
        await run_in_threadpool(create)
    except StoreError as e:
        context = await run_in_threadpool(_listing, page)
        return page.render("sources.html", status=400, error=e.message, entered=form, **context)
    return page.redirect(f"{PREFIX}/sources/{name}", f"Source {name} created.")


def _history(conn: sa.Connection, source: store.Source) -> list[dict[str, Any]]:
    """Newest first: each version with what changed and who changed it (its event's cause)."""
    versions = store.source_versions(conn, source)
    events = reads.list_events(conn, source.account_id, object_id=source.id, limit=100).data
    cause = {e["object_version"]: e for e in events}
    out = []
    previous: dict[str, Any] | None = None
    for v in versions:
        event = cause.get(v["version"])
        out.append(
            {
                "version": v["version"],
                "created": v["created"],
                "changes": words.changes(previous, v["source"]),
                "run_id": event and event["run_id"],
                "request_id": event and (event["request"] or {}).get("id"),
                "event_id": event and event["id"],
            }
        )
        previous = v["source"]
    return out[::-1]


def _mapping_rows(mapping: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not mapping:
        return []
    rows = [(t, str(mapping[t])) for t in ("key", "parent_key") if mapping.get(t)]
    rows = [("external_id" if t == "key" else "parent_external_id", c) for t, c in rows]
    return rows + [(t, str(c)) for t, c in (mapping.get("fields") or {}).items()]


def _detail(page: Page, ref: str) -> dict[str, Any]:
    with page.engine.connect() as conn:
        source = store.find_source(conn, page.account_id, ref)
        if source is None:
            raise DashboardError(
                404, "No such source", "There is no such source, or it belongs to another account."
            )
        owners = _owners(store.list_sources(conn, page.account_id))
        recent = runs.list_runs(conn, page.account_id, limit=5, source=source.name).data
        context = {
            **_row(conn, source, owners),
            "history": _history(conn, source),
            "mapping_rows": _mapping_rows(source.mapping),
            "settings": {
                k: v
                for k, v in (source.mapping or {}).items()
                if k not in ("fields", "key", "parent_key")
            },
            "recent": recent,
            "needs_mapping": CONNECTORS[source.kind].needs_mapping,
            **_form_context(),
        }
    return context


@router.get(PREFIX + "/sources/{ref}")
async def source_page(page: Page, ref: str) -> Response:
    return page.render("source.html", **await run_in_threadpool(_detail, page, ref))


def _change(page: Page, ref: str, params: Callable[[store.Source], dict[str, Any]]) -> str:
    with page.engine.begin() as conn:
        source = store.find_source(conn, page.account_id, ref)
        if source is None:
            raise DashboardError(
                404, "No such source", "There is no such source, or it belongs to another account."
            )
        _update(conn, page.account_id, source.id or source.name, params(source), _cause())
        return source.name


async def _post_change(
    page: Page, ref: str, params: Callable[[dict[str, str]], dict[str, Any]], done: str
) -> Response:
    form = await page.form()
    try:
        wanted = params(form)
        name = await run_in_threadpool(_change, page, ref, lambda _s: wanted)
    except StoreError as e:
        context = await run_in_threadpool(_detail, page, ref)
        return page.render("source.html", status=400, error=e.message, **context)
    return page.redirect(f"{PREFIX}/sources/{name}", done.format(name=name))


@router.post(PREFIX + "/sources/{ref}/ownership")
async def change_ownership(page: Page, ref: str) -> Response:
    return await _post_change(
        page, ref, lambda f: {"owns": sorted(_owns_from(f))}, "Ownership of {name} saved."
    )


@router.post(PREFIX + "/sources/{ref}/archive")
async def archive(page: Page, ref: str) -> Response:
    return await _post_change(
        page, ref, lambda _f: {"active": False}, "{name} is archived: it takes no imports."
    )


@router.post(PREFIX + "/sources/{ref}/restore")
async def restore(page: Page, ref: str) -> Response:
    return await _post_change(
        page, ref, lambda _f: {"active": True}, "{name} is restored and takes imports again."
    )
