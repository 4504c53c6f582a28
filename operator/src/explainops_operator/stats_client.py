"""Reads the server's feedback statistics: the retraining trigger signal (HTTP I/O, kept out of the pure layer).

Signal path: the operator polls `GET {status.address.url}/v1/models/{name}/feedback/stats?window=W`
(the cluster-local address; `status.url` is KServe's external host). The server
then needs no Kubernetes credentials at all; the operator already holds the rights it needs.
"""

from __future__ import annotations

from typing import Any

import httpx

from explainops_operator.errors import OperatorError
from explainops_operator.policy import FeedbackFigures


class StatsUnavailable(OperatorError):
    """The server could not be reached or answered something other than stats."""


def stats_url(base_url: str, model_name: str) -> str:
    return f"{base_url.rstrip('/')}/v1/models/{model_name}/feedback/stats"


def fetch_stats(
    base_url: str, model_name: str, window: int, *, token: str | None = None, timeout: float = 2.0
) -> dict[str, Any]:
    """The stats JSON (contract in docs/architecture.md), or `StatsUnavailable`."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = stats_url(base_url, model_name)
    try:
        response = httpx.get(url, params={"window": window}, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise StatsUnavailable(f"GET {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise StatsUnavailable(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise StatsUnavailable(f"GET {url}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise StatsUnavailable(f"GET {url}: the answer is not a JSON object")
    return body


def version_entry(stats: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The `by_version` entry of `version`, else the top level if the server serves that version."""
    entries = [e for e in stats.get("by_version") or [] if isinstance(e, dict)]
    entry = next((e for e in entries if e.get("model_version") == version), None)
    if entry is None and stats.get("model_version") == version:
        entry = stats
    return entry


def figures_for(stats: dict[str, Any], version: str) -> FeedbackFigures | None:
    """The policy's view of one model version's figures; None when the server has none for it."""
    entry = version_entry(stats, version)
    if entry is None:
        return None
    return FeedbackFigures(
        model_version=version,
        labelled_count=_int(entry.get("labelled_count")),
        error_rate=_float(entry.get("error_rate")),
        mean_explanation_rating=_float(entry.get("mean_explanation_rating")),
        input_drift=_float(entry.get("input_drift")),
        mae=_float(entry.get("mae")),
        rmse=_float(entry.get("rmse")),
    )


def feedback_status(stats: dict[str, Any], version: str) -> dict[str, Any] | None:
    """status.feedback fields (CRD names) for the served version; None when the server has none yet."""
    entry = version_entry(stats, version)
    if entry is None:
        return None
    figures = {
        "labelledCount": _int(entry.get("labelled_count")),
        "windowCount": _int(entry.get("window_count")),
        "accuracy": _float(entry.get("accuracy")),
        "errorRate": _float(entry.get("error_rate")),
        "meanExplanationRating": _float(entry.get("mean_explanation_rating")),
    }
    # Regression only: absent (not null) for classifiers, so their status stays as it was.
    for field in ("mae", "rmse"):
        value = _float(entry.get(field))
        if value is not None:
            figures[field] = value
    return figures


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
