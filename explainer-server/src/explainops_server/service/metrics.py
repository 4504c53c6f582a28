"""Prometheus metrics of one data plane, in two registries (each data plane has its own, so several
apps can share a process):

- `registry`, public: traffic and losses, no feedback content. Request counts, predictions, explain
  refusals, timeouts and cancellations, cache hits and misses, prediction records refused by push
  back or failed writes, committed feedback counts.
- `guarded_registry`, only with the bearer token (when one is set): what the feedback says about the
  model: accuracy, error rate, labelled counts, label delay and explanation ratings
  (`explainops_feedback_*`, `explainops_label_delay_seconds`), and the drift of its inputs and
  explanations (`explainops_input_drift_*`, `explainops_explanation_*`).
  Store rows and bytes and retention deletions are public (capacity, no content).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from explainops_server.service.contract import StatsOut, VersionStatsOut

if TYPE_CHECKING:
    from explainops_server.service.dataplane import DataPlane

# Every figure of the stats contract except the labels, documented where the contract is.
STAT_GAUGES = {
    name: field.description or name
    for name, field in VersionStatsOut.model_fields.items()
    # Drift has its own per-feature gauges (MonitoringCollector).
    if name not in ("model_version", "window", "input_drift", "explanation_drift")
}


class FeedbackStatsCollector(Collector):
    """Reads the stats at scrape time, so the gauges equal GET .../feedback/stats?window=<default>."""

    def __init__(self, model_name: str, stats: Callable[[], StatsOut]) -> None:
        self._model_name = model_name
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        for name, doc in STAT_GAUGES.items():
            family = GaugeMetricFamily(f"explainops_feedback_{name}", doc, labels=["model", "model_version"])
            for entry in stats.by_version:
                value = getattr(entry, name)
                if value is not None:
                    family.add_metric([self._model_name, entry.model_version], float(value))
            yield family


class MonitoringCollector(Collector):
    """Drift figures of the last monitor cycle; label values are the model's own feature names."""

    def __init__(self, model_name: str, snapshot: Callable[[], dict[str, Any]], max_features: int) -> None:
        self._model_name = model_name
        self._snapshot = snapshot
        self._max_features = max_features

    def collect(self) -> Iterator[GaugeMetricFamily]:
        doc = self._snapshot()
        version = str(doc.get("model_version"))
        base = [self._model_name, version]
        share = GaugeMetricFamily(
            "explainops_input_drift_share", "Share of features drifted (Bonferroni-corrected tests)",
            labels=["model", "model_version"],
        )
        stat = GaugeMetricFamily(
            "explainops_input_drift_statistic", "Per-feature drift statistic (KS D or PSI)",
            labels=["model", "model_version", "feature", "statistic"],
        )
        flagged = GaugeMetricFamily(
            "explainops_input_drift_drifted", "1 when the feature's drift test rejects",
            labels=["model", "model_version", "feature"],
        )
        explained = GaugeMetricFamily(
            "explainops_explanation_drift", "Total variation distance of attribution shares, recent vs reference",
            labels=["model", "model_version"],
        )
        shares = GaugeMetricFamily(
            "explainops_explanation_attribution_share", "Share of mean |attribution| per feature",
            labels=["model", "model_version", "feature", "sample"],
        )
        drift = doc.get("input_drift")
        if drift is not None:
            share.add_metric(base, float(drift["share"]))
            for item in drift["features"][: self._max_features]:
                stat.add_metric([*base, item["feature"], item["statistic"]], float(item["value"]))
                flagged.add_metric([*base, item["feature"]], 1.0 if item["drifted"] else 0.0)
        moved = doc.get("explanation_drift")
        if moved is not None:
            explained.add_metric(base, float(moved["value"]))
            for item in moved["features"][: self._max_features]:
                shares.add_metric([*base, item["feature"], "reference"], float(item["reference_share"]))
                shares.add_metric([*base, item["feature"], "recent"], float(item["recent_share"]))
        yield from (share, stat, flagged, explained, shares)


