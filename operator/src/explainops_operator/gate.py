"""Quality gate: a candidate is promoted only if it beats the champion per spec.retraining.gate. Pure.

Semantics: with `metric` M and `minImprovement` d, the candidate passes iff both trainer-reported
values of M are present and finite and candidate[M] - champion[M] >= d. For the error metrics of
regressors (MAE, RMSE) lower is better: the improvement is champion[M] - candidate[M]. Both models are evaluated by
the same trainer run on the same rows, none of which the champion trained on (the base holdout recorded
with the artifact, which no version trains on, and feedback labelled on the champion's own predictions;
see operator/RETRAINING.md), so the difference compares like with like. A missing or malformed value
fails the gate: promotion needs evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from explainops_operator.spec import ERROR_GATE_METRICS, GATE_METRICS, GateSpec

__all__ = ["GATE_METRICS", "GateResult", "GateSpec", "evaluate"]

# Gate outcome reasons (Retraining condition reasons).
GATE_PASSED = "GatePassed"
GATE_FAILED = "GateFailed"
METRIC_UNAVAILABLE = "MetricUnavailable"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    message: str
    candidate: float | None = None
    champion: float | None = None


def evaluate(gate: GateSpec, candidate: dict[str, Any], champion: dict[str, Any]) -> GateResult:
    """Compare candidate and champion metrics (dicts as written by the trainer) per the gate
    (spec.retraining.gate, whose metric the typed spec restricts to GATE_METRICS)."""
    cand, champ = _number(candidate.get(gate.metric)), _number(champion.get(gate.metric))
    if cand is None or champ is None:
        missing = "candidate" if cand is None else "champion"
        return GateResult(
            False, METRIC_UNAVAILABLE, f"{gate.metric} of the {missing} is missing", cand, champ
        )
    improvement = champ - cand if gate.metric in ERROR_GATE_METRICS else cand - champ
    comparison = (
        f"{gate.metric}: candidate {cand:.4f} vs champion {champ:.4f} "
        f"(improvement {improvement:+.4f}, required {gate.min_improvement:+.4f})"
    )
    # Round away float noise so that e.g. 0.9 - 0.8 passes a 0.1 gate.
    if round(improvement - gate.min_improvement, 12) >= 0:
        return GateResult(True, GATE_PASSED, comparison, cand, champ)
    return GateResult(False, GATE_FAILED, comparison, cand, champ)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
