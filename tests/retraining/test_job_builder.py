"""Pure retraining Job builder."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from explainops_operator.builders import LABEL_MODEL, Owner, render_inference_service
from explainops_operator.errors import InvalidSpecError
from explainops_operator.jobs import (
    BASE_VERSION_ANNOTATION,
    CANDIDATE_VERSION_ANNOTATION,
    TrainingRun,
    build_retraining_job,
    job_name,
)
from explainops_operator.spec import parse_spec

OWNER = Owner(name="breast-cancer", namespace="ml", uid="1234-uid")
SPEC = {
    "model": {"storageUri": "file:///srv/models/breast-cancer", "version": "v1"},
    "explainer": {"type": "TreeShap"},
    "retraining": {
        "enabled": True,
        "trainingDataUri": "file:///srv/data/train.csv",
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
        "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
    },
}


def run(spec: dict | None = None, **overrides) -> TrainingRun:
    values = dict(
        owner=OWNER,
        spec=parse_spec(spec or SPEC),
        sequence=3,
        base_version="v2",
        candidate_version="v4",
        image="ghcr.io/explainops/explainops-server:0.1.0",
        trigger_reason="ErrorRateAboveThreshold",
    )
    values.update(overrides)
    return TrainingRun(**values)


def with_(**sections) -> dict:
    spec = copy.deepcopy(SPEC)
    for key, value in sections.items():
        spec[key] = {**spec.get(key, {}), **value}
    return spec


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def pod_of(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def test_job_shape_follows_the_contract():
    job = build_retraining_job(run())
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    meta = job["metadata"]
    assert meta["name"] == job_name("breast-cancer", 3) == "breast-cancer-retrain-3"
    assert meta["namespace"] == "ml"
    assert meta["labels"][LABEL_MODEL] == "breast-cancer"
    assert meta["annotations"][BASE_VERSION_ANNOTATION] == "v2"
    assert meta["annotations"][CANDIDATE_VERSION_ANNOTATION] == "v4"
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ExplainableModel", "breast-cancer", "1234-uid", True,
    )  # fmt: skip
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (2, 600)
    pod = pod_of(job)
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["name"] == "trainer"
    assert container["command"] == ["explainops-server"]
    assert container["terminationMessagePolicy"] == "File"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    args = container["args"]
    assert args[0] == "train"
    assert flag(args, "--model-name") == "breast-cancer"
    assert flag(args, "--model-root") == "/srv/models/breast-cancer"
    assert (flag(args, "--base-version"), flag(args, "--new-version")) == ("v2", "v4")
    assert flag(args, "--training-data") == "/srv/data/train.csv"
    assert flag(args, "--termination-log") == "/dev/termination-log"


def test_trainer_reads_the_feedback_store_the_server_writes():
    isvc = render_inference_service(OWNER, parse_spec(SPEC), "v2", default_image="img")
    explainer = next(
        c for c in isvc["spec"]["predictor"]["containers"] if c["name"] == "kserve-container"
    )
    job_args = pod_of(build_retraining_job(run()))["containers"][0]["args"]
    assert flag(job_args, "--feedback-store") == flag(explainer["args"], "--feedback-store")
    # The trainer's label window follows the retention the server applies to the same store.
    assert flag(job_args, "--retention-seconds") == flag(explainer["args"], "--retention-seconds") == "2592000"


def test_retention_reaches_the_server_and_the_trainer():
    body = {**SPEC, "feedback": {"retention": "36h"}}
    isvc = render_inference_service(OWNER, parse_spec(body), "v2", default_image="img")
    explainer = next(
        c for c in isvc["spec"]["predictor"]["containers"] if c["name"] == "kserve-container"
    )
    assert flag(explainer["args"], "--retention-seconds") == str(36 * 3600)
    job = build_retraining_job(run(body))
    assert flag(pod_of(job)["containers"][0]["args"], "--retention-seconds") == str(36 * 3600)


def test_same_trigger_builds_the_same_job():
    assert build_retraining_job(run()) == build_retraining_job(run())


def test_postgres_dsn_goes_through_the_environment_not_argv():
    spec = with_(feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}})
    container = pod_of(build_retraining_job(run(spec)))["containers"][0]
    assert "--feedback-store" not in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["EXPLAINOPS_FEEDBACK_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}


def test_pvc_model_root_is_mounted_read_write():
    pod = pod_of(build_retraining_job(run(with_(model={"storageUri": "pvc://models/breast-cancer"}))))
    assert {"name": "model-store", "persistentVolumeClaim": {"claimName": "models"}} in pod["volumes"]
    container = pod["containers"][0]
    assert flag(container["args"], "--model-root") == "/mnt/models/breast-cancer"
    assert flag(container["args"], "--feedback-store") == "sqlite:////mnt/models/breast-cancer/feedback.db"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "model-store")
    assert mount["mountPath"] == "/mnt/models" and not mount.get("readOnly")


def test_training_data_on_the_same_claim_shares_the_mount():
    spec = with_(
        model={"storageUri": "pvc://models/bc"}, retraining={"trainingDataUri": "pvc://models/data/train.csv"}
    )
    pod = pod_of(build_retraining_job(run(spec)))
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "model-store"]
    assert flag(pod["containers"][0]["args"], "--training-data") == "/mnt/models/data/train.csv"


def test_training_data_on_another_claim_is_mounted_read_only():
    spec = with_(
        model={"storageUri": "pvc://models/bc"}, retraining={"trainingDataUri": "pvc://datasets/bc/train.csv"}
    )
    pod = pod_of(build_retraining_job(run(spec)))
    volume = next(v for v in pod["volumes"] if v["name"] == "training-data")
    assert volume["persistentVolumeClaim"] == {"claimName": "datasets", "readOnly": True}
    assert flag(pod["containers"][0]["args"], "--training-data") == "/mnt/training-data/bc/train.csv"


def test_training_data_uri_without_a_path_is_refused():
    bad = copy.deepcopy(SPEC)
    bad["retraining"]["trainingDataUri"] = "pvc://c"
    with pytest.raises(InvalidSpecError, match="trainingDataUri"):
        parse_spec(bad)
    # The builder refuses it too, should a spec bypass the parser (model_copy does not validate).
    spec = parse_spec(SPEC)
    spec = spec.model_copy(update={"retraining": spec.retraining.model_copy(update={"training_data_uri": "pvc://c"})})
    with pytest.raises(InvalidSpecError, match="trainingDataUri"):
        build_retraining_job(dataclasses.replace(run(), spec=spec))


def test_training_data_is_optional():
    spec = copy.deepcopy(SPEC)
    spec["retraining"] = {"enabled": False}
    args = pod_of(build_retraining_job(run(spec)))["containers"][0]["args"]
    assert "--training-data" not in args


def test_istio_sidecar_injection_is_off_for_job_pods():
    template = build_retraining_job(run())["spec"]["template"]
    assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert template["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_pvc_job_runs_on_the_node_of_a_serving_pod():
    pod = pod_of(build_retraining_job(run(with_(model={"storageUri": "pvc://models/breast-cancer"}))))
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    expressions = {e["key"]: (e["operator"], e["values"]) for e in term["labelSelector"]["matchExpressions"]}
    assert expressions["explainops.dev/model"] == ("In", ["breast-cancer"])
    # The selector matches the serving pods' labels and not the Job's own pods.
    serving_labels = render_inference_service(
        OWNER, parse_spec(with_(model={"storageUri": "pvc://models/breast-cancer"})), "v1", default_image="i"
    )["spec"]["predictor"]["labels"]
    assert serving_labels["explainops.dev/model"] == "breast-cancer"
    assert "app.kubernetes.io/component" not in serving_labels
    # A file:// root is whatever the node provides: no claim to attach, no affinity.
    assert "affinity" not in pod_of(build_retraining_job(run()))
