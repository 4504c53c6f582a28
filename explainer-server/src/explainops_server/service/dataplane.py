"""The data plane: predict, explain, feedback and stats, independent of the transport."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainops_server.errors import (
    ArtifactError,
    ExplainerBusy,
    ExplanationTimeout,
    FeedbackConflict,
    FeedbackTooLate,
    InvalidInput,
    ModelNotFound,
    NotSupported,
    PredictionNotFound,
)
from explainops_server.explainers.base import Explainer
from explainops_server.explainers.compat import explainer_problems
from explainops_server.explainers.registry import build_explainer, explainer_class
from explainops_server.feedback.base import (
    FeedbackContent,
    FeedbackOutcome,
    FeedbackRecord,
    FeedbackStore,
    VersionStats,
)
from explainops_server.feedback.factory import open_store
from explainops_server.models.tabular import TabularModel
from explainops_server.service.background import start_background_tasks
from explainops_server.service.contract import (
    AleResponse,
    FeedbackIn,
    MonitoringOut,
    PredictionListing,
    StatsOut,
    StoreFigures,
    VersionStatsOut,
)
from explainops_server.service.explain_pool import ExplainPool, ExplanationCache
from explainops_server.service.explainer_client import ExplainerClient
from explainops_server.service.feedback_writer import FeedbackWriter
from explainops_server.service.metrics import (
    DataPlaneMetrics,
    FeedbackStatsCollector,
    LossCollector,
    StoreCollector,
)
from explainops_server.service.monitor import DriftMonitor, summary
from explainops_server.service.recorder import PredictionRecorder
from explainops_server.service.retention import RetentionTask
from explainops_server.service.served_model import (
    CancellableModel,
    Prediction,
    check_feedback_fits,
    prediction_records,
    v2_model_metadata,
    validate_columns,
)
from explainops_server.service.validation import check_startup, explain_one_row
from explainops_server.settings import ServerSettings

log = logging.getLogger(__name__)

DEFAULT_STATS_WINDOW = 100


@dataclass(frozen=True)
class Explanations:
    explanations: list[dict[str, Any]]
    prediction_ids: list[str]
    model_version: str
    explainer: str
    cached: list[bool]


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
        # The explainer sidecar (role explainer) records nothing: the predictor in front of it does.
        self.records = settings.role != "explainer"
        self.explainer_type: type[Explainer] = explainer_class(settings.explainer, settings.explainer_backend)
        self.explainer_key = self.explainer_type.key_for(settings.explainer_params)
        self.explainer: Explainer | None = None  # fitted here unless the sidecar computes explanations
        self.sidecar: ExplainerClient | None = None
        self.store: FeedbackStore | None = None
        self.recorder: PredictionRecorder | None = None
        self.feedback_writer: FeedbackWriter | None = None
        self.pool: ExplainPool | None = None
        self.monitor: DriftMonitor | None = None
        self.retention: RetentionTask | None = None
        self.store_figures: StoreCollector | None = None
        self.cache = ExplanationCache(settings.explain_cache_size)
        self.metrics = DataPlaneMetrics()
        self._ale: Explainer | None = None
        self.started = False

    # ---- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Load the artifact, fit the explainer, open the store. Raises ExplainOpsError subclasses."""
        self.model.load()
        s = self.settings
        check_startup(self.model, s.explainer)  # every fatal problem, one per line
        if s.explainer_url is not None:  # role predictor: the sidecar computes explanations
            self.sidecar = ExplainerClient(s.explainer_url, self.model.name, s.explain_timeout)
        else:
            self.explainer = build_explainer(
                s.explainer, CancellableModel(self.model), self.model.loaded.background, s.explainer_params,
                backend=s.explainer_backend,
            )
            if s.explainer == "ale":
                self._ale = self.explainer
            if not explainer_problems(s.explainer, self.model):  # the fatal ones were raised above
                trial = explain_one_row(self.explainer, self.model)  # for ALE: computes the global result once
                if trial:
                    raise ArtifactError("\n".join(trial))
            self.pool = ExplainPool(s.explain_workers, s.explain_queue, s.explain_timeout)
        if not self.records:
            self.started = True
            return
        self.store = open_store(self.settings.feedback_dsn())
        self.recorder = PredictionRecorder(
            self.store, self.settings.record_flush_ms, max_pending=self.settings.record_buffer
        )
        self.feedback_writer = FeedbackWriter(
            self.store, self.recorder, self.settings.feedback_max_age_seconds
        )
        self.recorder.start()
        self.metrics.registry.register(LossCollector(self))
        self.metrics.guarded_registry.register(
            FeedbackStatsCollector(self.model.name, lambda: self.stats(self.stats_window))
        )
        self.store_figures = StoreCollector(self.store.row_counts, self.store.size_bytes)
        self.metrics.registry.register(self.store_figures)
        self.monitor, self.retention = start_background_tasks(self.settings, self.model, self.store, self.metrics)
        self.started = True

    async def aclose(self) -> None:
        if self.sidecar is not None:
            await self.sidecar.close()
        self.close()

    def close(self) -> None:
        for task in (self.monitor, self.retention):
            if task:
                task.close()
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

    async def serving_ready(self) -> bool:
        """Ready, and so is the explainer sidecar if there is one: a pod is Ready only when it explains."""
        return self.ready and (self.sidecar is None or await self.sidecar.ready())

    def check_model(self, name: str) -> None:
        if name != self.model.name:
            raise ModelNotFound(f"model {name!r} is not served here (serving {self.model.name!r})")

    def require_explainer_role(self, what: str) -> None:
        if not self.records:
            raise NotSupported(f"{what} is not served by a server in role {self.settings.role!r}")

    def metadata(self) -> dict[str, Any]:
        return v2_model_metadata(self.model, role=self.settings.role, explainer=self.settings.explainer)

    # ---- predict -------------------------------------------------------------------------------
    def validate(self, instances: Any, field: str = "instances") -> np.ndarray:
        return self.model.validate(instances, field=field, max_rows=self.settings.max_batch)

    def validate_explain(self, instances: Any) -> np.ndarray:
        rows = self.validate(instances)
        limit = self.settings.max_explain_rows
        if len(rows) > limit:
            self.metrics.explain_refusals.labels("too_many_rows").inc()
            raise InvalidInput(
                f"instances: at most {limit} rows per explanation request (max_explain_rows), "
                f"got {len(rows)}; split the request"
            )
        return rows

    def validate_columns(self, columns: dict[str, list[Any]], field: str = "inputs") -> np.ndarray:
        return validate_columns(self.model, columns, field, max_rows=self.settings.max_batch)

    def _outputs(self, rows: np.ndarray) -> Prediction:
        ids = [new_id() for _ in range(len(rows))]
        version = self.model.version
        if self.model.is_regression:
            return Prediction(ids, version, values=np.ascontiguousarray(self.model.predict_outputs(rows)[:, 0]))
        probabilities = self.model.predict_proba(rows)
        return Prediction(ids, version, probabilities=probabilities, labels=np.argmax(probabilities, axis=1))

    def predict(self, rows: np.ndarray, request_id: str | None = None) -> Prediction:
        prediction = self._outputs(rows)
        if self.recorder is not None:
            self.recorder.submit(prediction_records(self.model, rows, prediction, request_id))
        self.metrics.predictions.labels(self.model.name, prediction.model_version).inc(len(rows))
        return prediction

    # ---- explain -------------------------------------------------------------------------------
    def _explain_row(self, explainer: Explainer, row: np.ndarray, key: Any) -> dict[str, Any]:
        cached = self.cache.peek(key)
        if cached is None:
            started = time.perf_counter()
            cached = explainer.explain_row(row)
            self.metrics.explain_seconds.labels(explainer.name).observe(time.perf_counter() - started)
            self.cache.put(key, cached)
        return cached

    async def explain(self, rows: np.ndarray, request_id: str | None = None) -> Explanations:
        name = self.explainer_type.name
        version = self.model.version
        # Predict first: values the model cannot compute with fail here with a 422, before any work.
        prediction = self._outputs(rows)
        if self.recorder is not None:
            self.recorder.check_room(len(rows))  # push back before spending a worker on it
        keys = [(version, self.explainer_key, row.tobytes()) for row in rows]
        hits = [self.cache.get(k) for k in keys]
        if all(h is not None for h in hits):
            explanations: list[dict[str, Any]] = hits  # type: ignore[assignment]
        else:
            try:
                explanations = await self._compute_explanations(rows, keys, hits)
            except ExplainerBusy:
                self.metrics.explain_refusals.labels("busy").inc()
                raise
            except ExplanationTimeout:
                self.metrics.explain_refusals.labels("timeout").inc()
                raise
        cached_flags = [h is not None for h in hits]
        for flag in cached_flags:
            self.metrics.explanations.labels(self.model.name, name, str(flag).lower()).inc()
        if self.recorder is None:  # the sidecar: the predictor in front of it records and names them
            return Explanations(explanations, [], version, name, cached_flags)
        self.recorder.submit(
            prediction_records(self.model, rows, prediction, request_id, self.explainer_type, explanations)
        )
        self.metrics.predictions.labels(self.model.name, version).inc(len(rows))
        return Explanations(explanations, prediction.prediction_ids, version, name, cached_flags)

    async def _compute_explanations(
        self, rows: np.ndarray, keys: list[Any], hits: list[dict[str, Any] | None]
    ) -> list[dict[str, Any]]:
        if self.sidecar is not None:
            missing = [i for i, hit in enumerate(hits) if hit is None]
            started = time.perf_counter()
            computed = await self.sidecar.explain(self.model.schema.decode_rows(rows[missing]))
            per_row = (time.perf_counter() - started) / len(missing)
            results = list(hits)
            for i, explanation in zip(missing, computed, strict=True):
                self.metrics.explain_seconds.labels(self.explainer_type.name).observe(per_row)
                self.cache.put(keys[i], explanation)
                results[i] = explanation
            return results  # type: ignore[return-value]
        explainer = self.explainer
        assert explainer is not None and self.pool is not None
        if explainer.name == "ale":
            explainer.explain_row(rows[0])  # raises the clear "ALE is global" error
        tasks = [
            (lambda row=row, key=key: self._explain_row(explainer, row, key))
            for row, key in zip(rows, keys, strict=True)
        ]
        return await self.pool.run_all(tasks)

    async def ale(self) -> AleResponse:
        if self.sidecar is not None:
            result = await self.sidecar.explain_global()
        else:
            assert self.pool is not None
            if self._ale is None:
                self._ale = build_explainer(
                    "ale",
                    CancellableModel(self.model),
                    self.model.loaded.background,
                    {},
                    backend=self.settings.explainer_backend,
                )
            result = await self.pool.run(self._ale.explain_global)
        return AleResponse(model_name=self.model.name, model_version=self.model.version, explanation=result)

    # ---- feedback ------------------------------------------------------------------------------
    def _to_record(self, item: FeedbackIn, field: str) -> FeedbackRecord:
        check_feedback_fits(self.model, item, field)
        return FeedbackRecord.model_construct(  # the content was validated by FeedbackIn
            feedback_id=item.feedback_id or new_id(),
            model_name=self.model.name,
            created_at=time.time(),
            **{name: getattr(item, name) for name in FeedbackContent.model_fields},
        )

    async def add_feedback(self, items: list[FeedbackIn], *, batch: bool) -> list[FeedbackOutcome]:
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
        late = [i for i, o in enumerate(outcomes) if o.status == "too_late"]
        if late:
            where = ", ".join(f"{field.format(i)}.prediction_id={outcomes[i].prediction_id!r}" for i in late[:5])
            raise FeedbackTooLate(
                f"prediction older than the feedback maximum age ({self.settings.feedback_max_age_seconds} s),"
                f" nothing recorded: {where}"
            )
        now = time.time()
        for record, outcome in zip(records, outcomes, strict=True):
            labelled = record.label is not None or record.correct is not None or record.value is not None
            if outcome.status == "created" and labelled and outcome.prediction_created_at is not None:
                self.metrics.label_delay.labels(self.model.name).observe(now - outcome.prediction_created_at)
        created = sum(o.status == "created" for o in outcomes)
        for status, count in (("created", created), ("duplicate", len(outcomes) - created)):
            if count:  # once per status, not per record: a batch holds up to max_batch records
                self.metrics.feedback.labels(self.model.name, status).inc(count)
        return outcomes

    # ---- stats and listing ---------------------------------------------------------------------
    def stats(self, window: int) -> StatsOut:
        self.require_explainer_role("feedback stats")
        assert self.store is not None
        by_version = [VersionStatsOut.of(s) for s in self.store.version_stats(self.model.name, window)]
        version = self.model.version
        current = next((s for s in by_version if s.model_version == version), None)
        if current is None:
            current = VersionStatsOut.of(VersionStats(model_version=version, window=window))
        # Drift is computed for the served version only (top level and its `by_version` entry).
        current = current.model_copy(update=summary(self._drift_document()))
        by_version = [current if s.model_version == version else s for s in by_version]
        return StatsOut(model_name=self.model.name, **dict(current), by_version=by_version)

    def monitoring(self) -> MonitoringOut:
        """The drift monitor's last result plus the store's size and retention (for the console)."""
        self.require_explainer_role("monitoring")
        assert self.store_figures is not None
        rows, size = self.store_figures.figures()
        store = StoreFigures(
            rows=rows,
            bytes=size,
            retention_seconds=self.settings.retention_seconds or None,
            last_retention_pass=self.retention.last_pass if self.retention is not None else None,
        )
        return MonitoringOut.model_validate({**self._drift_document(), "store": store})

    def _drift_document(self) -> dict[str, Any]:
        if self.monitor is None:
            return {
                "model_name": self.model.name,
                "model_version": self.model.version,
                "status": "disabled",
                "input_drift": None,
                "explanation_drift": None,
                "note": "monitoring is off (monitor_interval = 0)",
            }
        return self.monitor.snapshot()

    def recent_predictions(self, limit: int) -> PredictionListing:
        self.require_explainer_role("prediction listing")
        assert self.store is not None and self.recorder is not None
        self.recorder.flush()
        return PredictionListing(
            model_name=self.model.name,
            model_version=self.model.version,
            class_names=self.model.class_names,
            feature_names=self.model.feature_names,
            predictions=self.store.recent_predictions(self.model.name, limit),
        )
