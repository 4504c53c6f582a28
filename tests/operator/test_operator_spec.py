"""The typed spec (spec.py): pure, no cluster. It must agree with the CRD on every field, default,
enum and bound, and reject what the CRD rejects."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from xm_samples import BASE_SPEC, CRD_REJECTED, spec, with_field

from explainops_operator.errors import InvalidSpecError
from explainops_operator.spec import (
    EXPLAINER_PARAM_TYPES,
    EXPLAINER_TYPES,
    ExplainableModelSpec,
    parse_quantity,
    parse_spec,
    served_version,
    validate_name,
)

CRD = Path(__file__).resolve().parents[2] / "crds" / "explainops.dev_explainablemodels.yaml"
# Schema keywords that state a fact both sides must agree on.
FACETS = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties",
          "pattern")


def crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


def model_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    schema = ExplainableModelSpec.model_json_schema(by_alias=True, mode="validation")
    return schema, schema.get("$defs", {})


def resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and drop the `null` of an optional field (absent and null mean the same here)."""
    if "$ref" in node:
        return resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    members = [m for m in node.get("anyOf", []) if m.get("type") != "null"]
    if "anyOf" in node and len(members) == 1:
        return resolve({**{k: v for k, v in node.items() if k != "anyOf"}, **members[0]}, defs)
    return node


def compare(crd: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], path: str, seen: list[str]) -> None:
    model = resolve(model, defs)
    seen.append(path)
    if crd.get("x-kubernetes-int-or-string"):
        kinds = {m.get("type"): m for m in model.get("anyOf", [])}
        assert set(kinds) == {"integer", "string"}, path
        for facet in ("pattern", "maxLength"):
            assert kinds["string"].get(facet) == crd.get(facet), f"{path}: {facet}"
        return
    for facet in FACETS:
        assert crd.get(facet) == model.get(facet), f"{path}: {facet} is {crd.get(facet)!r} in the CRD, " \
                                                   f"{model.get(facet)!r} in the typed spec"
    if "default" in model:  # leaf defaults; object defaults are compared as a whole below
        assert crd.get("default") == model["default"], f"{path}: default"
    if "properties" in crd or "properties" in model:
        crd_props, model_props = crd.get("properties", {}), model.get("properties", {})
        assert set(crd_props) == set(model_props), f"{path}: fields differ"
        assert set(crd.get("required", [])) == set(model.get("required", [])), f"{path}: required differs"
        for name in crd_props:
            compare(crd_props[name], model_props[name], defs, f"{path}.{name}", seen)
    if "additionalProperties" in crd:
        compare(crd["additionalProperties"], model["additionalProperties"], defs, f"{path}.*", seen)
    if "items" in crd:
        compare(crd["items"], model["items"], defs, f"{path}[]", seen)


def test_every_field_enum_and_bound_agrees_with_the_crd() -> None:
    schema, defs = model_schema()
    seen: list[str] = []
    compare(crd_spec_schema(), schema, defs, "spec", seen)
    # The walk reached the leaves (a broken walk would compare nothing and pass).
    assert {"spec.explainer.params.discretizerPercentiles[]", "spec.serving.resources.limits.*",
            "spec.retraining.gate.minImprovement", "spec.feedback.dsnSecretRef.key"} <= set(seen)
    assert len(seen) > 60


def apply_crd_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: a missing field with a default gets it, then
    the objects (given or defaulted) get their fields' defaults."""
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    out = copy.deepcopy(value)
    for name, sub in schema["properties"].items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if name in out:
            out[name] = apply_crd_defaults(sub, out[name])
    return out


@pytest.mark.parametrize(
    "spec_body",
    [BASE_SPEC, spec(explainer={"type": "AnchorTabular", "cache": {}}, retraining={"gate": {}}),
     spec(serving={"resources": {"requests": {"cpu": 1}}}, feedback={"thresholds": {}})],
    ids=["minimal", "empty-sections", "partial-resources"],
)
def test_defaults_agree_with_the_crd(spec_body: dict[str, Any]) -> None:
    defaulted = apply_crd_defaults(crd_spec_schema(), spec_body)
    assert parse_spec(spec_body).model_dump(by_alias=True, exclude_none=True) == defaulted
    # Parsing what the API server stored changes nothing either.
    assert parse_spec(defaulted).model_dump(by_alias=True, exclude_none=True) == defaulted


def test_explainer_param_rules_agree_with_the_crd_cel() -> None:
    rules = crd_spec_schema()["properties"]["explainer"]["x-kubernetes-validations"]
    from_cel: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        param = re.search(r"has\(self\.params\.(\w+)\)", rule["rule"]).group(1)
        types = re.findall(r"'(\w+)'", rule["rule"].split("||")[0])
        from_cel[param] = tuple(types)
    assert from_cel == EXPLAINER_PARAM_TYPES
    assert all(set(types) <= set(EXPLAINER_TYPES) for types in from_cel.values())


