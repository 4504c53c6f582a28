"""The request-heavy routes served without FastAPI's router, dependency injection and middleware
stack, which cost several times the work itself on a 1-row predict, a cached explanation or a single
feedback record.

Same handlers (`routes.*_response`), auth, error mapping, request id and body limit as the declared
routes; those stay registered for the OpenAPI document and serve any request not matched here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from explainops_server.errors import ExplainOpsError
from explainops_server.rest.auth import authorise
from explainops_server.rest.errors import validation_error_response
from explainops_server.rest.middleware import RequestGuard
from explainops_server.rest.responses import JsonResponse, error_response, from_error
from explainops_server.rest.routes import (
    feedback_batch_response,
    feedback_response,
    v1_explain_response,
    v1_predict_response,
)
from explainops_server.rest.schemas import FeedbackBatchIn, FeedbackIn
from explainops_server.service.dataplane import DataPlane

log = logging.getLogger(__name__)

PREFIX = "/v1/models/"
Handler = Callable[[str, bytes, Scope], Awaitable[JsonResponse]]


class ClientGone(Exception):
    """The client disconnected before its body arrived: nobody to answer."""


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


class HotRoutes:
    """ASGI app for POST `/v1/models/{name}:predict`, `:explain`, `/feedback` and `/feedback:batch`."""

    def __init__(self, dataplane: DataPlane, auth_token: str | None) -> None:
        self.dataplane = dataplane
        self.auth_token = auth_token
        # Longest suffix first: "/feedback:batch" must not be read as a model named "x/feedback".
        self.suffixes: list[tuple[str, Handler, bool]] = [
            ("/feedback:batch", self._feedback_batch, True),
            ("/feedback", self._feedback, True),
            (":predict", self._predict, False),
            (":explain", self._explain, False),
        ]

    def match(self, scope: Scope) -> tuple[str, Handler] | None:
        """(model name, handler) when this request is one of ours."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return None
        tail = path[len(PREFIX) :]
        for suffix, handler, json_only in self.suffixes:
            if tail.endswith(suffix):
                name = tail[: -len(suffix)]
                if not name or "/" in name:  # not the `{name}` segment of the declared routes
                    return None
                if json_only and not _is_json(_header(scope, b"content-type")):
                    return None  # the declared route answers other content types as before
                return name, handler
        return None

    async def _predict(self, name: str, body: bytes, scope: Scope) -> JsonResponse:
        return v1_predict_response(self.dataplane, name, body, scope["state"]["request_id"])

    async def _explain(self, name: str, body: bytes, scope: Scope) -> JsonResponse:
        return await v1_explain_response(self.dataplane, name, body, scope["state"]["request_id"])

    async def _feedback(self, name: str, body: bytes, scope: Scope) -> JsonResponse:
        authorise(self.auth_token, _header(scope, b"authorization"))
        return await feedback_response(self.dataplane, name, FeedbackIn.model_validate_json(body))

    async def _feedback_batch(self, name: str, body: bytes, scope: Scope) -> JsonResponse:
        authorise(self.auth_token, _header(scope, b"authorization"))
        return await feedback_batch_response(self.dataplane, name, FeedbackBatchIn.model_validate_json(body))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name, handler = scope["explainops.hot_route"]
        try:
            response = await handler(name, await read_body(receive), scope)
        except ClientGone:
            return
        except ExplainOpsError as exc:
            response = from_error(exc)
        except ValidationError as exc:
            response = validation_error_response(exc.errors(include_url=False))
        except Exception as exc:
            log.exception("unhandled error")
            response = error_response("internal_error", f"unexpected {type(exc).__name__}", 500)
        start: Message = {"type": "http.response.start", "status": response.status_code}
        start["headers"] = response.raw_headers
        await send(start)
        await send({"type": "http.response.body", "body": response.body})


def hot_path(dataplane: DataPlane, auth_token: str | None, max_body: int) -> tuple[HotRoutes, RequestGuard]:
    """The matcher and the guarded app that serves what it matches."""
    routes = HotRoutes(dataplane, auth_token)
    return routes, RequestGuard(routes, max_body=max_body)
