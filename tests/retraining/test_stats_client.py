"""The operator's stats client against a real explainops-server on 127.0.0.1 (no cluster needed)."""

from __future__ import annotations

import pytest
from retraining_harness import free_port
from retraining_scenario import MODEL_NAME

from explainops_operator.stats_client import StatsUnavailable, feedback_status, fetch_stats, figures_for


def test_reads_the_served_versions_figures(stats_server, world):
    stats_server.label_drifted(world, 30)
    stats = fetch_stats(stats_server.url, MODEL_NAME, 100)
    assert stats["model_version"] == "v1"
    figures = figures_for(stats, "v1")
    assert figures.labelled_count == 30
    assert 0.2 < figures.error_rate <= 1.0  # the champion is wrong on many drifted rows
    assert feedback_status(stats, "v1")["windowCount"] == 30
    assert figures_for(stats, "v2") is None


@pytest.mark.parametrize(
    ("url", "model"),
    [(None, "no-such-model"), ("http://127.0.0.1:{port}", MODEL_NAME)],
    ids=["unknown-model", "nobody-listening"],
)
def test_failures_are_stats_unavailable(stats_server, url, model):
    base = stats_server.url if url is None else url.format(port=free_port())
    with pytest.raises(StatsUnavailable):
        fetch_stats(base, model, 100, timeout=2.0)


def test_stats_are_read_at_the_cluster_local_address():
    from explainops_operator.handlers.retraining import _stats_address

    status = {"url": "http://bc-ml.example.com", "address": {"url": "http://bc-predictor.ml.svc.cluster.local"}}
    assert _stats_address(status) == "http://bc-predictor.ml.svc.cluster.local"
    assert _stats_address({"url": "http://bc-ml.example.com"}) is None  # never the external host
