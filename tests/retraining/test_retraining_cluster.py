"""The retraining loop on the real local control plane, with the real operator and a real server.

The server (explainops-server, in a thread, SQLite store in the model root) receives predictions and
expert labels over HTTP; its URL goes into the InferenceService status as KServe would put it there.
The Job controller is real; the Job's Pod is run by the test: `explainops-server train` with the
Job's own arguments, then the kubelet helper marks the Pod Succeeded/Failed with its termination message.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from retraining_harness import OperatorProcess, ThreadedServer, run_trainer, wait_for
from retraining_scenario import MODEL_NAME, World

from explainops_devtools import kubelet
from explainops_operator import retraining_status as rs
from explainops_operator.api import GROUP, PLURAL, VERSION
from explainops_operator.builders import IS_GROUP, IS_PLURAL, IS_VERSION
from explainops_operator.conditions import get_condition
from explainops_operator.policy import ERROR_RATE_ABOVE_THRESHOLD, Decision

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

JOB_1 = f"{MODEL_NAME}-retrain-1"
JOB_2 = f"{MODEL_NAME}-retrain-2"
# Ticks of the operator (1 s each in these tests) to watch for something that must not happen.
QUIET_SECONDS = 4.0


class Loop:
    """One ExplainableModel in the test namespace and the objects around it."""

    def __init__(self, kube_api: Any, namespace: str, world: World, model_root: Path, server: ThreadedServer):
        from kubernetes.client import BatchV1Api, CustomObjectsApi

        self.api = kube_api
        self.objects = CustomObjectsApi(kube_api)
        self.batch = BatchV1Api(kube_api)
        self.namespace = namespace
        self.world = world
        self.model_root = model_root
        self.server = server

    def create(self, *, feedback: dict | None = None, **retraining: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ExplainableModel",
            "metadata": {"name": MODEL_NAME},
            "spec": {
                "model": {"storageUri": self.model_root.as_uri(), "version": "v1"},
                "explainer": {"type": "TreeShap"},
                "feedback": {
                    "window": 100,
                    "thresholds": {"minLabelled": 40, "maxErrorRate": 0.2},
                    **(feedback or {}),
                },
                "retraining": {
                    "enabled": True,
                    "trainingDataUri": self.world.train_csv.as_uri(),
                    "cooldownSeconds": 3600,
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": 600,
                    "failureBackoffSeconds": 600,
                    **retraining,
                },
            },
        }
        return self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def xm(self) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, MODEL_NAME)

    def status(self) -> dict[str, Any]:
        return self.xm().get("status") or {}

    def retraining(self) -> dict[str, Any]:
        return self.status().get("retraining") or {}

    def condition(self) -> dict[str, Any]:
        return dict(get_condition(self.status().get("conditions"), "Retraining") or {})

    def patch_spec(self, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, MODEL_NAME, {"spec": spec},
            _content_type="application/merge-patch+json",
        )  # fmt: skip

    def isvc(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.objects.get_namespaced_custom_object(
                IS_GROUP, IS_VERSION, self.namespace, IS_PLURAL, MODEL_NAME
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def serve_through_kserve(self) -> None:
        """Play KServe: the InferenceService is Ready at the real server's URL."""
        live = wait_for(self.isvc, "the InferenceService")
        status = {
            "observedGeneration": live["metadata"]["generation"],
            "url": self.server.url,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-28T00:00:00Z"}],
        }
        self.objects.patch_namespaced_custom_object_status(
            IS_GROUP, IS_VERSION, self.namespace, IS_PLURAL, MODEL_NAME, {"status": status},
            _content_type="application/merge-patch+json",
        )  # fmt: skip
        wait_for(lambda: self.status().get("url") == self.server.url, "status.url from the InferenceService")

    def served_uris(self) -> set[str]:
        containers = (self.isvc() or {})["spec"]["predictor"]["containers"]
        return {c["args"][c["args"].index("--model-uri") + 1] for c in containers}

    def jobs(self) -> list[dict[str, Any]]:
        items = self.batch.list_namespaced_job(
            self.namespace, label_selector=f"explainops.dev/model={MODEL_NAME}"
        )
        return [self.api.sanitize_for_serialization(job) for job in items.items]

    def job(self, name: str) -> dict[str, Any]:
        return wait_for(
            lambda: next((j for j in self.jobs() if j["metadata"]["name"] == name), None), f"Job {name}"
        )

    def assert_jobs_stay(self, names: list[str], seconds: float = QUIET_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert sorted(j["metadata"]["name"] for j in self.jobs()) == sorted(names)
            time.sleep(0.25)

    def train_and_succeed(self, name: str, log_dir: Path) -> dict[str, Any]:
        """The Pod's work, done for real: the trainer with the Job's args; then the Pod Succeeds."""
        code, message = run_trainer(self.job(name), log_dir)
        assert code == 0, message
        kubelet.succeed_job_pod(self.api, self.namespace, name, message=message)
        kubelet.wait_for_job_condition(self.api, self.namespace, name, "Complete")
        return json.loads(message)


@pytest.fixture
def loop(kube_api, namespace, world, model_root, stats_server) -> Loop:
    return Loop(kube_api, namespace, world, model_root, stats_server)


def started(loop: Loop, operator: OperatorProcess, **create: Any) -> None:
    loop.create(**create)
    operator.start()
    loop.serve_through_kserve()


def test_threshold_crossing_creates_exactly_one_job(loop, operator_process):
    loop.server.label_drifted(loop.world, 20)  # below minLabelled (40)
    started(loop, operator_process)
    wait_for(lambda: loop.condition().get("reason") == "InsufficientFeedback", "the policy to read the stats")
    assert loop.status()["feedback"]["labelledCount"] == 20
    loop.assert_jobs_stay([])

    loop.server.label_drifted(loop.world, 30, offset=20)  # 50 labels, the champion is wrong on drifted rows
    crossed = time.monotonic()
    job = wait_for(lambda: loop.jobs(), "a retraining Job", timeout=20)
    print(f"threshold crossing -> Job in {time.monotonic() - crossed:.1f} s")
    loop.assert_jobs_stay([JOB_1])

    retraining = loop.retraining()
    assert (retraining["sequence"], retraining["activeJob"]) == (1, JOB_1)
    assert retraining["lastTrigger"]["reason"] == ERROR_RATE_ABOVE_THRESHOLD
    assert (loop.condition()["status"], loop.condition()["reason"]) == ("True", "JobRunning")
    assert loop.status()["feedback"]["errorRate"] > 0.2
    (job,) = job
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "ExplainableModel",
        loop.xm()["metadata"]["uid"],
        True,
    )
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:1] == ["train"]
    assert args[args.index("--new-version") + 1] == "v2"
    assert args[args.index("--feedback-store") + 1] == f"sqlite:///{loop.model_root}/feedback.db"


