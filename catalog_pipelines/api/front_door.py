"""`GET /`: a small HTML page linking what the server offers, with no external assets.

The API docs themselves (/docs, /redoc) load Swagger UI and ReDoc from the fastapi-offline
package, never from a CDN, so every page here works on a machine without internet access.
A Content-Security-Policy on these pages keeps it so: ReDoc's sidebar would otherwise fetch
the Redocly logo from its CDN (no option turns that off), and a browser that obeys the policy
never sends that request.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(include_in_schema=False)

# Inline scripts and styles: Swagger UI is started by an inline script and ReDoc styles itself
# inline; ReDoc's search runs in a blob: worker. Nothing may come from another origin.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:;"
    " connect-src 'self'; frame-ancestors 'self'"
)
POLICED_PATHS = frozenset({"/", "/docs", "/redoc"})

# (path, title, what it is). One line per page.
LINKS: tuple[tuple[str, str, str], ...] = (
    ("/dashboard/", "Merchant dashboard", "upload a file, map it, preview, apply, undo, history"),
    ("/docs", "API reference (Swagger UI)", "try every endpoint from the browser"),
    ("/redoc", "API reference (ReDoc)", "the same reference, as one readable page"),
    ("/openapi.json", "OpenAPI document", "for client generators and API tools"),
)

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem;
       color: #1f2933; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
ul { list-style: none; padding: 0; }
li { margin: 0.9rem 0; padding: 0.8rem 1rem; border: 1px solid #d9dee3; border-radius: 6px; }
a { font-weight: 600; color: #0b5cad; text-decoration: none; }
a:hover { text-decoration: underline; }
code { background: #f2f4f6; padding: 0.1rem 0.3rem; border-radius: 3px; }
.what { display: block; color: #52606d; font-size: 0.95rem; }
"""


def render(links: tuple[tuple[str, str, str], ...] = LINKS) -> str:
    items = "\n".join(
        f'<li><a href="{escape(path)}">{escape(title)}</a> <code>{escape(path)}</code>'
        f'<span class="what">{escape(what)}</span></li>'
        for path, title, what in links
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>catalog-sync</title><style>{_STYLE}</style></head><body>"
        "<h1>catalog-sync</h1>"
        "<p>A Stripe-compatible catalog API: products, prices, inventory and their events. "
        "Requests under <code>/v1</code> need <code>Authorization: Bearer sk_...</code> "
        "(create a key with <code>catalog-sync api-keys create</code>).</p>"
        f"<ul>\n{items}\n</ul></body></html>\n"
    )


@router.get("/", response_class=HTMLResponse)
def front_door() -> HTMLResponse:
    return HTMLResponse(render())


class SameOriginPages:
    """ASGI middleware: the Content-Security-Policy above on the HTML pages only (API responses
    pass untouched, at no cost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in POLICED_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", DOCS_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install(app: FastAPI) -> None:
    """Add `/` and the same-origin policy of the HTML pages to `app`."""
    app.include_router(router)
    app.add_middleware(SameOriginPages)
