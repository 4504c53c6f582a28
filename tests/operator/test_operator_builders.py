"""builders: ExplainableModel -> InferenceService, pure, no cluster."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from xm_samples import BASE_SPEC, spec, with_field

from explainops_operator.builders import (
    ANNOTATION_RENDERED_HASH,
    EXPLAINER_CONTAINER,
    EXPLAINER_PARAM_NAMES,
    LABEL_MODEL,
    LABEL_MODEL_VERSION,
    PREDICTOR_CONTAINER,
    Owner,
    contains,
    explainer_params,
    inference_service_is_current,
    knative_feature_flags,
    model_storage,
    model_version_path,
    render_inference_service,
    sqlite_feedback_dsn,
)
from explainops_operator.errors import InvalidSpecError
from explainops_operator.kserve_rules import (
    ANNOTATION_DEPLOYMENT_MODE,
    KNATIVE_FLAG_PVC,
    KNATIVE_FLAG_PVC_WRITE,
    deployment_mode,
)
from explainops_operator.spec import ExplainerParams, parse_quantity, parse_spec

OWNER = Owner(name="breast-cancer", namespace="ml", uid="0f4c6f1e-0000-4000-8000-000000000001")
IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"


def render(spec_body: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return render_inference_service(OWNER, parse_spec(spec_body), version, default_image=IMAGE)


def containers(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["spec"]["predictor"]["containers"]}


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_shape_names_labels_and_owner() -> None:
    body = render(BASE_SPEC)
    assert body["apiVersion"] == "serving.kserve.io/v1beta1"
    assert body["kind"] == "InferenceService"
    meta = body["metadata"]
    assert (meta["name"], meta["namespace"]) == ("breast-cancer", "ml")
    assert meta["labels"][LABEL_MODEL] == "breast-cancer"
    assert meta["labels"][LABEL_MODEL_VERSION] == "v1"
    assert meta["ownerReferences"] == [
        {"apiVersion": "explainops.dev/v1alpha1", "kind": "ExplainableModel", "name": "breast-cancer",
         "uid": OWNER.uid, "controller": True, "blockOwnerDeletion": True}
    ]
    assert list(containers(body)) == [PREDICTOR_CONTAINER, EXPLAINER_CONTAINER]


def test_sidecar_split_roles_ports_and_model_uri() -> None:
    found = containers(render(BASE_SPEC, version="v7"))
    serving, explainer = found[PREDICTOR_CONTAINER], found[EXPLAINER_CONTAINER]
    for container in (serving, explainer):
        assert container["image"] == IMAGE
        assert container["command"] == ["explainops-server"]
        assert container["args"][0] == "serve"
        assert flag(container["args"], "--model-name") == "breast-cancer"
        assert flag(container["args"], "--model-uri") == "/var/lib/explainops/models/breast-cancer/v7"
        assert flag(container["args"], "--model-format") == "skops"
    # kserve-container receives the pod's traffic and hands explanations to the sidecar over localhost.
    assert flag(serving["args"], "--role") == "predictor"
    assert flag(serving["args"], "--explainer-url") == "http://127.0.0.1:8081"
    assert (flag(serving["args"], "--host"), flag(serving["args"], "--http-port")) == ("0.0.0.0", "8080")
    assert serving["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert serving["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert flag(explainer["args"], "--role") == "explainer"
    assert (flag(explainer["args"], "--host"), flag(explainer["args"], "--http-port")) == ("127.0.0.1", "8081")
    # Knative allows ports and probes on the serving container only.
    assert not {"ports", "readinessProbe", "livenessProbe", "startupProbe"} & set(explainer)


def test_in_process_placement_is_one_container() -> None:
    (only,) = render(with_field("explainer.placement", "InProcess"))["spec"]["predictor"]["containers"]
    assert only["name"] == PREDICTOR_CONTAINER
    assert flag(only["args"], "--role") == "standalone"
    assert "--explainer-url" not in only["args"]
    assert flag(only["args"], "--explainer") == "tree_shap"


def test_the_sidecar_has_its_own_resources() -> None:
    body = render(with_field("explainer.resources", {"requests": {"cpu": "2", "memory": "1Gi"},
                                                     "limits": {"cpu": "3", "memory": "2Gi"}}))
    found = containers(body)
    assert found[EXPLAINER_CONTAINER]["resources"] == {"requests": {"cpu": "2", "memory": "1Gi"},
                                                       "limits": {"cpu": "3", "memory": "2Gi"}}
    assert found[PREDICTOR_CONTAINER]["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"},
                                                       "limits": {"cpu": "1", "memory": "1Gi"}}
    with pytest.raises(InvalidSpecError, match=r"spec\.explainer\.resources\.requests"):
        parse_spec(with_field("explainer.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}))


@pytest.mark.parametrize(
    ("explainer", "name", "params"),
    [
        ({"type": "TreeShap"}, "tree_shap", {}),
        ({"type": "TreeShap", "params": {"featurePerturbation": "treePathDependent"}}, "tree_shap",
         {"feature_perturbation": "tree_path_dependent"}),
        ({"type": "TreeShap", "params": {"featurePerturbation": "interventional", "backgroundSize": 100}},
         "tree_shap", {"feature_perturbation": "interventional", "background_size": 100}),
        ({"type": "KernelShap", "params": {"nsamples": 200, "link": "logit"}}, "kernel_shap",
         {"nsamples": 200, "link": "logit"}),
        ({"type": "AnchorTabular", "params": {"threshold": 0.95, "coverageSamples": 500, "batchSize": 100,
                                              "beamSize": 2, "maxAnchorSize": 4,
                                              "discretizerPercentiles": [25, 50, 75]}},
         "anchor_tabular", {"threshold": 0.95, "coverage_samples": 500, "batch_size": 100, "beam_size": 2,
                            "max_anchor_size": 4, "disc_perc": [25, 50, 75]}),
        ({"type": "ALE", "params": {"minBinPoints": 8}}, "ale", {"min_bin_points": 8}),
    ],
    ids=["treeshap-default", "treeshap-path", "treeshap-interventional", "kernelshap", "anchors", "ale"],
)
def test_explainer_args(explainer: dict[str, Any], name: str, params: dict[str, Any]) -> None:
    args = containers(render(spec(explainer=explainer)))[EXPLAINER_CONTAINER]["args"]
    assert flag(args, "--explainer") == name
    assert json.loads(flag(args, "--explainer-params")) == params


def test_explainer_timeouts_workers_and_cache() -> None:
    body = render(spec(explainer={"type": "KernelShap", "timeoutSeconds": 45, "workers": 3,
                                  "cache": {"enabled": True, "maxEntries": 99}}))
    args = containers(body)[EXPLAINER_CONTAINER]["args"]
    assert (flag(args, "--explain-timeout"), flag(args, "--explain-workers")) == ("45", "3")
    assert flag(args, "--explain-cache-size") == "0"  # the serving container caches what it returns
    assert flag(containers(body)[PREDICTOR_CONTAINER]["args"], "--explain-cache-size") == "99"
    assert body["spec"]["predictor"]["timeout"] == 55  # KServe must not cut an explanation short
    disabled = render(spec(explainer={"type": "KernelShap", "cache": {"enabled": False, "maxEntries": 99}}))
    assert flag(containers(disabled)[PREDICTOR_CONTAINER]["args"], "--explain-cache-size") == "0"


def test_sqlite_store_is_in_the_model_root_and_needs_no_secret() -> None:
    explainer = containers(render(BASE_SPEC))[PREDICTOR_CONTAINER]
    assert flag(explainer["args"], "--feedback-store") == "sqlite:////var/lib/explainops/models/breast-cancer/feedback.db"
    assert "EXPLAINOPS_FEEDBACK_STORE" not in env(explainer)


def test_secrets_reach_the_serving_container_as_env_never_as_args() -> None:
    body = render(spec(
        serving={"replicas": 2, "authTokenSecretRef": {"name": "tok", "key": "token"}},
        feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}},
    ))
    found = containers(body)
    serving_env = env(found[PREDICTOR_CONTAINER])
    assert serving_env["EXPLAINOPS_FEEDBACK_STORE"] == {"secretKeyRef": {"name": "pg", "key": "dsn"}}
    assert serving_env["EXPLAINOPS_AUTH_TOKEN"] == {"secretKeyRef": {"name": "tok", "key": "token"}}
    assert "--feedback-store" not in found[PREDICTOR_CONTAINER]["args"]
    # The sidecar records nothing and is reachable over localhost only: no store, no token.
    assert not {"EXPLAINOPS_FEEDBACK_STORE", "EXPLAINOPS_AUTH_TOKEN"} & set(env(found[EXPLAINER_CONTAINER]))


def test_replicas_resources_image_override() -> None:
    body = render(spec(
        serving={"replicas": 2, "maxReplicas": 4, "image": "registry.local/srv:2",
                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
        feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}},
    ))
    predictor = body["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)
    for container in predictor["containers"]:
        assert container["image"] == "registry.local/srv:2"
    # The cpu limit is rendered (KServe's default, 1): KServe's webhook has nothing left to add.
    assert containers(body)[PREDICTOR_CONTAINER]["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"},
                                                                 "limits": {"memory": "2Gi", "cpu": "1"}}
    assert render(BASE_SPEC)["spec"]["predictor"]["maxReplicas"] == 1


def test_hardened_security_context() -> None:
    predictor = render(BASE_SPEC)["spec"]["predictor"]
    assert "securityContext" not in predictor  # Knative refuses a pod-level one by default
    assert predictor["automountServiceAccountToken"] is False
    for container in predictor["containers"]:
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx["runAsUser"] == ctx["runAsGroup"] == 10001
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize(
    ("uri", "root", "claim"),
    [
        ("file:///models/bc", "/models/bc", None),
        ("file:///models/bc/", "/models/bc", None),
        ("pvc://models/bc", "/mnt/models/bc", "models"),
        ("pvc://models", "/mnt/models", "models"),
        ("pvc://models/a/b/", "/mnt/models/a/b", "models"),
    ],
)
def test_model_storage(uri: str, root: str, claim: str | None) -> None:
    storage = model_storage(uri)
    assert storage.root == root
    if claim is None:
        assert storage.volume is None
    else:
        assert storage.volume == {"name": "model-store", "persistentVolumeClaim": {"claimName": claim}}
    assert model_version_path(uri, "v2") == f"{root}/v2"
    assert sqlite_feedback_dsn(uri) == f"sqlite:///{root}/feedback.db"


def test_pvc_volume_read_only_except_for_the_sqlite_writer() -> None:
    sqlite_body = render(with_field("model.storageUri", "pvc://models/bc"))
    mounts = {c["name"]: c["volumeMounts"] for c in sqlite_body["spec"]["predictor"]["containers"]}
    assert {"name": "model-store", "mountPath": "/mnt/models", "readOnly": False} in mounts[PREDICTOR_CONTAINER]
    assert {"name": "model-store", "mountPath": "/mnt/models", "readOnly": True} in mounts[EXPLAINER_CONTAINER]
    assert {"name": "model-store", "persistentVolumeClaim": {"claimName": "models"}} in sqlite_body["spec"][
        "predictor"]["volumes"]


def test_unsupported_storage_scheme() -> None:
    with pytest.raises(InvalidSpecError, match=r"^spec\.model\.storageUri"):
        model_storage("s3://bucket/model")


def test_every_explainer_param_has_a_server_spelling() -> None:
    crd_names = {field.alias for field in ExplainerParams.model_fields.values()}
    assert set(EXPLAINER_PARAM_NAMES) == crd_names
    parsed = parse_spec(with_field("explainer", {"type": "TreeShap", "params": {"featurePerturbation": "interventional",
                                                                                "backgroundSize": 20}}))
    assert explainer_params(parsed.explainer) == {"feature_perturbation": "interventional", "background_size": 20}


def test_trust_pickle_flag() -> None:
    body = render(with_field("model", {"storageUri": "file:///m", "version": "v1", "format": "joblib",
                                       "trustPickle": True}))
    for container in body["spec"]["predictor"]["containers"]:
        assert "--trust-pickle" in container["args"]
        assert flag(container["args"], "--model-format") == "joblib"


def test_rendering_is_deterministic_and_hash_tracks_changes() -> None:
    first, second = render(BASE_SPEC), render(BASE_SPEC)
    assert first == second
    other = render(with_field("explainer.timeoutSeconds", 31))
    assert first["metadata"]["annotations"][ANNOTATION_RENDERED_HASH] != other["metadata"]["annotations"][
        ANNOTATION_RENDERED_HASH]
    assert render(BASE_SPEC, "v2")["metadata"]["annotations"] != first["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("actual", "desired", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1}}, True),
        ({"a": [{"x": 1, "k": 0}]}, {"a": [{"x": 1}]}, True),
        ({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 1}]}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": None}, {"a": {}}, False),
    ],
)
def test_contains(actual: Any, desired: Any, expected: bool) -> None:
    assert contains(actual, desired) is expected


def test_is_current_ignores_server_defaults_but_not_drift() -> None:
    desired = render(BASE_SPEC)
    live = copy.deepcopy(desired)
    live["metadata"].update({"uid": "x", "resourceVersion": "9", "generation": 1})
    live["spec"]["predictor"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"  # a server default
    live["status"] = {"url": "http://x"}
    assert inference_service_is_current(desired, live)
    assert not inference_service_is_current(desired, None)
    drifted = copy.deepcopy(live)
    drifted["spec"]["predictor"]["minReplicas"] = 5  # edited out of band
    assert not inference_service_is_current(desired, drifted)
    stale = copy.deepcopy(live)
    stale["metadata"]["annotations"][ANNOTATION_RENDERED_HASH] = "old"  # rendered from another spec
    assert not inference_service_is_current(desired, stale)


# --------------------------------------------------------------------------- what KServe and Knative accept

# Knative Serving's admission rules with its default config-features (pkg/apis/serving fieldmask.go and
# k8s_validation.go, restated): the fields a revision's pod and containers may carry.
KNATIVE_POD_FIELDS = {"serviceAccountName", "containers", "volumes", "imagePullSecrets", "enableServiceLinks",
                      "automountServiceAccountToken"}
KNATIVE_CONTAINER_SECURITY_FIELDS = {"capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup",
                                     "runAsNonRoot", "allowPrivilegeEscalation", "seccompProfile", "privileged"}
# InferenceService predictor fields that are KServe's own, not the pod's.
KSERVE_COMPONENT_FIELDS = {"minReplicas", "maxReplicas", "timeout", "labels", "annotations", "deploymentStrategy"}


def knative_refusals(body: dict[str, Any], flags: set[str] = frozenset()) -> list[str]:
    """Why Knative's webhook would refuse the revision KServe makes of this predictor (empty: admitted)."""
    predictor = body["spec"]["predictor"]
    pod = {k: v for k, v in predictor.items() if k not in KSERVE_COMPONENT_FIELDS}
    refusals = [f"pod field {k}" for k in pod if k not in KNATIVE_POD_FIELDS]
    if "deploymentStrategy" in predictor:
        refusals.append("deploymentStrategy (KServe: raw deployment only)")
    if predictor.get("timeout", 0) > 600:
        refusals.append("timeout above max-revision-timeout-seconds")
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= {"emptyDir", "persistentVolumeClaim", "secret", "configMap"}
        claim = volume.get("persistentVolumeClaim")
        if claim is not None and "kubernetes.podspec-persistent-volume-claim" not in flags:
            refusals.append(f"persistent volume claim {claim['claimName']}")
        if claim is not None and not claim.get("readOnly") and "kubernetes.podspec-persistent-volume-write" not in flags:
            refusals.append(f"writable persistent volume claim {claim['claimName']}")
    ported = [c for c in pod["containers"] if c.get("ports")]
    if len(ported) != 1:
        refusals.append("exactly one container must expose a port")
    for container in ported:
        refusals += [f"port name {p.get('name')}" for p in container["ports"] if p.get("name") not in ("http1", "h2c")]
    for container in pod["containers"]:
        if container["name"] == "queue-proxy":
            refusals.append("reserved container name queue-proxy")
        refusals += [f"reserved env {e['name']}" for e in container.get("env", [])
                     if e["name"] in ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")]
        refusals += [f"reserved mountPath {m['mountPath']}" for m in container.get("volumeMounts", [])
                     if m["mountPath"].rstrip("/") in ("", "/dev", "/dev/log")]
        # queue-proxy and Knative's probes use these ports inside the same pod.
        args = container.get("args", [])
        listening = [int(args[args.index("--http-port") + 1])] if "--http-port" in args else []
        listening += [p["containerPort"] for p in container.get("ports", [])]
        refusals += [f"{container['name']} uses Knative's port {p}" for p in listening
                     if p in (8012, 8013, 8022, 9090, 9091, 8008)]
        extra = set(container.get("securityContext", {})) - KNATIVE_CONTAINER_SECURITY_FIELDS
        refusals += [f"{container['name']}.securityContext.{k}" for k in extra]
        if container.get("securityContext", {}).get("privileged"):
            refusals.append(f"{container['name']} privileged")
        if container not in ported:
            refusals += [f"{container['name']}.{p} on a sidecar" for p in ("livenessProbe", "readinessProbe",
                                                                           "startupProbe") if p in container]
    return refusals


@pytest.mark.parametrize(
    "spec_body",
    [BASE_SPEC, with_field("explainer.timeoutSeconds", 600),
     spec(feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}},
          serving={"authTokenSecretRef": {"name": "t", "key": "k"}})],
    ids=["default", "longest-timeout", "postgres-token"],
)
def test_knative_admits_the_default_render(spec_body: dict[str, Any]) -> None:
    body = render(spec_body)
    assert knative_refusals(body) == []
    assert knative_feature_flags(parse_spec(spec_body)) == []
    assert body["spec"]["predictor"]["timeout"] <= 600


