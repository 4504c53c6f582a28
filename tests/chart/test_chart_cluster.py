"""The chart on the real local control plane: `helm install` is accepted object by object, the
operator pod passes Pod Security "restricted", the CRD survives uninstall, and the operator's
ServiceAccount (authenticated with a TokenRequest token) can make exactly the operator's calls."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from node_release import ISVC, XM, example_model

pytestmark = pytest.mark.cluster

CRD_NAME = "explainablemodels.explainops.dev"
SERVER_IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"
POD_WAIT_SECONDS = 60
OPERATOR_WAIT_SECONDS = 45


# --------------------------------------------------------------------------- fixtures


def manifest_of(helm_run, kubeconfig_path: Path, release: str, namespace: str) -> list[dict[str, Any]]:
    out = helm_run(
        "get", "manifest", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig_path)
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def read_object(kube_api, obj: dict[str, Any]) -> Any:
    """GET the live object a manifest describes, through the typed API of its kind."""
    name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace")
    readers: dict[str, Callable[[], Any]] = {
        "ServiceAccount": lambda: client.CoreV1Api(kube_api).read_namespaced_service_account(name, namespace),
        "Deployment": lambda: client.AppsV1Api(kube_api).read_namespaced_deployment(name, namespace),
        "ClusterRole": lambda: client.RbacAuthorizationV1Api(kube_api).read_cluster_role(name),
        "ClusterRoleBinding": lambda: client.RbacAuthorizationV1Api(kube_api).read_cluster_role_binding(name),
        "Role": lambda: client.RbacAuthorizationV1Api(kube_api).read_namespaced_role(name, namespace),
        "RoleBinding": lambda: client.RbacAuthorizationV1Api(kube_api).read_namespaced_role_binding(
            name, namespace
        ),
        "CustomResourceDefinition": lambda: client.ApiextensionsV1Api(
            kube_api
        ).read_custom_resource_definition(name),
    }
    return readers[obj["kind"]]()


def service_account_token(kube_api, namespace: str, service_account: str) -> str:
    """A short-lived token for the ServiceAccount, from the TokenRequest API."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    response = client.CoreV1Api(kube_api).create_namespaced_service_account_token(
        service_account, namespace, request
    )
    return response.status.token


def token_client(kube_api, token: str) -> client.ApiClient:
    """An ApiClient for the control plane that authenticates with `token`."""
    config = client.Configuration(host=kube_api.configuration.host)
    config.ssl_ca_cert = kube_api.configuration.ssl_ca_cert
    config.verify_ssl = True
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(config)


def status_of(call: Callable[[], Any]) -> int:
    """HTTP status of an API call: 200 when it returns, the error's status otherwise."""
    from explainops_operator.errors import KubeApiError

    try:
        result = call()
    except ApiException as exc:
        return exc.status
    except KubeApiError as exc:
        print(f"{exc.status}: {exc}")  # shown when the test fails
        return exc.status or 0
    if hasattr(result, "release_conn"):  # a watch stream: the 200 came back, close it
        result.close()
        result.release_conn()
    return 200


# --------------------------------------------------------------------------- install


def test_helm_install_every_object_is_accepted_and_the_pod_passes_restricted(
    helm_run, install, kube_api, kubeconfig_path: Path, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    # Pod Security "restricted" enforced: the ReplicaSet's Pod is only created if the template complies.
    core.patch_namespace(
        namespace,
        {
            "metadata": {
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }
            }
        },
    )
    # The control plane installed the CRD from crds/ at start-up; the release adopts it.
    release = install(namespace, None, "--take-ownership")

    manifests = manifest_of(helm_run, kubeconfig_path, release, namespace)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        ["CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"]
    )
    for obj in manifests:
        live = read_object(kube_api, obj)
        assert live.metadata.annotations["meta.helm.sh/release-name"] == release, obj["kind"]

    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment(
        f"{release}-explainops-operator", namespace
    )
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    deadline = time.monotonic() + POD_WAIT_SECONDS
    pods: list[Any] = []
    while not pods and time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        if not pods:
            time.sleep(0.5)
    if not pods:
        replica_sets = (
            client.AppsV1Api(kube_api).list_namespaced_replica_set(namespace, label_selector=selector).items
        )
        conditions = [c.message for rs in replica_sets for c in (rs.status.conditions or [])]
        pytest.fail(
            f"no operator Pod admitted within {POD_WAIT_SECONDS}s; ReplicaSet conditions: {conditions}"
        )
    (pod,) = pods
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
    assert pod.spec.service_account_name == f"{release}-explainops-operator"


