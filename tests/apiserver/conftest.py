"""A tiny CRD of the tests' own, to probe schema validation and watches without depending on the
ExplainableModel CRD."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["replicas"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "enum": ["fast", "careful"], "default": "careful"},
                "owner": {"type": "string", "pattern": "^[a-z]+$"},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@dataclass(frozen=True)
class TestCrd:
    group: str
    version: str
    plural: str
    kind: str
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"

    def manifest(self, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name},
            "spec": {
                "group": self.group,
                "scope": "Namespaced",
                "names": {"plural": self.plural, "singular": self.kind.lower(), "kind": self.kind},
                "versions": [
                    {
                        "name": self.version,
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {"openAPIV3Schema": schema or self.schema},
                    }
                ],
            },
        }

    def obj(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": f"{self.group}/{self.version}",
            "kind": self.kind,
            "metadata": {"name": name},
            "spec": spec,
        }


@contextlib.contextmanager
def _widget_crds(kube_api) -> Iterator[Callable[..., TestCrd]]:
    from kubernetes.client import ApiextensionsV1Api

    from explainops_devtools.cluster.manifests import install_crds

    created: list[str] = []

    def make(schema: dict[str, Any] = WIDGET_SCHEMA) -> TestCrd:
        crd = TestCrd(
            group=f"w{secrets.token_hex(4)}.test.explainops.dev",
            version="v1",
            plural="widgets",
            kind="Widget",
            schema=schema,
        )
        install_crds(kube_api, [crd.manifest()], timeout_seconds=30)
        created.append(crd.name)
        return crd

    try:
        yield make
    finally:
        ext = ApiextensionsV1Api(kube_api)
        for name in created:
            ext.delete_custom_resource_definition(name)


@pytest.fixture
def make_widget_crd(kube_api) -> Iterator[Callable[..., TestCrd]]:
    """Install fresh Widget CRDs (unique groups), deleted after the test."""
    with _widget_crds(kube_api) as make:
        yield make


@pytest.fixture(scope="module")
def widget_crd(kube_api) -> Iterator[TestCrd]:
    """One Widget CRD per module (the first write of a new kind costs the API server ~2 s)."""
    with _widget_crds(kube_api) as make:
        yield make()
