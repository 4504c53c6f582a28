"""Pure ASGI middleware (cheap on the hot path): request ids, the request body size limit and the
content type of request bodies."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explainops_server.errors import PayloadTooLarge
from explainops_server.rest.responses import error_response

REQUEST_ID = b"x-request-id"
BODY_METHODS = {"POST", "PUT", "PATCH"}
# V2 binary tensors: a JSON header followed by raw bytes (what kserve's client sends).
BINARY_PATH_SUFFIX = "/infer"


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def unsupported_media(scope: Scope, content_type: bytes | None) -> str | None:
    """The refused media type of a request body, or None. No Content-Type at all is read as JSON."""
    if content_type is None or scope["method"] not in BODY_METHODS:
        return None
    media = content_type.decode("latin-1").partition(";")[0].strip().lower()
    if not media or is_json(media):
        return None
    if media == "application/octet-stream" and scope["path"].endswith(BINARY_PATH_SUFFIX):
        return None
    return media


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
        length = content_type = None
        for key, value in scope["headers"]:
            if key == REQUEST_ID:
                request_id = value[:200]
            elif key == b"content-length":
                length = value
            elif key == b"content-type":
                content_type = value
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID, request_id)]
            await send(message)

        refused_media = unsupported_media(scope, content_type)
        if refused_media is not None:
            expected = "application/json" + (
                " or application/octet-stream" if scope["path"].endswith(BINARY_PATH_SUFFIX) else ""
            )
            response = error_response(
                "unsupported_media_type",
                f"Content-Type {refused_media!r} is not accepted; send {expected}",
                415,
            )
            await response(scope, receive, send_with_id)
            return

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
