"""`make demo`: the whole ExplainOps loop on the real local node. Development only.

    python -m explainops_devtools.demo [--keep-running] [--workdir build/demo]

1. starts the local single-node cluster (or uses the cluster KUBECONFIG names, if it has KServe);
2. installs the Helm chart: the operator runs as a pod from its image;
3. trains the example breast_cancer model as v1 in a Job, onto a PersistentVolumeClaim;
4. applies ``examples/breast-cancer.yaml`` with that volume and low thresholds; KServe runs the pods
   and reports Ready;
5. runs a scenario against the served address: predictions and explanations, then a drift (a new
   measuring device reports every size feature 1.8x larger, the diagnosis does not change) with
   expert feedback whose error rate crosses the threshold -> retraining Job pod -> gate -> promotion,
   which rolls out new pods serving v2;
6. prints a report: versions, accuracy before drift / after drift / after retraining, pods, KServe's
   status, explanation samples and the time from the threshold crossing to the promotion.

Every wait is bounded; Ctrl-C or any failure stops the cluster this demo started.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import yaml

from explainops_devtools.example_volume import SERVER_IMAGE, create_model_volume

T = TypeVar("T")

GROUP, VERSION, PLURAL = "explainops.dev", "v1alpha1", "explainablemodels"
MODEL_NAME = "breast-cancer"
NAMESPACE = "explainops-demo"
OPERATOR_NAMESPACE = "explainops-system"
MODEL_CLAIM = "models"
SIZE_SCALE = 1.8  # the drift: a new device reports radius, perimeter and area 1.8x larger
CLEAN_FEEDBACK_ROWS = 40
DRIFT_FEEDBACK_ROWS = 160


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and where to look."""


def repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "examples").is_dir() and (parent / "crds").is_dir():
            return parent
    raise DemoError("cannot find the source tree (examples/ and crds/): the demo runs from a clone")


# ----------------------------------------------------------------------------- output