def test_operator_killed_right_after_creating_the_job_still_one_job(loop, operator_process):
    loop.server.label_drifted(loop.world, 50)
    started(loop, operator_process)
    wait_for(lambda: loop.jobs(), "a retraining Job", timeout=20, interval=0.05)
    operator_process.kill()  # SIGKILL: no cleanup, no graceful shutdown
    operator_process.start()
    loop.assert_jobs_stay([JOB_1], seconds=QUIET_SECONDS + 3)  # covers the restart and several ticks
    assert (loop.retraining()["sequence"], loop.retraining()["activeJob"]) == (1, JOB_1)


def test_operator_stopped_between_recording_and_creating_creates_the_recorded_job(loop, operator_process):
    # The state a crash leaves between the two steps: the trigger is recorded, the Job does not exist.
    loop.server.label_drifted(loop.world, 50)
    xm = loop.create()
    decision = Decision(True, ERROR_RATE_ABOVE_THRESHOLD, "recorded before a crash")
    recorded = rs.trigger_patch(
        {},
        job=JOB_1,
        sequence=1,
        decision=decision,
        generation=xm["metadata"]["generation"],
        now=datetime.now(UTC),
    )
    loop.objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, loop.namespace, PLURAL, MODEL_NAME, {"status": recorded},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    assert loop.jobs() == []

    operator_process.start()
    loop.serve_through_kserve()
    loop.job(JOB_1)
    loop.assert_jobs_stay([JOB_1])
    operator_process.kill()
    operator_process.start()
    loop.assert_jobs_stay([JOB_1], seconds=QUIET_SECONDS + 3)
    assert loop.retraining()["sequence"] == 1


