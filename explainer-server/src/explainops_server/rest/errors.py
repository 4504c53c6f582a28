"""The one place where errors become HTTP responses: `{"error": <kind>, "detail": <what and which field>}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from explainops_server.errors import ExplainOpsError
from explainops_server.rest.responses import JsonResponse, error_response, from_error

log = logging.getLogger(__name__)

HTTP_KINDS = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"] or ["body"]
    text = parts[0]
    for part in parts[1:]:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


def validation_error_response(errors: Sequence[Any]) -> JsonResponse:
    """400 for a body that is not JSON, else 422 naming each invalid field (pydantic error dicts)."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response("malformed_request", "request body is not valid JSON", 400)
    detail = "; ".join(
        f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors[:10]
    )
    return error_response("invalid_input", detail, 422)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExplainOpsError)
    async def _explainops_error(_: Request, exc: ExplainOpsError):
        return from_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        return validation_error_response(exc.errors())

    @app.exception_handler(ValidationError)
    async def _body_error(_: Request, exc: ValidationError):  # bodies the handlers parse themselves
        return validation_error_response(exc.errors(include_url=False))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        kind = HTTP_KINDS.get(exc.status_code, "http_error")
        return error_response(kind, str(exc.detail), exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unhandled error")
        return error_response("internal_error", f"unexpected {type(exc).__name__}", 500)
