"""The data plane: predict, explain, feedback and stats, independent of the transport."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainops_server.errors import (
    ConfigurationError,
    ExplainerBusy,
    ExplanationTimeout,
    FeedbackConflict,
    InvalidInput,
    ModelNotFound,
    NotSupported,
    PredictionNotFound,
)
from explainops_server.explainers.base import Explainer
from explainops_server.explainers.compat import explainer_problems
from explainops_server.explainers.registry import build_explainer
from explainops_server.feedback.base import FeedbackOutcome, FeedbackRecord, FeedbackStore, PredictionRecord
from explainops_server.feedback.factory import open_store
from explainops_server.models.tabular import TabularModel
from explainops_server.service.explain_pool import ExplainPool, ExplanationCache
from explainops_server.service.feedback_writer import FeedbackWriter
from explainops_server.service.metrics import DataPlaneMetrics, FeedbackStatsCollector
from explainops_server.service.recorder import PredictionRecorder
from explainops_server.service.validation import check_startup, explain_one_row
from explainops_server.settings import ServerSettings

log = logging.getLogger(__name__)

DEFAULT_STATS_WINDOW = 100


@dataclass(frozen=True)
class Prediction:
    """Classification fills `probabilities` and `labels` (class indices); regression fills `values`."""

    prediction_ids: list[str]
    model_version: str
    probabilities: np.ndarray | None = None
    labels: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        return self.values if self.values is not None else self.labels  # type: ignore[return-value]


@dataclass(frozen=True)
class Explanations:
    explanations: list[dict[str, Any]]
    prediction_ids: list[str]
    model_version: str
    explainer: str
    cached: list[bool]


@dataclass(frozen=True)
class FeedbackInput:
    prediction_id: str
    feedback_id: str | None = None
    label: int | None = None
    correct: bool | None = None
    explanation_rating: int | None = None
    comment: str | None = None
    source: str | None = None
    value: float | None = None


def new_id() -> str:
    return uuid.uuid4().hex


class DataPlane:
    """Owns the model, explainer, store and background writers of one served model."""

    def __init__(self, settings: ServerSettings, *, stats_window: int = DEFAULT_STATS_WINDOW) -> None:
        self.settings = settings
        self.stats_window = stats_window
        self.model = TabularModel(
            settings.model_name,
            settings.model_uri,
            model_format=settings.model_format,
            trust_pickle=settings.trust_pickle,
            download_dir=settings.model_download_dir(),
        )
        self.records = settings.role == "explainer"
        self.explainer: Explainer | None = None
        self.store: FeedbackStore | None = None
        self.recorder: PredictionRecorder | None = None
        self.feedback_writer: FeedbackWriter | None = None
        self.pool: ExplainPool | None = None
        self.cache = ExplanationCache(settings.explain_cache_size)
        self.metrics = DataPlaneMetrics()
        self._ale: Explainer | None = None
        self.started = False

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Load the artifact, fit the explainer, open the store. Raises ExplainOpsError subclasses."""
        self.model.load()
        if not self.records:
            self.started = True
            return
        background = self.model.loaded.background
        check_startup(self.model, self.settings.explainer)
        self.explainer = build_explainer(
            self.settings.explainer, self.model, background, self.settings.explainer_params
        )
        if self.settings.explainer == "ale":
            self._ale = self.explainer
        if not any(p.fatal is False for p in explainer_problems(self.settings.explainer, self.model)):
            trial = explain_one_row(self.explainer, self.model)  # for ALE: computes the global result once
            if trial:
                raise ConfigurationError("\n".join(trial))
        self.store = open_store(self.settings.feedback_dsn())
        self.recorder = PredictionRecorder(self.store, self.settings.record_flush_ms)
        self.feedback_writer = FeedbackWriter(self.store, self.recorder)
        self.pool = ExplainPool(
            self.settings.explain_workers, self.settings.explain_queue, self.settings.explain_timeout
        )
        self.recorder.start()
        self.metrics.registry.register(
            FeedbackStatsCollector(self.model.name, lambda: self.stats(self.stats_window))
        )
        self.started = True

    def close(self) -> None:
        if self.pool:
            self.pool.close()
        if self.feedback_writer:
            self.feedback_writer.close()
        if self.recorder:
            self.recorder.close()
        if self.store:
            self.store.close()

    # ---- metadata ------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.started and self.model.ready

    def check_model(self, name: str) -> None:
        if name != self.model.name:
            raise ModelNotFound(f"model {name!r} is not served here (serving {self.model.name!r})")

    def require_explainer_role(self, what: str) -> None:
        if not self.records:
            raise NotSupported(f"{what} is not served by a server in role 'predictor'")

    def metadata(self) -> dict[str, Any]:
        meta = self.model.loaded.metadata
        if meta.is_regression:
            outputs = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
        else:
            outputs = [
                {"name": "predict", "datatype": "INT64", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(meta.class_names)]},
            ]
        if meta.categories:  # one tensor per column, BYTES for the categorical ones
            inputs = [
                {"name": name, "datatype": "BYTES" if name in meta.categories else "FP64", "shape": [-1]}
                for name in meta.feature_names
            ]
        else:
            inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(meta.feature_names)]}]
        return {
            "name": self.model.name,
            "versions": [meta.version],
            "platform": "explainops-sklearn",
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {
                "task": meta.task,
                "feature_names": meta.feature_names,
                "categories": meta.categories,
                "class_names": meta.class_names,
                "estimator": meta.estimator,
                "role": self.settings.role,
                "explainer": self.settings.explainer if self.records else None,
            },
        }

    # ---- predict -------------------------------------------------------------------------------
    def validate(self, instances: Any, field: str = "instances") -> np.ndarray:
        return self.model.validate(instances, field=field, max_rows=self.settings.max_batch)

    def _outputs(self, rows: np.ndarray) -> Prediction:
        ids = [new_id() for _ in range(len(rows))]
        version = self.model.version
        if self.model.is_regression:
            return Prediction(ids, version, values=np.ascontiguousarray(self.model.predict_outputs(rows)[:, 0]))
        probabilities = self.model.predict_proba(rows)
        return Prediction(ids, version, probabilities=probabilities, labels=np.argmax(probabilities, axis=1))

    def validate_columns(self, columns: dict[str, list[Any]], field: str = "inputs") -> np.ndarray:
        """One list of values per column name (V2: one tensor per column)."""
        schema = self.model.schema
        unknown = sorted(set(columns) - set(schema.names))
        if unknown:
            raise InvalidInput(f"{field}: unknown column tensor(s) {', '.join(map(repr, unknown[:5]))}")
        missing = [name for name in schema.names if name not in columns]
        if missing:
            raise InvalidInput(f"{field}: missing column tensor(s) {', '.join(map(repr, missing[:5]))}")
        rows = schema.encode_columns(columns, field)
        if rows.shape[0] > self.settings.max_batch:
            raise InvalidInput(f"{field}: at most {self.settings.max_batch} instances per request, got {rows.shape[0]}")
        return rows

    def predict(self, rows: np.ndarray, request_id: str | None = None) -> Prediction:
        prediction = self._outputs(rows)
        self.metrics.predictions.labels(self.model.name, prediction.model_version).inc(len(rows))
        if self.recorder is not None:
            self.recorder.submit(self._prediction_records(rows, prediction, request_id))
        return prediction

    def _prediction_records(
        self,
        rows: np.ndarray,
        prediction: Prediction,
        request_id: str | None,
        explainer: Explainer | None = None,
        explanations: list[dict[str, Any]] | None = None,
    ) -> list[PredictionRecord]:
        """One audit record per predicted row; explained rows also carry their explanation's summary."""
        now = time.time()
        inputs = self.model.schema.decode_rows(rows)
        probabilities, labels, values = prediction.probabilities, prediction.labels, prediction.values
        return [
            PredictionRecord(
                prediction_id=prediction.prediction_ids[i],
                model_name=self.model.name,
                model_version=prediction.model_version,
                inputs=inputs[i],
                probabilities=[] if probabilities is None else probabilities[i].tolist(),
                predicted_label=None if labels is None else int(labels[i]),
                predicted_value=None if values is None else float(values[i]),
                created_at=now,
                request_id=request_id,
                explainer=explainer.name if explainer is not None else None,
                explanation=explainer.summarise(explanations[i])
                if explainer is not None and explanations is not None
                else None,
            )
            for i in range(len(rows))
        ]

    # ---- explain -------------------------------------------------------------------------------
    def _explain_rows(self, explainer: Explainer, rows: np.ndarray, keys: list[Any]) -> list[dict[str, Any]]:
        results = []
        for row, key in zip(rows, keys, strict=True):
            cached = self.cache.get(key)
            if cached is None:
                started = time.perf_counter()
                cached = explainer.explain_row(row)
                self.metrics.explain_seconds.labels(explainer.name).observe(time.perf_counter() - started)
                self.cache.put(key, cached)
            results.append(cached)
        return results

    async def explain(self, rows: np.ndarray, request_id: str | None = None) -> Explanations:
        self.require_explainer_role("explain")
        assert self.explainer is not None and self.pool is not None and self.recorder is not None
        explainer = self.explainer
        version = self.model.version
        keys = [(version, explainer.config_key, row.tobytes()) for row in rows]
        hits = [self.cache.get(k) for k in keys]
        if all(h is not None for h in hits):
            explanations: list[dict[str, Any]] = hits  # type: ignore[assignment]
        else:
            if explainer.name == "ale":
                explainer.explain_row(rows[0])  # raises the clear "ALE is global" error
            try:
                explanations = await self.pool.run(self._explain_rows, explainer, rows, keys)
            except ExplainerBusy:
                self.metrics.explain_refusals.labels("busy").inc()
                raise
            except ExplanationTimeout:
                self.metrics.explain_refusals.labels("timeout").inc()
                raise
        cached_flags = [h is not None for h in hits]
        for flag in cached_flags:
            self.metrics.explanations.labels(self.model.name, explainer.name, str(flag).lower()).inc()
        prediction = self._outputs(rows)
        self.recorder.submit(self._prediction_records(rows, prediction, request_id, explainer, explanations))
        self.metrics.predictions.labels(self.model.name, version).inc(len(rows))
        return Explanations(explanations, prediction.prediction_ids, version, explainer.name, cached_flags)

    async def ale(self) -> dict[str, Any]:
        self.require_explainer_role("ALE")
        assert self.pool is not None
        if self._ale is None:
            self._ale = build_explainer("ale", self.model, self.model.loaded.background, {})
        result = await self.pool.run(self._ale.explain_global)
        return {"model_name": self.model.name, "model_version": self.model.version, "explanation": result}

    # ---- feedback ------------------------------------------------------------------------------
    def _to_record(self, item: FeedbackInput, field: str) -> FeedbackRecord:
        if self.model.is_regression:
            for name in ("label", "correct"):
                if getattr(item, name) is not None:
                    raise InvalidInput(f"{field}.{name}: this model is a regressor; send the true value as `value`")
            if item.value is None and item.explanation_rating is None:
                raise InvalidInput(f"{field}: give at least one of value, explanation_rating")
        else:
            n_classes = len(self.model.class_names)
            if item.value is not None:
                raise InvalidInput(f"{field}.value: this model is a classifier; send the true class as `label`")
            if item.label is not None and not 0 <= item.label < n_classes:
                raise InvalidInput(f"{field}.label: must be a class index 0..{n_classes - 1}, got {item.label}")
            if item.label is None and item.correct is None and item.explanation_rating is None:
                raise InvalidInput(f"{field}: give at least one of label, correct, explanation_rating")
        return FeedbackRecord(
            feedback_id=item.feedback_id or new_id(),
            prediction_id=item.prediction_id,
            model_name=self.model.name,
            created_at=time.time(),
            label=item.label,
            correct=item.correct,
            explanation_rating=item.explanation_rating,
            comment=item.comment,
            source=item.source,
            value=item.value,
        )

    async def add_feedback(self, items: list[FeedbackInput], *, batch: bool) -> list[FeedbackOutcome]:
        """Durable when this returns. A batch is all-or-nothing."""
        self.require_explainer_role("feedback")
        assert self.feedback_writer is not None
        if batch and len(items) > self.settings.max_batch:
            raise InvalidInput(f"records: at most {self.settings.max_batch} per batch, got {len(items)}")
        field = "records[{}]" if batch else "body"
        records = [self._to_record(item, field.format(i)) for i, item in enumerate(items)]
        outcomes = await self.feedback_writer.submit(records, atomic=batch)
        unknown = [i for i, o in enumerate(outcomes) if o.status == "unknown_prediction"]
        if unknown:
            where = ", ".join(
                f"{field.format(i)}.prediction_id={outcomes[i].prediction_id!r}" for i in unknown[:5]
            )
            raise PredictionNotFound(f"unknown prediction id for model {self.model.name!r}: {where}")
        conflicts = [i for i, o in enumerate(outcomes) if o.status == "conflict"]
        if conflicts:
            where = ", ".join(
                f"{field.format(i)}.feedback_id={outcomes[i].feedback_id!r}" for i in conflicts[:5]
            )
            raise FeedbackConflict(f"feedback id already used with different content: {where}")
        created = sum(o.status == "created" for o in outcomes)
        for status, count in (("created", created), ("duplicate", len(outcomes) - created)):
            if count:  # once per status, not per record: a batch holds up to max_batch records
                self.metrics.feedback.labels(self.model.name, status).inc(count)
        return outcomes

    # ---- stats and listing ---------------------------------------------------------------------
    def stats(self, window: int) -> dict[str, Any]:
        self.require_explainer_role("feedback stats")
        assert self.store is not None
        by_version = [s.to_dict(window) for s in self.store.version_stats(self.model.name, window)]
        version = self.model.version
        current = next((s for s in by_version if s["model_version"] == version), None)
        if current is None:
            current = {
                "model_version": version,
                "window": window,
                "predictions": 0,
                "labelled_count": 0,
                "window_count": 0,
                "accuracy": None,
                "error_rate": None,
                "explanation_ratings": 0,
                "mean_explanation_rating": None,
                "mae": None,
                "rmse": None,
            }
        return {"model_name": self.model.name, **current, "by_version": by_version}

    def recent_predictions(self, limit: int) -> dict[str, Any]:
        self.require_explainer_role("prediction listing")
        assert self.store is not None and self.recorder is not None
        self.recorder.flush()
        return {
            "model_name": self.model.name,
            "model_version": self.model.version,
            "task": self.model.task,
            "class_names": self.model.class_names,
            "feature_names": self.model.feature_names,
            "predictions": self.store.recent_predictions(self.model.name, limit),
        }