class Progress:
    """Numbered steps with their duration, on stdout."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.step = 0

    @contextlib.contextmanager
    def __call__(self, title: str) -> Iterator[None]:
        self.step += 1
        print(f"[{self.step}/{self.total}] {title} ...", flush=True)
        started = time.monotonic()
        yield
        print(f"      done in {time.monotonic() - started:.1f} s", flush=True)


def note(text: str) -> None:
    print(f"      {text}", flush=True)


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.5,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Polls `check` until it returns something truthy; DemoError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            hint = on_timeout() if on_timeout else ""
            raise DemoError(
                f"timed out after {timeout:.0f} s waiting for {what}"
                + (f" (last error: {last_error})" if last_error else "")
                + (f"\n{hint}" if hint else "")
            )
        time.sleep(interval)


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    feature_names: list[str]
    class_names: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    holdout_x: np.ndarray
    holdout_y: np.ndarray


def read_csv(path: Path, feature_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import csv

    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([[float(r[f]) for f in feature_names] for r in rows], dtype=np.float64)
    y = np.array([int(float(r["target"])) for r in rows], dtype=np.int64)
    return x, y


def drift(features: np.ndarray, feature_names: list[str]) -> np.ndarray:
    columns = [i for i, n in enumerate(feature_names) if any(k in n for k in ("radius", "perimeter", "area"))]
    drifted = np.array(features, dtype=np.float64, copy=True)
    drifted[:, columns] *= SIZE_SCALE
    return drifted


# ----------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    workdir: Path
    keep_running: bool = False
    timeout_scale: float = 1.0
    cluster: Any = None
    # A node shared with others (its CRD installed already): the operator watches the demo's namespace only.
    shared_node: bool = False
    api: Any = None
    url: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    def timeout(self, seconds: float) -> float:
        return seconds * self.timeout_scale

    # -- infrastructure

    def start_cluster(self) -> None:
        from explainops_devtools.cluster.cluster import Cluster
        from explainops_devtools.cluster.errors import ClusterError
        from explainops_devtools.cluster.existing import ExistingCluster
        from explainops_devtools.cluster.settings import ClusterSettings

        if self.cluster is not None:  # given by the caller (a node already up): used as it is
            self.api = self.cluster.api_client()
            return
        try:
            existing = ExistingCluster.from_environment()
            if existing is not None:
                note(f"using the cluster KUBECONFIG names: {existing.server}")
                note("its nodes must be able to run the images: load them (`kind load docker-image "
                     f"{SERVER_IMAGE}` and the operator image) or push them and set IMAGE_REPO")
                self.cluster = existing
            else:
                self.cluster = Cluster(ClusterSettings(project_crds=False), workdir=self.workdir / "cluster").start()
                note(f"kube-apiserver {self.cluster.server}  (kubeconfig: {self.cluster.kubeconfig_path})")
                note("node parts: " + ", ".join(f"{n} {v:.1f} s" for n, v in self.cluster.timings.items()))
        except ClusterError as exc:
            raise DemoError(f"the cluster did not start: {exc}") from exc
        self.api = self.cluster.api_client()

    def install_operator(self) -> None:
        """The chart, as a platform team installs it: the operator runs as a pod from its image."""
        helm = subprocess.run([str(repo_root() / "hack" / "install-helm.sh")], capture_output=True, text=True,
                              check=False).stdout.strip().splitlines()
        if not helm:
            raise DemoError("no helm binary (hack/install-helm.sh failed)")
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig_path)}
        args = [helm[-1], "upgrade", "--install", "explainops", str(repo_root() / "charts" / "explainops"),
                "--namespace", OPERATOR_NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s",
                "--set-json", 'operator.extraEnv=[{"name":"EXPLAINOPS_OPERATOR_RETRAINING_INTERVAL_SECONDS","value":"2"}]']
        if self.shared_node:
            args += ["--set-json", f'watchNamespaces=["{NAMESPACE}"]', "--set", "crds.enabled=false"]
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False,
                              timeout=self.timeout(300))
        if done.returncode:
            raise DemoError(f"helm install failed: {done.stderr.strip()}")
        note(f"helm release explainops in {OPERATOR_NAMESPACE}: operator pod {self.pod_names(OPERATOR_NAMESPACE)}")

    def images(self) -> list[str]:
        """Every image the node's pods run, with its size on the node."""
        from kubernetes import client as k8s

        (node,) = k8s.CoreV1Api(self.api).list_node().items[:1]
        used = {c.image for ns in (NAMESPACE, OPERATOR_NAMESPACE)
                for p in k8s.CoreV1Api(self.api).list_namespaced_pod(ns).items for c in p.spec.containers}
        sizes = {name: image.size_bytes for image in node.status.images or [] for name in image.names or []}
        return [f"{name} ({sizes[name] / 2**20:.0f} MiB)" if name in sizes else name for name in sorted(used)]

    def pod_names(self, namespace: str, selector: str | None = None) -> list[str]:
        from kubernetes import client as k8s

        pods = k8s.CoreV1Api(self.api).list_namespaced_pod(namespace, label_selector=selector).items
        return [f"{p.metadata.name} ({p.status.phase})" for p in pods]

    def create_namespace(self) -> None:
        from kubernetes import client as k8s

        k8s.CoreV1Api(self.api).create_namespace({"metadata": {"name": NAMESPACE}})

    def train_model(self) -> Data:
        """v1 trained inside the cluster by a setup Job, onto the model volume; the same data on the host
        (the example is deterministic), so the scenario below can send rows and labels."""
        from explainops_server.models.example import train_example

        try:
            create_model_volume(self.api, NAMESPACE, claim=MODEL_CLAIM, model_name=MODEL_NAME,
                                timeout=self.timeout(240))
        except (RuntimeError, TimeoutError) as exc:
            raise DemoError(f"{exc}\n{self.diagnostics()}") from exc
        outputs = train_example(self.workdir / "models" / MODEL_NAME, self.workdir / "data" / MODEL_NAME, name=MODEL_NAME)
        meta = json.loads((outputs.version_dir / "metadata.json").read_text())
        note(f"pvc://{MODEL_CLAIM}/{MODEL_NAME}/v1 written by the setup Job; the same split on the host")
        train_x, train_y = read_csv(outputs.train_csv, meta["feature_names"])
        holdout_x, holdout_y = read_csv(outputs.holdout_csv, meta["feature_names"])
        return Data(meta["feature_names"], meta["class_names"], train_x, train_y, holdout_x, holdout_y)

    # -- the ExplainableModel

    def manifest(self) -> dict[str, Any]:
        source = repo_root() / "examples" / "breast-cancer.yaml"
        documents = [d for d in yaml.safe_load_all(source.read_text()) if d]
        xm = next((d for d in documents if d.get("kind") == "ExplainableModel"), None)
        if xm is None:
            raise DemoError(f"{source} holds no ExplainableModel")
        xm = copy.deepcopy(xm)
        xm["metadata"] = {"name": MODEL_NAME, "namespace": NAMESPACE}
        spec = xm.setdefault("spec", {})
        spec.setdefault("model", {}).update(storageUri=f"pvc://{MODEL_CLAIM}/{MODEL_NAME}", version="v1")
        spec["model"].pop("pinnedVersion", None)
        feedback = spec.setdefault("feedback", {})
        feedback.update(store="sqlite", window=100)
        feedback.pop("dsnSecretRef", None)
        # Low thresholds, so that the scripted drift triggers retraining within seconds.
        feedback["thresholds"] = {"minLabelled": 40, "maxErrorRate": 0.25}
        retraining = spec.setdefault("retraining", {})
        retraining.update(
            enabled=True, trainingDataUri=f"pvc://{MODEL_CLAIM}/data/{MODEL_NAME}/train.csv", cooldownSeconds=0
        )
        retraining.setdefault("gate", {}).update(metric="holdoutAccuracy", minImprovement=0.0)
        serving = spec.setdefault("serving", {})
        serving.pop("authTokenSecretRef", None)
        serving.update(replicas=1)
        return xm

    def apply_model(self, xm: dict[str, Any]) -> None:
        from kubernetes import client as k8s

        k8s.CustomObjectsApi(self.api).create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, xm)

    def xm(self) -> dict[str, Any]:
        from kubernetes import client as k8s

        return k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, MODEL_NAME
        )

    @staticmethod
    def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") == kind:
                return cond
        return {}

    def diagnostics(self) -> str:
        """What to look at when a wait times out: conditions, recent logs."""
        lines = []
        with contextlib.suppress(Exception):
            status = self.xm().get("status") or {}
            lines.append("ExplainableModel status: " + json.dumps(status, indent=1)[:2500])
        with contextlib.suppress(Exception):
            lines.append("pods: " + ", ".join(self.pod_names(NAMESPACE)))
        with contextlib.suppress(Exception):
            from kubernetes import client as k8s

            core = k8s.CoreV1Api(self.api)
            (pod,) = core.list_namespaced_pod(OPERATOR_NAMESPACE).items[:1]
            log = core.read_namespaced_pod_log(pod.metadata.name, OPERATOR_NAMESPACE, tail_lines=15)
            lines.append(f"operator log ({pod.metadata.name}):\n{log}")
        return "\n".join(lines)

    def wait_ready(self, version: str | None = None, timeout: float = 240) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.xm()
            status = obj.get("status") or {}
            if self.condition(obj, "Ready").get("status") != "True":
                return None
            if version is not None and status.get("modelVersion") != version:
                return None
            return obj

        obj = wait_for(
            f"ExplainableModel {MODEL_NAME} Ready" + (f" serving {version}" if version else ""),
            ready,
            self.timeout(timeout),
            on_timeout=self.diagnostics,
        )
        self.url = self.reachable(self.isvc_address())
        return obj

    def isvc(self) -> dict[str, Any]:
        from kubernetes import client as k8s

        return k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", NAMESPACE, "inferenceservices", MODEL_NAME)

    def isvc_address(self) -> str:
        """KServe's cluster-local address (``status.address.url``), as clients in the cluster use it."""
        return self.isvc()["status"]["address"]["url"].rstrip("/")

    def reachable(self, url: str) -> str:
        """The same Service from this machine: its name through the node's cluster DNS, so the ClusterIP."""
        from urllib.parse import urlsplit

        from explainops_devtools.cluster.cluster import Cluster, dns_query

        if not isinstance(self.cluster, Cluster):
            raise DemoError(f"{url} is cluster-local; on your own cluster, run the demo's client from a pod "
                            "or `kubectl port-forward` the predictor Service")
        parts = urlsplit(url)
        ip = dns_query(self.cluster.settings.node_ip, parts.hostname or "")
        if ip is None:
            raise DemoError(f"cluster DNS does not resolve {parts.hostname}")
        return f"{parts.scheme}://{ip}{f':{parts.port}' if parts.port else ''}"

    # -- the scenario (plain REST calls, as any client)

    def predict(self, client: httpx.Client, rows: np.ndarray) -> tuple[list[int], list[str], str]:
        response = client.post(
            f"{self.url}/v1/models/{MODEL_NAME}:predict", json={"instances": rows.tolist()}
        )
        response.raise_for_status()
        body = response.json()
        return [int(p) for p in body["predictions"]], body["prediction_ids"], body["model_version"]

    def feedback(self, client: httpx.Client, ids: list[str], labels: np.ndarray) -> None:
        records = [
            {"prediction_id": pid, "label": int(label), "feedback_id": str(uuid.uuid4()), "source": "demo"}
            for pid, label in zip(ids, labels, strict=True)
        ]
        response = client.post(f"{self.url}/v1/models/{MODEL_NAME}/feedback:batch", json={"records": records})
        response.raise_for_status()

    def rate(self, client: httpx.Client, prediction_id: str, rating: int) -> None:
        record = {"prediction_id": prediction_id, "explanation_rating": rating, "source": "demo"}
        client.post(f"{self.url}/v1/models/{MODEL_NAME}/feedback", json=record).raise_for_status()

    def accuracy(self, client: httpx.Client, x: np.ndarray, y: np.ndarray) -> tuple[float, str, list[str]]:
        predicted, ids, version = self.predict(client, x)
        return float(np.mean(np.array(predicted) == y)), version, ids

    def stats(self, client: httpx.Client) -> dict[str, Any]:
        response = client.get(f"{self.url}/v1/models/{MODEL_NAME}/feedback/stats", params={"window": 100})
        response.raise_for_status()
        return response.json()

    def explain(self, client: httpx.Client, row: np.ndarray) -> dict[str, Any]:
        response = client.post(
            f"{self.url}/v1/models/{MODEL_NAME}:explain",
            json={"instances": [row.tolist()]},
            timeout=self.timeout(120),
        )
        response.raise_for_status()
        body = response.json()
        return {
            "explanation": body["explanations"][0],
            "explainer": body.get("explainer"),
            "prediction_id": body["prediction_ids"][0],
        }

    def run(self) -> dict[str, Any]:
        steps = Progress(10)
        with steps("Starting the local node (API server, kubelet + containerd, CoreDNS, KServe, Knative's webhook)"):
            self.start_cluster()
            self.create_namespace()
        with steps("Installing the Helm chart: the operator runs as a pod from its image"):
            self.install_operator()
        with steps("Training the example model (breast_cancer, RandomForest) as v1 in a Job, onto a volume"):
            data = self.train_model()
        with steps(f"Applying ExplainableModel {NAMESPACE}/{MODEL_NAME} and waiting until Ready"):
            xm = self.manifest()
            self.report["thresholds"] = xm["spec"]["feedback"]["thresholds"]
            self.report["explainer"] = (xm["spec"].get("explainer") or {}).get("type")
            applied_at = time.monotonic()
            self.apply_model(xm)
            obj = self.wait_ready()
            self.report["ready_seconds"] = time.monotonic() - applied_at
            self.report["first_version"] = obj["status"].get("modelVersion")
            isvc = self.isvc()
            self.report["kserve_status"] = {c["type"]: c["status"] for c in isvc["status"].get("conditions", [])}
            self.report["pods_v1"] = self.pod_names(NAMESPACE, f"serving.kserve.io/inferenceservice={MODEL_NAME}")
            self.report["images"] = self.images()
            note(f"Ready by KServe's status {self.report['kserve_status']}")
            note(f"{self.isvc_address()} (reached from here as {self.url}) serves {self.report['first_version']}")
            note("pods: " + ", ".join(self.report["pods_v1"]))
        drifted_holdout = drift(data.holdout_x, data.feature_names)
        with httpx.Client(timeout=self.timeout(60)) as client:
            with steps("Predictions, explanations and expert feedback before any drift"):
                acc, version, _ = self.accuracy(client, data.holdout_x, data.holdout_y)
                self.report["accuracy_before_drift"] = (acc, version)
                rng = np.random.default_rng(0)
                rows = rng.choice(len(data.train_x), size=CLEAN_FEEDBACK_ROWS, replace=False)
                _, ids, _ = self.predict(client, data.train_x[rows])
                self.feedback(client, ids, data.train_y[rows])
                samples = [self.explain(client, data.holdout_x[i]) for i in (0, 1)]
                self.report["explanations"] = samples
                # Experts rate the explanations too (1-5), as they would in the console.
                for sample, rating in zip(samples, (4, 5), strict=True):
                    self.rate(client, sample["prediction_id"], rating)
                self.report["stats_before_drift"] = self.stats(client)
                note(f"holdout accuracy {acc:.3f} with {version}; {CLEAN_FEEDBACK_ROWS} labelled predictions")
            with steps(
                "Drift: the new device reports sizes 1.8x larger; experts label what the model gets wrong"
            ):
                acc, version, _ = self.accuracy(client, drifted_holdout, data.holdout_y)
                self.report["accuracy_after_drift"] = (acc, version)
                rows = np.random.default_rng(1).choice(
                    len(data.train_x), size=DRIFT_FEEDBACK_ROWS, replace=False
                )
                drifted_rows = drift(data.train_x[rows], data.feature_names)
                _, ids, _ = self.predict(client, drifted_rows)
                self.feedback(client, ids, data.train_y[rows])
                stats = self.stats(client)
                self.report["stats_after_drift"] = stats
                note(
                    f"drifted holdout accuracy {acc:.3f} with {version}; feedback error rate "
                    f"{stats.get('error_rate')} over {stats.get('window_count')} labels "
                    f"(threshold {self.report['thresholds']['maxErrorRate']})"
                )
                crossed_at = time.monotonic()
            with steps("Waiting for the operator: threshold -> retraining Job -> gate -> promotion"):
                first = self.report["first_version"]

                def promoted() -> dict[str, Any] | None:
                    obj = self.xm()
                    status = obj.get("status") or {}
                    last = (status.get("retraining") or {}).get("lastResult") or {}
                    if last.get("outcome") and last.get("outcome") != "Promoted" and last.get("job"):
                        raise DemoError(f"retraining ended without promotion: {json.dumps(last)}")
                    version = status.get("modelVersion")
                    return obj if version and version != first else None

                obj = wait_for(
                    "a promoted model version",
                    promoted,
                    self.timeout(300),
                    interval=1.0,
                    on_timeout=self.diagnostics,
                )
                new_version = obj["status"]["modelVersion"]
                obj = self.wait_ready(new_version, timeout=180)
                self.report["promotion_seconds"] = time.monotonic() - crossed_at
                self.report["jobs"] = [j.metadata.name for j in __import__("kubernetes").client.BatchV1Api(self.api)
                                       .list_namespaced_job(NAMESPACE).items]
                self.report["status"] = obj["status"]
                wait_for(
                    f"the served URL to answer with {new_version}",
                    lambda: self.predict(client, drifted_holdout[:1])[2] == new_version,
                    self.timeout(120),
                    on_timeout=self.diagnostics,
                )
                self.report["pods_v2"] = self.pod_names(NAMESPACE, f"serving.kserve.io/inferenceservice={MODEL_NAME}")
                note(f"promoted {first} -> {new_version} in {self.report['promotion_seconds']:.0f} s; "
                     f"pods now: {', '.join(self.report['pods_v2'])}")
            with steps("Measuring again with the promoted model"):
                acc, version, _ = self.accuracy(client, drifted_holdout, data.holdout_y)
                self.report["accuracy_after_retraining"] = (acc, version)
                acc, version, _ = self.accuracy(client, data.holdout_x, data.holdout_y)
                self.report["accuracy_clean_after_retraining"] = (acc, version)
                self.report["stats_final"] = self.stats(client)
            with steps(f"Rolling back to {first} with spec.model.pinnedVersion"):
                started = time.monotonic()
                from kubernetes import client as k8s

                k8s.CustomObjectsApi(self.api).patch_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL, MODEL_NAME, {"spec": {"model": {"pinnedVersion": first}}},
                    _content_type="application/merge-patch+json")
                self.wait_ready(first, timeout=180)
                wait_for(
                    f"the served address to answer with {first} again",
                    lambda: self.predict(client, drifted_holdout[:1])[2] == first,
                    self.timeout(120),
                    on_timeout=self.diagnostics,
                )
                self.report["rolled_back_to"] = self.predict(client, data.holdout_x[:1])[2]
                self.report["rollback_seconds"] = time.monotonic() - started
                note(f"serving {self.report['rolled_back_to']} again after {self.report['rollback_seconds']:.0f} s")
        self.report["console_url"] = f"{self.url}/console/?model={MODEL_NAME}"
        return self.report

    # -- teardown

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