def test_uninstall_keeps_the_crd(helm_run, install, kube_api, kubeconfig_path: Path, namespace: str) -> None:
    release = install(namespace, None, "--take-ownership")
    helm_run("uninstall", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig_path))
    crd = client.ApiextensionsV1Api(kube_api).read_custom_resource_definition(CRD_NAME)
    assert crd.metadata.deletion_timestamp is None
    assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    assert status_of(lambda: rbac.read_cluster_role(f"{release}-explainops-operator")) == 404


# --------------------------------------------------------------------------- RBAC as the ServiceAccount


def write_kubeconfig(kube_api, token: str, path: Path) -> Path:
    """A kubeconfig for the control plane that authenticates with `token`."""
    config = kube_api.configuration
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "operator",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {"server": config.host, "certificate-authority": config.ssl_ca_cert},
                    }
                ],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
            }
        )
    )
    return path


@contextlib.contextmanager
def operator_kube_layer(kubeconfig: Path) -> Iterator[None]:
    """The operator's own kube layer (explainops_operator.kube), authenticated by `kubeconfig`."""
    from explainops_operator.kube import client as operator_client

    operator_client.configure(kubeconfig)
    try:
        yield
    finally:
        operator_client.reset()


def operator_calls(
    api: client.ApiClient, namespace: str, admin: client.ApiClient
) -> dict[str, Callable[[], Any]]:
    """Every API call the operator makes, in `namespace`, on objects an admin prepared: kopf's own
    calls through `api`, the handlers' calls through the operator's kube layer (configured by the caller)."""
    from explainops_operator.kube import explainablemodels, inferenceservices, jobs

    custom = client.CustomObjectsApi(api)
    model = f"m-{secrets.token_hex(3)}"
    client.CustomObjectsApi(admin).create_namespaced_custom_object(
        **XM, namespace=namespace, body=example_model(model)
    )
    job = f"{model}-retrain-1"
    client.CoreV1Api(admin).create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": f"{job}-x", "labels": {"batch.kubernetes.io/job-name": job}},
            "spec": {"containers": [{"name": "trainer", "image": SERVER_IMAGE}], "restartPolicy": "Never"},
        },
    )
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": model, "namespace": namespace, "labels": {"explainops.dev/model": model}},
        "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": SERVER_IMAGE}]}},
    }
    job_body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": namespace, "labels": {"explainops.dev/model": model}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "trainer", "image": SERVER_IMAGE, "args": ["train", "--help"]}],
                }
            },
        },
    }

    def watch(plural: dict[str, str]) -> Any:
        return custom.list_namespaced_custom_object(
            **plural, namespace=namespace, watch=True, timeout_seconds=1, _preload_content=False
        )

    return {
        # kopf: watch models, patch its annotations, watch InferenceServices, post Events.
        "kopf: list explainablemodels": lambda: custom.list_namespaced_custom_object(
            **XM, namespace=namespace
        ),
        "kopf: watch explainablemodels": lambda: watch(XM),
        "kopf: patch explainablemodel": lambda: custom.patch_namespaced_custom_object(
            **XM,
            namespace=namespace,
            name=model,
            body={"metadata": {"annotations": {"explainops.dev/probe": "1"}}},
        ),
        "kopf: list inferenceservices": lambda: custom.list_namespaced_custom_object(
            **ISVC, namespace=namespace
        ),
        "kopf: watch inferenceservices": lambda: watch(ISVC),
        "kopf: create event": lambda: client.CoreV1Api(api).create_namespaced_event(
            namespace,
            {
                "metadata": {"generateName": "explainops-"},
                "involvedObject": {
                    "apiVersion": "explainops.dev/v1alpha1",
                    "kind": "ExplainableModel",
                    "name": model,
                    "namespace": namespace,
                },
                "reason": "Probe",
                "message": "RBAC test",
                "type": "Normal",
                "source": {"component": "explainops-operator"},
            },
        ),
        # The handlers, through explainops_operator.kube.
        "get_explainable_model": lambda: explainablemodels.get_explainable_model(namespace, model),
        "patch_status": lambda: explainablemodels.patch_status(namespace, model, {"observedGeneration": 1}),
        "apply_inference_service (creates)": lambda: inferenceservices.apply_inference_service(isvc),
        "apply_inference_service (updates)": lambda: inferenceservices.apply_inference_service(isvc),
        "get_inference_service": lambda: inferenceservices.get_inference_service(namespace, model),
        "create_job": lambda: jobs.create_job(job_body),
        "create_job (exists: 409, read back)": lambda: jobs.create_job(job_body),
        "get_job": lambda: jobs.get_job(namespace, job),
        "job_pods": lambda: jobs.job_pods(namespace, job),
    }


