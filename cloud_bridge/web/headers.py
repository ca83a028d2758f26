"""Security headers on every dashboard response: CSP, no sniffing, no framing.

A pure ASGI middleware (no request body buffering, no thread hop) that adds headers to
every response outside ``/v1``, so the API's JSON and long polls pass untouched.
The policy allows only the bridge's own scripts, styles and images (no inline script,
nothing from a CDN); the map's tile host is added to ``img-src`` when a tile URL is
set. ``/docs`` (Swagger UI) also needs inline styles and ``data:`` images, and so does
the one-page impact report (``/reports/impact.html``, a self-contained file with its
``<style>``); neither gets any script beyond the bridge's own files.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

INLINE_STYLES = frozenset({"/docs", "/reports/impact.html"})
"""The pages that may carry inline styles (still no inline script)."""


def content_security_policy(tile_url: str | None, *, docs: bool = False) -> str:
    """The CSP of a dashboard page (``docs``: of the Swagger UI page)."""
    images = ["'self'", "data:"]
    if tile_url is not None:
        parts = urlsplit(tile_url)
        images.append(f"{parts.scheme}://{parts.netloc}")
    styles = "'self' 'unsafe-inline'" if docs else "'self'"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {styles}",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """Adds the dashboard's security headers to every response outside ``/v1``."""

    def __init__(self, app: ASGIApp, tile_url: str | None) -> None:
        self.app = app
        self._page = content_security_policy(tile_url).encode("latin-1")
        self._docs = content_security_policy(None, docs=True).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/v1/") or path == "/v1":
            await self.app(scope, receive, send)
            return
        policy = self._docs if path in INLINE_STYLES else self._page

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
