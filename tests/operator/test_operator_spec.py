"""spec.parse_spec / served_version: pure, no cluster."""

from __future__ import annotations

from typing import Any

import pytest
from xm_samples import BASE_SPEC, spec, with_field

from explainops_operator.errors import InvalidSpecError
from explainops_operator.spec import parse_spec, served_version, validate_name


def test_defaults_match_the_crd() -> None:
    parsed = parse_spec(BASE_SPEC)
    assert parsed.model.format == "skops"
    assert parsed.model.trust_pickle is False
    assert parsed.explainer.timeout_seconds == 30
    assert parsed.explainer.workers == 2
    assert parsed.explainer.cache_enabled is True
    assert parsed.explainer.cache_max_entries == 1024
    assert parsed.serving.replicas == 1
    assert parsed.serving.max_replicas is None
    assert parsed.serving.resources.requests == {"cpu": "100m", "memory": "512Mi"}
    assert parsed.feedback.store == "sqlite"
    assert parsed.feedback.window == 100
    assert parsed.feedback.thresholds.min_labelled == 50
    assert parsed.feedback.thresholds.max_error_rate == 0.2
    assert parsed.retraining.enabled is False
    assert parsed.retraining.gate.metric == "holdoutAccuracy"


def test_full_spec_is_typed() -> None:
    parsed = parse_spec(
        spec(
            model={"storageUri": "pvc://models/bc", "version": "v3", "pinnedVersion": "v2", "format": "joblib",
                   "trustPickle": True},
            explainer={"type": "AnchorTabular", "params": {"threshold": 0.9, "batchSize": 50}, "timeoutSeconds": 60,
                       "workers": 4, "cache": {"enabled": False, "maxEntries": 10}},
            serving={"replicas": 2, "maxReplicas": 5, "image": "registry.local/server:1",
                     "resources": {"requests": {"cpu": 1}, "limits": {"cpu": "2"}},
                     "authTokenSecretRef": {"name": "tok", "key": "token"}},
            feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}, "window": 50,
                      "thresholds": {"minLabelled": 5, "maxErrorRate": 0.1, "minExplanationRating": 3}},
            retraining={"enabled": True, "trainingDataUri": "file:///data/train.csv", "cooldownSeconds": 0,
                        "gate": {"metric": "feedbackAccuracy", "minImprovement": 0.02}},
        )
    )
    assert parsed.model.pinned_version == "v2"
    assert parsed.explainer.params == {"threshold": 0.9, "batchSize": 50}
    assert parsed.serving.resources.requests == {"cpu": "1"}
    assert parsed.serving.auth_token_secret_ref is not None and parsed.serving.auth_token_secret_ref.key == "token"
    assert parsed.feedback.dsn_secret_ref is not None and parsed.feedback.dsn_secret_ref.name == "pg"
    assert parsed.feedback.thresholds.min_explanation_rating == 3.0
    assert parsed.retraining.cooldown_seconds == 0
    assert parsed.retraining.gate.min_improvement == 0.02


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("no model", with_field("model", None), "spec.model"),
    ("no storageUri", with_field("model.storageUri", None), "spec.model.storageUri"),
    ("gs uri", with_field("model.storageUri", "gs://bucket/m"), "spec.model.storageUri"),
    ("s3 with sqlite", with_field("model.storageUri", "s3://bucket/m"), "spec.feedback.store"),
    ("s3 settings without s3", with_field("model.s3", {"region": "eu-west-1"}), "spec.model.s3"),
    ("negative maxMAE", with_field("feedback.thresholds.maxMAE", -1), "spec.feedback.thresholds.maxMAE"),
    ("bad version", with_field("model.version", "v 1"), "spec.model.version"),
    ("bad format", with_field("model.format", "pickle"), "spec.model.format"),
    ("joblib untrusted", with_field("model.format", "joblib"), "spec.model.trustPickle"),
    ("trustPickle not bool", with_field("model.trustPickle", "yes"), "spec.model.trustPickle"),
    ("bad explainer", with_field("explainer.type", "Lime"), "spec.explainer.type"),
    ("param of other type", with_field("explainer.params", {"threshold": 0.9}), "spec.explainer.params.threshold"),
    ("unknown param", with_field("explainer.params", {"depth": 3}), "spec.explainer.params.depth"),
    ("timeout zero", with_field("explainer.timeoutSeconds", 0), "spec.explainer.timeoutSeconds"),
    ("replicas zero", with_field("serving.replicas", 0), "spec.serving.replicas"),
    ("max below replicas", spec(serving={"replicas": 3, "maxReplicas": 2},
                                feedback={"store": "postgres", "dsnSecretRef": {"name": "a", "key": "b"}}),
     "spec.serving.maxReplicas"),
    ("postgres without dsn", with_field("feedback.store", "postgres"), "spec.feedback.dsnSecretRef"),
    ("sqlite with dsn", with_field("feedback.dsnSecretRef", {"name": "a", "key": "b"}), "spec.feedback.dsnSecretRef"),
    ("sqlite replicas", with_field("serving.replicas", 2), "spec.feedback.store"),
    ("error rate > 1", with_field("feedback.thresholds", {"maxErrorRate": 1.5}), "spec.feedback.thresholds.maxErrorRate"),
    ("retrain without data", with_field("retraining.enabled", True), "spec.retraining.trainingDataUri"),
    ("bad gate", with_field("retraining.gate", {"metric": "f1"}), "spec.retraining.gate.metric"),
    ("secret ref without key", with_field("serving.authTokenSecretRef", {"name": "x"}),
     "spec.serving.authTokenSecretRef.key"),
    ("section not object", with_field("serving", [1]), "spec.serving"),
]


@pytest.mark.parametrize(("spec_body", "field"), [(s, f) for _, s, f in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_names_the_field(spec_body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(spec_body)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("breast-cancer", True), ("a", True), ("x" * 45, True), ("x" * 46, False), ("1model", False),
     ("Model", False), ("model-", False), ("mo.del", False)],
)
def test_validate_name(name: str, ok: bool) -> None:
    if ok:
        validate_name(name)
    else:
        with pytest.raises(InvalidSpecError, match=r"^metadata\.name"):
            validate_name(name)


@pytest.mark.parametrize(
    ("model", "status", "expected"),
    [
        ({"version": "v1"}, None, "v1"),
        ({"version": "v1"}, {}, "v1"),
        ({"version": "v1"}, {"modelVersion": "v3"}, "v3"),
        ({"version": "v1", "pinnedVersion": "v2"}, {"modelVersion": "v3"}, "v2"),
        ({"version": "v1", "pinnedVersion": "v2"}, None, "v2"),
    ],
    ids=["initial", "empty-status", "promoted", "pinned-over-promoted", "pinned-initial"],
)
def test_served_version(model: dict[str, str], status: dict[str, str] | None, expected: str) -> None:
    assert served_version({"model": model}, status) == expected


def test_served_version_needs_a_version() -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.model\.version"):
        served_version({"model": {}}, None)
