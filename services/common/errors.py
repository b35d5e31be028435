"""One error body for every failure a client can see: {"error": {code, message, field}}."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}
# Request-location prefixes FastAPI puts in front of a field path.
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class OrjsonResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """Raise anywhere in a handler to answer with the uniform error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None):
    body = {"error": {"code": code, "message": message, "field": field}}
    return OrjsonResponse(body, status_code=status)


def field_path(loc: tuple | list) -> str | None:
    """('body', 'events', 3, 'product_id') -> 'events[3].product_id'."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-after", "function-before")):
            continue  # pydantic validator frames, not fields
        else:
            path += f".{part}" if path else str(part)
    return path or None


def _validation_message(err: dict) -> tuple[str, str]:
    if err.get("type") == "json_invalid":
        return "invalid_json", "request body is not valid JSON"
    msg = err.get("msg", "invalid value")
    return "validation_error", msg.removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        code, message = _validation_message(err)
        field = None if code == "invalid_json" else field_path(err.get("loc", ()))
        status = 400 if code == "invalid_json" else 422
        return error_response(status, code, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception):
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "internal error")
