"""Retraining trigger policy: feedback figures + spec + retraining state -> decision. Pure, no I/O.

Order of the checks (the first that applies decides):
1. retraining disabled                        -> hold  (Disabled)
2. a run is active                            -> hold  (RunActive)         never two runs at once
3. a version is pinned by spec                -> hold  (VersionPinned)     a rollback is not overridden
4. after failures, before notBefore          -> hold  (FailureBackoff)
5. inside the cooldown                        -> hold  (Cooldown)          never inside the cooldown

The cooldown is computed from the recorded times and the current spec (so shortening it in the spec
takes effect); status.retraining.notBefore only carries it for display unless runs have failed.
6. no stats, or stats of another version      -> hold  (NoStats / StatsVersionMismatch)
7. input drift above maxInputDrift            -> retrain (InputDriftAboveThreshold)   needs no labels
8. fewer labels than minLabelled              -> hold  (InsufficientFeedback)
9. error rate above maxErrorRate              -> retrain (ErrorRateAboveThreshold)
10. MAE above maxMAE (regression)              -> retrain (MAEAboveThreshold)
11. RMSE above maxRMSE (regression)           -> retrain (RMSEAboveThreshold)
12. mean rating below minExplanationRating    -> retrain (ExplanationRatingBelowThreshold)
13. otherwise                                 -> hold  (WithinThresholds)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from explainops_operator.spec import ExplainableModelSpec, FeedbackThresholds

# Decision reasons (also used as status.retraining.lastTrigger.reason and in conditions).
DISABLED = "Disabled"
RUN_ACTIVE = "RunActive"
VERSION_PINNED = "VersionPinned"
FAILURE_BACKOFF = "FailureBackoff"
COOLDOWN = "Cooldown"
NO_STATS = "NoStats"
STATS_VERSION_MISMATCH = "StatsVersionMismatch"
INSUFFICIENT_FEEDBACK = "InsufficientFeedback"
ERROR_RATE_ABOVE_THRESHOLD = "ErrorRateAboveThreshold"
EXPLANATION_RATING_BELOW_THRESHOLD = "ExplanationRatingBelowThreshold"
INPUT_DRIFT_ABOVE_THRESHOLD = "InputDriftAboveThreshold"
MAE_ABOVE_THRESHOLD = "MAEAboveThreshold"
RMSE_ABOVE_THRESHOLD = "RMSEAboveThreshold"
WITHIN_THRESHOLDS = "WithinThresholds"

TRIGGER_REASONS = frozenset(
    {
        ERROR_RATE_ABOVE_THRESHOLD,
        EXPLANATION_RATING_BELOW_THRESHOLD,
        INPUT_DRIFT_ABOVE_THRESHOLD,
        MAE_ABOVE_THRESHOLD,
        RMSE_ABOVE_THRESHOLD,
    }
)

# Failure backoff doubles per consecutive failure up to this many seconds.
MAX_FAILURE_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
class RetrainingPolicy:
    """The spec side: spec.retraining + spec.feedback.thresholds."""

    enabled: bool
    thresholds: FeedbackThresholds
    cooldown_seconds: float
    pinned: bool = False

    @classmethod
    def from_spec(cls, spec: ExplainableModelSpec) -> RetrainingPolicy:
        return cls(
            enabled=spec.retraining.enabled,
            thresholds=spec.feedback.thresholds,
            cooldown_seconds=spec.retraining.cooldown_seconds,
            pinned=bool(spec.model.pinned_version),
        )


@dataclass(frozen=True)
class FeedbackFigures:
    """The served version's figures from the server's stats (one `by_version` entry)."""

    model_version: str
    labelled_count: int  # labels on this version = labels since it was trained/promoted
    error_rate: float | None
    mean_explanation_rating: float | None
    input_drift: float | None = None  # share of drifted features in the server's last window
    mae: float | None = None  # regression models: errors over the window, in the target's units
    rmse: float | None = None


@dataclass(frozen=True)
class RetrainingState:
    """The status side: status.retraining."""

    active_job: str | None = None
    last_trigger_at: datetime | None = None
    last_finished_at: datetime | None = None
    consecutive_failures: int = 0
    not_before: datetime | None = None


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str
    message: str
    # When holding for time (cooldown / backoff): the earliest moment a retrain may start.
    not_before: datetime | None = None


def decide(
    policy: RetrainingPolicy,
    state: RetrainingState,
    figures: FeedbackFigures | None,
    served_version: str,
    now: datetime,
) -> Decision:
    """Whether to start a retraining run now, and why (see the module docstring for the order)."""
    if not policy.enabled:
        return Decision(False, DISABLED, "spec.retraining.enabled is false")
    if state.active_job:
        return Decision(False, RUN_ACTIVE, f"job {state.active_job} is running")
    if policy.pinned:
        return Decision(False, VERSION_PINNED, "spec.model.pinnedVersion is set")
    if state.consecutive_failures > 0 and state.not_before is not None and now < state.not_before:
        return Decision(
            False,
            FAILURE_BACKOFF,
            f"{state.consecutive_failures} consecutive failure(s); waiting until {_iso(state.not_before)}",
            state.not_before,
        )
    cooldown_end = cooldown_ends_at(state, policy.cooldown_seconds)
    if cooldown_end is not None and now < cooldown_end:
        return Decision(False, COOLDOWN, f"cooldown until {_iso(cooldown_end)}", cooldown_end)
    if figures is None:
        return Decision(False, NO_STATS, "no feedback statistics for the served version yet")
    if figures.model_version != served_version:
        return Decision(
            False,
            STATS_VERSION_MISMATCH,
            f"stats are for {figures.model_version}, the served version is {served_version}",
        )
    thresholds = policy.thresholds
    drift = figures.input_drift
    if thresholds.max_input_drift is not None and drift is not None and drift > thresholds.max_input_drift:
        return Decision(
            True,
            INPUT_DRIFT_ABOVE_THRESHOLD,
            f"input drift {drift:.3f} (share of drifted features) > maxInputDrift {thresholds.max_input_drift:.3f}",
        )
    if figures.labelled_count < thresholds.min_labelled:
        return Decision(
            False,
            INSUFFICIENT_FEEDBACK,
            f"{figures.labelled_count} labelled < minLabelled {thresholds.min_labelled}",
        )
    if figures.error_rate is not None and figures.error_rate > thresholds.max_error_rate:
        return Decision(
            True,
            ERROR_RATE_ABOVE_THRESHOLD,
            f"error rate {figures.error_rate:.3f} > maxErrorRate {thresholds.max_error_rate:.3f} "
            f"over {figures.labelled_count} labelled",
        )
    for value, limit, reason, label in (
        (figures.mae, thresholds.max_mae, MAE_ABOVE_THRESHOLD, "MAE"),
        (figures.rmse, thresholds.max_rmse, RMSE_ABOVE_THRESHOLD, "RMSE"),
    ):
        if value is not None and limit is not None and value > limit:
            return Decision(
                True, reason, f"{label} {value:.4g} > max{label} {limit:.4g} over {figures.labelled_count} labelled"
            )
    rating = figures.mean_explanation_rating
    if (
        thresholds.min_explanation_rating is not None
        and rating is not None
        and rating < thresholds.min_explanation_rating
    ):
        return Decision(
            True,
            EXPLANATION_RATING_BELOW_THRESHOLD,
            f"mean explanation rating {rating:.2f} < minExplanationRating {thresholds.min_explanation_rating:.2f}",
        )
    return Decision(False, WITHIN_THRESHOLDS, "feedback within thresholds")


def cooldown_ends_at(state: RetrainingState, cooldown_seconds: float) -> datetime | None:
    """The cooldown runs from the later of the last trigger and the last finished run."""
    moments = [m for m in (state.last_trigger_at, state.last_finished_at) if m is not None]
    if not moments or cooldown_seconds <= 0:
        return None
    return max(moments) + timedelta(seconds=cooldown_seconds)


def failure_backoff_until(finished_at: datetime, consecutive_failures: int, base_seconds: float) -> datetime:
    """Exponential backoff after failed runs: base * 2^(failures-1), capped."""
    exponent = max(consecutive_failures - 1, 0)
    delay = min(base_seconds * (2 ** min(exponent, 30)), max(MAX_FAILURE_BACKOFF_SECONDS, base_seconds))
    return finished_at + timedelta(seconds=delay)


def next_candidate_version(base_version: str, sequence: int) -> str:
    """Deterministic candidate version for a trigger: `v1` + sequence 3 -> `v4`; `prod` + 3 -> `prod-r3`.

    It depends only on spec.model.version and the trigger sequence, so a Job re-created after an
    operator restart carries the same arguments.
    """
    digits = len(base_version) - len(base_version.rstrip("0123456789"))
    if digits:
        prefix, number = base_version[:-digits], int(base_version[-digits:])
        return f"{prefix}{number + sequence}"
    return f"{base_version}-r{sequence}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
