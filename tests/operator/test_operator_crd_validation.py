"""The ExplainableModel CRD, enforced by the real API server: good objects accepted with defaults,
bad ones rejected with a message naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from xm_samples import BASE_SPEC, manifest, spec, with_field

from explainops_operator.api import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = {"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}}

# (id, metadata.name, spec, text the API server's message must contain)
BAD: list[tuple[str, str, dict[str, Any], str]] = [
    ("model-missing", "bad", with_field("model", None), "spec.model: Required value"),
    ("storage-uri-missing", "bad", with_field("model.storageUri", None), "spec.model.storageUri: Required value"),
    ("storage-uri-scheme", "bad", with_field("model.storageUri", "s3://bucket/model"), "spec.model.storageUri"),
    ("version-pattern", "bad", with_field("model.version", "v 1"), "spec.model.version"),
    ("format-enum", "bad", with_field("model.format", "pickle"), "spec.model.format: Unsupported value"),
    ("joblib-untrusted", "bad", with_field("model.format", "joblib"), "spec.model.trustPickle"),
    ("explainer-missing", "bad", with_field("explainer", None), "spec.explainer: Required value"),
    ("explainer-type-enum", "bad", with_field("explainer.type", "Lime"), "spec.explainer.type: Unsupported value"),
    ("param-for-other-type", "bad", with_field("explainer.params", {"threshold": 0.9}),
     "spec.explainer.params.threshold: Forbidden"),
    ("anchor-threshold-range", "bad", with_field("explainer", {"type": "AnchorTabular", "params": {"threshold": 1.5}}),
     "spec.explainer.params.threshold"),
    ("timeout-minimum", "bad", with_field("explainer.timeoutSeconds", 0), "spec.explainer.timeoutSeconds"),
    ("replicas-minimum", "bad", with_field("serving.replicas", 0), "spec.serving.replicas"),
    ("max-below-replicas", "bad", spec(serving={"replicas": 3, "maxReplicas": 2}, feedback=POSTGRES),
     "spec.serving.maxReplicas"),
    ("requests-over-limits", "bad",
     with_field("serving.resources", {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}),
     "spec.serving.resources.requests"),
    ("quantity-pattern", "bad", with_field("serving.resources", {"requests": {"cpu": "lots"}}),
     "spec.serving.resources.requests.cpu"),
    ("secret-ref-key-missing", "bad", with_field("serving.authTokenSecretRef", {"name": "tok"}),
     "spec.serving.authTokenSecretRef.key: Required value"),
    ("postgres-without-dsn", "bad", with_field("feedback.store", "postgres"), "spec.feedback.dsnSecretRef"),
    ("sqlite-with-dsn", "bad", with_field("feedback.dsnSecretRef", {"name": "pg", "key": "dsn"}),
     "spec.feedback.dsnSecretRef: Forbidden"),
    ("sqlite-many-replicas", "bad", with_field("serving.replicas", 2), "spec.feedback.store"),
    ("error-rate-maximum", "bad", with_field("feedback.thresholds", {"maxErrorRate": 1.5}),
     "spec.feedback.thresholds.maxErrorRate"),
    ("rating-maximum", "bad", with_field("feedback.thresholds", {"minExplanationRating": 6}),
     "spec.feedback.thresholds.minExplanationRating"),
    ("input-drift-maximum", "bad", with_field("feedback.thresholds", {"maxInputDrift": 1.5}),
     "spec.feedback.thresholds.maxInputDrift"),
    ("retention-in-minutes", "bad", with_field("feedback.retention", "90m"), "spec.feedback.retention"),
    ("retention-zero", "bad", with_field("feedback.retention", "0d"), "spec.feedback.retention"),
    ("retention-too-long", "bad", with_field("feedback.retention", "36500d"), "spec.feedback.retention"),
    ("retraining-without-data", "bad", with_field("retraining.enabled", True), "spec.retraining.trainingDataUri"),
    ("gate-metric-enum", "bad", with_field("retraining.gate", {"metric": "f1"}), "spec.retraining.gate.metric"),
    ("cooldown-minimum", "bad", with_field("retraining.cooldownSeconds", -1), "spec.retraining.cooldownSeconds"),
    ("name-too-long", "m" * 46, BASE_SPEC, "metadata.name must be a DNS-1035 label"),
    ("name-starts-with-digit", "1model", BASE_SPEC, "metadata.name must be a DNS-1035 label"),
]


@pytest.mark.parametrize(("name", "spec_body", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_explainable_model_is_rejected_naming_the_field(
    kube_api: Any, namespace: str, name: str, spec_body: dict[str, Any], expected: str
) -> None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    api = CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as caught:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest(name, spec_body))
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert expected in message


def example_manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ExplainableModel")
    return docs


def test_examples_are_accepted_and_defaulted(kube_api: Any, namespace: str) -> None:
    from kubernetes.client import CustomObjectsApi

    api = CustomObjectsApi(kube_api)
    examples = example_manifests()
    assert len(examples) >= 2
    for doc in examples:
        created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
        assert created["metadata"]["generation"] == 1
    minimal = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest("minimal", BASE_SPEC))
    stored = minimal["spec"]
    assert stored["model"]["format"] == "skops" and stored["model"]["trustPickle"] is False
    assert stored["explainer"]["timeoutSeconds"] == 30 and stored["explainer"]["cache"] == {
        "enabled": True, "maxEntries": 1024}
    assert stored["serving"]["replicas"] == 1
    assert stored["serving"]["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"},
                                              "limits": {"memory": "1Gi"}}
    assert stored["feedback"]["store"] == "sqlite" and stored["feedback"]["thresholds"]["maxErrorRate"] == 0.2
    assert stored["feedback"]["retention"] == "30d" and "maxInputDrift" not in stored["feedback"]["thresholds"]
    assert stored["retraining"]["enabled"] is False and stored["retraining"]["gate"]["metric"] == "holdoutAccuracy"


def test_status_is_a_subresource_with_a_validated_schema(kube_api: Any, namespace: str) -> None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    api = CustomObjectsApi(kube_api)
    api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, {**manifest("xm", BASE_SPEC), "status": {"modelVersion": "ignored"}}
    )
    stored = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "xm")
    assert "status" not in stored  # the main resource ignores status
    condition = {"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                 "lastTransitionTime": "2026-11-28T00:00:00Z", "observedGeneration": 1}
    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "xm", {"status": {"conditions": [condition], "modelVersion": "v1"}},
        _content_type="application/merge-patch+json",
    )
    assert patched["metadata"]["generation"] == 1  # status writes never bump the generation
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "xm", {"status": {"conditions": [condition, condition]}},
            _content_type="application/merge-patch+json",
        )
    assert "status.conditions[1]: Duplicate value" in json.loads(caught.value.body)["message"]
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, "xm",
            {"status": {"history": [{"version": f"v{i}", "promotedAt": "2026-11-28T00:00:00Z"} for i in range(21)]}},
            _content_type="application/merge-patch+json",
        )
    assert "status.history: Too many" in json.loads(caught.value.body)["message"]


def test_monitoring_and_retention_fields_are_accepted(kube_api: Any, namespace: str) -> None:
    from kubernetes.client import CustomObjectsApi

    api = CustomObjectsApi(kube_api)
    body = spec(feedback={"retention": "720h", "thresholds": {"maxInputDrift": 0.3}})
    stored = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest("drift", body))["spec"]
    assert stored["feedback"]["retention"] == "720h"
    assert stored["feedback"]["thresholds"]["maxInputDrift"] == 0.3
