"""Map Kubernetes API failures onto the operator's error hierarchy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from explainops_operator.errors import (
    ConflictError,
    KubeApiError,
    NotFoundError,
    RejectedError,
    TransientApiError,
)

T = TypeVar("T")

TYPED_PATCH_FAILURE = "failed to create typed patch object"


def api_message(exc: ApiException) -> str:
    """The API server's own message (it names the field for validation errors)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return str(body.get("message") or exc.reason or exc)


def translate(exc: ApiException) -> KubeApiError:
    status = exc.status or 0
    message = f"HTTP {status}: {api_message(exc)}"
    if status == 404:
        return NotFoundError(message, status=status)
    if status == 409:
        return ConflictError(message, status=status)
    if status == 500 and TYPED_PATCH_FAILURE in message:
        # Server-side apply reports a schema type mismatch as a 500; retrying cannot fix it.
        return RejectedError(message, status=status)
    if status in (408, 425, 429) or status >= 500 or status == 0:
        return TransientApiError(message, status=status)
    return RejectedError(message, status=status)


def raw_body(response: Any) -> bytes:
    """Body of a response read with `_preload_content=False`, raising the mapped error on a non-2xx."""
    data = response.data
    if not 200 <= response.status <= 299:
        exc = ApiException(status=response.status, reason=getattr(response, "reason", None))
        exc.body = data.decode(errors="replace") if isinstance(data, bytes) else data
        raise translate(exc)
    return bytes(data)


def api_call(fn: Callable[[], T]) -> T:
    """Run one API call, raising the operator's errors instead of the client's."""
    try:
        return fn()
    except ApiException as exc:
        raise translate(exc) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientApiError(f"API server unreachable: {exc}") from exc
