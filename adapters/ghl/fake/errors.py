"""Errors the fake answers with, in GHL's body shapes (``common-schemas.json``).

400 and 401 carry a string ``message``; 422 carries an **array** of messages, as
NestJS validation does on the real server. Handlers raise ``ApiError``; one exception
handler renders it, so every error body has the same shape.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str | list[str], **extra: Any) -> None:
        self.status = status
        self.message = message
        self.extra = extra
        super().__init__(f"{status}: {message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"statusCode": self.status, "message": self.message}
        if self.status != 403:
            body["error"] = _NAMES.get(self.status, "Error")
        body.update(self.extra)
        return body


def unprocessable(*messages: str) -> ApiError:
    return ApiError(422, list(messages))


def not_found(kind: str, record_id: str) -> ApiError:
    """GHL answers an unknown id with 400, not 404 (research notes §6)."""
    return ApiError(400, f"{kind} with id {record_id} not found")


def error_response(status: int, message: str | list[str], **extra: Any) -> JSONResponse:
    return JSONResponse(ApiError(status, message, **extra).body(), status_code=status)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)
