"""Optional bearer-token auth for feedback, listing and admin routes (constant-time comparison)."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPBearer

from explainops_server.errors import Unauthorized

# Declared for the OpenAPI document; the check itself is below so that a disabled token means no auth.
bearer_scheme = HTTPBearer(auto_error=False, description="Bearer token, when the server sets one")


CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_bearer(request: Request) -> None:
    token: str | None = request.app.state.settings.auth_token
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)", headers=CHALLENGE)