def test_pvc_needs_named_knative_flags() -> None:
    sqlite = with_field("model.storageUri", "pvc://models/bc")
    postgres = spec(model={"storageUri": "pvc://models/bc", "version": "v1"},
                    feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}})
    # SQLite writes to the claim: both flags. PostgreSQL: the claim is mounted read-only, one flag.
    assert knative_feature_flags(parse_spec(sqlite)) == [KNATIVE_FLAG_PVC, KNATIVE_FLAG_PVC_WRITE]
    assert knative_feature_flags(parse_spec(postgres)) == [KNATIVE_FLAG_PVC]
    for spec_body in (sqlite, postgres):
        body = render(spec_body)
        flags = set(knative_feature_flags(parse_spec(spec_body)))
        assert knative_refusals(body, flags) == []
        assert knative_refusals(body, flags - {KNATIVE_FLAG_PVC})  # each flag is really needed
    claim = next(v for v in render(postgres)["spec"]["predictor"]["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}


def test_deployment_mode_annotation_and_standard_only_fields() -> None:
    assert ANNOTATION_DEPLOYMENT_MODE not in render(BASE_SPEC)["metadata"]["annotations"]
    knative = render(with_field("serving.deploymentMode", "Knative"))
    assert knative["metadata"]["annotations"][ANNOTATION_DEPLOYMENT_MODE] == "Knative"
    assert knative_refusals(knative) == []
    standard = render(spec(model={"storageUri": "pvc://models/bc", "version": "v1"},
                           serving={"deploymentMode": "Standard"}))
    predictor = standard["spec"]["predictor"]
    assert standard["metadata"]["annotations"][ANNOTATION_DEPLOYMENT_MODE] == "Standard"
    assert predictor["deploymentStrategy"] == {"type": "Recreate"}  # one SQLite writer, RWO claim released
    assert predictor["securityContext"] == {"fsGroup": 10001}  # the SQLite file on the claim is writable
    # Exactly what Knative would refuse, which is why only Standard mode gets it.
    assert set(knative_refusals(standard, {KNATIVE_FLAG_PVC, KNATIVE_FLAG_PVC_WRITE})) == {
        "pod field securityContext", "deploymentStrategy (KServe: raw deployment only)"}
    # PostgreSQL in Standard mode: rolling updates stay (no single writer to protect).
    pg = render(spec(serving={"deploymentMode": "Standard"},
                     feedback={"store": "postgres", "dsnSecretRef": {"name": "pg", "key": "dsn"}}))
    assert "deploymentStrategy" not in pg["spec"]["predictor"]


@pytest.mark.parametrize(
    ("live_status", "annotation", "expected"),
    [({}, None, "Knative"), ({}, "Standard", "Standard"), ({"deploymentMode": "RawDeployment"}, None, "Standard"),
     ({"deploymentMode": "Serverless"}, "Standard", "Knative"), ({"deploymentMode": "Standard"}, None, "Standard")],
)
def test_deployment_mode_follows_kserve(live_status: dict[str, str], annotation: str | None, expected: str) -> None:
    parsed = parse_spec(with_field("serving.deploymentMode", annotation))
    assert deployment_mode(parsed, {"status": live_status}) == expected


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"requests": {"cpu": "2"}}, {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}),
        ({"limits": {"cpu": "500m", "memory": "1Gi"}},
         {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
        ({"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
         {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        ({"requests": {"cpu": 3, "nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}},
         {"requests": {"cpu": "3", "nvidia.com/gpu": "1", "memory": "2Gi"},
          "limits": {"nvidia.com/gpu": "1", "cpu": "3", "memory": "2Gi"}}),
    ],
    ids=["request-above-kserve-limit", "limits-only", "crd-default", "extended-resource"],
)
def test_resources_are_explicit_and_requests_never_exceed_limits(resources: dict, expected: dict) -> None:
    body = spec(serving={"resources": resources}, explainer={"type": "KernelShap", "resources": resources})
    for container in containers(render(body)).values():  # the serving container's and the sidecar's
        assert container["resources"] == expected
        for name, request in container["resources"]["requests"].items():
            assert parse_quantity(request) <= parse_quantity(container["resources"]["limits"][name])


def test_quantities_canonicalised_by_kserve_still_count_as_current() -> None:
    desired = render(with_field("serving.resources", {"requests": {"cpu": "0.5", "memory": "0.5Gi"},
                                                      "limits": {"memory": "1Gi"}}))
    live = copy.deepcopy(desired)
    for container in live["spec"]["predictor"]["containers"]:
        container["resources"]["requests"].update(cpu="500m", memory="512Mi")  # as the webhook writes them
    assert inference_service_is_current(desired, live)
    for container in live["spec"]["predictor"]["containers"]:
        container["resources"]["requests"]["cpu"] = "600m"  # a real difference still is one
    assert not inference_service_is_current(desired, live)