def test_full_spec_is_typed() -> None:
    parsed = parse_spec(
        spec(
            model={"storageUri": "pvc://models/bc", "version": "v3", "pinnedVersion": "v2", "format": "joblib",
                   "trustPickle": True},
            explainer={"type": "AnchorTabular", "params": {"threshold": 0.9, "batchSize": 50}, "timeoutSeconds": 60,
                       "workers": 4, "cache": {"enabled": False, "maxEntries": 10}},
            serving={"replicas": 2, "maxReplicas": 5, "image": "registry.local/server:1",
                     "resources": {"requests": {"cpu": 1}, "limits": {"cpu": "2"}},
                     "authTokenSecretRef": {"name": "tok", "key": "token"}},
            feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}, "window": 50,
                      "thresholds": {"minLabelled": 5, "maxErrorRate": 0.1, "minExplanationRating": 3}},
            retraining={"enabled": True, "trainingDataUri": "file:///data/train.csv", "cooldownSeconds": 0,
                        "gate": {"metric": "feedbackAccuracy", "minImprovement": 0.02}},
        )
    )
    assert parsed.model.pinned_version == "v2"
    assert parsed.explainer.given_params() == {"threshold": 0.9, "batchSize": 50}
    assert parsed.explainer.cache.enabled is False
    assert parsed.serving.resources.as_dict() == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
    assert parsed.serving.auth_token_secret_ref is not None and parsed.serving.auth_token_secret_ref.key == "token"
    assert parsed.feedback.dsn_secret_ref is not None and parsed.feedback.dsn_secret_ref.name == "pg"
    assert parsed.feedback.thresholds.min_explanation_rating == 3.0
    assert parsed.retraining.cooldown_seconds == 0
    assert parsed.retraining.gate.min_improvement == 0.02


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("trustPickle not bool", with_field("model.trustPickle", "yes"), "spec.model.trustPickle"),
    ("unknown param", with_field("explainer.params", {"depth": 3}), "spec.explainer.params.depth"),
    ("unknown field", with_field("serving.replica", 2), "spec.serving.replica"),
    ("integer as string", with_field("feedback.window", "50"), "spec.feedback.window"),
    ("quantity not a quantity", with_field("serving.resources", {"limits": {"memory": "lots"}}),
     "spec.serving.resources.limits.memory"),
    ("request over limit by value", with_field("serving.resources", {"requests": {"cpu": "1.5"},
                                                                    "limits": {"cpu": "1500m"}}), None),
    ("request over limit", with_field("serving.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}),
     "spec.serving.resources.requests"),
    ("section not object", with_field("serving", [1]), "spec.serving"),
]


@pytest.mark.parametrize(("spec_body", "field"), [(s, f) for _, s, f in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_names_the_field(spec_body: dict[str, Any], field: str | None) -> None:
    if field is None:  # a control: equal by value is not "over"
        parse_spec(spec_body)
        return
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(spec_body)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def test_a_bad_quantity_is_reported_as_one() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec(with_field("serving.resources", {"requests": {"cpu": "lots"}}))
    assert caught.value.field == "spec.serving.resources.requests.cpu"
    assert "pattern" in caught.value.message and "'lots'" in caught.value.message


@pytest.mark.parametrize(("name", "spec_body", "expected"), [c[1:] for c in CRD_REJECTED],
                         ids=[c[0] for c in CRD_REJECTED])
def test_what_the_crd_rejects_the_typed_spec_rejects(name: str, spec_body: dict[str, Any], expected: str) -> None:
    """The same table the API server is tested with: the field named by the typed spec is the one the
    API server's message names."""
    with pytest.raises(InvalidSpecError) as caught:
        validate_name(name)
        parse_spec(spec_body)
    named = re.match(r"[\w.]+", expected).group(0)  # "spec.model: Required value" -> "spec.model"
    assert caught.value.field == named


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("500m", "0.5"), ("0.5", "0.5"), (2, "2"), ("512Mi", str(512 * 2**20)), ("0.5Gi", str(512 * 2**20)),
     ("1k", "1000"), ("1e3", "1000"), ("100u", "0.0001")],
)
def test_quantities_compare_by_value(quantity: str | int, value: str) -> None:
    assert parse_quantity(quantity) == parse_quantity(value)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("breast-cancer", True), ("a", True), ("x" * 45, True), ("x" * 46, False), ("1model", False),
     ("Model", False), ("model-", False), ("mo.del", False)],
)
def test_validate_name(name: str, ok: bool) -> None:
    if ok:
        validate_name(name)
    else:
        with pytest.raises(InvalidSpecError, match=r"^metadata\.name"):
            validate_name(name)


@pytest.mark.parametrize(
    ("model", "status", "expected"),
    [
        ({}, None, "v1"),
        ({}, {}, "v1"),
        ({}, {"modelVersion": "v3"}, "v3"),
        ({"pinnedVersion": "v2"}, {"modelVersion": "v3"}, "v2"),
        ({"pinnedVersion": "v2"}, None, "v2"),
    ],
    ids=["initial", "empty-status", "promoted", "pinned-over-promoted", "pinned-initial"],
)
def test_served_version(model: dict[str, str], status: dict[str, str] | None, expected: str) -> None:
    parsed = parse_spec(with_field("model", {**BASE_SPEC["model"], **model}))
    assert served_version(parsed, status) == expected
