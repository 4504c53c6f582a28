"""ExplainableModel reads and the one status write (merge patch on the status subresource)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from explainops_operator.api import GROUP, PLURAL, VERSION
from explainops_operator.builders import MANAGER
from explainops_operator.errors import ConflictError, NotFoundError
from explainops_operator.kube.client import custom_objects
from explainops_operator.kube.errors import api_call
from explainops_operator.settings import get_settings


def get_explainable_model(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return api_call(
            lambda: custom_objects().get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=get_settings().api_timeout_seconds
            )
        )
    except NotFoundError:
        return None


def patch_status(
    namespace: str, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
) -> dict[str, Any]:
    """Merge-patch `status` onto the ExplainableModel's status subresource.

    Lists (conditions, history) are replaced whole by a merge patch, so pass `resource_version` of the
    object the new lists were computed from: the API server then answers 409 (ConflictError) if someone
    wrote in between, instead of losing their change.
    """
    body: dict[str, Any] = {"status": dict(status)}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return api_call(
        lambda: custom_objects().patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body,
            field_manager=MANAGER,
            _content_type="application/merge-patch+json",
            _request_timeout=get_settings().api_timeout_seconds,
        )
    )


def update_status(
    namespace: str,
    name: str,
    compute: Callable[[dict[str, Any]], Mapping[str, Any] | None],
    *,
    attempts: int = 3,
) -> dict[str, Any] | None:
    """Read the ExplainableModel, let `compute(body)` return a status merge patch (None: nothing to write),
    and write it guarded by the resourceVersion read; re-read and recompute on conflict.

    Returns the patched object, or None when nothing was written (no change, or the object is gone).
    """
    for attempt in range(attempts):
        body = get_explainable_model(namespace, name)
        if body is None:
            return None
        patch = compute(body)
        if not patch:
            return None
        try:
            return patch_status(namespace, name, patch, resource_version=body["metadata"]["resourceVersion"])
        except ConflictError:
            if attempt == attempts - 1:
                raise
        except NotFoundError:
            return None
    return None
