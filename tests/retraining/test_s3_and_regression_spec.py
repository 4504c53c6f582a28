"""Pure: an ExplainableModel on s3:// storage and a regression model's thresholds, as the operator reads
and renders them (InferenceService env, the retraining Job, the policy's figures)."""

from __future__ import annotations

import pytest

from explainops_operator.builders import (
    EXPLAINER_CONTAINER,
    PREDICTOR_CONTAINER,
    Owner,
    render_inference_service,
)
from explainops_operator.errors import InvalidSpecError
from explainops_operator.jobs import TrainingRun, build_retraining_job
from explainops_operator.spec import parse_spec
from explainops_operator.stats_client import feedback_status, figures_for

OWNER = Owner(name="yield", namespace="ml", uid="1234-uid")
IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"
S3_SPEC = {
    "model": {
        "storageUri": "s3://models/plant/yield",
        "version": "v1",
        "s3": {"secretName": "s3-credentials", "endpoint": "seaweedfs.storage:8333", "region": "eu-west-1",
               "useHttps": False},
    },
    "explainer": {"type": "KernelShap"},
    "feedback": {
        "store": "postgres",
        "dsnSecretRef": {"name": "feedback-db", "key": "dsn"},
        "thresholds": {"minLabelled": 30, "maxMAE": 2.5, "maxRMSE": 4.0},
    },
    "retraining": {
        "enabled": True,
        "trainingDataUri": "s3://models/plant/data/train.csv",
        "gate": {"metric": "holdoutMAE", "minImprovement": 0.1},
    },
}  # fmt: skip
EXPECTED_ENV = {
    "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "s3-credentials", "key": "AWS_ACCESS_KEY_ID"}},
    "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}},
    "S3_ENDPOINT": "seaweedfs.storage:8333",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "S3_USE_HTTPS": "0",
    "S3_VERIFY_SSL": "1",
}


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_s3_model_root_renders_kserve_style_env_and_no_model_volume():
    body = render_inference_service(OWNER, parse_spec(S3_SPEC), "v2", default_image=IMAGE)
    containers = {c["name"]: c for c in body["spec"]["predictor"]["containers"]}
    for name in (PREDICTOR_CONTAINER, EXPLAINER_CONTAINER):
        args = containers[name]["args"]
        assert args[args.index("--model-uri") + 1] == "s3://models/plant/yield/v2"
        env = env_of(containers[name])
        assert {k: env[k] for k in EXPECTED_ENV} == EXPECTED_ENV
        assert [m["mountPath"] for m in containers[name]["volumeMounts"]] == ["/tmp"]
    assert "--feedback-store" not in containers[EXPLAINER_CONTAINER]["args"]  # postgres DSN from the Secret
    assert [v["name"] for v in body["spec"]["predictor"]["volumes"]] == ["tmp"]


def test_the_trainer_reads_and_writes_the_bucket():
    run = TrainingRun(
        owner=OWNER, spec=parse_spec(S3_SPEC), sequence=1, base_version="v1", candidate_version="v2",
        image=IMAGE, trigger_reason="MAEAboveThreshold",
    )  # fmt: skip
    (container,) = build_retraining_job(run)["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--model-root") + 1] == "s3://models/plant/yield"
    assert args[args.index("--training-data") + 1] == "s3://models/plant/data/train.csv"
    env = env_of(container)
    assert {k: env[k] for k in EXPECTED_ENV} == EXPECTED_ENV
    assert "EXPLAINOPS_FEEDBACK_STORE" in env


def test_without_a_secret_the_pod_identity_is_used():
    spec = {**S3_SPEC, "model": {**S3_SPEC["model"], "s3": {"region": "eu-west-1"}}}
    body = render_inference_service(OWNER, parse_spec(spec), "v1", default_image=IMAGE)
    env = env_of(body["spec"]["predictor"]["containers"][0])
    assert "AWS_ACCESS_KEY_ID" not in env and env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "S3_ENDPOINT" not in env


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"feedback": {"thresholds": {"maxMAE": 1.0}}}, "spec.feedback.store"),  # s3 with SQLite
        ({"model": {"storageUri": "file:///m", "version": "v1", "s3": {"region": "x"}},
          "retraining": {"enabled": False}}, "spec.model.s3"),
        ({"retraining": {"enabled": True, "trainingDataUri": "s3://x"}}, "spec.retraining.trainingDataUri"),
        ({"retraining": {"enabled": True, "trainingDataUri": "s3://models/t.csv", "gate": {"metric": "r2"}}},
         "spec.retraining.gate.metric"),
    ],
)  # fmt: skip
def test_bad_s3_and_regression_specs_name_the_field(change, field):
    spec = {**S3_SPEC, **change}
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(spec)
    assert info.value.field == field


def test_regression_thresholds_and_stats_reach_the_policy():
    parsed = parse_spec(S3_SPEC)
    assert (parsed.feedback.thresholds.max_mae, parsed.feedback.thresholds.max_rmse) == (2.5, 4.0)
    assert parsed.retraining.gate.metric == "holdoutMAE"
    stats = {
        "model_version": "v1",
        "by_version": [
            {"model_version": "v1", "labelled_count": 40, "window_count": 40, "accuracy": None,
             "error_rate": None, "mean_explanation_rating": None, "mae": 3.1, "rmse": 4.2},
        ],
    }  # fmt: skip
    figures = figures_for(stats, "v1")
    assert figures is not None and (figures.mae, figures.rmse, figures.error_rate) == (3.1, 4.2, None)
    status = feedback_status(stats, "v1")
    assert status is not None and status["mae"] == 3.1 and status["rmse"] == 4.2
