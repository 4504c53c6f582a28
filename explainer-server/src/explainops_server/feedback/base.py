"""Records and the store interface shared by the SQLite and PostgreSQL implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PredictionRecord:
    prediction_id: str
    model_name: str
    model_version: str
    inputs: list[float]
    probabilities: list[float]
    predicted_label: int
    created_at: float
    request_id: str | None = None
    explainer: str | None = None
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    feedback_id: str
    prediction_id: str
    model_name: str
    created_at: float
    label: int | None = None
    correct: bool | None = None
    explanation_rating: int | None = None
    comment: str | None = None
    source: str | None = None

    def same_content(self, other: FeedbackRecord) -> bool:
        keys = ("prediction_id", "model_name", "label", "correct", "explanation_rating", "comment", "source")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


FeedbackStatus = Literal["created", "duplicate", "conflict", "unknown_prediction", "too_late"]


@dataclass(frozen=True)
class FeedbackOutcome:
    feedback_id: str
    prediction_id: str
    status: FeedbackStatus
    model_version: str | None = None
    prediction_created_at: float | None = None


@dataclass(frozen=True)
class LabelledExample:
    """A prediction with its true label, as the retraining job reads it."""

    prediction_id: str
    model_version: str
    inputs: list[float]
    label: int
    created_at: float


@dataclass(frozen=True)
class RetentionBatch:
    predictions: int = 0
    feedback: int = 0
    skipped: bool = False  # another replica holds the retention lock


@dataclass
class VersionStats:
    model_version: str
    predictions: int = 0
    labelled_count: int = 0
    window_count: int = 0
    correct_in_window: int = 0
    explanation_ratings: int = 0
    rating_sum: float = 0.0
    # Seconds from a prediction to its first label, over the labelled predictions in the window.
    label_delay_mean: float | None = None
    label_delay_max: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, window: int) -> dict[str, Any]:
        accuracy = self.correct_in_window / self.window_count if self.window_count else None
        return {
            "model_version": self.model_version,
            "window": window,
            "predictions": self.predictions,
            "labelled_count": self.labelled_count,
            "labelled_share": self.labelled_count / self.predictions if self.predictions else None,
            "label_delay_mean_seconds": self.label_delay_mean,
            "label_delay_max_seconds": self.label_delay_max,
            "window_count": self.window_count,
            "accuracy": accuracy,
            "error_rate": None if accuracy is None else 1.0 - accuracy,
            "explanation_ratings": self.explanation_ratings,
            "mean_explanation_rating": (
                self.rating_sum / self.explanation_ratings if self.explanation_ratings else None
            ),
        }


class FeedbackStore(ABC):
    """Thread-safe. Every write method returns only after its transaction has committed."""

    dsn_scheme: str
    # True when a commit is a local sub-millisecond operation that may run on the event loop.
    fast_local_commit: bool = False

    @abstractmethod
    def record_predictions(self, records: list[PredictionRecord]) -> None: ...

    @abstractmethod
    def add_feedback(
        self, records: list[FeedbackRecord], *, atomic: bool, predicted_after: float | None = None
    ) -> list[FeedbackOutcome]:
        """Insert what is new, report duplicates. Feedback on a prediction made before `predicted_after`
        is `too_late`. With `atomic`, any unknown prediction, conflict or late record writes nothing
        (outcomes are still returned, so the caller can name the culprits)."""

    @abstractmethod
    def version_stats(self, model_name: str, window: int) -> list[VersionStats]: ...

    @abstractmethod
    def recent_predictions(self, model_name: str, limit: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def labelled_examples(self, model_name: str, labelled_since: float | None = None) -> list[LabelledExample]:
        """Predictions with their latest label; only labels given at or after `labelled_since` if set."""

    @abstractmethod
    def recent_inputs(self, model_name: str, model_version: str, limit: int) -> list[list[float]]:
        """Inputs of the newest `limit` predictions of one version, newest first."""

    @abstractmethod
    def delete_expired(self, model_name: str, cutoff: float, batch: int) -> RetentionBatch:
        """Delete at most `batch` predictions made before `cutoff` whose feedback is all older than
        `cutoff`, together with that feedback, in one transaction."""

    @abstractmethod
    def row_counts(self) -> dict[str, int]:
        """Rows per table (every model)."""

    @abstractmethod
    def size_bytes(self) -> int | None:
        """Bytes the store occupies (None when the backend cannot tell)."""

    @abstractmethod
    def audit_records(
        self, model_name: str | None, since: float | None, until: float | None, page: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every prediction made in [since, until), oldest first, with all its feedback, read page by page."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
