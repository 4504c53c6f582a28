"""Operator benchmark on the local control plane (a benchmark, not a test: it prints figures).

Measures, with the real operator running as a subprocess (`python -m explainops_operator`):
  1. apply -> InferenceService created, p50/p90 over sequential applies, against a same-run floor:
     the API server's own latency for creating an InferenceService directly;
  2. time to reconcile N ExplainableModels applied at once (every one has its InferenceService and a
     status written by the operator);
  3. the operator's peak RSS (VmHWM) over the whole run.

Run: KUBEBUILDER_ASSETS=... .venv/bin/python bench/bench_operator.py [--models 300] [--samples 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from explainops_devtools.cluster.cluster import Cluster
from explainops_operator.api import GROUP, KIND, PLURAL, VERSION
from explainops_operator.builders import IS_GROUP, IS_PLURAL, IS_VERSION

GOAL_APPLY_P50_S = 1.0
GOAL_RECONCILE_S = 60.0
GOAL_RSS_MB = 250.0

SPEC: dict[str, Any] = {
    "model": {"storageUri": "file:///var/lib/explainops/models/breast-cancer", "version": "v1"},
    "explainer": {"type": "TreeShap"},
}


def manifest(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": SPEC}


class Arrivals:
    """Watches a namespaced custom resource and records when each name first appears (monotonic clock),
    and optionally when a predicate on the object first holds."""

    def __init__(self, api: Any, group: str, version: str, plural: str, namespace: str,
                 predicate: Any = None) -> None:
        self.api, self.args, self.namespace = api, (group, version, plural), namespace
        self.predicate = predicate
        self.first_seen: dict[str, float] = {}
        self.satisfied: dict[str, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Arrivals:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from kubernetes import watch

        group, version, plural = self.args
        listing = self.api.list_namespaced_custom_object(group, version, self.namespace, plural)
        resource_version = listing["metadata"]["resourceVersion"]
        self._ready.set()
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(
                self.api.list_namespaced_custom_object, group, version, self.namespace, plural,
                resource_version=resource_version, timeout_seconds=5,
            ):
                now = time.monotonic()
                obj = event["object"]
                name = obj["metadata"]["name"]
                resource_version = obj["metadata"]["resourceVersion"]
                self.first_seen.setdefault(name, now)
                if self.predicate is not None and name not in self.satisfied and self.predicate(obj):
                    self.satisfied[name] = now
                if self._stop.is_set():
                    break


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def reconciled(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return bool(status.get("modelVersion")) and any(c.get("type") == "Ready" for c in status.get("conditions") or [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300, help="ExplainableModels applied at once")
    parser.add_argument("--samples", type=int, default=30, help="sequential applies for the latency figure")
    parser.add_argument("--serving-only", action="store_true",
                        help="run the operator without the retraining loop (EXPLAINOPS_OPERATOR_RETRAINING_LOOP=false)")
    args = parser.parse_args()

    from kubernetes.client import CoreV1Api, CustomObjectsApi

    with Cluster() as plane:
        client = plane.api_client()
        api = CustomObjectsApi(client)
        core = CoreV1Api(client)
        for ns in ("bench-floor", "bench-latency", "bench-scale"):
            core.create_namespace({"metadata": {"name": ns}})

        # Floor: the API server creating an InferenceService directly (no operator involved).
        from explainops_operator.builders import Owner, render_inference_service
        from explainops_operator.spec import parse_spec

        floor = []
        for i in range(args.samples):
            body = render_inference_service(Owner(f"floor-{i}", "bench-floor", "00000000-0000-0000-0000-000000000000"),
                                            parse_spec(SPEC), "v1", default_image="ghcr.io/explainops/explainops-server:0.1.0")
            body["metadata"]["ownerReferences"] = []
            start = time.monotonic()
            api.create_namespaced_custom_object(IS_GROUP, IS_VERSION, "bench-floor", IS_PLURAL, body)
            floor.append(time.monotonic() - start)

        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig_path),
               "EXPLAINOPS_OPERATOR_NAMESPACES": "bench-latency,bench-scale",
               "EXPLAINOPS_OPERATOR_RETRAINING_LOOP": "false" if args.serving_only else "true"}
        # The operator's log goes to a file: an unread pipe would fill up and block the operator.
        log_path = Path(tempfile.gettempdir()) / "bench_operator.log"
        log_file = log_path.open("w")
        operator = subprocess.Popen([sys.executable, "-m", "explainops_operator"], env=env,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        try:
            # 1. apply -> InferenceService created, one at a time.
            arrivals = Arrivals(api, IS_GROUP, IS_VERSION, IS_PLURAL, "bench-latency").start()
            latencies = []
            for i in range(args.samples):
                name = f"lat-{i}"
                start = time.monotonic()
                api.create_namespaced_custom_object(GROUP, VERSION, "bench-latency", PLURAL, manifest(name))
                if not wait_until(lambda n=name: n in arrivals.first_seen, timeout=30):
                    raise SystemExit(f"no InferenceService for {name} within 30 s; operator log: {log_path}")
                latencies.append(arrivals.first_seen[name] - start)
            arrivals.stop()

            # 2. N ExplainableModels at once -> all reconciled (InferenceService + status).
            is_arrivals = Arrivals(api, IS_GROUP, IS_VERSION, IS_PLURAL, "bench-scale").start()
            xm_arrivals = Arrivals(api, GROUP, VERSION, PLURAL, "bench-scale", predicate=reconciled).start()
            start = time.monotonic()
            for i in range(args.models):
                api.create_namespaced_custom_object(GROUP, VERSION, "bench-scale", PLURAL, manifest(f"m-{i:04d}"))
            applied = time.monotonic() - start
            done = wait_until(
                lambda: len(is_arrivals.first_seen) >= args.models and len(xm_arrivals.satisfied) >= args.models,
                timeout=300,
            )
            total = time.monotonic() - start
            is_arrivals.stop()
            xm_arrivals.stop()
            rss = peak_rss_mb(operator.pid)
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.kill()
            log_file.close()

    print("operator: " + ("serving handlers only" if args.serving_only else "serving + retraining handlers"))
    p50, p90 = statistics.median(latencies), statistics.quantiles(latencies, n=10)[-1]
    floor_p50 = statistics.median(floor)
    print(f"apply -> InferenceService created: p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms "
          f"({args.samples} sequential applies); goal <= {GOAL_APPLY_P50_S * 1000:.0f} ms "
          f"(p50/goal = {p50 / GOAL_APPLY_P50_S:.2f})")
    print(f"  floor: API server creating an InferenceService directly, p50 {floor_p50 * 1000:.0f} ms "
          f"(operator p50 / floor p50 = {p50 / floor_p50:.1f}x)")
    state = "all reconciled" if done else (f"INCOMPLETE: {len(is_arrivals.first_seen)} InferenceServices, "
                                           f"{len(xm_arrivals.satisfied)} statuses")
    print(f"reconcile {args.models} ExplainableModels applied at once: {total:.1f} s ({state}; applying took "
          f"{applied:.1f} s); goal <= {GOAL_RECONCILE_S:.0f} s (time/goal = {total / GOAL_RECONCILE_S:.2f})")
    print(f"operator peak RSS: {rss:.0f} MB; goal <= {GOAL_RSS_MB:.0f} MB (rss/goal = {rss / GOAL_RSS_MB:.2f})")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