class StoreCollector(Collector):
    """Row counts and size of the feedback store. A count scans an index, so the figures are reused for
    100 times as long as they took to read (at least 1 s): instant on a small store, a minute on a
    store whose counts take 0.6 s."""

    COST_FACTOR = 100.0
    MIN_TTL = 1.0

    def __init__(self, counts: Callable[[], dict[str, int]], size: Callable[[], int | None]) -> None:
        self._counts, self._size = counts, size
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, int], int | None] | None = None  # (valid until, counts, size)

    def figures(self) -> tuple[dict[str, int], int | None]:
        """(row counts, bytes); shared by /metrics and the monitoring route."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now > self._cached[0]:
                counts, size = self._counts(), self._size()
                took = time.monotonic() - now
                self._cached = (now + max(self.MIN_TTL, took * self.COST_FACTOR), counts, size)
            return self._cached[1], self._cached[2]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, size = self.figures()
        rows = GaugeMetricFamily("explainops_store_rows", "Rows in the feedback store", labels=["table"])
        for table, count in sorted(counts.items()):
            rows.add_metric([table], float(count))
        yield rows
        if size is not None:
            yield GaugeMetricFamily("explainops_store_bytes", "Bytes the feedback store occupies", value=float(size))


# (metric name without _total, help, how to read the counter from the data plane; None: not kept here,
# e.g. the pool's counters in a predictor whose explanations the sidecar computes)
LOSS_COUNTERS: tuple[tuple[str, str, Callable[[DataPlane], int | None]], ...] = (
    (
        "explainops_prediction_records_refused",
        "Predictions refused with 503 because the record buffer was full (push back; nothing dropped)",
        lambda dp: dp.recorder.refused if dp.recorder else 0,
    ),
    (
        "explainops_prediction_record_write_failures",
        "Failed writes of prediction records to the store (retried)",
        lambda dp: dp.recorder.write_failures if dp.recorder else 0,
    ),
    (
        "explainops_prediction_records_flushed",
        "Prediction records committed to the store",
        lambda dp: dp.recorder.flushed if dp.recorder else 0,
    ),
    (
        "explainops_explain_timeouts",
        "Explanation requests that ran past their deadline (503 explanation_timeout)",
        lambda dp: dp.pool.timeouts if dp.pool else None,
    ),
    (
        "explainops_explain_rejections",
        "Explanation requests answered 503 because every worker and queue slot was busy",
        lambda dp: dp.pool.rejected if dp.pool else None,
    ),
    (
        "explainops_explain_cancelled_tasks",
        "Explanation rows stopped or never started because their request timed out or went away",
        lambda dp: dp.pool.cancelled_tasks if dp.pool else None,
    ),
    ("explainops_explain_cache_hits", "Explanation cache hits", lambda dp: dp.cache.hits),
    ("explainops_explain_cache_misses", "Explanation cache misses", lambda dp: dp.cache.misses),
    (
        "explainops_feedback_committed",
        "Feedback records committed (new, not duplicates)",
        lambda dp: dp.feedback_writer.committed if dp.feedback_writer else 0,
    ),
    (
        "explainops_feedback_commit_failures",
        "Feedback commits that failed (their requests got an error, nothing was acknowledged)",
        lambda dp: dp.feedback_writer.failures if dp.feedback_writer else 0,
    ),
)


class LossCollector(Collector):
    """Counters kept by the recorder, pool, cache and feedback writer, read at scrape time."""

    def __init__(self, dataplane: DataPlane) -> None:
        self._dataplane = dataplane

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, doc, read in LOSS_COUNTERS:
            value = read(self._dataplane)
            if value is None:  # a false zero would hide the sidecar's figures
                continue
            family = CounterMetricFamily(name, doc, labels=["model"])
            family.add_metric([self._dataplane.model.name], float(value))
            yield family
        pending = GaugeMetricFamily(
            "explainops_prediction_records_pending", "Prediction records waiting to be written", labels=["model"]
        )
        recorder = self._dataplane.recorder
        pending.add_metric([self._dataplane.model.name], float(recorder.pending() if recorder else 0))
        yield pending


class DataPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.guarded_registry = CollectorRegistry()
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
            "explainops_explain_refusals",
            "Explanation requests refused, by reason: busy (503), timeout (503), too_many_rows (422)",
            ["reason"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "explainops_feedback_records",
            "Feedback records by outcome",
            ["model", "status"],
            registry=self.registry,
        )
        self.label_delay = Histogram(
            "explainops_label_delay_seconds",
            "Seconds from a prediction to each label received for it",
            ["model"],
            buckets=(60, 600, 3600, 6 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, 90 * 86_400),
            registry=self.guarded_registry,
        )
        self.retention_deleted = Counter(
            "explainops_retention_deleted_rows", "Rows deleted by retention", ["table"], registry=self.registry
        )
