"""What every dashboard page shares: the session, the signed-in account, CSRF checks, and
rendering with the security headers.

Pages are FastAPI routes that take `Page` (signed in) or `Visitor` (anyone). A page only ever
reads the account from here, so it shows the signed-in account's data and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from catalog_pipelines.api.auth import KeyCache
from catalog_pipelines.dashboard import filters
from catalog_pipelines.dashboard.session import COOKIE, Session, SessionCodec

PREFIX = "/dashboard"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
filters.install(templates.env)

# No inline script, no other origin: an injected <script> cannot run even if escaping failed.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """Raised by `Page` for a visitor who is not signed in; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class DashboardError(Exception):
    """An error page (403 bad CSRF token, 404 unknown or another account's object, ...)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        self.status, self.title, self.message = status, title, message


def codec(request: Request) -> SessionCodec:
    found: SessionCodec | None = getattr(request.app.state, "dashboard_sessions", None)
    if found is None:
        found = request.app.state.dashboard_sessions = SessionCodec()
    return found


@dataclass
class Visitor:
    """Anyone on a dashboard page; `session` is new (and will be set) if they had none."""

    request: Request
    session: Session
    codec: SessionCodec
    new_cookie: bool = False
    flash: list[str] = field(default_factory=list)

    @property
    def engine(self) -> sa.Engine:
        engine: sa.Engine = self.request.app.state.engine
        return engine

    @property
    def csrf_token(self) -> str:
        return self.codec.csrf_token(self.session)

    def start(self, session: Session) -> None:
        """Replace the session (sign-in, sign-out): a new id, so old tokens stop working."""
        self.session, self.new_cookie = session, True

    def _finish(self, response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if self.new_cookie:
            response.set_cookie(
                COOKIE,
                self.codec.dumps(self.session),
                max_age=self.codec.max_age,
                path=PREFIX,
                httponly=True,
                samesite="lax",
                secure=self.request.url.scheme == "https",
            )
        return response

    def finish(self, response: Response) -> Response:
        """Any other response (JSON for a script on the page) with the security headers."""
        return self._finish(response)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        context.update(
            request=self.request,
            csrf_token=self.csrf_token,
            account_id=self.session.account_id,
            flash=self.flash + context.pop("messages", []),
            prefix=PREFIX,
        )
        response = templates.TemplateResponse(self.request, template, context, status_code=status)
        return self._finish(response)

    def redirect(self, path: str, message: str | None = None) -> Response:
        """303 to a dashboard path; `message` shows once on the next page (`?msg=`)."""
        if message:
            path += ("&" if "?" in path else "?") + "msg=" + quote(message)
        return self._finish(RedirectResponse(path, status_code=303))

    async def form(self) -> dict[str, str]:
        """The POSTed form, after its CSRF token is checked (403 without a valid one)."""
        data = await self.request.form()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        self.check_csrf(fields.get("csrf_token"))
        return fields

    def check_csrf(self, token: str | None) -> None:
        if not self.codec.csrf_ok(self.session, token):
            raise DashboardError(
                403,
                "This form has expired",
                "The form was missing its security token, or it came from an older session."
                " Reload the page and try again.",
            )


@dataclass
class SignedIn(Visitor):
    """A visitor with a live session: `account_id` is theirs."""

    @property
    def account_id(self) -> str:
        assert self.session.account_id is not None
        return self.session.account_id


def visitor(request: Request) -> Visitor:
    sessions = codec(request)
    session = sessions.loads(request.cookies.get(COOKIE))
    found = Visitor(request, session or sessions.new(), sessions, new_cookie=session is None)
    message = request.query_params.get("msg")
    if message:
        found.flash.append(message[:300])
    return found


def signed_in(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> SignedIn:
    session = who.session
    keys: KeyCache = request.app.state.keys
    live = (
        session.signed_in
        and session.key_hash is not None
        and keys.account_for_digest(who.engine, session.key_hash) == session.account_id
    )
    if not live:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return SignedIn(who.request, session, who.codec, who.new_cookie, who.flash)


Anyone = Annotated[Visitor, Depends(visitor)]
Page = Annotated[SignedIn, Depends(signed_in)]


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    who = visitor(request)
    return who.render("error.html", status=status, title=title, message=message)


def safe_next(path: str | None) -> str:
    """Only a dashboard path is a place to go back to after sign-in (no open redirect)."""
    if path and path.startswith(PREFIX + "/") and not path.startswith("//") and "\\" not in path:
        return path
    return PREFIX + "/"
