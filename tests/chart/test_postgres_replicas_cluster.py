"""Two serving replicas on one PostgreSQL feedback store, on the real node: a prediction made on one
replica takes its feedback on the other, and both report the same exact figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from kubernetes import client
from node_release import (
    create_xm,
    example_rows,
    feedback_stats,
    pod_phases,
    predict,
    send_labels,
    served_model,
    serving_pod_urls,
    wait_for,
    wait_ready,
)

from explainops_devtools.example_volume import create_model_volume
from explainops_devtools.postgres import PostgresUnavailable, ThrowawayPostgres

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "shared"
ROWS = 8
CORRECT = 5  # labels that agree with the prediction; the other 3 contradict it
# Figures the store holds (the drift figures come from each replica's own in-memory monitor).
STORE_FIGURES = ("model_version", "window", "predictions", "labelled_count", "labelled_share", "window_count",
                 "accuracy", "error_rate", "explanation_ratings", "mean_explanation_rating",
                 "label_delay_mean_seconds", "label_delay_max_seconds")
# The documented bound on a prediction reaching the store (`record_flush_ms`, 50 ms by default), with room.
RECORD_FLUSH_SECONDS = 0.5


def node_network(api: client.ApiClient) -> tuple[str, str]:
    """The node's own address (on the pods' bridge) and the pods' network, from the Node object."""
    from explainops_devtools.cluster.settings import ClusterSettings

    (node,) = client.CoreV1Api(api).list_node().items
    address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    return address, node.spec.pod_cidr or ClusterSettings().pod_cidr


@pytest.fixture
def postgres_for_pods(kube_api) -> Iterator[ThrowawayPostgres]:
    address, pods = node_network(kube_api)
    try:
        server = ThrowawayPostgres.start_local(address=address, clients=pods)
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


def test_prediction_on_one_replica_takes_feedback_on_the_other(
    postgres_for_pods: ThrowawayPostgres, operator_release, kube_api, namespace: str
) -> None:
    client.CoreV1Api(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": "feedback-pg"}, "stringData": {"dsn": postgres_for_pods.pod_dsn()}})
    operator_release(namespace)
    storage = create_model_volume(kube_api, namespace, n_estimators=10)
    create_xm(kube_api, namespace, served_model(
        MODEL, storage,
        # Two pods on a shared 2-core node: a smaller cpu request than the example's, so both fit.
        serving={"replicas": 2, "resources": {"requests": {"cpu": "100m", "memory": "512Mi"},
                                              "limits": {"memory": "1Gi"}}},
        feedback={"store": "postgres", "dsnSecretRef": {"name": "feedback-pg", "key": "dsn"}},
    ))
    wait_ready(kube_api, namespace, MODEL)
    urls = wait_for(lambda: (found := serving_pod_urls(kube_api, namespace, MODEL)) and len(found) == 2 and found,
                    "two running serving pods", 180, describe=lambda: pod_phases(kube_api, namespace))
    first, second = sorted(urls.values())
    assert urlsplit(first).hostname != urlsplit(second).hostname  # two pods, two addresses

    with httpx.Client(timeout=60) as http:
        wait_for(lambda: all(http.get(f"{u}/v2/health/ready").status_code == 200 for u in (first, second)),
                 "both replicas ready", 120)
        answer = predict(http, first, MODEL, example_rows(ROWS))
        predicted = [int(p) for p in answer["predictions"]]
        labels = [p if i < CORRECT else 1 - p for i, p in enumerate(predicted)]
        time.sleep(RECORD_FLUSH_SECONDS)  # the first replica's prediction records reach the store
        send_labels(http, second, MODEL, answer["prediction_ids"], labels)
        stats = [feedback_stats(http, url, MODEL) for url in (first, second)]

    figures = [{k: s[k] for k in STORE_FIGURES} for s in stats]
    assert figures[0] == figures[1], figures
    assert figures[0]["predictions"] == ROWS
    assert figures[0]["labelled_count"] == ROWS and figures[0]["window_count"] == ROWS
    assert figures[0]["accuracy"] == pytest.approx(CORRECT / ROWS)
    assert figures[0]["error_rate"] == pytest.approx(1 - CORRECT / ROWS)
    assert figures[0]["labelled_share"] == pytest.approx(1.0)
