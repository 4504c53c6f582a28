"""Objects the cluster installs: CRDs, KServe's and Knative's webhooks and config, and Services that
lead to processes on the node (webhooks, DNS). Pure builders first, then the few calls that apply them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ClusterError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

# --------------------------------------------------------------------------- YAML


def load_yaml(file: Path, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """All documents of a YAML file; parsed once per content (KServe's CRDs take seconds to parse)."""
    import yaml

    content = file.read_bytes()
    cached = cache_dir / f"{hashlib.sha256(content).hexdigest()}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text())
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(content, Loader=loader) if d]
    except yaml.YAMLError as exc:
        raise ClusterError(f"{file}: invalid YAML: {exc}") from exc
    if cached is not None:
        with contextlib.suppress(OSError, TypeError, ValueError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(docs))
            tmp.replace(cached)
    return docs


def load_dir(paths: Iterable[Path], cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Documents from files, or from directories of *.yaml (sorted)."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
        for file in files:
            docs += load_yaml(file, cache_dir)
    return docs


# --------------------------------------------------------------------------- builders


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node_service(name: str, ns: str, node_ip: str, port: int, target_port: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    """A selector-less Service whose one endpoint is a process on the node (a webhook, the DNS server)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "main", "port": port, "targetPort": target_port, "protocol": protocol}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-node", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": "main", "port": target_port, "protocol": protocol}],
            "endpoints": [{"addresses": [node_ip], "conditions": {"ready": True}}],
        },
    ]


def kserve_webhooks(docs: list[dict[str, Any]], ns: str, service: str, ca_pem: bytes) -> list[dict[str, Any]]:
    """KServe's webhook configurations with the kustomize placeholders filled and the CA injected."""
    result = []
    for doc in docs:
        doc = json.loads(json.dumps(doc))
        for hook in doc.get("webhooks", []):
            ref = hook["clientConfig"]["service"]
            ref["name"], ref["namespace"] = service, ns
            hook["clientConfig"]["caBundle"] = base64.b64encode(ca_pem).decode()
        result.append(doc)
    return result


def kserve_config(doc: dict[str, Any]) -> dict[str, Any]:
    """inferenceservice-config in Standard (RawDeployment) mode, with no ingress controller to program."""
    doc = json.loads(json.dumps(doc))
    data = doc["data"]
    data.pop("_example", None)
    deploy = json.loads(data["deploy"])
    deploy["defaultDeploymentMode"] = "Standard"
    data["deploy"] = json.dumps(deploy)
    ingress = json.loads(data["ingress"])
    ingress["disableIngressCreation"] = True
    ingress["disableIstioVirtualHost"] = True
    data["ingress"] = json.dumps(ingress)
    return doc


def storage_class() -> dict[str, Any]:
    """The default class: kube-controller-manager's host-path provisioner (single-node only)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "local", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def kubelet_api_access(user: str) -> dict[str, Any]:
    """Lets the API server's client identity reach kubelet (logs, exec, port-forward)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "explainops:apiserver-kubelet"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


# --------------------------------------------------------------------------- I/O


def apply(api_client: ApiClient, docs: Iterable[dict[str, Any]]) -> None:
    """Create each object, or replace it when it exists (no last-applied annotation: CRDs are large)."""
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError

    dynamic = DynamicClient(api_client)
    for doc in docs:
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        ns = doc["metadata"].get("namespace") if resource.namespaced else None
        name = doc["metadata"]["name"]
        try:
            resource.create(body=doc, namespace=ns)
        except ConflictError:
            current = resource.get(name=name, namespace=ns)
            body = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current.metadata.resourceVersion}}
            try:
                resource.replace(body=body, namespace=ns)
            except DynamicApiError as exc:
                raise ClusterError(f"replacing {doc['kind']} {name} failed: {exc.summary()}") from exc
        except DynamicApiError as exc:
            raise ClusterError(f"creating {doc['kind']} {name} failed: {exc.summary()}") from exc


def wait_crds_established(api_client: ApiClient, names: Iterable[str], timeout_seconds: float) -> None:
    from kubernetes.client import ApiextensionsV1Api

    ext = ApiextensionsV1Api(api_client)
    pending = set(names)
    deadline = time.monotonic() + timeout_seconds
    while pending:
        listed = json.loads(ext.list_custom_resource_definition(_preload_content=False).data)
        for crd in listed["items"]:
            conditions = {c["type"]: c for c in crd.get("status", {}).get("conditions") or []}
            if conditions.get("Established", {}).get("status") == "True":
                pending.discard(crd["metadata"]["name"])
            elif conditions.get("NamesAccepted", {}).get("status") == "False":
                raise ClusterError(f"CRD {crd['metadata']['name']}: {conditions['NamesAccepted'].get('message')}")
        if pending and time.monotonic() > deadline:
            raise ClusterError(f"CRDs not Established after {timeout_seconds:.0f} s: {sorted(pending)}")
        if pending:
            time.sleep(0.3)


def install_crds(api_client: ApiClient, crds: list[dict[str, Any]], timeout_seconds: float = 60.0) -> list[str]:
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            raise ClusterError(f"expected only CustomResourceDefinitions, found {crd.get('kind')}")
    apply(api_client, crds)
    names = [c["metadata"]["name"] for c in crds]
    wait_crds_established(api_client, names, timeout_seconds)
    return names