def forbidden_calls(
    api: client.ApiClient, namespace: str, other_namespace: str
) -> dict[str, Callable[[], Any]]:
    """Calls the operator never makes: each must be refused."""
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    return {
        "list secrets cluster-wide": lambda: core.list_secret_for_all_namespaces(),
        "list secrets": lambda: core.list_namespaced_secret(namespace),
        "get secret": lambda: core.read_namespaced_secret("feedback-pg", namespace),
        "list secrets in the release namespace": lambda: core.list_namespaced_secret(other_namespace),
        "list configmaps": lambda: core.list_namespaced_config_map(namespace),
        "list configmaps in another namespace": lambda: core.list_namespaced_config_map(other_namespace),
        "create deployment": lambda: client.AppsV1Api(api).create_namespaced_deployment(
            namespace,
            {
                "metadata": {"name": "intruder"},
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": SERVER_IMAGE}]},
                    },
                },
            },
        ),
        "create pod": lambda: core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "intruder"},
                "spec": {"containers": [{"name": "c", "image": SERVER_IMAGE}]},
            },
        ),
        "delete pods": lambda: core.delete_collection_namespaced_pod(namespace),
        "patch pod status": lambda: core.patch_namespaced_pod_status(
            "any", namespace, {"status": {"phase": "Failed"}}
        ),
        "create explainablemodel": lambda: custom.create_namespaced_custom_object(
            **XM, namespace=namespace, body=example_model("intruder")
        ),
        "list jobs": lambda: client.BatchV1Api(api).list_namespaced_job(namespace),
        "delete job": lambda: client.BatchV1Api(api).delete_namespaced_job("any", namespace),
        "get pod": lambda: core.read_namespaced_pod("any", namespace),
        "watch pods": lambda: core.list_namespaced_pod(
            namespace, watch=True, timeout_seconds=1, _preload_content=False
        ),
        "patch job": lambda: client.BatchV1Api(api).patch_namespaced_job("any", namespace, {"metadata": {}}),
        "update explainablemodel status": lambda: custom.replace_namespaced_custom_object_status(
            **XM, namespace=namespace, name="any", body=example_model("any")
        ),
        "delete explainablemodels": lambda: custom.delete_collection_namespaced_custom_object(
            **XM, namespace=namespace
        ),
        "delete inferenceservices": lambda: custom.delete_collection_namespaced_custom_object(
            **ISVC, namespace=namespace
        ),
        "create rolebinding": lambda: client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "escalate"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "User", "name": "intruder"}],
            },
        ),
        "list namespaces": lambda: core.list_namespace(),
        "list customresourcedefinitions": lambda: client.ApiextensionsV1Api(
            api
        ).list_custom_resource_definition(),
        "create serviceaccount token": lambda: core.create_namespaced_service_account_token(
            "default",
            namespace,
            client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
        ),
    }


def assert_statuses(calls: dict[str, Callable[[], Any]], expected: int) -> None:
    # Run in order (creates before gets); collect every mismatch for one readable failure.
    got = {name: status_of(call) for name, call in calls.items()}
    wrong = {name: status for name, status in got.items() if status != expected}
    assert not wrong, f"expected HTTP {expected}, got: {wrong}"


def test_cluster_wide_service_account_makes_the_operator_calls_and_nothing_else(
    install, kube_api, namespace: str, make_namespace, tmp_path: Path
) -> None:
    release = install(namespace, {"crds": {"enabled": False}})
    models = make_namespace("models")
    client.CoreV1Api(kube_api).create_namespaced_secret(
        models, {"metadata": {"name": "feedback-pg"}, "stringData": {"dsn": "postgresql://x@db/feedback"}}
    )
    token = service_account_token(kube_api, namespace, f"{release}-explainops-operator")
    kubeconfig = write_kubeconfig(kube_api, token, tmp_path / "kubeconfig")
    with token_client(kube_api, token) as api, operator_kube_layer(kubeconfig):
        assert_statuses(operator_calls(api, models, kube_api), 200)
        custom = client.CustomObjectsApi(api)
        assert status_of(lambda: custom.list_cluster_custom_object(**XM)) == 200  # --all-namespaces watch
        assert (
            status_of(
                lambda: custom.list_cluster_custom_object(
                    **XM, watch=True, timeout_seconds=1, _preload_content=False
                )
            )
            == 200
        )
        assert_statuses(forbidden_calls(api, models, namespace), 403)


