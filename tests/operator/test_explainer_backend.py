"""spec.explainer.backend: the default backend, the alibi flavour's image and server flag, and the CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from xm_samples import with_field

from explainops_operator.builders import (
    EXPLAINER_CONTAINER,
    PREDICTOR_CONTAINER,
    Owner,
    render_inference_service,
)
from explainops_operator.errors import InvalidSpecError
from explainops_operator.spec import ExplainerBackend, parse_spec

EXPLAINER_BACKENDS = get_args(ExplainerBackend)

OWNER = Owner(name="breast-cancer", namespace="ml", uid="0f4c6f1e-0000-4000-8000-000000000001")
IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"
CRD = Path(__file__).parents[2] / "crds" / "explainops.dev_explainablemodels.yaml"


def rendered(spec_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    body = render_inference_service(OWNER, parse_spec(spec_body), "v1", default_image=IMAGE)
    return {c["name"]: c for c in body["spec"]["predictor"]["containers"]}


def backend_flag(container: dict[str, Any]) -> str:
    args = container["args"]
    return args[args.index("--explainer-backend") + 1]


def test_the_default_backend_is_the_projects_own_on_the_default_image():
    containers = rendered(with_field("explainer.backend", None))
    assert backend_flag(containers[EXPLAINER_CONTAINER]) == "explainops"
    assert {c["image"] for c in containers.values()} == {IMAGE}


def test_the_alibi_backend_runs_the_alibi_flavour_of_the_image():
    containers = rendered(with_field("explainer.backend", "alibi"))
    assert backend_flag(containers[EXPLAINER_CONTAINER]) == "alibi"
    assert containers[EXPLAINER_CONTAINER]["image"] == containers[PREDICTOR_CONTAINER]["image"] == IMAGE + "-alibi"


def test_an_explicit_image_wins_over_the_flavour():
    body = with_field("serving.image", "registry.local/custom:1", with_field("explainer.backend", "alibi"))
    assert rendered(body)[EXPLAINER_CONTAINER]["image"] == "registry.local/custom:1"


def test_an_unknown_backend_names_the_field():
    with pytest.raises(InvalidSpecError, match=r"spec\.explainer\.backend.*'explainops' or 'alibi'"):
        parse_spec(with_field("explainer.backend", "lime"))


def test_the_crd_declares_the_same_backends_with_the_same_default():
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    backend = schema["properties"]["spec"]["properties"]["explainer"]["properties"]["backend"]
    assert tuple(backend["enum"]) == EXPLAINER_BACKENDS
    assert backend["default"] == EXPLAINER_BACKENDS[0] == "explainops"
    assert "Business Source License" in backend["description"]
