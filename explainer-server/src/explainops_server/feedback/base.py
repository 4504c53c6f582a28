"""Records and the store interface shared by the SQLite and PostgreSQL implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt


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


class FeedbackContent(BaseModel):
    """What a person says about one prediction: the one definition of the feedback fields, used by the
    request (`service.contract.FeedbackIn`) and by the stored record below."""

    model_config = ConfigDict(frozen=True)

    prediction_id: str = Field(min_length=1, max_length=128, description="Id returned by predict or explain")
    label: StrictInt | None = Field(default=None, ge=0, description="True class index")
    correct: StrictBool | None = Field(default=None, description="Whether the prediction was right")
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
    inputs: list[float]
    label: int
    created_at: float


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

    @property
    def accuracy(self) -> float | None:
        return self.correct_in_window / self.window_count if self.window_count else None

    @property
    def error_rate(self) -> float | None:
        accuracy = self.accuracy
        return None if accuracy is None else 1.0 - accuracy

    @property
    def mean_explanation_rating(self) -> float | None:
        return self.rating_sum / self.explanation_ratings if self.explanation_ratings else None


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
