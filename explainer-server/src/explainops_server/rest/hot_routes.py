"""The request-heavy POST routes served without FastAPI's router, dependency injection and middleware
stack, which cost several times the work itself on a 1-row predict, a cached explanation or a single
feedback record.

It serves `routes.BODY_OPERATIONS`, the table the router also registers: same handlers, same contract
models, same auth, error mapping, request id, body limit and content-type check (`RequestGuard`).
Anything else (another method on those paths, another path) goes to the router.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from explainops_server.errors import ExplainOpsError
from explainops_server.rest.auth import authorise
from explainops_server.rest.errors import validation_error_response
from explainops_server.rest.middleware import RequestGuard, header
from explainops_server.rest.responses import error_response, from_error
from explainops_server.rest.routes import BODY_OPERATIONS, BodyOperation
from explainops_server.service.dataplane import DataPlane
from explainops_server.settings import ServerSettings

log = logging.getLogger(__name__)

PREFIX = "/v1/models/"


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


class HotRoutes:
    """ASGI app for POST `/v1/models/{name}:predict`, `:explain`, `/feedback` and `/feedback:batch`."""

    def __init__(self, dataplane: DataPlane, settings: ServerSettings) -> None:
        self.dataplane = dataplane
        self.auth_token = settings.auth_token
        self.operations = [(op, op.guarded(settings)) for op in BODY_OPERATIONS]

    def match(self, scope: Scope) -> tuple[str, BodyOperation, bool] | None:
        """(model name, operation, guarded) when this request is one of ours."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return None
        tail = path[len(PREFIX) :]
        for operation, guarded in self.operations:
            if tail.endswith(operation.suffix):
                name = tail[: -len(operation.suffix)]
                if not name or "/" in name or ":" in name:  # not the `{name}` segment of the routes
                    return None
                return name, operation, guarded
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name, operation, guarded = scope["explainops.hot_route"]
        try:
            if guarded:
                authorise(self.auth_token, header(scope, b"authorization"))
            body = await read_body(receive)
            response = await operation.handle(self.dataplane, name, body, scope["state"]["request_id"])
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


def hot_path(dataplane: DataPlane, settings: ServerSettings) -> tuple[HotRoutes, RequestGuard]:
    """The matcher and the guarded app that serves what it matches."""
    routes = HotRoutes(dataplane, settings)
    return routes, RequestGuard(routes, max_body=settings.max_body_bytes)