# ----------------------------------------------------------------------------- report


def _acc(pair: tuple[float, str] | None) -> str:
    return "n/a" if not pair else f"{pair[0]:.3f}  (served by {pair[1]})"


def describe_explanation(sample: dict[str, Any], class_names: list[str] | None = None) -> str:
    explanation = sample["explanation"]
    if "anchor" in explanation:
        rule = " AND ".join(explanation["anchor"]) or "(any input)"
        return (
            f"IF {rule} THEN {explanation.get('predicted_class_name', '?')}  "
            f"(precision {explanation.get('precision', 0):.2f}, coverage {explanation.get('coverage', 0):.2f})"
        )
    top = explanation.get("top_features") or []
    parts = [f"{t['feature']} {t['value']:+.3f}" for t in top[:4]]
    return f"{explanation.get('predicted_class_name', '?')}: top SHAP attributions " + ", ".join(parts)


def format_report(report: dict[str, Any]) -> str:
    status = report.get("status") or {}
    history = status.get("history") or []
    last = (status.get("retraining") or {}).get("lastResult") or {}
    lines = [
        "",
        "ExplainOps demo report",
        "======================",
        f"model            {NAMESPACE}/{MODEL_NAME}, explainer {report.get('explainer')}",
        f"versions         {report.get('first_version')} -> {status.get('modelVersion')} "
        f"(retraining job {last.get('job')}, outcome {last.get('outcome')})",
        f"thresholds       {json.dumps(report.get('thresholds'))}",
        "",
        "accuracy (holdout rows no model was trained on)",
        f"  before drift              {_acc(report.get('accuracy_before_drift'))}",
        f"  after drift               {_acc(report.get('accuracy_after_drift'))}",
        f"  after retraining          {_acc(report.get('accuracy_after_retraining'))}",
        f"  undrifted, after retrain  {_acc(report.get('accuracy_clean_after_retraining'))}",
    ]
    after = report.get("stats_after_drift") or {}
    lines.append(
        f"feedback at trigger        {after.get('labelled_count')} labelled, error rate "
        f"{after.get('error_rate'):.3f} over the last {after.get('window_count')}"
        if isinstance(after.get("error_rate"), float)
        else "feedback at trigger        n/a"
    )
    if report.get("ready_seconds") is not None:
        lines.append(f"apply -> Ready             {report['ready_seconds']:.0f} s (KServe pods Ready)")
    if report.get("promotion_seconds") is not None:
        lines.append(f"threshold -> promotion     {report['promotion_seconds']:.0f} s (Job pod, gate, new pods Ready)")
    if report.get("rolled_back_to"):
        lines.append(f"rollback (pinnedVersion)   serving {report['rolled_back_to']} after {report['rollback_seconds']:.0f} s")
    lines.append(f"KServe status              {json.dumps(report.get('kserve_status'))}")
    lines.append(f"pods serving v1            {', '.join(report.get('pods_v1') or [])}")
    lines.append(f"pods serving v2            {', '.join(report.get('pods_v2') or [])}")
    lines.append(f"jobs                       {', '.join(report.get('jobs') or [])}")
    lines.append(f"images                     {', '.join(report.get('images') or [])}")
    if last.get("metrics"):
        lines.append(f"gate metrics               {json.dumps(last['metrics'], sort_keys=True)}")
    for entry in history:
        lines.append(
            f"history                    {entry.get('fromVersion')} -> {entry.get('version')} at "
            f"{entry.get('promotedAt')} ({entry.get('reason')}; holdout {entry.get('holdoutAccuracy')})"
        )
    lines.append("")
    lines.append("explanation samples")
    for sample in report.get("explanations") or []:
        lines.append(f"  {describe_explanation(sample)}")
    before = report.get("stats_before_drift") or {}
    if before.get("mean_explanation_rating") is not None:
        lines.append(
            f"  rated {before['mean_explanation_rating']:.1f}/5 on average by experts "
            f"({before.get('explanation_ratings')} ratings)"
        )
    lines += ["", f"console          {report.get('console_url')}  (live with --keep-running)", ""]
    return "\n".join(lines)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` stops every process."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explainops_devtools.demo",
        description="The whole ExplainOps loop on one machine (development only).",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after the report, keep the cluster, operator and model running until Ctrl-C",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("build/demo"),
        help="where models, data, logs and the cluster live (wiped at start)",
    )
    parser.add_argument(
        "--timeout-scale", type=float, default=1.0, help="multiply every wait's timeout (slow machines)"
    )
    options = parser.parse_args(argv)

    workdir = options.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    demo = Demo(workdir, keep_running=options.keep_running, timeout_scale=options.timeout_scale)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = demo.run()
        print(format_report(report), flush=True)
        (workdir / "report.json").write_text(json.dumps(report, indent=2, default=str))
        if options.keep_running:
            print("Everything keeps running: open the console URL above. Press Ctrl-C to stop.", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("\nstopping every process", flush=True)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process", flush=True)
        return 130
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