def test_trained_candidate_is_promoted_then_rolled_back_by_spec(loop, operator_process, tmp_path):
    loop.server.label_drifted(loop.world, 60)
    started(loop, operator_process, cooldownSeconds=0)
    assert loop.served_uris() == {str(loop.model_root / "v1")}

    result = loop.train_and_succeed(JOB_1, tmp_path)
    assert result["candidate"]["holdoutAccuracy"] > result["champion"]["holdoutAccuracy"]
    wait_for(lambda: loop.status().get("modelVersion") == "v2", "promotion to v2")
    status = loop.status()
    (entry,) = status["history"]
    assert (entry["version"], entry["fromVersion"], entry["job"]) == ("v2", "v1", JOB_1)
    assert entry["reason"] == ERROR_RATE_ABOVE_THRESHOLD
    assert entry["holdoutAccuracy"] == result["candidate"]["holdoutAccuracy"]
    assert status["retraining"]["lastResult"]["outcome"] == "Promoted"
    assert "activeJob" not in status["retraining"] or status["retraining"]["activeJob"] is None
    assert (loop.condition()["status"], loop.condition()["reason"]) == ("False", "Promoted")
    # The InferenceService now serves v2: both containers, so the explainer is rebuilt for v2.
    wait_for(lambda: loop.served_uris() == {str(loop.model_root / "v2")}, "the InferenceService to serve v2")
    assert (loop.model_root / "v2" / "metrics.json").is_file()

    # Rollback: pin v1. Its stats are still above the threshold and the cooldown is 0, yet nothing retrains.
    loop.patch_spec({"model": {"pinnedVersion": "v1"}})
    wait_for(
        lambda: loop.served_uris() == {str(loop.model_root / "v1")}, "the InferenceService to serve v1 again"
    )
    wait_for(lambda: loop.status().get("modelVersion") == "v1", "status.modelVersion back to v1")
    loop.assert_jobs_stay([JOB_1])
    assert len(loop.status()["history"]) == 1


def test_gate_failure_keeps_the_champion_and_the_cooldown_holds(loop, operator_process, tmp_path):
    loop.server.label_drifted(loop.world, 60)
    # A real candidate cannot gain 50 points of holdout accuracy: the gate must reject it.
    started(loop, operator_process, gate={"metric": "holdoutAccuracy", "minImprovement": 0.5})
    loop.train_and_succeed(JOB_1, tmp_path)
    wait_for(
        lambda: loop.retraining().get("lastResult", {}).get("outcome") == "Rejected", "the gate's verdict"
    )
    assert (loop.condition()["status"], loop.condition()["reason"]) == ("False", "GateFailed")
    status = loop.status()
    assert status.get("modelVersion") == "v1" and not status.get("history")
    assert loop.served_uris() == {str(loop.model_root / "v1")}
    assert (loop.model_root / "v2" / "model.skops").is_file()  # the candidate is kept beside, not served

    # Stats are still above the threshold, but the cooldown (1 h) holds.
    loop.assert_jobs_stay([JOB_1])
    assert loop.retraining()["sequence"] == 1
    loop.patch_spec({"retraining": {"cooldownSeconds": 0}})
    second = loop.job(JOB_2)
    args = second["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--new-version") + 1] == "v3"  # never overwrites the rejected v2


def test_failed_job_sets_the_condition_and_backs_off(loop, operator_process):
    loop.server.label_drifted(loop.world, 50)
    started(loop, operator_process, cooldownSeconds=0, failureBackoffSeconds=6)
    loop.job(JOB_1)
    failure = {
        "status": "failed",
        "error": "training_error",
        "detail": "the training rows hold a single class",
    }
    kubelet.fail_job_pod(loop.api, loop.namespace, JOB_1, message=json.dumps(failure))
    kubelet.wait_for_job_condition(loop.api, loop.namespace, JOB_1, "Failed")
    wait_for(lambda: loop.retraining().get("consecutiveFailures") == 1, "the failure to be recorded")

    retraining = loop.retraining()
    assert retraining["lastResult"]["outcome"] == "Failed"
    assert "single class" in retraining["lastResult"]["reason"]
    condition = loop.condition()
    assert (condition["status"], condition["reason"]) == ("False", "JobFailed")
    finished = rs.parse_time(retraining["lastResult"]["finishedAt"])
    not_before = rs.parse_time(retraining["notBefore"])
    assert (not_before - finished).total_seconds() == 6
    # Nothing before notBefore (stats above threshold, no cooldown): only the backoff holds.
    while datetime.now(UTC) < not_before:
        assert [j["metadata"]["name"] for j in loop.jobs()] == [JOB_1]
        time.sleep(0.25)
    loop.job(JOB_2)
    kubelet.fail_job_pod(loop.api, loop.namespace, JOB_2, message=json.dumps(failure))
    wait_for(lambda: loop.retraining().get("consecutiveFailures") == 2, "the second failure")
    retraining = loop.retraining()
    delay = rs.parse_time(retraining["notBefore"]) - rs.parse_time(retraining["lastResult"]["finishedAt"])
    assert delay.total_seconds() == 12  # doubled
