"""Optional bearer-token auth for feedback, listing and admin routes (constant-time comparison)."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPBearer

from explainops_server.errors import Unauthorized

# Declared for the OpenAPI document; the check itself is below so that a disabled token means no auth.
bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token, when the server sets one")


CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authorise(token: str | None, authorization: str) -> None:
    """Raise `Unauthorized` unless auth is off or `authorization` is `Bearer <token>`."""
    if not token:
        return
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)", headers=CHALLENGE)


async def check_bearer(request: Request) -> None:
    # async: a plain `def` dependency would be run in the thread pool on every request.
    authorise(request.app.state.settings.auth_token, request.headers.get("authorization", ""))
