"""Records and the store interface shared by the SQLite and PostgreSQL implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PredictionRecord:
    prediction_id: str
    model_name: str
    model_version: str
    inputs: list[Any]  # original values: numbers, and strings for categorical columns
    probabilities: list[float]  # empty for regression
    predicted_label: int | None  # None for regression
    created_at: float
    request_id: str | None = None
    explainer: str | None = None
    explanation: dict[str, Any] | None = None
    predicted_value: float | None = None  # regression only


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
    value: float | None = None  # the true value of a regression prediction

    def same_content(self, other: FeedbackRecord) -> bool:
        keys = (
            "prediction_id",
            "model_name",
            "label",
            "correct",
            "explanation_rating",
            "comment",
            "source",
            "value",
        )
        return all(getattr(self, k) == getattr(other, k) for k in keys)


FeedbackStatus = Literal["created", "duplicate", "conflict", "unknown_prediction"]


@dataclass(frozen=True)
class FeedbackOutcome:
    feedback_id: str
    prediction_id: str
    status: FeedbackStatus
    model_version: str | None = None


@dataclass(frozen=True)
class LabelledExample:
    """A prediction with its true label, as the retraining job reads it."""

    prediction_id: str
    model_version: str
    inputs: list[Any]
    label: int | None  # classification: the true class index
    created_at: float
    value: float | None = None  # regression: the true value


@dataclass
class VersionStats:
    model_version: str
    predictions: int = 0
    labelled_count: int = 0
    window_count: int = 0
    correct_in_window: int = 0
    explanation_ratings: int = 0
    rating_sum: float = 0.0
    # regression feedback (a true value) inside the window, and its errors
    valued_in_window: int = 0
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, window: int) -> dict[str, Any]:
        classified = self.window_count - self.valued_in_window
        accuracy = self.correct_in_window / classified if classified else None
        valued = self.valued_in_window
        return {
            "model_version": self.model_version,
            "window": window,
            "predictions": self.predictions,
            "labelled_count": self.labelled_count,
            "window_count": self.window_count,
            "accuracy": accuracy,
            "error_rate": None if accuracy is None else 1.0 - accuracy,
            "explanation_ratings": self.explanation_ratings,
            "mean_explanation_rating": (
                self.rating_sum / self.explanation_ratings if self.explanation_ratings else None
            ),
            "mae": self.abs_error_sum / valued if valued else None,
            "rmse": (self.squared_error_sum / valued) ** 0.5 if valued else None,
        }


class FeedbackStore(ABC):
    """Thread-safe. Every write method returns only after its transaction has committed."""

    dsn_scheme: str
    # True when a commit is a local sub-millisecond operation that may run on the event loop.
    fast_local_commit: bool = False

    @abstractmethod
    def record_predictions(self, records: list[PredictionRecord]) -> None: ...

    @abstractmethod
    def add_feedback(self, records: list[FeedbackRecord], *, atomic: bool) -> list[FeedbackOutcome]:
        """Insert what is new, report duplicates. With `atomic`, any unknown prediction or conflict
        writes nothing (outcomes are still returned, so the caller can name the culprits)."""

    @abstractmethod
    def version_stats(self, model_name: str, window: int) -> list[VersionStats]: ...

    @abstractmethod
    def recent_predictions(self, model_name: str, limit: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def labelled_examples(self, model_name: str) -> list[LabelledExample]: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
