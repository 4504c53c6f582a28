"""Quality gate: candidate vs champion per spec.retraining.gate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from explainops_operator import gate
from explainops_operator.gate import GateSpec, evaluate

# fmt: off
CASES = [
    # id, gate spec, candidate, champion, passed, reason
    ("better-holdout", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": 0.93}, {"holdoutAccuracy": 0.90}, True, gate.GATE_PASSED),
    ("equal-passes-zero-improvement", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": 0.9}, {"holdoutAccuracy": 0.9}, True, gate.GATE_PASSED),
    ("exact-required-improvement", GateSpec(metric="holdoutAccuracy", min_improvement=0.1), {"holdoutAccuracy": 0.9}, {"holdoutAccuracy": 0.8}, True, gate.GATE_PASSED),
    ("improvement-too-small", GateSpec(metric="holdoutAccuracy", min_improvement=0.02), {"holdoutAccuracy": 0.91}, {"holdoutAccuracy": 0.90}, False, gate.GATE_FAILED),
    ("worse-candidate", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": 0.70}, {"holdoutAccuracy": 0.90}, False, gate.GATE_FAILED),
    ("feedback-metric", GateSpec(metric="feedbackAccuracy", min_improvement=0.05), {"feedbackAccuracy": 0.9, "holdoutAccuracy": 0.1}, {"feedbackAccuracy": 0.5, "holdoutAccuracy": 0.99}, True, gate.GATE_PASSED),
    ("feedback-metric-worse", GateSpec(metric="feedbackAccuracy", min_improvement=0.0), {"feedbackAccuracy": 0.4}, {"feedbackAccuracy": 0.5}, False, gate.GATE_FAILED),
    ("candidate-metric-missing", GateSpec(metric="feedbackAccuracy", min_improvement=0.0), {"holdoutAccuracy": 0.9}, {"feedbackAccuracy": 0.5}, False, gate.METRIC_UNAVAILABLE),
    ("champion-metric-null", GateSpec(metric="feedbackAccuracy", min_improvement=0.0), {"feedbackAccuracy": 0.9}, {"feedbackAccuracy": None}, False, gate.METRIC_UNAVAILABLE),
    ("metric-not-a-number", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": "0.99"}, {"holdoutAccuracy": 0.5}, False, gate.METRIC_UNAVAILABLE),
    ("metric-nan", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": float("nan")}, {"holdoutAccuracy": 0.5}, False, gate.METRIC_UNAVAILABLE),
    ("metric-bool", GateSpec(metric="holdoutAccuracy", min_improvement=0.0), {"holdoutAccuracy": True}, {"holdoutAccuracy": 0.5}, False, gate.METRIC_UNAVAILABLE),
    # regression errors: lower is better
    ("lower-mae-passes", GateSpec(metric="holdoutMAE", min_improvement=0.5), {"holdoutMAE": 1.0}, {"holdoutMAE": 1.5}, True, gate.GATE_PASSED),
    ("higher-mae-fails", GateSpec(metric="holdoutMAE", min_improvement=0.0), {"holdoutMAE": 1.6}, {"holdoutMAE": 1.5}, False, gate.GATE_FAILED),
    ("rmse-improvement-too-small", GateSpec(metric="feedbackRMSE", min_improvement=0.5), {"feedbackRMSE": 2.9}, {"feedbackRMSE": 3.0}, False, gate.GATE_FAILED),
    ("equal-rmse-passes-zero", GateSpec(metric="holdoutRMSE", min_improvement=0.0), {"holdoutRMSE": 2.0}, {"holdoutRMSE": 2.0}, True, gate.GATE_PASSED),
    ("feedback-mae-missing", GateSpec(metric="feedbackMAE", min_improvement=0.0), {"feedbackMAE": None}, {"feedbackMAE": 1.0}, False, gate.METRIC_UNAVAILABLE),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "candidate", "champion", "passed", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate(spec, candidate, champion, passed, reason):
    result = evaluate(spec, candidate, champion)
    assert (result.passed, result.reason) == (passed, reason)
    assert result.message


def test_gate_reports_the_compared_values():
    result = evaluate(GateSpec(metric="holdoutAccuracy", min_improvement=0.01), {"holdoutAccuracy": 0.95}, {"holdoutAccuracy": 0.9})
    assert (result.candidate, result.champion) == (0.95, 0.9)
    assert "+0.0500" in result.message


def test_gate_metric_is_one_the_trainer_reports():
    with pytest.raises(ValidationError, match="holdoutAccuracy"):
        GateSpec(metric="f1")
