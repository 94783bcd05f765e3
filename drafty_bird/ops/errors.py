"""Every error leaves as {"error": "...", "request_id": "..."}: the original client's shape.

Handlers here replace FastAPI's and NiceGUI's defaults for API requests, so a client
never sees a stack trace or a framework-specific body.
"""

import json
import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from drafty_bird.data.errors import StorageUnavailable
from drafty_bird.ops.logging import request_id_var

log = logging.getLogger(__name__)


def error_body(message: str) -> dict[str, str]:
    """The one error shape, for handlers and for middleware answering before any route."""
    return {"error": message, "request_id": request_id_var.get() or ""}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message), status, headers=headers)


async def send_json(send: Send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer from ASGI middleware, before any route runs."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _describe(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "Malformed JSON body"
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
    return 422, f"{where}: {message}"


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    status, message = _describe(exc)
    return error_response(status, message)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail: object = exc.detail  # typed str, but FastAPI's HTTPException subclass allows any value
    message = detail if isinstance(detail, str) else "Request failed"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _storage_unavailable(_request: Request, exc: StorageUnavailable) -> JSONResponse:
    # Locked, not the writer, disk full, corrupt: the client keeps the score and retries.
    return error_response(503, f"Storage unavailable: {exc.reason}"[:300], {"Retry-After": str(exc.retry_after_s)})


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handlers[RequestValidationError] = _validation_error
    app.exception_handlers[StarletteHTTPException] = _http_error
    app.exception_handlers[StorageUnavailable] = _storage_unavailable
    # NiceGUI registers an HTML 404 page; the API keeps the JSON shape.
    app.exception_handlers[404] = _http_error
