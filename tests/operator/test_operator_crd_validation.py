"""The ExplainableModel CRD, enforced by the real API server: good objects accepted with defaults,
bad ones rejected with a message naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from xm_samples import BASE_SPEC, CRD_REJECTED, manifest

from explainops_operator.api import GROUP, PLURAL, VERSION
from explainops_operator.spec import parse_spec

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
@pytest.mark.parametrize(("name", "spec_body", "expected"), [b[1:] for b in CRD_REJECTED], ids=[b[0] for b in CRD_REJECTED])
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
    # The API server's defaults are the typed spec's defaults, field for field.
    assert minimal["spec"] == parse_spec(BASE_SPEC).model_dump(by_alias=True, exclude_none=True)


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
