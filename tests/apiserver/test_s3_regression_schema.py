"""The real API server enforces the ExplainableModel fields of S3 storage and regression thresholds."""

from __future__ import annotations

import copy
import json

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from explainops_operator.api import GROUP, PLURAL, VERSION

pytestmark = pytest.mark.cluster

VALID = {
    "model": {"storageUri": "s3://models/plant/yield", "version": "v1",
              "s3": {"secretName": "s3-credentials", "endpoint": "seaweedfs.storage:8333"}},
    "explainer": {"type": "KernelShap"},
    "feedback": {"store": "postgres", "dsnSecretRef": {"name": "db", "key": "dsn"},
                 "thresholds": {"maxMAE": 2.5, "maxRMSE": 4.0}},
    "retraining": {"enabled": True, "trainingDataUri": "s3://models/plant/train.csv",
                   "gate": {"metric": "holdoutRMSE"}},
}  # fmt: skip


def create(kube_api, namespace, name, spec):
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ExplainableModel", "metadata": {"name": name}, "spec": spec}
    return CustomObjectsApi(kube_api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def changed(path: str, value):
    spec = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node[key]
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return spec


def test_valid_s3_regression_model_is_stored_with_defaults(kube_api, namespace):
    stored = create(kube_api, namespace, "yield", VALID)["spec"]
    assert stored["model"]["s3"]["useHttps"] is True and stored["model"]["s3"]["verifySSL"] is True
    assert stored["feedback"]["thresholds"]["maxMAE"] == 2.5


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (changed("feedback", None), "spec.feedback.store must be postgres when spec.model.storageUri is s3://"),
        (changed("model.storageUri", "file:///models/yield") | {"retraining": {"enabled": False}},
         "spec.model.s3 is only used when"),
        (changed("feedback.thresholds.maxMAE", -1), "maxMAE"),
        (changed("retraining.gate.metric", "r2"), "holdoutMAE"),
        (changed("model.storageUri", "s3://x"), "storageUri"),
        (changed("model.s3.secretName", "Not A Name"), "secretName"),
    ],
)  # fmt: skip
def test_bad_fields_are_refused_with_422_naming_them(kube_api, namespace, spec, words):
    with pytest.raises(ApiException) as refused:
        create(kube_api, namespace, "bad", spec)
    assert refused.value.status == 422
    assert words in json.loads(refused.value.body)["message"]
