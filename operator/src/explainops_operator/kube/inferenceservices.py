"""InferenceService reads and writes."""

from __future__ import annotations

import json
from typing import Any

from explainops_operator.builders import IS_GROUP, IS_PLURAL, IS_VERSION, MANAGER
from explainops_operator.errors import NotFoundError
from explainops_operator.kube.client import api_client, custom_objects
from explainops_operator.kube.errors import api_call, raw_body
from explainops_operator.settings import get_settings


def get_inference_service(namespace: str, name: str) -> dict[str, Any] | None:
    """The live InferenceService, or None if there is none."""
    try:
        return api_call(
            lambda: custom_objects().get_namespaced_custom_object(
                IS_GROUP, IS_VERSION, namespace, IS_PLURAL, name,
                _request_timeout=get_settings().api_timeout_seconds,
            )
        )
    except NotFoundError:
        return None


def apply_inference_service(body: dict[str, Any]) -> dict[str, Any]:
    """Create or update in place with server-side apply (field manager `explainops-operator`).

    Apply creates the object when it is missing and removes fields the operator no longer renders,
    while fields set by others (KServe's defaults) stay. `force` takes over fields edited out of band.
    """
    meta = body["metadata"]
    # Raw response: the client maps only 200 to a body, and an apply that creates answers 201.
    response = api_call(
        lambda: custom_objects().patch_namespaced_custom_object(
            IS_GROUP, IS_VERSION, meta["namespace"], IS_PLURAL, meta["name"], body,
            field_manager=MANAGER, force=True,
            _content_type="application/apply-patch+yaml",
            _request_timeout=get_settings().api_timeout_seconds,
            _preload_content=False,
        )
    )
    return dict(json.loads(raw_body(response)))


KSERVE_INFERENCE_SERVICE_LABEL = "serving.kserve.io/inferenceservice"


def predictor_pods(namespace: str, name: str) -> list[dict[str, Any]]:
    """The Pods KServe runs for the InferenceService (its label), as dicts."""
    from kubernetes import client

    pods = api_call(
        lambda: client.CoreV1Api(api_client()).list_namespaced_pod(
            namespace, label_selector=f"{KSERVE_INFERENCE_SERVICE_LABEL}={name}",
            _request_timeout=get_settings().api_timeout_seconds,
        )
    )
    return [api_client().sanitize_for_serialization(pod) for pod in pods.items]
