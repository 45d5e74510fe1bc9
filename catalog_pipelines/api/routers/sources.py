"""/v1/sources: list, create, retrieve, update (ownership, mapping, kind, config), archive, and
each source's versions. A source is addressed by its id (`src_...`) or its name; another
account's source is a 404 like a missing one."""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from catalog_pipelines.api import models
from catalog_pipelines.api import openapi as oa
from catalog_pipelines.api.deps import Auth, write_response
from catalog_pipelines.api.errors import ApiError, not_found
from catalog_pipelines.api.lists import Cursor
from catalog_pipelines.mapping import MappingError, parse_mapping_text
from catalog_pipelines.mapping.model import mapping_to_dict
from catalog_pipelines.store import sources as store
from catalog_pipelines.store.errors import InvalidRequest
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.reads import ListPage

router = APIRouter(tags=["sources"])

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _split_owns(params: dict[str, Any]) -> dict[str, Any]:
    """Form bodies may send `owns=content,pricing` (or `owns=` for none)."""
    value = params.get("owns")
    if isinstance(value, str):
        return {**params, "owns": [v.strip() for v in value.split(",") if v.strip()]}
    return params


def _owns(params: dict[str, Any]) -> frozenset[str] | None:
    value = params.get("owns")
    if value is None:
        return None
    if isinstance(value, str):  # form bodies: owns=content,pricing (or "" for none)
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest("owns must be a list of content, pricing, inventory", param="owns")
    unknown = sorted(set(value) - set(store.GROUPS))
    if unknown:
        raise InvalidRequest(
            f"owns: unknown group(s) {', '.join(unknown)}; use {', '.join(store.GROUPS)}",
            param="owns",
        )
    return frozenset(value)


def _kind(params: dict[str, Any]) -> str | None:
    value = params.get("kind")
    if value is not None and value not in store.KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(store.KINDS)}", param="kind")
    return value


def _mapping(params: dict[str, Any]) -> dict[str, Any] | None:
    """The mapping as an object or as YAML text, validated (errors name the key)."""
    value = params.get("mapping")
    try:
        if isinstance(value, str):
            return mapping_to_dict(parse_mapping_text(value, where="mapping"))
        return store.check_mapping(value, where="mapping")
    except MappingError as e:
        raise InvalidRequest(str(e), param="mapping") from None


def _config(params: dict[str, Any]) -> dict[str, Any] | None:
    value = params.get("config")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidRequest("config must map names to strings", param="config")
    return value


def _active(params: dict[str, Any]) -> bool | None:
    value = params.get("active")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequest("active must be true or false", param="active")


def _create(conn: sa.Connection, account: str, params: dict[str, Any], cause: Cause) -> Any:
    name = params.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(
            "name must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            param="name",
            code="parameter_missing" if name is None else "parameter_invalid",
        )
    kind = _kind(params)
    if kind is None:
        raise InvalidRequest(
            "Missing required param: kind.", param="kind", code="parameter_missing"
        )
    owns = _owns(params)
    source = store.create_source(
        conn,
        account_id=account,
        name=name,
        kind=kind,
        owns=frozenset(store.GROUPS) if owns is None else owns,
        mapping=_mapping(params),
        config=_config(params),
        cause=cause,
    )
    return source.as_json()


def _found(conn: sa.Connection, account: str, source_id: str) -> store.Source:
    source = store.find_source(conn, account, source_id)
    if source is None:
        raise not_found("source", source_id)
    return source


def _update(
    conn: sa.Connection, account: str, source_id: str, params: dict[str, Any], cause: Cause
) -> Any:
    source = _found(conn, account, source_id)
    clear = params.get("mapping") == ""
    active = _active(params)
    updated = store.update_source(
        conn,
        account,
        source.name,
        kind=_kind(params),
        owns=_owns(params),
        mapping=None if clear else _mapping(params),
        clear_mapping=clear,
        config=_config(params),
        archive=None if active is None else not active,
        cause=cause,
    )
    return updated.as_json()


@router.get("/v1/sources", responses=oa.responses(oa.list_of("Source"), 404))
def list_sources(
    ctx: Auth,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Cursor = None,
    active: bool | None = None,
) -> JSONResponse:
    """Newest first; `active=false` lists the archived ones."""
    with ctx.engine.connect() as conn:
        sources = store.list_sources(conn, ctx.account_id)
    objs = sorted((s.as_json() for s in sources), key=lambda o: (-o["created"], o["id"]))
    if active is not None:
        objs = [o for o in objs if o["active"] is active]
    if starting_after is not None:
        ids = [o["id"] for o in objs]
        if starting_after not in ids:
            raise ApiError(
                404,
                f"No such object: '{starting_after}'",
                code="resource_missing",
                param="starting_after",
            )
        objs = objs[ids.index(starting_after) + 1 :]
    n = limit
    return JSONResponse(ListPage(objs[:n], len(objs) > n).envelope("/v1/sources"))


@router.post(
    "/v1/sources",
    responses=oa.responses(oa.ref("Source"), 409),
    openapi_extra=oa.body(models.SourceCreate, required=True),
)
async def create_source(ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.SourceCreate, prepare=_split_owns)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: _create(conn, ctx.account_id, params, cause),
    )


@router.get("/v1/sources/{source_id}", responses=oa.responses(oa.ref("Source"), 404))
def retrieve_source(source_id: str, ctx: Auth) -> JSONResponse:
    with ctx.engine.connect() as conn:
        return JSONResponse(_found(conn, ctx.account_id, source_id).as_json())


@router.post(
    "/v1/sources/{source_id}",
    responses=oa.responses(oa.ref("Source"), 404, 409),
    openapi_extra=oa.body(models.SourceUpdate),
)
async def update_source(source_id: str, ctx: Auth) -> JSONResponse:
    params = await ctx.body(models.SourceUpdate, prepare=_split_owns)
    return await run_in_threadpool(
        write_response,
        ctx,
        params,
        lambda conn, cause: _update(conn, ctx.account_id, source_id, params, cause),
    )


@router.delete("/v1/sources/{source_id}", responses=oa.responses(oa.ref("Source"), 404))
async def archive_source(source_id: str, ctx: Auth) -> JSONResponse:
    """Archives (never deletes): the source refuses imports until `active=true` restores it."""
    return await run_in_threadpool(
        write_response,
        ctx,
        {},
        lambda conn, cause: _update(conn, ctx.account_id, source_id, {"active": False}, cause),
    )


@router.get(
    "/v1/sources/{source_id}/versions",
    responses=oa.responses(oa.list_of("SourceVersion"), 404),
)
def list_source_versions(source_id: str, ctx: Auth) -> JSONResponse:
    """Every version of the source, oldest first: each change of kind, owns, mapping, config
    or archiving."""
    with ctx.engine.connect() as conn:
        source = _found(conn, ctx.account_id, source_id)
        versions = store.source_versions(conn, source)
    data = [{"object": "source_version", **v} for v in versions]
    return JSONResponse(ListPage(data, False).envelope(f"/v1/sources/{source.id}/versions"))
