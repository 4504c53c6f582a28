"""Pure status transitions of the retraining loop: trigger, promotion, rejection, failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from explainops_operator import retraining_status as rs
from explainops_operator.conditions import get_condition
from explainops_operator.policy import ERROR_RATE_ABOVE_THRESHOLD, Decision
from explainops_operator.spec import parse_spec
from explainops_operator.stats_client import feedback_status, figures_for

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def spec(**retraining):
    return parse_spec(
        {
            "model": {"storageUri": "file:///m", "version": "v1", **retraining.pop("model", {})},
            "explainer": {"type": "TreeShap"},
            "retraining": {
                "enabled": True,
                "trainingDataUri": "file:///d.csv",
                "cooldownSeconds": 600,
                "failureBackoffSeconds": 60,
                **retraining,
            },
        }
    )


def result(candidate: float, champion: float, version: str = "v2") -> str:
    return json.dumps(
        {
            "status": "succeeded",
            "version": version,
            "parent_version": "v1",
            "candidate": {
                "holdoutAccuracy": candidate,
                "feedbackAccuracy": candidate,
                "baseHoldoutAccuracy": 0.9,
            },
            "champion": {
                "holdoutAccuracy": champion,
                "feedbackAccuracy": champion,
                "baseHoldoutAccuracy": 0.9,
            },
        }
    )


def finished(message: str | None, *, succeeded: bool = True, job_message: str = "") -> rs.FinishedJob:
    return rs.FinishedJob(
        "xm-retrain-1", succeeded, "v1", "v2", ERROR_RATE_ABOVE_THRESHOLD, message, job_message
    )


RUNNING = {
    "modelVersion": "v1",
    "retraining": {"sequence": 1, "activeJob": "xm-retrain-1", "consecutiveFailures": 0},
    "history": [],
}


def retraining_condition(patch: dict) -> dict:
    condition = get_condition(patch["conditions"], "Retraining")
    assert condition is not None
    return dict(condition)


def test_trigger_records_the_job_before_it_exists():
    decision = Decision(True, ERROR_RATE_ABOVE_THRESHOLD, "error rate 0.4 > 0.2")
    patch = rs.trigger_patch({}, job="xm-retrain-1", sequence=1, decision=decision, generation=3, now=NOW)
    assert patch["retraining"] == {
        "sequence": 1,
        "activeJob": "xm-retrain-1",
        "lastTrigger": {"reason": ERROR_RATE_ABOVE_THRESHOLD, "at": "2026-11-28T03:00:00Z"},
    }
    condition = retraining_condition(patch)
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "True",
        rs.JOB_RUNNING,
        3,
    )


def test_gate_pass_promotes_and_writes_history():
    outcome = rs.finish(RUNNING, spec(), finished(result(0.95, 0.80)), generation=1, now=NOW)
    assert (outcome.outcome, outcome.reason) == ("Promoted", rs.PROMOTED)
    patch = outcome.patch
    assert patch["modelVersion"] == "v2"
    assert patch["history"] == [
        {
            "version": "v2",
            "promotedAt": "2026-11-28T03:00:00Z",
            "fromVersion": "v1",
            "reason": ERROR_RATE_ABOVE_THRESHOLD,
            "job": "xm-retrain-1",
            "holdoutAccuracy": 0.95,
            "feedbackAccuracy": 0.95,
        }
    ]
    retraining = patch["retraining"]
    assert retraining["activeJob"] is None and retraining["consecutiveFailures"] == 0
    assert retraining["notBefore"] == "2026-11-28T03:10:00Z"  # cooldown of 600 s
    assert retraining["lastResult"]["outcome"] == "Promoted"
    assert retraining["lastResult"]["metrics"]["candidateHoldoutAccuracy"] == 0.95
    assert retraining["lastResult"]["metrics"]["championHoldoutAccuracy"] == 0.80
    assert retraining_condition(patch)["status"] == "False"


def test_history_keeps_the_newest_twenty():
    status = {**RUNNING, "history": [{"version": f"h{i}", "promotedAt": "x"} for i in range(20)]}
    history = rs.finish(status, spec(), finished(result(0.95, 0.8)), generation=1, now=NOW).patch["history"]
    assert len(history) == 20 and history[0]["version"] == "h1" and history[-1]["version"] == "v2"


def test_gate_failure_keeps_the_champion():
    outcome = rs.finish(
        RUNNING, spec(gate={"minImprovement": 0.2}), finished(result(0.9, 0.8)), generation=1, now=NOW
    )
    assert (outcome.outcome, outcome.reason) == ("Rejected", rs.GATE_FAILED)
    assert "modelVersion" not in outcome.patch and "history" not in outcome.patch
    assert outcome.patch["retraining"]["activeJob"] is None
    assert outcome.patch["retraining"]["consecutiveFailures"] == 0
    condition = retraining_condition(outcome.patch)
    assert (condition["status"], condition["reason"]) == ("False", "GateFailed")


def test_pinned_version_is_not_overridden_by_a_passing_candidate():
    outcome = rs.finish(
        RUNNING, spec(model={"pinnedVersion": "v1"}), finished(result(0.99, 0.5)), generation=1, now=NOW
    )
    assert outcome.outcome == "Rejected" and "modelVersion" not in outcome.patch
    assert "pinnedVersion" in outcome.message


@pytest.mark.parametrize(
    ("message", "succeeded", "reason"),
    [
        (
            json.dumps({"status": "failed", "error": "training_error", "detail": "single class"}),
            False,
            rs.JOB_FAILED,
        ),
        (None, False, rs.JOB_FAILED),
        ("not json", True, rs.RESULT_UNREADABLE),
        (result(0.9, 0.8, version="v7"), True, rs.RESULT_UNREADABLE),
    ],
    ids=["trainer-error", "no-message", "garbage", "other-version"],
)
def test_failures_back_off_exponentially(message, succeeded, reason):
    status = {**RUNNING, "retraining": {**RUNNING["retraining"], "consecutiveFailures": 1}}
    outcome = rs.finish(
        status,
        spec(),
        finished(message, succeeded=succeeded, job_message="BackoffLimitExceeded"),
        generation=1,
        now=NOW,
    )
    assert (outcome.outcome, outcome.reason) == ("Failed", reason)
    retraining = outcome.patch["retraining"]
    assert retraining["consecutiveFailures"] == 2
    assert retraining["notBefore"] == "2026-11-28T03:02:00Z"  # 60 s doubled once
    assert retraining["activeJob"] is None
    assert "modelVersion" not in outcome.patch


def test_failure_detail_comes_from_the_trainer():
    message = json.dumps({"status": "failed", "error": "training_error", "detail": "single class"})
    outcome = rs.finish(RUNNING, spec(), finished(message, succeeded=False), generation=1, now=NOW)
    assert "training_error: single class" in outcome.message


def test_hold_reasons_do_not_hide_a_finished_runs_outcome():
    rejected = rs.finish(
        RUNNING, spec(gate={"minImprovement": 0.5}), finished(result(0.9, 0.8)), generation=1, now=NOW
    )
    status = {"conditions": rejected.patch["conditions"]}
    assert rs.hold_condition_patch(status, reason="Cooldown", message="m", generation=1, now=NOW) is None
    fresh = rs.hold_condition_patch(
        {}, reason="InsufficientFeedback", message="3 < 50", generation=1, now=NOW
    )
    assert retraining_condition(fresh)["reason"] == "InsufficientFeedback"
    assert rs.hold_condition_patch({"conditions": fresh["conditions"]}, reason="InsufficientFeedback", message="4 < 50",
                                   generation=1, now=NOW) is None  # fmt: skip


def test_state_is_read_back_from_status():
    status = {
        "retraining": {
            "activeJob": None,
            "lastTrigger": {"reason": "x", "at": "2026-11-28T02:00:00Z"},
            "lastResult": {"finishedAt": "2026-11-28T02:30:00Z"},
            "consecutiveFailures": 2,
            "notBefore": "2026-11-28T04:00:00Z",
        }
    }
    state = rs.retraining_state(status)
    assert state.active_job is None and state.consecutive_failures == 2
    assert state.last_finished_at - state.last_trigger_at == timedelta(minutes=30)
    assert state.not_before == datetime(2026, 11, 28, 4, tzinfo=UTC)
    assert rs.retraining_state(None).active_job is None


STATS = {
    "model_name": "bc",
    "model_version": "v1",
    "window": 100,
    "predictions": 80,
    "labelled_count": 60,
    "window_count": 60,
    "accuracy": 0.55,
    "error_rate": 0.45,
    "explanation_ratings": 0,
    "mean_explanation_rating": None,
    "by_version": [
        {"model_version": "v1", "labelled_count": 60, "window_count": 60, "accuracy": 0.55, "error_rate": 0.45},
        {"model_version": "v2", "labelled_count": 3, "window_count": 3, "accuracy": 1.0, "error_rate": 0.0,
         "mean_explanation_rating": 4.5},
    ],
}  # fmt: skip


def test_stats_are_read_for_the_served_version():
    v1, v2 = figures_for(STATS, "v1"), figures_for(STATS, "v2")
    assert (v1.labelled_count, v1.error_rate) == (60, 0.45)
    assert (v2.labelled_count, v2.error_rate, v2.mean_explanation_rating) == (3, 0.0, 4.5)
    assert figures_for(STATS, "v3") is None
    assert (
        figures_for({"model_version": "v1", "labelled_count": 5, "error_rate": 0.1}, "v1").labelled_count == 5
    )
    assert feedback_status(STATS, "v2") == {
        "labelledCount": 3,
        "windowCount": 3,
        "accuracy": 1.0,
        "errorRate": 0.0,
        "meanExplanationRating": 4.5,
    }


def test_a_promoted_regressor_records_its_errors_in_history():
    result = {"status": "succeeded", "version": "v2", "parent_version": "v1",
              "candidate": {"holdoutMAE": 1.5, "holdoutRMSE": 2.0, "holdoutAccuracy": None},
              "champion": {"holdoutMAE": 2.5, "holdoutRMSE": 3.0}}  # fmt: skip
    gate = {"metric": "holdoutMAE", "minImprovement": 0.5}
    outcome = rs.finish(RUNNING, spec(gate=gate), finished(json.dumps(result)), generation=1, now=NOW)
    assert (outcome.outcome, outcome.reason) == ("Promoted", rs.PROMOTED)  # MAE 1.5 vs 2.5: lower by 1.0
    (entry,) = outcome.patch["history"]
    assert (entry["holdoutMAE"], entry["holdoutRMSE"], entry["holdoutAccuracy"]) == (1.5, 2.0, None)
    assert outcome.patch["retraining"]["lastResult"]["metrics"]["championHoldoutMAE"] == 2.5

