"""Pure ASGI middleware (cheap on the hot path): request ids and the request body size limit."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explainops_server.errors import PayloadTooLarge
from explainops_server.rest.responses import error_response

REQUEST_ID = b"x-request-id"


class RequestGuard:
    """Honours or assigns `x-request-id` (echoed on the response) and refuses bodies over `max_body` with 413."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        length = None
        for key, value in scope["headers"]:
            if key == REQUEST_ID:
                request_id = value[:200]
            elif key == b"content-length":
                length = value
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID, request_id)]
            await send(message)

        if length is not None and length.isdigit() and int(length) > self.max_body:
            # Answer without reading the body; the connection closes after the response.
            response = error_response(
                "payload_too_large",
                f"request body of {int(length)} bytes exceeds the {self.max_body} byte limit",
                413,
            )
            await response(scope, receive, send_with_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise PayloadTooLarge(f"request body exceeds the {self.max_body} byte limit")
            return message

        await self.app(scope, limited_receive, send_with_id)
