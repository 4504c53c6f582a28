"""Prometheus metrics of one data plane (its own registry, so several apps can share a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

STAT_GAUGES = {
    "predictions": "Predictions recorded for the model version",
    "labelled_count": "Labelled predictions (latest label per prediction), all time",
    "window_count": "Labelled predictions inside the stats window",
    "accuracy": "Accuracy over the last `window` labelled predictions",
    "error_rate": "1 - accuracy over the last `window` labelled predictions",
    "explanation_ratings": "Feedback records carrying an explanation rating",
    "mean_explanation_rating": "Mean explanation rating (1-5)",
    "mae": "Mean absolute error over the last `window` true values (regression)",
    "rmse": "Root mean squared error over the last `window` true values (regression)",
}


class FeedbackStatsCollector(Collector):
    """Reads the stats at scrape time, so the gauges equal GET .../feedback/stats?window=<default>."""

    def __init__(self, model_name: str, stats: Callable[[], dict[str, Any]]) -> None:
        self._model_name = model_name
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        for field, doc in STAT_GAUGES.items():
            family = GaugeMetricFamily(f"explainops_feedback_{field}", doc, labels=["model", "model_version"])
            for entry in stats["by_version"]:
                value = entry[field]
                if value is not None:
                    family.add_metric([self._model_name, entry["model_version"]], float(value))
            yield family


class DataPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.predictions = Counter(
            "explainops_predictions", "Rows predicted", ["model", "model_version"], registry=self.registry
        )
        self.explanations = Counter(
            "explainops_explanations",
            "Rows explained",
            ["model", "explainer", "cached"],
            registry=self.registry,
        )
        self.explain_seconds = Histogram(
            "explainops_explain_seconds",
            "Time to compute one explanation (cache misses only)",
            ["explainer"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.explain_refusals = Counter(
            "explainops_explain_refusals", "Explanations refused", ["reason"], registry=self.registry
        )
        self.feedback = Counter(
            "explainops_feedback_records",
            "Feedback records by outcome",
            ["model", "status"],
            registry=self.registry,
        )
