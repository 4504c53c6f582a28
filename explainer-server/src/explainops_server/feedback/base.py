"""Records and the store interface shared by the SQLite and PostgreSQL implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt


@dataclass(frozen=True)
class PredictionRecord:
    prediction_id: str
    model_name: str
    model_version: str
    inputs: list[Any]  # the values as sent: numbers, and strings for categorical columns
    probabilities: list[float]  # empty for a regressor
    predicted_label: int | None  # None for a regressor
    created_at: float
    request_id: str | None = None
    explainer: str | None = None
    explanation: dict[str, Any] | None = None
    predicted_value: float | None = None  # a regressor's prediction


class FeedbackContent(BaseModel):
    """What a person says about one prediction: the one definition of the feedback fields, used by the
    request (`service.contract.FeedbackIn`) and by the stored record below."""

    model_config = ConfigDict(frozen=True)

    prediction_id: str = Field(min_length=1, max_length=128, description="Id returned by predict or explain")
    label: StrictInt | None = Field(default=None, ge=0, description="True class index")
    correct: StrictBool | None = Field(default=None, description="Whether the prediction was right")
    value: StrictFloat | StrictInt | None = Field(
        default=None, allow_inf_nan=False, description="True value of a regression prediction"
    )
    explanation_rating: StrictInt | None = Field(
        default=None, ge=1, le=5, description="How useful the explanation was: 1 (useless) .. 5"
    )
    comment: str | None = Field(default=None, max_length=4000, description="Free text")
    source: str | None = Field(default=None, max_length=200, description="Who gave the feedback")


class FeedbackRecord(FeedbackContent):
    """A feedback record as stored: the content plus its id, model and time."""

    feedback_id: str
    model_name: str
    created_at: float

    def same_content(self, other: FeedbackRecord) -> bool:
        return self.model_name == other.model_name and all(
            getattr(self, k) == getattr(other, k) for k in FeedbackContent.model_fields
        )


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
    inputs: list[Any]
    label: int | None  # a classifier's true class index
    created_at: float
    value: float | None = None  # a regressor's true value


@dataclass(frozen=True)
class RetentionBatch:
    predictions: int = 0
    feedback: int = 0
    skipped: bool = False  # another replica holds the retention lock


@dataclass
class VersionStats:
    """Counts for one model version; the service turns them into the stats contract."""

    model_version: str
    window: int
    predictions: int = 0
    labelled_count: int = 0
    window_count: int = 0
    correct_in_window: int = 0
    explanation_ratings: int = 0
    rating_sum: float = 0.0
    # Seconds from a prediction to its first label, over the labelled predictions in the window.
    label_delay_mean: float | None = None
    label_delay_max: float | None = None
    # Regression feedback (a true value) inside the window, and the sums of its errors.
    valued_in_window: int = 0
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0

    @property
    def accuracy(self) -> float | None:
        classified = self.window_count - self.valued_in_window
        return self.correct_in_window / classified if classified else None

    @property
    def mae(self) -> float | None:
        return self.abs_error_sum / self.valued_in_window if self.valued_in_window else None

    @property
    def rmse(self) -> float | None:
        return (self.squared_error_sum / self.valued_in_window) ** 0.5 if self.valued_in_window else None

    @property
    def error_rate(self) -> float | None:
        accuracy = self.accuracy
        return None if accuracy is None else 1.0 - accuracy

    @property
    def mean_explanation_rating(self) -> float | None:
        return self.rating_sum / self.explanation_ratings if self.explanation_ratings else None

    @property
    def labelled_share(self) -> float | None:
        return self.labelled_count / self.predictions if self.predictions else None

    @property
    def label_delay_mean_seconds(self) -> float | None:
        return self.label_delay_mean

    @property
    def label_delay_max_seconds(self) -> float | None:
        return self.label_delay_max


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
