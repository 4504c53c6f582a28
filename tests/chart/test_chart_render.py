"""helm lint / helm template of charts/explainops, with default and non-default values (no cluster)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, REPO, HelmError

DIGEST = "sha256:" + "ab" * 32
NON_DEFAULT_VALUES: dict[str, Any] = {
    "fullnameOverride": "xops",
    "watchNamespaces": ["team-a", "team-b"],
    "crds": {"keep": False},
    "operator": {
        "image": {
            "repository": "registry.example.com/explainops-operator",
            "digest": DIGEST,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "regcred"}],
        "verbose": True,
        "healthPort": 9090,
        "extraEnv": [{"name": "EXPLAINOPS_OPERATOR_EXTRA", "value": "1"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "200Mi"},
            "limits": {"cpu": "1", "memory": "400Mi"},
        },
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {}},
        "podAnnotations": {"example.com/audit": "yes"},
        "podLabels": {"team": "platform"},
    },
    "server": {
        "image": {
            "repository": "registry.example.com/explainops-server",
            "tag": "0.1.0-rc1",
            "pullPolicy": "Always",
        }
    },
    "feedback": {
        "postgres": {
            "dsnSecret": {
                "create": True,
                "name": "feedback-pg",
                "key": "url",
                "dsn": "postgresql://u:pw@db/fb",
            }
        }
    },
    "serviceAccount": {"name": "xops-sa", "annotations": {"example.com/role": "operator"}},
    "rbac": {"secretNames": ["model-auth-token"]},
}

# What the operator calls (see README "RBAC"): (apiGroup, resource) -> verbs.
EXPECTED_RULES = {
    ("explainops.dev", "explainablemodels"): {"get", "list", "watch", "patch"},
    ("explainops.dev", "explainablemodels/status"): {"patch"},
    ("explainops.dev", "explainablemodels/finalizers"): {"update"},
    ("serving.kserve.io", "inferenceservices"): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "jobs"): {"get", "create"},
    ("", "pods"): {"list"},
    ("", "events"): {"create"},
}


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def only(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def rule_map(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def operator_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


# --------------------------------------------------------------------------- lint


@pytest.mark.parametrize("values", [{}, NON_DEFAULT_VALUES], ids=["defaults", "non-default"])
def test_helm_lint_strict_is_clean(helm_run, tmp_path: Path, values: dict[str, Any]) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    proc = helm_run(
        "lint", "--strict", str(CHART), "-f", str(values_file), "--namespace", "explainops-system"
    )
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


# --------------------------------------------------------------------------- defaults


def test_default_render_is_cluster_wide_with_the_crd(render) -> None:
    manifests = render()
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        ["CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"]
    )
    binding = only(manifests, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == only(manifests, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "xo-explainops-operator", "namespace": "explainops-system"}
    ]
    # No --namespace: the operator watches every namespace.
    assert operator_container(manifests)["args"] == ["--liveness=http://0.0.0.0:8080/healthz"]


def test_secure_defaults(render) -> None:
    manifests = render()
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is True
    assert only(manifests, "ServiceAccount")["automountServiceAccountToken"] is False

    container = operator_container(manifests)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])

    # Both probes hit kopf's liveness endpoint, which the args enable on the same port.
    (port,) = container["ports"]
    liveness_arg = next(a for a in container["args"] if a.startswith("--liveness="))
    assert liveness_arg == f"--liveness=http://0.0.0.0:{port['containerPort']}/healthz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}

    # The only writable path is an emptyDir at /tmp.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["image"] == "ghcr.io/explainops/explainops-operator:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env == {
        "EXPLAINOPS_OPERATOR_SERVER_IMAGE": "ghcr.io/explainops/explainops-server:0.1.0",
        "EXPLAINOPS_OPERATOR_IMAGE_PULL_POLICY": "IfNotPresent",
    }


# --------------------------------------------------------------------------- RBAC


@pytest.mark.parametrize("values", [{}, NON_DEFAULT_VALUES], ids=["cluster-wide", "namespaced"])
def test_rbac_grants_exactly_the_operator_calls(render, values: dict[str, Any]) -> None:
    manifests = render(values)
    roles = of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role")
    assert roles
    secret_names = values.get("rbac", {}).get("secretNames", [])
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"wildcard in {role['metadata']['name']}: {rule}"
            assert "nonResourceURLs" not in rule
            if "secrets" in rule["resources"]:
                # The one opt-in: get on named Secrets, in a namespaced Role only.
                assert role["kind"] == "Role"
                assert rule == {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": secret_names,
                    "verbs": ["get"],
                }
            else:
                assert "resourceNames" not in rule
        expected = dict(EXPECTED_RULES)
        if secret_names:
            expected[("", "secrets")] = {"get"}
        assert rule_map(role["rules"]) == expected


def test_secret_names_are_refused_in_cluster_wide_mode(render) -> None:
    with pytest.raises(HelmError, match="Secrets are never granted cluster-wide"):
        render({"rbac": {"secretNames": ["model-auth-token"]}})


def test_namespaced_mode_has_no_cluster_scoped_grant(render) -> None:
    manifests = render(NON_DEFAULT_VALUES, namespace="ops")
    assert not of_kind(manifests, "ClusterRole") and not of_kind(manifests, "ClusterRoleBinding")
    roles = of_kind(manifests, "Role")
    bindings = of_kind(manifests, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "xops-operator",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "xops-sa", "namespace": "ops"}]
    args = operator_container(manifests)["args"]
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]


def test_rbac_table_in_readme_matches_the_rules(render) -> None:
    readme = (CHART / "README.md").read_text()
    section = readme.split("## RBAC", 1)[1].split("\n## ", 1)[0]
    documented: dict[tuple[str, str], set[str]] = {}
    for group, resource, verbs in re.findall(
        r"^\| (`[^`]*`|core) \| `([^`]+)` \| ([a-z, ]+) \|", section, re.M
    ):
        documented[("" if group == "core" else group.strip("`"), resource)] = {
            v.strip() for v in verbs.split(",")
        }
    assert documented == rule_map(only(render(), "ClusterRole")["rules"])


def test_rbac_and_service_account_can_be_left_to_the_user(render) -> None:
    manifests = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "existing"}})
    assert sorted(m["kind"] for m in manifests) == ["CustomResourceDefinition", "Deployment"]
    assert only(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


# --------------------------------------------------------------------------- overrides


def test_non_default_values_reach_the_deployment(render) -> None:
    manifests = render(NON_DEFAULT_VALUES, namespace="ops")
    deployment = only(manifests, "Deployment")
    assert deployment["metadata"]["name"] == "xops-operator"
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/audit": "yes"}
    assert pod["metadata"]["labels"]["team"] == "platform"
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "xops-sa"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert spec["affinity"] == {"nodeAffinity": {}}
    container = operator_container(manifests)
    assert container["image"] == f"registry.example.com/explainops-operator@{DIGEST}"
    assert container["imagePullPolicy"] == "Always"
    assert "--verbose" in container["args"]
    assert "--liveness=http://0.0.0.0:9090/healthz" in container["args"]
    assert container["ports"][0]["containerPort"] == 9090
    assert container["resources"]["limits"]["memory"] == "400Mi"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env == {
        "EXPLAINOPS_OPERATOR_SERVER_IMAGE": "registry.example.com/explainops-server:0.1.0-rc1",
        "EXPLAINOPS_OPERATOR_IMAGE_PULL_POLICY": "Always",
        "EXPLAINOPS_OPERATOR_EXTRA": "1",
    }
    assert only(manifests, "ServiceAccount")["metadata"]["annotations"] == {"example.com/role": "operator"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"operator": {"bogus": 1}}, "additional properties 'bogus' not allowed"),
        ({"operator": {"image": {"tag": "latest"}}}, "/operator/image/tag"),
        ({"server": {"image": {"digest": "sha256:short"}}}, "/server/image/digest"),
        ({"operator": {"verbose": "yes"}}, "/operator/verbose"),
        ({"feedback": {"postgres": {"dsnSecret": {"create": True}}}}, "/feedback/postgres/dsnSecret/dsn"),
        ({"feedback": {"postgres": {"dsnSecret": {"dsn": "mysql://x"}}}}, "/feedback/postgres/dsnSecret/dsn"),
        ({"operator": {"resources": {"limits": {"memory": "1Gi"}}}}, "/operator/resources"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "/watchNamespaces/0"),
        ({"operator": {"healthPort": 80}}, "/operator/healthPort"),
    ],
)
def test_schema_rejects_invalid_values(render, values: dict[str, Any], message: str) -> None:
    if values.get("operator", {}).get("resources"):
        # --set-json merges maps; null out the default requests to leave limits alone.
        values = {"operator": {"resources": {"requests": None, "limits": {"memory": "1Gi"}}}}
    with pytest.raises(HelmError, match=re.escape(message)):
        render(values)


def test_feedback_dsn_secret_lands_in_each_namespace(render) -> None:
    import base64

    manifests = render(NON_DEFAULT_VALUES, namespace="ops")
    secrets = of_kind(manifests, "Secret")
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["team-a", "team-b"]
    for secret in secrets:
        assert secret["metadata"]["name"] == "feedback-pg"
        assert base64.b64decode(secret["data"]["url"]).decode() == "postgresql://u:pw@db/fb"
    explicit = render(
        {
            "feedback": {
                "postgres": {
                    "dsnSecret": {"create": True, "dsn": "postgresql://db/fb", "namespaces": ["models"]}
                }
            }
        }
    )
    assert [s["metadata"]["namespace"] for s in of_kind(explicit, "Secret")] == ["models"]
    with pytest.raises(HelmError, match=re.escape("needs feedback.postgres.dsnSecret.namespaces")):
        render({"feedback": {"postgres": {"dsnSecret": {"create": True, "dsn": "postgresql://db/fb"}}}})
    assert not of_kind(render(), "Secret")


# --------------------------------------------------------------------------- CRDs


def _source_crds() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((REPO / "crds").glob("*.yaml"))}


def test_chart_crd_copy_equals_crds_dir_byte_for_byte() -> None:
    source = _source_crds()
    assert source, "crds/ holds no CRD"
    copy = {p.name: p.read_bytes() for p in sorted((CHART / "files" / "crds").glob("*.yaml"))}
    assert copy == source, "charts/explainops/files/crds is stale: run hack/sync-chart-crds.sh"


def test_rendered_crd_is_the_source_crd_plus_release_metadata(render) -> None:
    sources = [yaml.safe_load(raw) for raw in _source_crds().values()]
    rendered = of_kind(render(), "CustomResourceDefinition")
    assert len(rendered) == len(sources)
    for crd in rendered:
        source = next(s for s in sources if s["metadata"]["name"] == crd["metadata"]["name"])
        annotations = crd["metadata"].pop("annotations")
        labels = crd["metadata"].pop("labels")
        assert annotations.pop("helm.sh/resource-policy") == "keep"
        assert annotations == source["metadata"].get("annotations", {})
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        source["metadata"].pop("annotations", None)
        source["metadata"].pop("labels", None)
        # Exact equality, numbers included: the JSON rendering must not turn 100000 into 1e+05.
        assert json.dumps(crd, sort_keys=True) == json.dumps(source, sort_keys=True)


def test_crd_keep_and_enabled_switches(render) -> None:
    (kept,) = of_kind(render(), "CustomResourceDefinition")
    assert kept["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (dropped,) = of_kind(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in dropped["metadata"].get("annotations", {})
    assert not of_kind(render({"crds": {"enabled": False}}), "CustomResourceDefinition")


# --------------------------------------------------------------------------- documentation


def _documented_value_keys(values_yaml: str) -> list[str]:
    """Dotted paths of the keys preceded by a `# --` comment in values.yaml."""
    keys: list[str] = []
    stack: list[tuple[int, str]] = []
    documented_next = False
    for line in values_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            documented_next = True
            continue
        if not stripped or stripped.startswith("#") or stripped.startswith("-"):
            continue
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if documented_next:
            keys.append(".".join([k for _, k in stack] + [key]))
            documented_next = False
        stack.append((indent, key))
    return keys


def _leaf_paths(values: Any, prefix: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [p for k, v in values.items() for p in _leaf_paths(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def test_every_value_is_documented_in_values_yaml_readme_and_schema() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = _documented_value_keys(text)
    assert len(documented) == len(set(documented))
    # Every leaf of values.yaml sits at or under a documented key.
    for leaf in _leaf_paths(yaml.safe_load(text)):
        assert any(leaf == d or leaf.startswith(d + ".") for d in documented), f"{leaf} has no `# --` comment"

    readme = (CHART / "README.md").read_text()
    table = readme.split("## Values", 1)[1]
    in_readme = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    assert in_readme == documented, "README's Values table and values.yaml disagree"

    schema = json.loads((CHART / "values.schema.json").read_text())
    for key in documented:
        node = schema
        for part in key.split("."):
            if "allOf" in node:
                node = node["allOf"][0]
            if "$ref" in node:
                node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
            assert part in node.get("properties", {}), f"{key} is missing from values.schema.json"
            node = node["properties"][part]


# --------------------------------------------------------------------------- the operator's interface


@pytest.mark.parametrize("values", [{}, NON_DEFAULT_VALUES], ids=["defaults", "non-default"])
def test_args_and_env_are_the_operators_own(render, values: dict[str, Any]) -> None:
    """The container's args parse with the operator's CLI, and every EXPLAINOPS_OPERATOR_* variable
    the chart sets is one of its settings (a renamed flag or setting fails here, not in a cluster)."""
    from explainops_operator.__main__ import build_parser
    from explainops_operator.settings import OperatorSettings

    container = operator_container(render(values))
    parsed = build_parser().parse_args(container["args"])
    assert parsed.liveness.endswith("/healthz")
    assert (parsed.namespaces or []) == values.get("watchNamespaces", [])
    prefix = OperatorSettings.model_config["env_prefix"]
    known = {prefix + name.upper() for name in OperatorSettings.model_fields}
    chart_env = {e["name"] for e in container["env"] if e["name"].startswith(prefix)}
    chart_env -= {e["name"] for e in values.get("operator", {}).get("extraEnv", [])}
    assert chart_env and chart_env <= known, chart_env - known
    settings = OperatorSettings(
        **{
            e["name"].removeprefix(prefix).lower(): e["value"]
            for e in container["env"]
            if e["name"] in chart_env
        }
    )
    assert settings.server_image == next(
        e["value"] for e in container["env"] if e["name"] == f"{prefix}SERVER_IMAGE"
    )
