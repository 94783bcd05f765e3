"""Every error leaves as {"error": "...", "request_id": "..."}: the original client's shape.

Handlers here replace FastAPI's and NiceGUI's defaults for API requests, so a client
never sees a stack trace or a framework-specific body.
"""

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from drafty_bird.data.errors import StorageUnavailable
from drafty_bird.data.models import FIELD_RULES
from drafty_bird.ops.logging import request_id_var

log = logging.getLogger(__name__)


def error_body(message: str) -> dict[str, str]:
    """The one error shape, for handlers and for middleware answering before any route."""
    return {"error": message, "request_id": request_id_var.get() or ""}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message), status, headers=headers)


async def send_json(send: Send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer from ASGI middleware, before any route runs (bytes exactly as error_response's)."""
    payload = JSONResponse(body).body
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


# The validation library's wording ("Input should be a valid integer") is for developers;
# these say what to send instead. Field-specific rules (FIELD_RULES) win over these.
_GENERIC = {
    "missing": "{field} is required",
    "int_type": "{field} must be a whole number",
    "int_parsing": "{field} must be a whole number",
    "int_from_float": "{field} must be a whole number",
    "float_type": "{field} must be a number",
    "float_parsing": "{field} must be a number",
    "bool_type": "{field} must be true or false",
    "bool_parsing": "{field} must be true or false",
    "string_type": "{field} must be text",
    "list_type": "{field} must be a list",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than_equal": "{field} must be at most {le}",
    "string_too_long": "{field} must be at most {max_length} characters",
    "too_long": "{field} must have at most {max_length} items",
    "string_pattern_mismatch": "{field} contains characters that are not allowed",
}
_NOT_AN_OBJECT = 'The request body must be a JSON object, for example {"score": 42}'


def _describe(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "The request body is not valid JSON"
    first = errors[0] if errors else {}
    # loc is ("body", "score"), ("body", "inputs", 3), ("query", "limit") or ("body",).
    path = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    if not path:
        return 422, _NOT_AN_OBJECT
    field, kind = path[0], first.get("type", "")
    if kind == "value_error":  # our own validators already speak plainly
        return 422, str(first.get("msg", "")).removeprefix("Value error, ")
    if field in FIELD_RULES:
        return 422, FIELD_RULES[field]
    template = _GENERIC.get(kind)
    try:
        if template is not None:
            return 422, template.format(field=field, **(first.get("ctx") or {}))
    except KeyError:
        pass  # the bound is not in ctx (errors re-raised without context): the library's words
    return 422, f"{field}: {first.get('msg', 'invalid value')}"


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
