"""Drift monitoring off the request path: a thread recomputes input and explanation drift of the
served version every `monitor_interval` seconds from the recorded predictions.

Reference: the version's background sample (the artifact's `background.csv`), profiled at load.
Explanation drift needs feature attributions: the served explainer when it is a SHAP explainer,
else exact TreeShap when the estimator is a tree ensemble, else it is reported as unavailable. The
monitor builds its own explainer instance, so it never queues behind (or in front of) requests.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainops_server.errors import ExplainOpsError
from explainops_server.explainers.base import Explainer
from explainops_server.explainers.registry import build_explainer
from explainops_server.feedback.base import FeedbackStore
from explainops_server.models.tabular import TabularModel
from explainops_server.monitoring.drift import ReferenceProfile, build_reference, input_drift
from explainops_server.monitoring.explanation_drift import (
    attribution_share,
    attribution_vector,
    explanation_drift,
)

log = logging.getLogger(__name__)

ATTRIBUTION_EXPLAINERS = ("tree_shap", "kernel_shap")
# Feature label values in /metrics are the model's feature names; past this many only the summary is exported.
MAX_METRIC_FEATURES = 200


@dataclass(frozen=True)
class MonitorConfig:
    interval: float
    window: int
    min_rows: int
    significance: float
    explain_rows: int
    explanation_threshold: float


class DriftMonitor:
    def __init__(
        self,
        model: TabularModel,
        store: FeedbackStore,
        config: MonitorConfig,
        served_explainer: str,
        explainer_params: dict[str, Any],
    ) -> None:
        self._model = model
        self._store = store
        self.config = config
        self._served_explainer = served_explainer
        self._explainer_params = explainer_params
        self._profile: ReferenceProfile = build_reference(model.loaded.background, model.feature_names)
        self._explainer: Explainer | None = None
        self._explainer_problem: str | None = None
        self._reference_share: np.ndarray | None = None
        self._reference_rows = 0
        self._lock = threading.Lock()
        self._result: dict[str, Any] = self._document("pending", None, None, "not computed yet")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drift-monitor", daemon=True)
        self.runs = 0

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the monitor must never take the server down
                log.exception("drift computation failed; retrying next cycle")
            self._stop.wait(self.config.interval)

    # ---- computation ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._result

    def run_once(self) -> dict[str, Any]:
        rows = self._store.recent_inputs(self._model.name, self._model.version, self.config.window)
        if len(rows) < self.config.min_rows:
            result = self._document(
                "insufficient_data",
                None,
                None,
                f"{len(rows)} predictions of {self._model.version} recorded, {self.config.min_rows} needed",
            )
        else:
            window = self._model.schema.encode_rows(rows, "recorded inputs")  # category strings -> codes
            drift = input_drift(self._profile, window, self.config.significance).to_dict()
            explained, problem = self._explanation_drift(window)
            result = self._document("ok", drift, explained, problem)
        with self._lock:
            self._result = result
            self.runs += 1
        return result

    def _attributions(self, explainer: Explainer, rows: np.ndarray) -> list[np.ndarray]:
        vectors = []
        for row in rows:
            vector = attribution_vector(explainer.explain_row(row))
            if vector is not None and vector.shape == (len(self._model.feature_names),):
                vectors.append(vector)
        return vectors

    def _attribution_explainer(self) -> Explainer | None:
        if self._explainer is not None or self._explainer_problem is not None:
            return self._explainer
        name = self._served_explainer if self._served_explainer in ATTRIBUTION_EXPLAINERS else "tree_shap"
        params = self._explainer_params if name == self._served_explainer else {}
        try:
            self._explainer = build_explainer(name, self._model, self._model.loaded.background, params)
        except ExplainOpsError as exc:
            self._explainer_problem = f"no feature attributions: {exc.detail}"
        except Exception as exc:  # e.g. TreeShap refusing an estimator that is not a tree ensemble
            self._explainer_problem = f"no feature attributions from {name}: {type(exc).__name__}: {exc}"
        return self._explainer

    def _explanation_drift(self, window: np.ndarray) -> tuple[dict[str, Any] | None, str | None]:
        if self.config.explain_rows == 0:
            return None, "explanation drift is off (monitor_explain_rows = 0)"
        explainer = self._attribution_explainer()
        if explainer is None:
            return None, self._explainer_problem
        take = self.config.explain_rows
        if self._reference_share is None:
            background = self._model.loaded.background
            reference = self._attributions(explainer, background[:take])
            if not reference:
                self._explainer_problem = f"explainer {explainer.name} returned no attributions"
                return None, self._explainer_problem
            self._reference_share = attribution_share(reference, len(self._model.feature_names))
            self._reference_rows = len(reference)
        # An even spread over the window, newest included, so one cycle costs at most `take` explanations.
        index = np.unique(np.linspace(0, len(window) - 1, num=min(take, len(window))).astype(int))
        recent = self._attributions(explainer, window[index])
        if not recent:
            return None, f"explainer {explainer.name} returned no attributions"
        drift = explanation_drift(
            self._reference_share,
            recent,
            self._model.feature_names,
            reference_rows=self._reference_rows,
            threshold=self.config.explanation_threshold,
        )
        return {"explainer": explainer.name, **drift.to_dict()}, None

    def _document(
        self, status: str, drift: dict[str, Any] | None, explained: dict[str, Any] | None, note: str | None
    ) -> dict[str, Any]:
        return {
            "model_name": self._model.name,
            "model_version": self._model.version,
            "status": status,
            "computed_at": time.time() if status != "pending" else None,
            "window": self.config.window,
            "min_rows": self.config.min_rows,
            "interval_seconds": self.config.interval,
            "reference": {"source": "background", "rows": self._profile.rows},
            "input_drift": drift,
            "explanation_drift": explained,
            "note": note,
        }


def summary(document: dict[str, Any]) -> dict[str, float | None]:
    """The two figures the stats document carries (null until computed)."""
    drift, explained = document.get("input_drift"), document.get("explanation_drift")
    return {
        "input_drift": None if drift is None else float(drift["share"]),
        "explanation_drift": None if explained is None else float(explained["value"]),
    }
