"""Sign in with an API key, sign out. Both forms carry the CSRF token; sign-in starts a new
session (a new id), so a session id planted before sign-in is worth nothing after it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from catalog_pipelines.api.auth import KeyCache, hash_secret
from catalog_pipelines.api.auth_failures import AuthFailures
from catalog_pipelines.dashboard.web import PREFIX, Anyone, DashboardError, safe_next

router = APIRouter()


@router.get(PREFIX + "/login")
def login_form(who: Anyone, next: str | None = None) -> Response:
    if who.session.signed_in:
        return who.redirect(safe_next(next))
    return who.render("login.html", next=safe_next(next))


@router.post(PREFIX + "/login")
async def login(request: Request, who: Anyone) -> Response:
    if who.new_cookie:  # no session cookie came with the form: cookies are off, or a forgery
        raise DashboardError(
            403,
            "Cookies are needed to sign in",
            "The sign-in form came without its session cookie. Allow cookies for this site"
            " and sign in again.",
        )
    form = await who.form()
    secret = form.get("api_key", "").strip()
    target = safe_next(form.get("next"))
    failures: AuthFailures = request.app.state.auth_failures
    address = request.client.host if request.client else "unknown"
    if await failures.blocked_for(address) is not None:
        return who.render(
            "login.html",
            status=429,
            next=target,
            error="Too many attempts with invalid keys from this address. Wait a minute.",
        )
    keys: KeyCache = request.app.state.keys
    digest = hash_secret(secret)
    account = None
    if secret and len(secret) <= 200:
        account = await run_in_threadpool(keys.account_for_digest, who.engine, digest)
    if account is None:
        await failures.failed(address)
        return who.render(
            "login.html",
            status=401,
            next=target,
            error="That API key is not valid. Keys start with sk_ and are created with"
            " `catalog-sync api-keys create`.",
        )
    who.start(who.codec.new(account_id=account, key_hash=digest))
    return who.redirect(target)


@router.post(PREFIX + "/logout")
async def logout(who: Anyone) -> Response:
    await who.form()
    who.start(who.codec.new())
    return who.redirect(PREFIX + "/login", "You are signed out.")
