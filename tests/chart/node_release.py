"""Helpers of the tests that run the chart's operator pod on the real node: waits, the example model,
the operator's Deployment and pod, and HTTP calls to the serving pods (a uniquely named module: test
folders share sys.path)."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from chart_helpers import REPO
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from explainops_operator.api import GROUP, PLURAL, VERSION
from explainops_operator.builders import IS_GROUP, IS_PLURAL, IS_VERSION

XM = {"group": GROUP, "version": VERSION, "plural": PLURAL}
ISVC = {"group": IS_GROUP, "version": IS_VERSION, "plural": IS_PLURAL}
# Pods start for real: the image, the model load, KServe noticing the Deployment is available.
READY_SECONDS = 240.0
OPERATOR_READY_SECONDS = 120.0
# The operator polls the stats every 2 s in these tests (the default is 3 s).
OPERATOR_ENV = [{"name": "EXPLAINOPS_OPERATOR_RETRAINING_INTERVAL_SECONDS", "value": "2"}]
ISVC_LABEL = "serving.kserve.io/inferenceservice"


def wait_for(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0,
             describe: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it returns something truthy (returned); fail naming `what` after `timeout` s,
    with what `describe()` says then. A transient HTTP error of a poll counts as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    detail = f"\n{describe()}" if describe else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last value: {last!r}){detail}")


# --------------------------------------------------------------------------- the ExplainableModel


def example_model(name: str, **spec_parts: dict[str, Any]) -> dict[str, Any]:
    """examples/breast-cancer.yaml under `name`; each keyword replaces that part of the spec, merged one
    level deep (`serving={"replicas": 2}` keeps the example's resources)."""
    model = yaml.safe_load((REPO / "examples" / "breast-cancer.yaml").read_text())
    model["metadata"] = {"name": name}
    for part, fields in spec_parts.items():
        model["spec"][part] = {**model["spec"].get(part, {}), **copy.deepcopy(fields)}
    return model


def served_model(name: str, storage: str, **spec_parts: dict[str, Any]) -> dict[str, Any]:
    """The example served from the volume `create_model_volume` wrote (Standard mode: no Knative flags)."""
    claim = urlsplit(storage).netloc
    parts: dict[str, dict[str, Any]] = {
        "model": {"storageUri": storage, "version": "v1"},
        "serving": {"deploymentMode": "Standard"},
        "retraining": {"enabled": False,
                       "trainingDataUri": f"pvc://{claim}/data/{storage.rsplit('/', 1)[-1]}/train.csv"},
    }
    for part, fields in spec_parts.items():
        parts[part] = {**parts.get(part, {}), **fields}
    return example_model(name, **parts)


def get_xm(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(api).get_namespaced_custom_object(**XM, namespace=namespace, name=name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def create_xm(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(**XM, namespace=namespace, body=body)


def condition(xm: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((xm or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


def wait_ready(api: client.ApiClient, namespace: str, name: str, timeout: float = READY_SECONDS) -> dict[str, Any]:
    """The ExplainableModel once Ready=True for its current generation."""

    def ready() -> dict[str, Any] | None:
        xm = get_xm(api, namespace, name)
        ready = condition(xm, "Ready")
        if xm and ready.get("status") == "True" and ready.get("observedGeneration") == xm["metadata"]["generation"]:
            return xm
        return None

    return wait_for(ready, f"{namespace}/{name} Ready", timeout)


def model_events(api: client.ApiClient, namespace: str, name: str) -> list[Any]:
    """The Events about the ExplainableModel `name`."""
    selector = f"involvedObject.name={name},involvedObject.kind=ExplainableModel"
    return client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=selector).items


# --------------------------------------------------------------------------- the operator pod


def operator_deployment_name(release: str) -> str:
    return f"{release}-explainops-operator"


def operator_pods(api: client.ApiClient, namespace: str, release: str) -> list[Any]:
    deployment = client.AppsV1Api(api).read_namespaced_deployment(operator_deployment_name(release), namespace)
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def ready_operator_pod(api: client.ApiClient, namespace: str, release: str,
                       timeout: float = OPERATOR_READY_SECONDS) -> Any:
    """The one operator pod once its readiness probe (kopf's /healthz) passes."""

    def ready() -> Any:
        pods = operator_pods(api, namespace, release)
        if len(pods) != 1:
            return None
        conditions = {c.type: c.status for c in pods[0].status.conditions or []}
        return pods[0] if conditions.get("Ready") == "True" else None

    return wait_for(ready, f"the operator pod of {release} Ready", timeout)


# --------------------------------------------------------------------------- HTTP to the serving pods


def pod_phases(api: client.ApiClient, namespace: str) -> str:
    """One line per pod of the namespace: name, phase, readiness (for failure messages)."""
    lines = []
    for pod in client.CoreV1Api(api).list_namespaced_pod(namespace).items:
        ready = {c.type: c.status for c in pod.status.conditions or []}.get("Ready")
        waiting = [c.state.waiting.reason for c in pod.status.container_statuses or [] if c.state.waiting]
        lines.append(f"{pod.metadata.name}: {pod.status.phase}, Ready={ready} {' '.join(waiting)}".rstrip())
    return "\n".join(lines)


def service_url(api: client.ApiClient, xm: dict[str, Any]) -> str:
    """KServe's cluster-local address (`status.address.url`), as this machine reaches it: the Service's
    ClusterIP, which kube-proxy on the node routes."""
    address = urlsplit(xm["status"]["address"]["url"])
    service, namespace = (address.hostname or "").split(".")[:2]
    spec = client.CoreV1Api(api).read_namespaced_service(service, namespace).spec
    port = address.port or 80
    return f"http://{spec.cluster_ip}:{port}"


def serving_pod_urls(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    """Pod name -> `http://<pod IP>:<port>` of each running serving pod of the model (the port its
    containers declare: KServe routes to it)."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"{ISVC_LABEL}={name}").items
    urls = {}
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running" or not pod.status.pod_ip:
            continue
        ports = [p.container_port for c in pod.spec.containers for p in c.ports or []]
        if ports:
            urls[pod.metadata.name] = f"http://{pod.status.pod_ip}:{ports[0]}"
    return urls


def predict(http: httpx.Client, base: str, model: str, rows: list[list[float]]) -> dict[str, Any]:
    response = http.post(f"{base}/v1/models/{model}:predict", json={"instances": rows})
    response.raise_for_status()
    return response.json()


def explain(http: httpx.Client, base: str, model: str, rows: list[list[float]]) -> dict[str, Any]:
    response = http.post(f"{base}/v1/models/{model}:explain", json={"instances": rows})
    response.raise_for_status()
    return response.json()


def send_labels(http: httpx.Client, base: str, model: str, ids: list[str], labels: list[int]) -> None:
    records = [{"prediction_id": pid, "label": label, "feedback_id": str(uuid.uuid4()), "source": "test"}
               for pid, label in zip(ids, labels, strict=True)]
    response = http.post(f"{base}/v1/models/{model}/feedback:batch", json={"records": records})
    response.raise_for_status()


def feedback_stats(http: httpx.Client, base: str, model: str, window: int = 100) -> dict[str, Any]:
    response = http.get(f"{base}/v1/models/{model}/feedback/stats", params={"window": window})
    response.raise_for_status()
    return response.json()


def example_rows(count: int) -> list[list[float]]:
    """`count` rows of the example's 30 features (sklearn's breast_cancer, in the model's order)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer().data[:count].tolist()


def delete_models(api: client.ApiClient, namespace: str, timeout: float = 60.0) -> None:
    """Delete every ExplainableModel of `namespace` and wait until they are gone (the operator removes
    its finalizer). Whatever is left after `timeout` (no operator any more) has the finalizer removed,
    so that the namespace can go."""
    custom = client.CustomObjectsApi(api)
    custom.delete_collection_namespaced_custom_object(**XM, namespace=namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not custom.list_namespaced_custom_object(**XM, namespace=namespace)["items"]:
            return
        time.sleep(1)
    release_finalizers(api, namespace)


def release_finalizers(api: client.ApiClient, namespace: str) -> list[str]:
    """Remove the finalizers of the ExplainableModels of `namespace` (what to do when no operator runs
    any more); returns their names."""
    custom = client.CustomObjectsApi(api)
    names = [m["metadata"]["name"] for m in custom.list_namespaced_custom_object(**XM, namespace=namespace)["items"]]
    for name in names:
        custom.patch_namespaced_custom_object(**XM, namespace=namespace, name=name,
                                              body={"metadata": {"finalizers": None}},
                                              _content_type="application/merge-patch+json")
    return names
