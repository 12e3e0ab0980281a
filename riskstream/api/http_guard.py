"""HTTP hardening of the whole app: security headers on every answer, bounded request bodies.

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``), so a streamed answer
such as the live feed's server-sent events passes through chunk by chunk.

- Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  no-referrer``, ``X-Frame-Options: DENY`` and the Content-Security-Policy `STRICT_CSP`
  (scripts, styles and connections from this origin only, never framed). FastAPI's
  ``/docs`` and ``/redoc`` pages, which load from a CDN (nothing a bank's air-gapped
  network reaches) with an inline script, are switched off; ``/openapi.json`` stays.
  A header the app set itself is left as it is.
- A request whose ``Content-Length`` is over ``max_body_bytes`` gets 413 before any of
  its body is read; a body without a length (chunked) is counted while the app reads
  it, and the request gets 413 as soon as the count passes the bound (the app is told
  the client went away, and whatever it answers to that is replaced by the 413).
"""

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY_BYTES", "STRICT_CSP", "HttpGuard"]

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024

STRICT_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""The dashboard's policy: no inline script or style, nothing from another origin."""

_MAX_LENGTH_DIGITS = 19  # longer Content-Length values are over any sane bound
_OVER_ANY_BOUND: int = 10**_MAX_LENGTH_DIGITS


def security_headers(path: str) -> dict[str, str]:
    """The headers every answer (to any ``path``) carries."""
    return {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "content-security-policy": STRICT_CSP,
    }


class HttpGuard:
    """ASGI middleware: security headers on every answer; 413 for a body over the bound."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes has value {max_body_bytes}; expected > 0")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection scope; only ``http`` scopes are guarded."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(str(scope.get("path", "")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        declared = _content_length(scope)
        if declared is None:
            await _refuse(send_with_headers, 400, "Content-Length is not a number of bytes")
            return
        if declared > self.max_body_bytes:
            await _refuse(send_with_headers, 413, self._too_large())
            return
        await self._bounded(scope, receive, send_with_headers)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting the body it reads; 413 once the count passes the bound."""
        received = 0
        over = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the cut-off body gives way to the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await _refuse(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body over {self.max_body_bytes} bytes (setting max_body_bytes)"


def _content_length(scope: Scope) -> int | None:
    """The declared body length: 0 when absent, None when not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text: bytes = value.strip()
            if not text.isdigit():  # bytes: ASCII digits only
                return None
            if len(text) > _MAX_LENGTH_DIGITS:
                return _OVER_ANY_BOUND
            return int(text)
    return 0


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with the API's usual error body and close the connection."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
