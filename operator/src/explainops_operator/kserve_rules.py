"""Pure: what KServe (v0.20) and Knative do to an InferenceService, as far as rendering depends on it:
deployment modes, Knative's timeout cap and feature flags, KServe's resource defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from explainops_operator.spec import ExplainableModelSpec, Resources, parse_quantity

ANNOTATION_DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"

# KServe deployment modes (v0.20 names; "Serverless" and "RawDeployment" are its legacy spellings).
KNATIVE = "Knative"
STANDARD = "Standard"
_MODE_ALIASES = {"Serverless": KNATIVE, "Knative": KNATIVE, "RawDeployment": STANDARD, "Standard": STANDARD}
# Knative's revision request timeout cap with its default config (max-revision-timeout-seconds).
KNATIVE_MAX_TIMEOUT_SECONDS = 600
# Knative feature flags (config-features in knative-serving) a PVC volume needs; both are off by default.
KNATIVE_FLAG_PVC = "kubernetes.podspec-persistent-volume-claim"
KNATIVE_FLAG_PVC_WRITE = "kubernetes.podspec-persistent-volume-write"
# What KServe's webhook adds to the first container when a value is missing (inferenceservice-config as
# shipped). Every container is rendered with all four, so the webhook adds nothing and a request never
# ends up above a limit it did not choose.
KSERVE_DEFAULT_REQUESTS = {"cpu": "1", "memory": "2Gi"}
KSERVE_DEFAULT_LIMITS = {"cpu": "1", "memory": "2Gi"}


def deployment_mode(spec: ExplainableModelSpec, inference_service: Mapping[str, Any] | None = None) -> str:
    """Knative or Standard: what KServe reports in the live InferenceService's status.deploymentMode, else
    spec.serving.deploymentMode (rendered as the annotation), else KServe's shipped default, Knative."""
    reported = ((inference_service or {}).get("status") or {}).get("deploymentMode")
    if isinstance(reported, str) and reported in _MODE_ALIASES:
        return _MODE_ALIASES[reported]
    return spec.serving.deployment_mode or KNATIVE


def request_timeout_seconds(spec: ExplainableModelSpec) -> int:
    """KServe's request timeout outlasts the slowest explanation by 10 s, within Knative's cap."""
    return min(spec.explainer.timeout_seconds + 10, KNATIVE_MAX_TIMEOUT_SECONDS)


def rendered_resources(resources: Resources) -> dict[str, dict[str, str]]:
    """spec resources with cpu and memory requests and limits always explicit.

    A missing limit is the larger of the request and KServe's default limit; a missing request is the
    smaller of the limit and KServe's default request. So a request never exceeds its limit, and
    KServe's webhook (which fills missing values of the first container only) has nothing to add."""
    out = resources.as_dict()
    requests, limits = out.setdefault("requests", {}), out.setdefault("limits", {})
    for name in ("cpu", "memory"):
        if name not in limits:
            request = requests.get(name)
            default = KSERVE_DEFAULT_LIMITS[name]
            limits[name] = request if request and parse_quantity(request) > parse_quantity(default) else default
        if name not in requests:
            default = KSERVE_DEFAULT_REQUESTS[name]
            limit = limits[name]
            requests[name] = limit if parse_quantity(limit) < parse_quantity(default) else default
    return out