def test_namespaced_service_account_is_confined_to_the_watched_namespaces(
    install, kube_api, namespace: str, make_namespace, tmp_path: Path
) -> None:
    from explainops_operator.kube import jobs

    watched, unwatched = make_namespace("watched"), make_namespace("unwatched")
    release = install(
        namespace,
        {"crds": {"enabled": False}, "watchNamespaces": [watched], "rbac": {"secretNames": ["auth-token"]}},
    )
    assert (
        not client.RbacAuthorizationV1Api(kube_api)
        .list_cluster_role_binding(label_selector=f"app.kubernetes.io/instance={release}")
        .items
    )
    admin_core = client.CoreV1Api(kube_api)
    for ns in (watched, unwatched):
        for name in ("auth-token", "feedback-pg"):
            admin_core.create_namespaced_secret(
                ns, {"metadata": {"name": name}, "stringData": {"token": "t"}}
            )
    token = service_account_token(kube_api, namespace, f"{release}-explainops-operator")
    kubeconfig = write_kubeconfig(kube_api, token, tmp_path / "kubeconfig")
    with token_client(kube_api, token) as api, operator_kube_layer(kubeconfig):
        assert_statuses(operator_calls(api, watched, kube_api), 200)
        assert_statuses(operator_calls(api, unwatched, kube_api), 403)
        custom = client.CustomObjectsApi(api)
        core = client.CoreV1Api(api)
        assert status_of(lambda: custom.list_cluster_custom_object(**XM)) == 403
        assert_statuses(forbidden_calls(api, watched, namespace), 403)
        # The opt-in Secret grant: that name, get only, watched namespaces only.
        assert jobs.read_secret_key(watched, "auth-token", "token") == "t"
        assert status_of(lambda: jobs.read_secret_key(unwatched, "auth-token", "token")) == 403
        assert status_of(lambda: core.read_namespaced_secret("auth-token", unwatched)) == 403
        assert status_of(lambda: core.patch_namespaced_secret("auth-token", watched, {"metadata": {}})) == 403


def test_the_operator_runs_as_the_service_account_without_a_refusal(
    install,
    kube_api,
    namespace: str,
    make_namespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real operator (kopf + handlers), authenticated as the chart's ServiceAccount, serves a model:
    kopf's own calls (list/watch, annotations) and the handlers' calls (server-side apply of the
    InferenceService, status patch) all pass RBAC.

    kopf's optional cluster observation (list/watch of namespaces and CRDs) is deliberately not granted;
    kopf is told so with `scanning.disabled`, otherwise it retries the refused lists for about a minute
    before it falls back to the exact namespaces.
    """
    import kopf
    from kopf.testing import KopfRunner

    caplog.set_level(logging.INFO)

    from explainops_operator.kube import client as operator_client

    watched = make_namespace("served")
    release = install(namespace, {"crds": {"enabled": False}, "watchNamespaces": [watched]})
    token = service_account_token(kube_api, namespace, f"{release}-explainops-operator")
    kubeconfig = write_kubeconfig(kube_api, token, tmp_path / "kubeconfig")
    # kopf logs in through the kubernetes library's default kubeconfig location, which that library
    # reads from $KUBECONFIG at import time; point both at the ServiceAccount's kubeconfig.
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    previous_default = client.Configuration.get_default_copy()
    operator_client.reset()
    custom = client.CustomObjectsApi(kube_api)
    try:
        args = ["run", "--standalone", "-n", watched, "-m", "explainops_operator.handlers"]
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True
        with KopfRunner(args, timeout=60, settings=settings) as runner:
            custom.create_namespaced_custom_object(**XM, namespace=watched, body=example_model("served"))
            deadline = time.monotonic() + OPERATOR_WAIT_SECONDS
            served = None
            while time.monotonic() < deadline:
                served = custom.get_namespaced_custom_object(**XM, namespace=watched, name="served")
                isvc_status = status_of(
                    lambda: custom.get_namespaced_custom_object(**ISVC, namespace=watched, name="served")
                )
                if served.get("status", {}).get("conditions") and isvc_status == 200:
                    break
                time.sleep(0.5)
        # The handlers' client used the ServiceAccount's token (kopf's login can reach no other kubeconfig).
        api_keys = operator_client.api_client().configuration.api_key.values()
        assert any(str(key).endswith(token) for key in api_keys)
    finally:
        operator_client.reset()
        client.Configuration.set_default(previous_default)
    assert runner.exception is None, runner.stdout
    messages = [record.getMessage() for record in caplog.records]
    assert any("configure_operator" in m and "succeeded" in m for m in messages), (
        "kopf's log was not captured"
    )
    refusals = [m for m in messages if "403" in m or "Forbidden" in m]
    assert not refusals, "\n".join(refusals)
    assert served is not None and served.get("status", {}).get("conditions"), "no status written"
    isvc = custom.get_namespaced_custom_object(**ISVC, namespace=watched, name="served")
    assert isvc["metadata"]["ownerReferences"][0]["uid"] == served["metadata"]["uid"]
