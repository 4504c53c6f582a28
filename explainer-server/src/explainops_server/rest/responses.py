"""JSON responses rendered with orjson (numpy arrays serialised directly)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from explainops_server.errors import ExplainOpsError


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(
    kind: str, detail: str, status: int, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


def from_error(exc: ExplainOpsError) -> JsonResponse:
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return error_response(exc.kind, exc.detail, exc.status, headers or None)


def model_response(model: BaseModel, status: int = 200) -> Response:
    """A contract document as JSON (pydantic's serializer, the same on the fast path and the router)."""
    return Response(model.__pydantic_serializer__.to_json(model), status_code=status, media_type="application/json")
