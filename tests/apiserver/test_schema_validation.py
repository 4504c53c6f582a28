"""The API server validates custom objects against their CRD's OpenAPI schema: ours and KServe's."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.cluster

SERVER_IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"


def _rejection(exc: ApiException) -> tuple[int, str, set[str]]:
    status = json.loads(exc.body)
    return exc.status, status["message"], {cause.get("field", "") for cause in status["details"]["causes"]}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"replicas": 0}, "spec.replicas"),  # minimum
        ({"replicas": 1, "mode": "reckless"}, "spec.mode"),  # enum
        ({"replicas": 1, "owner": "Not Valid"}, "spec.owner"),  # pattern
        ({"mode": "fast"}, "spec.replicas"),  # required
    ],
)
def test_bad_custom_object_is_rejected_with_422_naming_the_field(
    kube_api, namespace, widget_crd, spec, field
):
    api = CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as rejected:
        api.create_namespaced_custom_object(
            widget_crd.group, widget_crd.version, namespace, widget_crd.plural, widget_crd.obj("bad", spec)
        )
    code, message, fields = _rejection(rejected.value)
    assert code == 422
    assert field in fields
    assert field in message


def test_valid_custom_object_is_stored_with_defaults(kube_api, namespace, widget_crd):
    api = CustomObjectsApi(kube_api)
    created = api.create_namespaced_custom_object(
        widget_crd.group,
        widget_crd.version,
        namespace,
        widget_crd.plural,
        widget_crd.obj("good", {"replicas": 2}),
    )
    assert created["spec"] == {"replicas": 2, "mode": "careful"}  # schema default applied by the server


def test_status_subresource_leaves_generation_alone(kube_api, namespace, widget_crd):
    api = CustomObjectsApi(kube_api)
    args = (widget_crd.group, widget_crd.version, namespace, widget_crd.plural)
    created = api.create_namespaced_custom_object(*args, widget_crd.obj("gen", {"replicas": 1}))
    assert created["metadata"]["generation"] == 1
    after_status = api.patch_namespaced_custom_object_status(*args, "gen", {"status": {"phase": "Seen"}})
    assert after_status["metadata"]["generation"] == 1
    assert after_status["status"] == {"phase": "Seen"}
    after_spec = api.patch_namespaced_custom_object(
        *args, "gen", {"spec": {"replicas": 3}, "status": {"phase": "X"}}
    )
    assert after_spec["metadata"]["generation"] == 2
    assert after_spec["status"] == {"phase": "Seen"}  # the main resource ignores status writes


def _inference_service(name: str, spec: dict) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": spec,
    }


def _collocated_predictor() -> dict:
    return {
        "containers": [
            {"name": "kserve-container", "image": SERVER_IMAGE, "args": ["serve", "--role", "predictor"]},
            {
                "name": "transformer-container",
                "image": SERVER_IMAGE,
                "args": ["serve", "--role", "explainer"],
            },
        ],
        "minReplicas": 1,
    }


def test_inferenceservice_in_the_operators_shape_is_accepted(kube_api, namespace):
    api = CustomObjectsApi(kube_api)
    created = api.create_namespaced_custom_object(
        "serving.kserve.io",
        "v1beta1",
        namespace,
        "inferenceservices",
        _inference_service("ok", {"predictor": _collocated_predictor()}),
    )
    assert [c["name"] for c in created["spec"]["predictor"]["containers"]] == [
        "kserve-container",
        "transformer-container",
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"predictor": {**_collocated_predictor(), "scaleMetric": "gpu"}},
            "spec.predictor.scaleMetric",
        ),  # enum
    ],
)
def test_inferenceservice_violating_kserve_schema_is_rejected(kube_api, namespace, spec, field):
    api = CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as rejected:
        api.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", _inference_service("bad", spec)
        )
    code, message, fields = _rejection(rejected.value)
    assert code == 422
    assert field in fields
    assert field in message


# What KServe's own mutating webhook answers before the schema is checked (seen on the real node).
@pytest.mark.parametrize(
    ("spec", "status", "says"),
    [
        ({}, 500, "index out of range"),  # no predictor: KServe's defaulter panics and recovers
        (
            {"predictor": {**_collocated_predictor(), "minReplicas": "two"}},
            400,
            "PredictorSpec.spec.predictor.ComponentExtensionSpec.minReplicas of type int32",
        ),
    ],
)
def test_kserve_defaulter_rejects_what_it_cannot_decode(kube_api, namespace, spec, status, says):
    with pytest.raises(ApiException) as rejected:
        CustomObjectsApi(kube_api).create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", _inference_service("bad", spec)
        )
    assert rejected.value.status == status
    body = json.loads(rejected.value.body)
    assert 'admission webhook "inferenceservice.kserve-webhook-server.defaulter" denied' in body["message"]
    assert says in body["message"]


def test_kserve_defaulter_names_the_container_and_adds_its_default_resources(kube_api, namespace):
    created = CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices",
        _inference_service("unnamed", {"predictor": {"containers": [{"image": SERVER_IMAGE}]}}),
    )
    (container,) = created["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    # From inferenceservice-config: a limit the operator must render explicitly to stay in control.
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
