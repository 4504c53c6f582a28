"""Feedback-driven retraining, end to end on the local control plane: accuracy and time to promotion.

    KUBEBUILDER_ASSETS=... .venv/bin/python bench/bench_retraining.py [--interval 3] [--feedback 160]

Everything real except the cluster's data plane: etcd + kube-apiserver + kube-controller-manager, the
operator (`python -m explainops_operator`), and the development workload runner playing KServe and the
kubelet (it runs the InferenceService's two explainops-server containers and the retraining Job's Pod
as local processes). Scenario: breast_cancer RandomForest v1 serves; a new measuring device reports
every size feature 1.8x larger (the diagnosis does not change); experts label drifted predictions
through the feedback API; the error rate crosses the threshold -> Job -> trainer -> gate -> promotion.

Printed: accuracy before drift, after drift and after retraining (on a holdout neither model trained
on), the time from the threshold crossing to promotion split into its steps, and ratios against
baselines measured in the same run (the trainer's own run time; the champion's accuracy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from explainops_devtools.controlplane import ControlPlane, ControlPlaneSettings
from explainops_devtools.runner import WorkloadRunner
from explainops_server.models.artifact import read_feature_csv, read_metadata
from explainops_server.models.example import train_example

GROUP, VERSION, PLURAL = "explainops.dev", "v1alpha1", "explainablemodels"
NAMESPACE = "bench-retraining"
MODEL = "breast-cancer"
SIZE_SCALE = 1.8


def drift(features: np.ndarray, feature_names: list[str]) -> np.ndarray:
    columns = [i for i, n in enumerate(feature_names) if any(k in n for k in ("radius", "perimeter", "area"))]
    drifted = np.array(features, dtype=np.float64, copy=True)
    drifted[:, columns] *= SIZE_SCALE
    return drifted


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"no {what} after {timeout:.0f} s")


class Bench:
    def __init__(self, workdir: Path, interval: float, feedback_rows: int) -> None:
        self.workdir = workdir
        self.interval = interval
        self.feedback_rows = feedback_rows
        self.plane: ControlPlane | None = None
        self.runner: WorkloadRunner | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.api: Any = None

    def start(self) -> None:
        from kubernetes import client

        self.plane = ControlPlane(ControlPlaneSettings(), workdir=self.workdir / "cluster")
        self.plane.start()
        self.api = self.plane.api_client()
        client.CoreV1Api(self.api).create_namespace({"metadata": {"name": NAMESPACE}})
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig_path),
            "EXPLAINOPS_OPERATOR_RETRAINING_INTERVAL_SECONDS": str(self.interval),
            "EXPLAINOPS_OPERATOR_POST_INFO_EVENTS": "false",
        }
        with (self.workdir / "operator.log").open("wb") as log:
            self.operator = subprocess.Popen(
                [sys.executable, "-m", "explainops_operator", "--namespace", NAMESPACE],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        logging.getLogger("explainops.runner").setLevel(logging.WARNING)
        self.runner = WorkloadRunner(self.api, NAMESPACE, state_dir=self.workdir / "runner").start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.operator is not None and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(20)
            except subprocess.TimeoutExpired:
                self.operator.kill()
        if self.plane is not None:
            self.plane.stop()

    def xm(self) -> dict[str, Any]:
        from kubernetes import client

        return client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, MODEL
        )

    def jobs(self) -> list[Any]:
        from kubernetes import client

        return (
            client.BatchV1Api(self.api)
            .list_namespaced_job(NAMESPACE, label_selector=f"explainops.dev/model={MODEL}")
            .items
        )

    def run(self) -> dict[str, Any]:
        from kubernetes import client

        outputs = train_example(self.workdir / "models" / MODEL, self.workdir / "data" / MODEL, name=MODEL)
        names = read_metadata(outputs.version_dir).feature_names
        train_x, train_y = read_feature_csv(outputs.train_csv, names)
        hold_x, hold_y = read_feature_csv(outputs.holdout_csv, names)
        xm = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ExplainableModel",
            "metadata": {"name": MODEL},
            "spec": {
                "model": {"storageUri": outputs.version_dir.parent.as_uri(), "version": "v1"},
                "explainer": {"type": "TreeShap"},
                "feedback": {"window": 100, "thresholds": {"minLabelled": 40, "maxErrorRate": 0.2}},
                "retraining": {
                    "enabled": True,
                    "trainingDataUri": outputs.train_csv.as_uri(),
                    "cooldownSeconds": 0,
                    "gate": {"metric": "holdoutAccuracy", "minImprovement": 0.0},
                },
            },
        }
        client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, xm
        )
        url = wait_for("Ready ExplainableModel", lambda: self._ready_url(), timeout=300, interval=0.5)
        figures: dict[str, Any] = {}
        drifted_hold = drift(hold_x, names)
        with httpx.Client(base_url=url, timeout=120) as http:
            figures["accuracy_before_drift"] = self._accuracy(http, hold_x, hold_y)
            figures["accuracy_after_drift"] = self._accuracy(http, drifted_hold, hold_y)
            rows = np.random.default_rng(1).choice(len(train_y), size=self.feedback_rows, replace=False)
            predicted = http.post(
                f"/v1/models/{MODEL}:predict", json={"instances": drift(train_x[rows], names).tolist()}
            ).json()
            records = [
                {"prediction_id": p, "label": int(y)}
                for p, y in zip(predicted["prediction_ids"], train_y[rows], strict=True)
            ]
            wait_for(
                "recorded feedback",
                lambda: (
                    http.post(f"/v1/models/{MODEL}/feedback:batch", json={"records": records}).status_code
                    == 200
                ),
                timeout=30,
            )
            crossed = time.monotonic()  # the labels that cross the threshold are stored
            figures["feedback_error_rate"] = http.get(
                f"/v1/models/{MODEL}/feedback/stats", params={"window": 100}
            ).json()["error_rate"]
            job = wait_for("retraining Job", lambda: self.jobs(), timeout=120)[0]
            t_job = time.monotonic()
            job_name = job.metadata.name
            wait_for("Job completion", lambda: self._job_done(job_name), timeout=600, interval=0.2)
            t_job_done = time.monotonic()
            status = wait_for("promotion", lambda: self._promoted(), timeout=120, interval=0.2)
            t_promoted = time.monotonic()
            new_version = status["modelVersion"]
            wait_for(
                f"the served URL answering with {new_version}",
                lambda: self._serves(http, drifted_hold[:1], new_version),
                timeout=300,
                interval=0.5,
            )
            t_served = time.monotonic()
            figures["accuracy_after_retraining_drifted"] = self._accuracy(http, drifted_hold, hold_y)
            figures["accuracy_after_retraining_clean"] = self._accuracy(http, hold_x, hold_y)
            explained = http.post(
                f"/v1/models/{MODEL}:explain", json={"instances": drifted_hold[:1].tolist()}
            ).json()
            figures["explained_by"] = f"{explained['explainer']} on {explained['model_version']}"
        result = status["retraining"]["lastResult"]
        figures.update(
            version=new_version,
            gate=result["metrics"],
            seconds_crossing_to_job=t_job - crossed,
            seconds_job_run=t_job_done - t_job,
            seconds_job_done_to_promotion=t_promoted - t_job_done,
            seconds_crossing_to_promotion=t_promoted - crossed,
            seconds_promotion_to_serving=t_served - t_promoted,
            trainer_pod_seconds=self._pod_seconds(job_name),
        )
        return figures

    def _ready_url(self) -> str | None:
        status = self.xm().get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        return status.get("url") if ready else None

    def _job_done(self, name: str) -> bool:
        from kubernetes import client

        job = client.BatchV1Api(self.api).read_namespaced_job(name, NAMESPACE)
        return any(
            c.status == "True" and c.type in ("Complete", "Failed") for c in job.status.conditions or []
        )

    def _promoted(self) -> dict[str, Any] | None:
        status = self.xm().get("status") or {}
        outcome = ((status.get("retraining") or {}).get("lastResult") or {}).get("outcome")
        if outcome and outcome != "Promoted":
            raise RuntimeError(f"retraining ended with {outcome}: {json.dumps(status['retraining'])}")
        return status if outcome == "Promoted" else None

    def _pod_seconds(self, job_name: str) -> float | None:
        from kubernetes import client

        pods = (
            client.CoreV1Api(self.api)
            .list_namespaced_pod(NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={job_name}")
            .items
        )
        for pod in pods:
            for container in pod.status.container_statuses or []:
                done = container.state and container.state.terminated
                if done and done.started_at and done.finished_at:
                    return (done.finished_at - done.started_at).total_seconds()
        return None

    @staticmethod
    def _accuracy(http: httpx.Client, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        body = http.post(f"/v1/models/{MODEL}:predict", json={"instances": x.tolist()}).json()
        return {
            "accuracy": round(float(np.mean(np.array(body["predictions"]) == y)), 4),
            "version": body["model_version"],
        }

    @staticmethod
    def _serves(http: httpx.Client, x: np.ndarray, version: str) -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            return (
                http.post(f"/v1/models/{MODEL}:predict", json={"instances": x.tolist()}).json()[
                    "model_version"
                ]
                == version
            )
        return False


def report(figures: dict[str, Any], interval: float) -> str:
    before = figures["accuracy_before_drift"]["accuracy"]
    after_drift = figures["accuracy_after_drift"]["accuracy"]
    retrained = figures["accuracy_after_retraining_drifted"]["accuracy"]
    clean = figures["accuracy_after_retraining_clean"]["accuracy"]
    total = figures["seconds_crossing_to_promotion"]
    trainer = figures["trainer_pod_seconds"]
    lines = [
        "feedback-driven retraining (breast_cancer, RandomForest 100x6, TreeShap; drift = size features x1.8)",
        f"  accuracy before drift        {before:.3f}  ({figures['accuracy_before_drift']['version']}, clean holdout)",
        f"  accuracy after drift         {after_drift:.3f}  ({figures['accuracy_after_drift']['version']}, drifted holdout)"
        f"   = {after_drift / before:.2f}x of before",
        f"  accuracy after retraining    {retrained:.3f}  ({figures['version']}, drifted holdout)"
        f"   = {retrained / after_drift:.2f}x of after-drift",
        f"  clean holdout after retrain  {clean:.3f}  ({figures['version']})   = {clean / before:.2f}x of before",
        f"  feedback error rate at the crossing: {figures['feedback_error_rate']:.3f} (threshold 0.2)",
        f"  gate figures: {json.dumps(figures['gate'])}",
        f"  explanations after promotion: {figures['explained_by']}",
        f"time from threshold crossing to promotion: {total:.1f} s (operator interval {interval:g} s)",
        f"  crossing -> Job created       {figures['seconds_crossing_to_job']:.1f} s",
        f"  Job created -> Job complete   {figures['seconds_job_run']:.1f} s"
        + (f" (trainer container ran {trainer:.1f} s)" if trainer is not None else ""),
        f"  Job complete -> promoted      {figures['seconds_job_done_to_promotion']:.1f} s",
        f"  promoted -> new version serves {figures['seconds_promotion_to_serving']:.1f} s",
    ]
    if trainer:
        lines.append(
            f"  crossing-to-promotion / trainer run time = {total / trainer:.2f}x (loop overhead vs the training itself)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--interval", type=float, default=3.0, help="operator retraining interval (s)")
    parser.add_argument("--feedback", type=int, default=160, help="drifted predictions labelled by experts")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-retraining-"))
    bench = Bench(workdir, args.interval, args.feedback)
    try:
        bench.start()
        figures = bench.run()
    except Exception:
        print(f"bench failed; logs under {workdir}", file=sys.stderr)
        args.keep = True
        raise
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(figures, args.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
