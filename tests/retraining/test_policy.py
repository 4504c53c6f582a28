"""Trigger policy: one table row per branch of `decide`, plus the time helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from explainops_operator import policy
from explainops_operator.policy import (
    Decision,
    FeedbackFigures,
    RetrainingPolicy,
    RetrainingState,
    cooldown_ends_at,
    decide,
    failure_backoff_until,
    next_candidate_version,
)
from explainops_operator.spec import FeedbackThresholds

NOW = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
SERVED = "v1"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def spec(
    *,
    enabled: bool = True,
    min_labelled: int = 20,
    max_error_rate: float = 0.2,
    min_rating: float | None = None,
    max_drift: float | None = None,
    max_mae: float | None = None,
    max_rmse: float | None = None,
    cooldown: float = 300,
    pinned: bool = False,
) -> RetrainingPolicy:
    return RetrainingPolicy(
        enabled=enabled,
        thresholds=FeedbackThresholds(
            min_labelled=min_labelled,
            max_error_rate=max_error_rate,
            min_explanation_rating=min_rating,
            max_input_drift=max_drift,
            max_mae=max_mae,
            max_rmse=max_rmse,
        ),
        cooldown_seconds=cooldown,
        pinned=pinned,
    )


def figures(
    labelled: int = 50,
    error_rate: float | None = 0.4,
    rating: float | None = None,
    version: str = SERVED,
    drift: float | None = None,
    mae: float | None = None,
    rmse: float | None = None,
) -> FeedbackFigures:
    return FeedbackFigures(version, labelled, error_rate, rating, drift, mae, rmse)


IDLE = RetrainingState()

# fmt: off
CASES = [
    # id, policy, state, figures, expected retrain, expected reason
    ("disabled", spec(enabled=False), IDLE, figures(), False, policy.DISABLED),
    ("disabled-beats-everything", spec(enabled=False), RetrainingState(active_job="xm-retrain-1"), figures(), False, policy.DISABLED),
    ("run-active", spec(), RetrainingState(active_job="xm-retrain-1"), figures(), False, policy.RUN_ACTIVE),
    ("run-active-even-after-cooldown", spec(cooldown=0), RetrainingState(active_job="j", last_trigger_at=ago(10_000)), figures(), False, policy.RUN_ACTIVE),
    ("pinned", spec(pinned=True), IDLE, figures(), False, policy.VERSION_PINNED),
    ("failure-backoff", spec(), RetrainingState(consecutive_failures=2, not_before=NOW + timedelta(seconds=1)), figures(), False, policy.FAILURE_BACKOFF),
    ("failure-backoff-over", spec(cooldown=0), RetrainingState(consecutive_failures=2, not_before=NOW), figures(), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("not-before-without-failures-is-only-the-cooldown", spec(cooldown=0), RetrainingState(not_before=NOW + timedelta(seconds=60)), figures(), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("cooldown-after-trigger", spec(cooldown=300), RetrainingState(last_trigger_at=ago(299)), figures(), False, policy.COOLDOWN),
    ("cooldown-after-finish", spec(cooldown=300), RetrainingState(last_trigger_at=ago(1000), last_finished_at=ago(10)), figures(), False, policy.COOLDOWN),
    ("cooldown-over", spec(cooldown=300), RetrainingState(last_trigger_at=ago(1000), last_finished_at=ago(300)), figures(), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("no-cooldown-configured", spec(cooldown=0), RetrainingState(last_finished_at=NOW), figures(), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("no-stats", spec(), IDLE, None, False, policy.NO_STATS),
    ("stats-of-other-version", spec(), IDLE, figures(version="v0"), False, policy.STATS_VERSION_MISMATCH),
    ("insufficient-feedback", spec(min_labelled=20), IDLE, figures(labelled=19, error_rate=1.0), False, policy.INSUFFICIENT_FEEDBACK),
    ("exactly-min-labelled", spec(min_labelled=20), IDLE, figures(labelled=20, error_rate=0.5), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("error-rate-above", spec(max_error_rate=0.2), IDLE, figures(error_rate=0.21), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("error-rate-equal-is-within", spec(max_error_rate=0.2), IDLE, figures(error_rate=0.2), False, policy.WITHIN_THRESHOLDS),
    ("error-rate-null", spec(), IDLE, figures(error_rate=None), False, policy.WITHIN_THRESHOLDS),
    ("rating-below", spec(min_rating=3.0), IDLE, figures(error_rate=0.1, rating=2.5), True, policy.EXPLANATION_RATING_BELOW_THRESHOLD),
    ("rating-equal-is-within", spec(min_rating=3.0), IDLE, figures(error_rate=0.1, rating=3.0), False, policy.WITHIN_THRESHOLDS),
    ("rating-null", spec(min_rating=3.0), IDLE, figures(error_rate=0.1, rating=None), False, policy.WITHIN_THRESHOLDS),
    ("rating-threshold-unset", spec(min_rating=None), IDLE, figures(error_rate=0.1, rating=1.0), False, policy.WITHIN_THRESHOLDS),
    ("input-drift-above-needs-no-labels", spec(max_drift=0.2), IDLE, figures(labelled=0, error_rate=None, drift=0.3), True, policy.INPUT_DRIFT_ABOVE_THRESHOLD),
    ("input-drift-equal-is-within", spec(max_drift=0.2), IDLE, figures(error_rate=0.1, drift=0.2), False, policy.WITHIN_THRESHOLDS),
    ("input-drift-zero-threshold-any-feature", spec(max_drift=0.0), IDLE, figures(error_rate=0.1, drift=1 / 30), True, policy.INPUT_DRIFT_ABOVE_THRESHOLD),
    ("input-drift-null", spec(max_drift=0.2), IDLE, figures(labelled=0, error_rate=None, drift=None), False, policy.INSUFFICIENT_FEEDBACK),
    ("input-drift-threshold-unset", spec(max_drift=None), IDLE, figures(error_rate=0.1, drift=1.0), False, policy.WITHIN_THRESHOLDS),
    ("input-drift-waits-for-cooldown", spec(max_drift=0.0, cooldown=300), RetrainingState(last_trigger_at=ago(10)), figures(drift=1.0), False, policy.COOLDOWN),
    ("input-drift-waits-for-backoff", spec(max_drift=0.0), RetrainingState(consecutive_failures=1, not_before=NOW + timedelta(seconds=5)), figures(drift=1.0), False, policy.FAILURE_BACKOFF),
    ("input-drift-never-two-runs", spec(max_drift=0.0), RetrainingState(active_job="j"), figures(drift=1.0), False, policy.RUN_ACTIVE),
    ("error-rate-wins-over-rating", spec(min_rating=3.0), IDLE, figures(error_rate=0.5, rating=1.0), True, policy.ERROR_RATE_ABOVE_THRESHOLD),
    ("within-thresholds", spec(), IDLE, figures(error_rate=0.05), False, policy.WITHIN_THRESHOLDS),
    # regression: no error rate, MAE and RMSE instead
    ("mae-above", spec(max_mae=2.0), IDLE, figures(error_rate=None, mae=2.5, rmse=3.0), True, policy.MAE_ABOVE_THRESHOLD),
    ("mae-equal-is-within", spec(max_mae=2.0), IDLE, figures(error_rate=None, mae=2.0, rmse=9.0), False, policy.WITHIN_THRESHOLDS),
    ("rmse-above", spec(max_mae=2.0, max_rmse=3.0), IDLE, figures(error_rate=None, mae=1.0, rmse=3.5), True, policy.RMSE_ABOVE_THRESHOLD),
    ("mae-wins-over-rmse", spec(max_mae=2.0, max_rmse=3.0), IDLE, figures(error_rate=None, mae=2.5, rmse=3.5), True, policy.MAE_ABOVE_THRESHOLD),
    ("error-thresholds-unset", spec(), IDLE, figures(error_rate=None, mae=100.0, rmse=100.0), False, policy.WITHIN_THRESHOLDS),
    ("mae-null", spec(max_mae=2.0), IDLE, figures(error_rate=None, mae=None), False, policy.WITHIN_THRESHOLDS),
    ("regression-needs-min-labelled", spec(max_mae=0.1), IDLE, figures(labelled=5, error_rate=None, mae=9.0), False, policy.INSUFFICIENT_FEEDBACK),
]
# fmt: on


@pytest.mark.parametrize(
    ("retraining", "state", "feedback", "retrain", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(retraining, state, feedback, retrain, reason):
    decision = decide(retraining, state, feedback, SERVED, NOW)
    assert isinstance(decision, Decision)
    assert (decision.retrain, decision.reason) == (retrain, reason)
    assert decision.message
    assert (decision.reason in policy.TRIGGER_REASONS) == decision.retrain


def test_every_reason_is_covered_by_the_table():
    reasons = {value for name, value in vars(policy).items() if name.isupper() and isinstance(value, str)}
    assert reasons == {case[-1] for case in CASES}


def test_time_holds_report_when_they_end():
    backoff_end = NOW + timedelta(seconds=42)
    held = decide(
        spec(), RetrainingState(consecutive_failures=1, not_before=backoff_end), figures(), SERVED, NOW
    )
    assert held.not_before == backoff_end
    cooling = decide(spec(cooldown=60), RetrainingState(last_trigger_at=ago(20)), figures(), SERVED, NOW)
    assert cooling.not_before == NOW + timedelta(seconds=40)


def test_cooldown_runs_from_the_later_moment():
    state = RetrainingState(last_trigger_at=ago(100), last_finished_at=ago(30))
    assert cooldown_ends_at(state, 60) == NOW + timedelta(seconds=30)
    assert cooldown_ends_at(RetrainingState(), 60) is None
    assert cooldown_ends_at(state, 0) is None


@pytest.mark.parametrize(
    ("failures", "base", "expected_seconds"),
    [
        (1, 30, 30),
        (2, 30, 60),
        (3, 30, 120),
        (0, 30, 30),
        (40, 30, policy.MAX_FAILURE_BACKOFF_SECONDS),
        (3, 7200, 7200),
    ],
)
def test_failure_backoff_doubles_and_caps(failures, base, expected_seconds):
    assert failure_backoff_until(NOW, failures, base) == NOW + timedelta(seconds=expected_seconds)


@pytest.mark.parametrize(
    ("base", "sequence", "expected"),
    [("v1", 1, "v2"), ("v1", 7, "v8"), ("model-v09", 2, "model-v11"), ("3", 1, "4"), ("prod", 3, "prod-r3")],
)
def test_candidate_version_is_deterministic(base, sequence, expected):
    assert next_candidate_version(base, sequence) == expected
