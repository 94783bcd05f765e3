"""Security headers on every HTTP response, and a per-response CSP nonce on HTML pages (pure ASGI).

NiceGUI's page is a template with inline <script> blocks that carry per-page data, so a
hash cannot allow them; NiceGUI has no nonce hook either. This middleware puts a fresh
nonce on each <script> tag of the template and allows only that nonce, so a script that
got into the page any other way does not run. Only tags *outside* script bodies get the
nonce: page data (player names, board rows) lives inside the scripts' JSON and is skipped.

What the policy still allows, and why (docs/DECISIONS.md): 'unsafe-eval', because Vue
compiles the components' templates in the browser and NiceGUI evaluates prop and event
expressions; style-src 'unsafe-inline', because NiceGUI and Quasar add <style> elements
and style attributes at runtime.
"""

import base64
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Browsers ignore HSTS over plain HTTP (local runs); ACA terminates TLS in production.
HSTS = b"max-age=31536000"


def content_security_policy(nonce: str) -> bytes:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    ).encode()


STATIC_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", HSTS),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Everything that is not a page (JSON, assets, metrics) may load and run nothing.
NOT_A_PAGE = [
    *STATIC_HEADERS,
    (b"content-security-policy", b"default-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
]
_OURS = {name for name, _ in STATIC_HEADERS} | {b"content-security-policy"}


def add_nonces(html: bytes, nonce: bytes) -> bytes:
    """`<script` -> `<script nonce="..."`, for tags in the markup only (never inside a script body)."""
    out = bytearray()
    pos = 0
    tag = f' nonce="{nonce.decode()}"'.encode()
    while (start := html.find(b"<script", pos)) != -1:
        body = start + len(b"<script")
        out += html[pos:body] + tag
        end = html.find(b"</script", body)
        if end == -1:  # unterminated: copy the rest untouched
            pos = body
            break
        out += html[body:end]
        pos = end
    out += html[pos:]
    return bytes(out)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        nonce = b""
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start, nonce
            if message["type"] == "http.response.start":
                # ASGI header names are lower-case already.
                headers = [(k, v) for k, v in message.get("headers", ()) if k not in _OURS]
                # HEAD has no body to tag; GZip sits outside this middleware, so pages arrive plain.
                if scope["method"] != "HEAD" and _is_plain_html(headers):
                    nonce = base64.b64encode(secrets.token_bytes(16))
                    headers += [*STATIC_HEADERS, (b"content-security-policy", content_security_policy(nonce.decode()))]
                    start = {**message, "headers": headers}  # held until the body is complete
                    return
                await send({**message, "headers": headers + NOT_A_PAGE})
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = add_nonces(b"".join(chunks), nonce)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_headers)


def _is_plain_html(headers: list[tuple[bytes, bytes]]) -> bool:
    html = encoded = False
    for name, value in headers:
        html = html or (name == b"content-type" and value.startswith(b"text/html"))
        encoded = encoded or name == b"content-encoding"
    return html and not encoded
