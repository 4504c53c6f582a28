"""ExplainOps against stock KServe on the real node, every figure measured in the same run.

    .venv/bin/python bench/bench_cluster.py [--quick] [--json figures.json]

1. Runs the demo (`explainops_devtools.demo`): the node, the chart's operator pod, v1 on a volume,
   apply -> Ready, the feedback loop -> retraining Job -> gate -> promotion. Its timings are the
   apply -> Ready and threshold -> promoted figures.
2. On the same node, in the demo's namespace, three more predictors of the same artifact:
   - ours, `spec.explainer.placement: Sidecar` (serving container 1 CPU, explainer sidecar 1 CPU);
   - ours, `placement: InProcess` (one container with the same 2 CPUs);
   - stock: kserve's own ModelServer (from the kserve wheel, `bench/stock-kserve`, an image built the
     same way) as a KServe custom predictor, 1 CPU.
3. Predict latency through each Service's ClusterIP (1 row, sequential), and predict latency while two
   Anchors explanations run without pause (distinct rows, so no cache answers).

It prints ours / stock and Sidecar / InProcess. Loops are bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
STOCK_IMAGE = "ghcr.io/explainops/kserve-stock-sklearn:0.1.0"
# Small requests (the demo's pods and the Job share the 2-core node), the budgets are the limits.
CPU = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
CPU2 = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def running_node() -> Any:
    """The node `make cluster-up` started, if one is up (the benchmark then runs there and leaves it up)."""
    from explainops_devtools.cluster.cluster import Cluster
    from explainops_devtools.cluster.settings import ClusterSettings

    settings = ClusterSettings()
    state = settings.state_dir / "state.json"
    return Cluster.from_state(json.loads(state.read_text()), settings) if state.exists() else None


def uninstall_chart(kubeconfig: Path, namespace: str) -> None:
    import os
    import subprocess

    helm = subprocess.run([str(REPO / "hack" / "install-helm.sh")], capture_output=True, text=True,
                          check=False).stdout.strip().splitlines()[-1]
    subprocess.run([helm, "uninstall", "explainops", "--namespace", namespace, "--wait"],
                   env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, check=False, timeout=300)


def build_stock_image() -> None:
    import subprocess

    done = subprocess.run([str(REPO / "hack" / "build-images.sh"), "bench/stock-kserve:kserve-stock-sklearn"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"building the stock image failed:\n{done.stderr[-2000:]}")


def import_stock_image(demo: Any) -> None:
    """The node imported the archives present when it started; the stock one is built after."""
    archive = next(demo.cluster.settings.images_dir.glob("kserve-stock-sklearn-*.tar"))
    done = demo.cluster._ctr("images", "import", "--no-unpack=false", str(archive), timeout=600)
    if done.returncode:
        raise SystemExit(f"importing {archive} failed: {done.stderr}")


def ours(name: str, claim: str, placement: str) -> dict[str, Any]:
    explainer: dict[str, Any] = {"type": "AnchorTabular", "placement": placement, "workers": 2,
                                 "timeoutSeconds": 120, "params": {"threshold": 0.95}}
    if placement == "Sidecar":
        explainer["resources"] = CPU
    return {
        "apiVersion": "explainops.dev/v1alpha1", "kind": "ExplainableModel", "metadata": {"name": name},
        "spec": {
            "model": {"storageUri": f"pvc://{claim}/breast-cancer", "version": "v1"},
            "explainer": explainer,
            "serving": {"deploymentMode": "Standard", "resources": CPU if placement == "Sidecar" else CPU2},
        },
    }


def stock(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "annotations": {"serving.kserve.io/deploymentMode": "Standard"}},
        "spec": {"predictor": {"containers": [{
            "name": "kserve-container", "image": STOCK_IMAGE, "imagePullPolicy": "IfNotPresent",
            "args": ["--model_name", name, "--model_dir", "/mnt/models/breast-cancer/v1",
                     "--http_port", "8080", "--grpc_port", "8081"],
            "ports": [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}],
            "resources": CPU,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "models", "mountPath": "/mnt/models", "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }], "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}},
                        {"name": "tmp", "emptyDir": {}}]}},
    }


def wait(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


class Node:
    """The demo's node and namespace, and the calls the benchmark makes there."""

    def __init__(self, demo: Any) -> None:
        from kubernetes import client as k8s

        from explainops_devtools.demo import NAMESPACE

        self.demo, self.ns = demo, NAMESPACE
        self.custom = k8s.CustomObjectsApi(demo.api)

    def apply_ours(self, body: dict[str, Any]) -> float:
        started = time.monotonic()
        self.custom.create_namespaced_custom_object("explainops.dev", "v1alpha1", self.ns, "explainablemodels", body)

        def ready() -> bool:
            obj = self.custom.get_namespaced_custom_object(
                "explainops.dev", "v1alpha1", self.ns, "explainablemodels", body["metadata"]["name"])
            conditions = (obj.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait(f"{body['metadata']['name']} Ready", ready, 600)
        return time.monotonic() - started

    def apply_stock(self, body: dict[str, Any]) -> float:
        started = time.monotonic()
        self.custom.create_namespaced_custom_object("serving.kserve.io", "v1beta1", self.ns, "inferenceservices", body)
        wait(f"{body['metadata']['name']} Ready", lambda: self._isvc_ready(body["metadata"]["name"]), 600)
        return time.monotonic() - started

    def _isvc_ready(self, name: str) -> bool:
        obj = self.custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", self.ns, "inferenceservices", name)
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def url(self, name: str) -> str:
        obj = self.custom.get_namespaced_custom_object("serving.kserve.io", "v1beta1", self.ns, "inferenceservices", name)
        return self.demo.reachable(obj["status"]["address"]["url"].rstrip("/"))


def predict_latencies(http: httpx.Client, url: str, model: str, rows: np.ndarray, count: int,
                      seconds: float) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        answer = http.post(f"{url}/v1/models/{model}:predict", json={"instances": [rows[i % len(rows)].tolist()]})
        out.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return out


def under_explanations(url: str, model: str, rows: np.ndarray, count: int, seconds: float) -> tuple[list[float], int]:
    """Predict latencies while two clients keep one Anchors explanation each running."""
    stop = threading.Event()
    explained = [0, 0]
    rng = np.random.default_rng(7)

    def explain(slot: int) -> None:
        with httpx.Client(timeout=180) as http:
            while not stop.is_set() and explained[slot] < 200:
                row = rows[rng.integers(len(rows))] * (1 + rng.normal(0, 0.01, rows.shape[1]))
                http.post(f"{url}/v1/models/{model}:explain", json={"instances": [row.tolist()]})
                explained[slot] += 1

    workers = [threading.Thread(target=explain, args=(slot,), daemon=True) for slot in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(3)  # both explanations are running
    with httpx.Client(timeout=60) as http:
        latencies = predict_latencies(http, url, model, rows, count, seconds)
    stop.set()
    for worker in workers:
        worker.join(timeout=200)
    return latencies, sum(explained)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench-cluster")
    options = parser.parse_args(argv)
    count, seconds = (200, 30.0) if options.quick else (1000, 90.0)

    from sklearn.datasets import load_breast_cancer

    from explainops_devtools.demo import Demo
    from explainops_devtools.example_volume import create_model_volume

    build_stock_image()
    shutil.rmtree(options.workdir, ignore_errors=True)
    options.workdir.mkdir(parents=True)
    running = running_node()
    demo = Demo(options.workdir, cluster=running, shared_node=running is not None)
    figures: dict[str, Any] = {}
    try:
        report = demo.run()
        figures["demo_apply_to_ready_s"] = report.get("ready_seconds")
        figures["threshold_to_promoted_s"] = report.get("promotion_seconds")
        import_stock_image(demo)
        node = Node(demo)
        for claim in ("bench-split", "bench-inprocess"):
            create_model_volume(demo.api, node.ns, claim=claim)
        ready = {
            "split": node.apply_ours(ours("bench-split", "bench-split", "Sidecar")),
            "inprocess": node.apply_ours(ours("bench-inprocess", "bench-inprocess", "InProcess")),
            "stock": node.apply_stock(stock("bench-stock", "bench-split")),
        }
        figures["apply_to_ready_s"] = ready
        ours_ready = [ready["split"], ready["inprocess"]] + ([figures["demo_apply_to_ready_s"]]
                                                            if figures["demo_apply_to_ready_s"] else [])
        figures["ours_apply_to_ready_p50_s"] = statistics.median(ours_ready)
        rows = load_breast_cancer().data
        urls = {key: node.url(f"bench-{key}") for key in ("split", "inprocess", "stock")}
        with httpx.Client(timeout=60) as http:
            for key, url in urls.items():
                predict_latencies(http, url, f"bench-{key}", rows, 50, 30)  # warm up
                latencies = predict_latencies(http, url, f"bench-{key}", rows, count, seconds)
                figures[f"predict_{key}_ms"] = {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                                                "n": len(latencies)}
        for key in ("split", "inprocess"):
            latencies, explained = under_explanations(urls[key], f"bench-{key}", rows, count, seconds)
            figures[f"predict_{key}_under_2_anchors_ms"] = {
                "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "n": len(latencies),
                "explanations": explained}
    except BaseException:
        import traceback

        traceback.print_exc()  # before the clean-up, which may fail too
        raise
    finally:
        if running is not None and demo.api is not None:  # not ours to stop: remove what the run created
            from kubernetes import client as k8s

            from explainops_devtools.demo import NAMESPACE, OPERATOR_NAMESPACE

            # The models first, while the operator still runs (and may, in the namespace) to release their
            # finalizers; then the namespace, then the chart.
            custom, core = k8s.CustomObjectsApi(demo.api), k8s.CoreV1Api(demo.api)
            custom.delete_collection_namespaced_custom_object("explainops.dev", "v1alpha1", NAMESPACE,
                                                              "explainablemodels")
            wait("the models deleted", lambda: not custom.list_namespaced_custom_object(
                "explainops.dev", "v1alpha1", NAMESPACE, "explainablemodels")["items"], 300)
            core.delete_namespace(NAMESPACE)
            wait(f"namespace {NAMESPACE} deleted",
                 lambda: NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}, 300)
            uninstall_chart(running.kubeconfig_path, OPERATOR_NAMESPACE)
            demo.cluster = None
        demo.stop()

    def ratio(a: str, b: str, q: str) -> float:
        return figures[a][q] / figures[b][q]

    print("\nExplainOps on the real node, against stock KServe in the same run")
    print(f"apply -> Ready             ours p50 {figures['ours_apply_to_ready_p50_s']:.1f} s, stock "
          f"{ready['stock']:.1f} s  (ours / stock {figures['ours_apply_to_ready_p50_s'] / ready['stock']:.2f})")
    print(f"threshold -> promoted      {figures['threshold_to_promoted_s']:.0f} s (Job pod, gate, new pods Ready)")
    for key in ("split", "inprocess", "stock"):
        f = figures[f"predict_{key}_ms"]
        print(f"predict {key:<10}         p50 {f['p50']:6.2f} ms  p99 {f['p99']:6.2f} ms  (n={f['n']})")
    for key in ("split", "inprocess"):
        print(f"  ours {key} / stock     p50 {ratio(f'predict_{key}_ms', 'predict_stock_ms', 'p50'):.2f}  "
              f"p99 {ratio(f'predict_{key}_ms', 'predict_stock_ms', 'p99'):.2f}")
    for key in ("split", "inprocess"):
        f = figures[f"predict_{key}_under_2_anchors_ms"]
        print(f"predict {key:<10} + 2 Anchors  p50 {f['p50']:6.2f} ms  p99 {f['p99']:6.2f} ms  "
              f"(n={f['n']}, {f['explanations']} explanations)")
    print(f"  Sidecar / InProcess under Anchors  p99 "
          f"{ratio('predict_split_under_2_anchors_ms', 'predict_inprocess_under_2_anchors_ms', 'p99'):.2f}  "
          f"p50 {ratio('predict_split_under_2_anchors_ms', 'predict_inprocess_under_2_anchors_ms', 'p50'):.2f}")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
