"""The data plane's background tasks (drift monitor, retention), built from the settings."""

from __future__ import annotations

from explainops_server.feedback.base import FeedbackStore
from explainops_server.models.tabular import TabularModel
from explainops_server.service.metrics import DataPlaneMetrics, MonitoringCollector
from explainops_server.service.monitor import MAX_METRIC_FEATURES, DriftMonitor, MonitorConfig
from explainops_server.service.retention import RetentionTask
from explainops_server.settings import ServerSettings


def start_background_tasks(
    settings: ServerSettings, model: TabularModel, store: FeedbackStore, metrics: DataPlaneMetrics
) -> tuple[DriftMonitor | None, RetentionTask | None]:
    """Start what the settings turn on; each task's figures are registered with `metrics`."""
    s = settings
    monitor = retention = None
    if s.monitor_interval > 0:
        config = MonitorConfig(
            s.monitor_interval,
            s.monitor_window,
            s.monitor_min_rows,
            s.drift_significance,
            s.monitor_explain_rows,
            s.explanation_drift_threshold,
        )
        monitor = DriftMonitor(model, store, config, s.explainer, s.explainer_params)
        metrics.guarded_registry.register(MonitoringCollector(model.name, monitor.snapshot, MAX_METRIC_FEATURES))
        monitor.start()
    if s.retention_seconds > 0:

        def deleted(predictions: int, feedback: int) -> None:
            metrics.retention_deleted.labels("predictions").inc(predictions)
            metrics.retention_deleted.labels("feedback").inc(feedback)

        retention = RetentionTask(
            store, model.name, s.retention_seconds, s.retention_interval, s.retention_batch, deleted
        )
        retention.start()
    return monitor, retention
