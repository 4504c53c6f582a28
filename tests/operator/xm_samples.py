"""Sample ExplainableModel specs shared by the operator tests (plain data, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

from explainops_operator.api import GROUP, KIND, VERSION

BASE_SPEC: dict[str, Any] = {
    "model": {"storageUri": "file:///var/lib/explainops/models/breast-cancer", "version": "v1"},
    "explainer": {"type": "TreeShap"},
}


def spec(**sections: Any) -> dict[str, Any]:
    """BASE_SPEC with whole sections replaced or added, e.g. spec(serving={"replicas": 2})."""
    out = copy.deepcopy(BASE_SPEC)
    out.update(copy.deepcopy(sections))
    return out


def with_field(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `base` (default BASE_SPEC) with the dotted `path` set to `value` (None deletes it)."""
    out = copy.deepcopy(base if base is not None else BASE_SPEC)
    keys = path.split(".")
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return out


def manifest(name: str, spec_body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": spec_body}


POSTGRES = {"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}}

# Specs the CRD rejects: (id, metadata.name, spec, text the API server's message must contain).
# The typed spec rejects the same ones (test_operator_spec).
CRD_REJECTED: list[tuple[str, str, dict[str, Any], str]] = [
    ("model-missing", "bad", with_field("model", None), "spec.model: Required value"),
    ("storage-uri-missing", "bad", with_field("model.storageUri", None), "spec.model.storageUri: Required value"),
    ("storage-uri-scheme", "bad", with_field("model.storageUri", "gs://bucket/model"), "spec.model.storageUri"),
    ("s3-bucket-too-short", "bad", spec(model={"storageUri": "s3://x/models", "version": "v1"}, feedback=POSTGRES),
     "spec.model.storageUri"),
    ("s3-with-sqlite", "bad", with_field("model.storageUri", "s3://models/bc"), "spec.feedback.store"),
    ("s3-settings-without-s3", "bad", with_field("model.s3", {"region": "eu-west-1"}), "spec.model.s3"),
    ("s3-secret-name", "bad", spec(model={"storageUri": "s3://models/bc", "version": "v1",
                                          "s3": {"secretName": "Not A Name"}}, feedback=POSTGRES),
     "spec.model.s3.secretName"),
    ("max-mae-negative", "bad", with_field("feedback.thresholds", {"maxMAE": -1}), "spec.feedback.thresholds.maxMAE"),
    ("max-rmse-negative", "bad", with_field("feedback.thresholds", {"maxRMSE": -0.5}),
     "spec.feedback.thresholds.maxRMSE"),
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
