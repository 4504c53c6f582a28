"""The operator and the server agree: every explainer parameter the CRD accepts, once rendered by the
operator into the sidecar's args, is accepted by the server's explainer registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from explainops_operator.builders import Owner, render_inference_service
from explainops_operator.spec import parse_spec
from explainops_server.explainers.registry import build_explainer
from explainops_server.models.artifact import read_feature_csv, read_metadata
from explainops_server.models.example import train_example
from explainops_server.models.tabular import TabularModel

CRD = Path(__file__).resolve().parents[2] / "crds" / "explainops.dev_explainablemodels.yaml"
OWNER = Owner(name="breast-cancer", namespace="ml", uid="0f4c6f1e-0000-4000-8000-000000000002")

# A valid value for every parameter of every explainer type, in the CRD's spelling.
PARAMS_BY_TYPE: dict[str, dict[str, Any]] = {
    "AnchorTabular": {
        "threshold": 0.9,
        "coverageSamples": 200,
        "batchSize": 100,
        "beamSize": 1,
        "maxAnchorSize": 3,
        "discretizerPercentiles": [25, 50, 75],
    },
    "KernelShap": {"nsamples": 50, "link": "logit", "backgroundSize": 10},
    "TreeShap": {"featurePerturbation": "interventional", "backgroundSize": 20},
    "ALE": {"minBinPoints": 8},
}


def _crd_params() -> set[str]:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["spec"]["properties"]["explainer"]["properties"]["params"]["properties"])


def test_every_crd_parameter_is_exercised() -> None:
    covered = set().union(*(p.keys() for p in PARAMS_BY_TYPE.values()))
    assert covered == _crd_params()


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[TabularModel, np.ndarray]:
    root = tmp_path_factory.mktemp("contract")
    out = train_example(root / "models" / "m", root / "data" / "m", seed=0, n_estimators=5, max_depth=3)
    model = TabularModel("m", str(out.version_dir))
    model.load()
    names = read_metadata(out.version_dir).feature_names
    background, _ = read_feature_csv(out.version_dir / "background.csv", names)
    return model, background


@pytest.mark.parametrize("explainer_type", sorted(PARAMS_BY_TYPE))
def test_rendered_explainer_args_are_accepted_by_the_server(
    explainer_type: str, small_model: tuple[TabularModel, np.ndarray]
) -> None:
    spec = {
        "model": {"storageUri": "file:///models/breast-cancer", "version": "v1"},
        "explainer": {"type": explainer_type, "params": PARAMS_BY_TYPE[explainer_type]},
    }
    isvc = render_inference_service(
        OWNER, parse_spec(spec), "v1", default_image="ghcr.io/explainops/explainops-server:0.1.0"
    )
    sidecar = next(c for c in isvc["spec"]["predictor"]["containers"] if c["name"] == "kserve-container")
    args = sidecar["args"]
    name = args[args.index("--explainer") + 1]
    params = json.loads(args[args.index("--explainer-params") + 1])
    assert len(params) == len(PARAMS_BY_TYPE[explainer_type])

    model, background = small_model
    explainer = build_explainer(name, model, background, params)
    if explainer_type == "ALE":
        assert len(explainer.explain_global()["features"]) == len(model.feature_names)
    else:
        assert explainer.explain_row(background[0])["type"]


@pytest.mark.parametrize("scope", ["feedback", "all"])
def test_every_auth_scope_the_crd_accepts_reaches_the_server_setting(scope):
    import typing

    from explainops_server.settings import ServerSettings

    serving = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"]["properties"]["serving"]["properties"]
    assert serving["authScope"]["enum"] == list(typing.get_args(ServerSettings.model_fields["auth_scope"].annotation))
    assert serving["authScope"]["default"] == ServerSettings.model_fields["auth_scope"].default
    spec = parse_spec({
        "model": {"storageUri": "file:///models/breast-cancer", "version": "v1"},
        "explainer": {"type": "TreeShap"},
        "serving": {"authScope": scope, "authTokenSecretRef": {"name": "tok", "key": "token"}},
    })
    body = render_inference_service(OWNER, spec, "v1", default_image="img:1")
    sidecar = next(c for c in body["spec"]["predictor"]["containers"] if c["name"] == "kserve-container")
    rendered = {e["name"]: e.get("value") for e in sidecar["env"]}
    settings = ServerSettings(model_name="m", model_uri="/m", **(
        {"auth_scope": rendered["EXPLAINOPS_AUTH_SCOPE"]} if "EXPLAINOPS_AUTH_SCOPE" in rendered else {}))
    assert settings.auth_scope == scope


def test_auth_scope_all_without_a_token_is_refused_by_the_operator_too():
    from explainops_operator.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="authScope"):
        parse_spec({
            "model": {"storageUri": "file:///models/breast-cancer", "version": "v1"},
            "explainer": {"type": "TreeShap"},
            "serving": {"authScope": "all"},
        })
    crd = CRD.read_text()
    assert "self.authScope == 'feedback' || has(self.authTokenSecretRef)" in crd  # the same rule, for the API server


@pytest.mark.parametrize("placement", ["Sidecar", "InProcess"])
def test_every_rendered_container_is_a_valid_server_command(placement: str) -> None:
    """Both containers of the split (and the one InProcess container) start with what the operator renders:
    the server's own parser and settings accept every argument, and the roles fit together."""
    from explainops_server.cli import build_parser, settings_from_args

    spec = parse_spec({
        "model": {"storageUri": "file:///models/breast-cancer", "version": "v1"},
        "explainer": {"type": "AnchorTabular", "placement": placement},
    })
    body = render_inference_service(OWNER, spec, "v1", default_image="img:1")
    parsed = {c["name"]: settings_from_args(build_parser().parse_args(c["args"]))
              for c in body["spec"]["predictor"]["containers"]}
    if placement == "InProcess":
        assert {name: s.role for name, s in parsed.items()} == {"kserve-container": "standalone"}
        return
    serving, sidecar = parsed["kserve-container"], parsed["explainer"]
    assert (serving.role, sidecar.role) == ("predictor", "explainer")
    assert serving.explainer_url == f"http://{sidecar.host}:{sidecar.http_port}"
    assert sidecar.host == "127.0.0.1"  # the sidecar is reachable from its own pod only
    # The predictor names and caches what the sidecar computes: the same explainer configuration.
    assert (serving.explainer, serving.explainer_params, serving.explain_timeout) == (
        sidecar.explainer, sidecar.explainer_params, sidecar.explain_timeout)
    assert sidecar.explain_cache_size == 0
