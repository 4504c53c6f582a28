"""The local workload runner against the real local control plane (etcd + kube-apiserver + controller-manager).

It plays KServe and the kubelet for the project's own images only: these tests run a real
explainops-server InferenceService and a real retraining Job (built by the operator's own builder),
and check that an unknown image is refused with a clear message.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes import client as k8s

from explainops_devtools.runner import KSERVE_GROUP, KSERVE_PLURAL, KSERVE_VERSION, WorkloadRunner
from explainops_server.models.example import train_example

pytestmark = pytest.mark.cluster

SERVER_IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"
MODEL = "breast-cancer"
T = TypeVar("T")


def eventually(what: str, check: Callable[[], T | None], timeout: float = 90.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("runner-model")
    outputs = train_example(base / "models" / MODEL, base / "data", name=MODEL)
    return base / "models" / MODEL, outputs.train_csv


@pytest.fixture
def runner(kube_api: k8s.ApiClient, namespace: str, tmp_path: Path) -> Iterator[WorkloadRunner]:
    with WorkloadRunner(
        kube_api, namespace, venv_bin=Path(sys.executable).parent, state_dir=tmp_path / "runner", interval=0.3
    ) as running:
        yield running


def inference_service(name: str, image: str, model_uri: str, feedback_db: Path) -> dict[str, Any]:
    """KServe collocation, as the operator renders it: predictor on 8085, explainer sidecar on 8080."""
    common = ["--model-name", MODEL, "--model-uri", model_uri, "--host", "0.0.0.0"]
    return {
        "apiVersion": f"{KSERVE_GROUP}/{KSERVE_VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {
            "predictor": {
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": image,
                        "command": ["explainops-server"],
                        "args": ["serve", "--role", "predictor", "--http-port", "8085", *common],
                    },
                    {
                        "name": "transformer-container",
                        "image": image,
                        "command": ["explainops-server"],
                        "args": ["serve", "--role", "explainer", "--http-port", "8080", *common,
                                 "--explainer", "tree_shap", "--feedback-store", "$(FEEDBACK_STORE)"],
                        "env": [{"name": "FEEDBACK_STORE",
                                 "valueFrom": {"secretKeyRef": {"name": "feedback-dsn", "key": "dsn"}}}],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    },
                ]
            }
        },
    }  # fmt: skip


def read_isvc(kube_api: k8s.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return k8s.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name
    )


def ready_condition(isvc: dict[str, Any]) -> dict[str, Any]:
    conditions = (isvc.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


def test_runs_a_project_image_and_reports_ready_with_its_url(
    kube_api: k8s.ApiClient,
    namespace: str,
    runner: WorkloadRunner,
    model_root: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    root, _ = model_root
    db = tmp_path / "feedback.db"
    # The env comes from a Secret, as a DSN with a password would.
    k8s.CoreV1Api(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": "feedback-dsn"}, "stringData": {"dsn": f"sqlite:///{db}"}}
    )
    k8s.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL,
        inference_service("bc", SERVER_IMAGE, (root / "v1").as_uri(), db),
    )  # fmt: skip

    isvc = eventually(
        "InferenceService Ready",
        lambda: (
            (obj := read_isvc(kube_api, namespace, "bc"))
            and ready_condition(obj).get("status") == "True"
            and obj
        ),
        timeout=150,
    )
    url = isvc["status"]["url"]
    assert url.startswith("http://127.0.0.1:")
    assert isvc["status"]["address"]["url"] == url
    assert isvc["status"]["observedGeneration"] == isvc["metadata"]["generation"]

    # The URL is the explainer sidecar (the 8080 container): it predicts, records, and takes feedback.
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v2/health/ready").status_code == 200
        body = http.post(f"/v1/models/{MODEL}:predict", json={"instances": [[14.0] * 30]}).json()
        assert body["model_version"] == "v1" and len(body["prediction_ids"]) == 1
        ack = http.post(
            f"/v1/models/{MODEL}/feedback", json={"prediction_id": body["prediction_ids"][0], "label": 1}
        )
        assert ack.status_code == 201, ack.text
    assert db.exists(), "the Secret's DSN reached the process through $(FEEDBACK_STORE)"

    # Two processes, each on its own free port; the predictor container answers too.
    ports = {c.name: c.port for c in runner.services[isvc["metadata"]["uid"]].containers}
    assert set(ports) == {"kserve-container", "transformer-container"}
    assert len(set(ports.values())) == 2
    predictor = httpx.get(f"http://127.0.0.1:{ports['kserve-container']}/v2/health/ready", timeout=10)
    assert predictor.status_code == 200

    # Deleting the InferenceService stops its processes.
    processes = [c.process for c in runner.services[isvc["metadata"]["uid"]].containers]
    k8s.CustomObjectsApi(kube_api).delete_namespaced_custom_object(
        KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, "bc"
    )
    eventually(
        "the processes to stop", lambda: all(p is not None and p.poll() is not None for p in processes), 60
    )
    assert not runner.services


def test_refuses_an_unknown_image_with_a_clear_message(
    kube_api: k8s.ApiClient,
    namespace: str,
    runner: WorkloadRunner,
    model_root: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    root, _ = model_root
    k8s.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL,
        inference_service("foreign", "docker.io/library/nginx:1.27", (root / "v1").as_uri(), tmp_path / "x.db"),
    )  # fmt: skip
    condition = eventually(
        "Ready=False with a reason",
        lambda: (c := ready_condition(read_isvc(kube_api, namespace, "foreign"))).get("reason") and c,
    )
    assert condition["status"] == "False"
    assert condition["reason"] == "UnsupportedWorkload"
    assert "docker.io/library/nginx:1.27" in condition["message"]
    assert "ghcr.io/explainops/explainops-server" in condition["message"]

    events = eventually(
        "a Warning Event",
        lambda: [
            e for e in k8s.CoreV1Api(kube_api).list_namespaced_event(namespace).items
            if e.involved_object.name == "foreign" and e.reason == "UnsupportedImage"
        ],
    )  # fmt: skip
    assert events[0].type == "Warning"
    assert events[0].involved_object.kind == "InferenceService"
    assert "nginx" in events[0].message
    assert not runner.services[read_isvc(kube_api, namespace, "foreign")["metadata"]["uid"]].containers


def job_condition(kube_api: k8s.ApiClient, namespace: str, name: str) -> str | None:
    job = k8s.BatchV1Api(kube_api).read_namespaced_job(name, namespace)
    for condition in job.status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition.type
    return None


def retraining_job(name: str, root: Path, train_csv: Path) -> dict[str, Any]:
    """A retraining Job as docs/architecture.md fixes it: container `trainer`, result in the termination log."""
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "trainer",
                            "image": SERVER_IMAGE,
                            "command": ["explainops-server"],
                            "args": ["train", "--model-name", MODEL, "--model-root", str(root),
                                     "--base-version", "v1", "--new-version", "v2",
                                     "--training-data", train_csv.as_uri(),
                                     "--feedback-store", f"sqlite:///{root}/feedback.db",
                                     "--termination-log", "/dev/termination-log"],
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                }
            },
        },
    }  # fmt: skip


def test_runs_a_retraining_job_and_the_job_controller_completes_it(
    kube_api: k8s.ApiClient,
    namespace: str,
    runner: WorkloadRunner,
    model_root: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    root, train_csv = model_root
    job = retraining_job("breast-cancer-retrain-1", root, train_csv)
    k8s.BatchV1Api(kube_api).create_namespaced_job(namespace, job)
    name = job["metadata"]["name"]

    # The real Job controller creates the Pod; the runner runs it and reports the Pod's phase.
    outcome = eventually("the Job to finish", lambda: job_condition(kube_api, namespace, name), timeout=120)
    pods = k8s.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    logs = "\n".join(p.read_text()[-2000:] for p in runner.log_paths())
    assert outcome == "Complete", f"pods: {[p.status for p in pods]}\nlogs:\n{logs}"
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    terminated = pods[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0
    # The trainer wrote its result to /dev/termination-log, remapped to a file the runner read back.
    result = json.loads(terminated.message)
    assert result["status"] == "succeeded" and result["version"] == "v2"
    assert (root / "v2" / "metadata.json").exists()


def test_a_job_with_an_unknown_image_fails_with_the_reason(
    kube_api: k8s.ApiClient, namespace: str, runner: WorkloadRunner
) -> None:
    job = {
        "metadata": {"name": "foreign-job"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                }
            },
        },
    }
    k8s.BatchV1Api(kube_api).create_namespaced_job(namespace, job)
    assert (
        eventually("the Job to fail", lambda: job_condition(kube_api, namespace, "foreign-job")) == "Failed"
    )
    (pod,) = (
        k8s.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="job-name=foreign-job").items
    )
    assert pod.status.phase == "Failed"
    assert pod.status.reason == "UnsupportedImage"
    assert "busybox:1.36" in pod.status.message
