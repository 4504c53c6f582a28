"""The real node: pods run from our images, Services and DNS work, KServe and Knative admit as they do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_helpers import MODEL_NAME, SERVER_IMAGE, predict_body, run_pod, server_container, wait_until

pytestmark = pytest.mark.cluster


def test_the_node_is_ready_on_containerd(kube_api: Any) -> None:
    from kubernetes.client import CoreV1Api

    (node,) = CoreV1Api(kube_api).list_node().items
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert ready == "True"
    assert node.status.node_info.container_runtime_version.startswith("containerd://")


def test_a_server_deployment_answers_predict_through_its_service(
    kube_api: Any, namespace: str, example_model_dir: Path
) -> None:
    from kubernetes.client import AppsV1Api, CoreV1Api

    container, volumes = server_container(example_model_dir)
    labels = {"app": "server"}
    AppsV1Api(kube_api).create_namespaced_deployment(namespace, {
        "metadata": {"name": "server"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [container], "volumes": volumes,
                                  "terminationGracePeriodSeconds": 1}},
        },
    })
    service = CoreV1Api(kube_api).create_namespaced_service(namespace, {
        "metadata": {"name": "server"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    })
    wait_until(lambda: AppsV1Api(kube_api).read_namespaced_deployment(namespace=namespace, name="server")
               .status.ready_replicas == 1, 180, "deployment ready")
    body = predict_body(example_model_dir)

    # From the host, through the ClusterIP kube-proxy programs.
    url = f"http://{service.spec.cluster_ip}/v1/models/{MODEL_NAME}:predict"
    reply = wait_until(lambda: httpx.post(url, json=body, timeout=10), 60, "predict through the ClusterIP")
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["predictions"]) == 2

    # From another pod, by the Service's DNS name.
    dns_url = f"http://server.{namespace}.svc.cluster.local/v1/models/{MODEL_NAME}:predict"
    script = (
        "import json, urllib.request; "
        f"req = urllib.request.Request({dns_url!r}, data=json.dumps({body!r}).encode(), "
        "headers={'content-type': 'application/json'}); "
        "print(urllib.request.urlopen(req, timeout=20).read().decode())"
    )
    pod = run_pod(kube_api, namespace, "client", ["python3", "-c", script])
    log = CoreV1Api(kube_api).read_namespaced_pod_log("client", namespace)
    assert pod.status.phase == "Succeeded", log
    assert len(json.loads(log)["predictions"]) == 2


def test_a_job_runs_to_completion_and_its_termination_message_is_read_back(kube_api: Any, namespace: str) -> None:
    from kubernetes.client import BatchV1Api, CoreV1Api

    BatchV1Api(kube_api).create_namespaced_job(namespace, {
        "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": SERVER_IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-c",
                                        "open('/dev/termination-log', 'w').write('{\"accuracy\": 0.97}')"]}],
        }}},
    })
    wait_until(lambda: BatchV1Api(kube_api).read_namespaced_job("once", namespace).status.succeeded == 1,
               120, "job complete")
    (pod,) = CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="job-name=once").items
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0
    assert json.loads(terminated.message) == {"accuracy": 0.97}


def test_kserve_webhook_rejects_an_invalid_inference_service(kube_api: Any, namespace: str) -> None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    body = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "bad"},
        "spec": {"predictor": {"minReplicas": 3, "maxReplicas": 1,
                               "containers": [{"name": "kserve-container", "image": SERVER_IMAGE}]}},
    }
    with pytest.raises(ApiException) as caught:
        CustomObjectsApi(kube_api).create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", body)
    assert "MinReplicas' cannot be greater than MaxReplicas" in caught.value.body


def test_an_inference_service_on_our_image_becomes_ready_and_answers_in_the_cluster(
    kube_api: Any, namespace: str, example_model_dir: Path
) -> None:
    from kubernetes.client import CoreV1Api, CustomObjectsApi

    container, volumes = server_container(example_model_dir, name="kserve-container")
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": MODEL_NAME},
        "spec": {"predictor": {"containers": [container], "volumes": volumes}},
    }
    objects = CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object("serving.kserve.io", "v1beta1", namespace, "inferenceservices", isvc)

    def ready() -> Any:
        status = objects.get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", MODEL_NAME).get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return status if conditions.get("Ready") == "True" else None

    status = wait_until(ready, 180, "InferenceService Ready by KServe's own status")
    address = status["address"]["url"]
    assert address.endswith(".svc.cluster.local"), address
    body = predict_body(example_model_dir)
    script = (
        "import json, urllib.request; "
        f"req = urllib.request.Request({address + f'/v1/models/{MODEL_NAME}:predict'!r}, "
        f"data=json.dumps({body!r}).encode(), headers={{'content-type': 'application/json'}}); "
        "print(urllib.request.urlopen(req, timeout=20).read().decode())"
    )
    pod = run_pod(kube_api, namespace, "client", ["python3", "-c", script])
    log = CoreV1Api(kube_api).read_namespaced_pod_log("client", namespace)
    assert pod.status.phase == "Succeeded", log
    assert len(json.loads(log)["predictions"]) == 2


def _knative_service(pod_security: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"image": SERVER_IMAGE}]}
    if pod_security is not None:
        spec["securityContext"] = pod_security
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"template": {"spec": spec}}}


def test_knative_webhook_rejects_what_its_default_flags_forbid_and_admits_a_plain_service(
    kube_api: Any, namespace: str
) -> None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    objects = CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as caught:
        objects.create_namespaced_custom_object("serving.knative.dev", "v1", namespace, "services",
                                                _knative_service({"runAsNonRoot": True}))
    assert caught.value.status == 400
    assert "must not set the field(s): spec.template.spec.securityContext" in caught.value.body
    created = objects.create_namespaced_custom_object("serving.knative.dev", "v1", namespace, "services",
                                                      _knative_service(None))
    assert created["metadata"]["name"] == "svc"
