"""Overload: timed-out explanations give their worker back, the queue is fair, the recorder pushes back
instead of dropping, every loss counter reaches /metrics, and feedback figures need the token there.

Waits are bounded polls on state (slots in use, counters), never assertions about durations.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from explainops_server import errors
from explainops_server.errors import ExplanationTimeout
from explainops_server.rest.responses import from_error
from explainops_server.service.explain_pool import ExplainPool, checkpoint
from explainops_server.service.metrics import LOSS_COUNTERS

from .conftest import MODEL

PREDICT = f"/v1/models/{MODEL}:predict"
EXPLAIN = f"/v1/models/{MODEL}:explain"
FEEDBACK = f"/v1/models/{MODEL}/feedback"
SLOW_ANCHORS = {"threshold": 0.99, "batch_size": 10, "beam_size": 4, "delta": 0.01, "coverage_samples": 20000}


def wait_until(condition, what: str, bound: float = 60.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound:g} s: {what}")
        time.sleep(0.01)


def test_a_timed_out_task_stops_at_its_next_checkpoint_and_frees_its_worker():
    pool = ExplainPool(workers=1, queue=0, timeout=0.2)
    steps = {"count": 0}
    endless = 10**6  # about 1000 s of work if nothing stopped it

    def long_explanation():
        for _ in range(endless):
            checkpoint()  # what CancellableModel.predict_proba does before every model batch
            steps["count"] += 1
            time.sleep(0.001)
        return "finished"

    async def scenario():
        with pytest.raises(ExplanationTimeout):
            await pool.run(long_explanation)
        await asyncio.to_thread(wait_until, lambda: pool.in_use == 0, "the slot is released")
        stopped_at = steps["count"]
        await asyncio.sleep(0.05)
        assert steps["count"] == stopped_at < endless  # the worker is not still computing
        assert await pool.run(lambda: "next") == "next"  # and takes the next request

    try:
        asyncio.run(scenario())
    finally:
        pool.close()
    assert (pool.timeouts, pool.cancelled_tasks) == (1, 1)


def test_queued_rows_of_a_timed_out_request_never_start():
    pool = ExplainPool(workers=1, queue=0, timeout=0.2)
    started: list[int] = []

    def row(i: int):
        def run():
            started.append(i)
            while True:
                checkpoint()
                time.sleep(0.001)

        return run

    async def scenario():
        with pytest.raises(ExplanationTimeout):
            await pool.run_all([row(i) for i in range(5)])
        await asyncio.to_thread(wait_until, lambda: pool.in_use == 0, "the slot is released")

    try:
        asyncio.run(scenario())
    finally:
        pool.close()
    assert started == [0] and pool.cancelled_tasks == 5


def _error_classes(base=errors.ExplainOpsError):
    for sub in base.__subclasses__():
        yield sub
        yield from _error_classes(sub)


@pytest.mark.parametrize("error", sorted(_error_classes(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_5xx_of_the_hierarchy_is_a_503_with_retry_after_or_a_fault(error):
    """503 means "try again later" and always says when; 500 is kept for faults (bad artifact, config)."""
    response = from_error(error("detail"))
    assert response.status_code in (500, 503) or response.status_code < 500
    if response.status_code == 503:
        assert int(response.headers["retry-after"]) >= 1


def test_a_timed_out_global_explanation_answers_503_too(run_server, example_model):
    """ALE runs in the same pool as `:explain`, and a deadline there gives the same answer."""
    server = run_server(example_model, explain_timeout=0.001, explain_workers=1, explain_queue=0)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.get(f"/v1/models/{MODEL}/explanations/ale")
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "explanation_timeout"
        assert "configured limit of 0.001 s" in response.json()["detail"]
        assert int(response.headers["retry-after"]) >= 1
        wait_until(lambda: server.dataplane.pool.in_use == 0, "the ALE worker stops")


def test_the_queue_is_fair_between_a_long_and_a_short_request():
    pool = ExplainPool(workers=1, queue=2, timeout=60)
    order: list[str] = []
    first_started, short_submitted = threading.Event(), threading.Event()

    def task(name: str):
        def run():
            order.append(name)
            if name == "long-0":
                first_started.set()
                assert short_submitted.wait(30)
            return name

        return run

    async def scenario():
        long = asyncio.create_task(pool.run_all([task(f"long-{i}") for i in range(5)]))
        await asyncio.to_thread(first_started.wait, 30)
        short = asyncio.create_task(pool.run_all([task("short-0")]))
        await asyncio.sleep(0)  # let the short request be admitted before the long one goes on
        while pool.in_use < 2:
            await asyncio.sleep(0.001)
        short_submitted.set()
        return await long, await short

    try:
        long_result, short_result = asyncio.run(scenario())
    finally:
        pool.close()
    assert order == ["long-0", "short-0", "long-1", "long-2", "long-3", "long-4"]
    assert long_result == [f"long-{i}" for i in range(5)] and short_result == ["short-0"]


def test_a_timed_out_anchors_explanation_frees_its_worker(run_server, example_model):
    """The real explainer: the Anchors search is stopped by the model's deadline check."""
    # Many small bandit batches at a high precision target (tens of ms here): longer than the timeout.
    server = run_server(example_model, explainer="anchor_tabular", explain_timeout=0.005, explain_workers=1,
                        explain_queue=0, explainer_params=SLOW_ANCHORS)
    pool = server.dataplane.pool
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post(EXPLAIN, json={"instances": example_model.holdout[:1].tolist()})
        assert response.status_code == 503 and response.json()["error"] == "explanation_timeout"
        assert int(response.headers["retry-after"]) >= 1
        assert "configured limit of 0.005 s" in response.json()["detail"]
        wait_until(lambda: pool.in_use == 0, "the Anchors worker stops")
        assert pool.cancelled_tasks == 1 and len(server.dataplane.cache) == 0
        assert http.get("/v2/health/live").status_code == 200
        metrics = http.get("/metrics").text
    assert f'explainops_explain_timeouts_total{{model="{MODEL}"}} 1.0' in metrics
    assert f'explainops_explain_cancelled_tasks_total{{model="{MODEL}"}} 1.0' in metrics


def test_the_recorder_pushes_back_and_every_answered_prediction_takes_feedback(run_server, small_model):
    server = run_server(small_model, record_buffer=100, record_flush_ms=5)
    store = server.dataplane.store
    gate = threading.Event()
    real_record = store.record_predictions

    def slow_record(records):
        assert gate.wait(60)
        real_record(records)

    store.record_predictions = slow_record
    rows = small_model.holdout[:50].tolist()
    answered: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for _ in range(2):
                ok = http.post(PREDICT, json={"instances": rows})
                assert ok.status_code == 200
                answered += ok.json()["prediction_ids"]
            refused = http.post(PREDICT, json={"instances": rows})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "recorder_busy" and int(refused.headers["retry-after"]) >= 1
            explain_refused = http.post(EXPLAIN, json={"instances": rows[:1]})
            assert explain_refused.status_code == 503
            gate.set()
            for pid in answered:  # nothing answered was dropped
                assert http.post(FEEDBACK, json={"prediction_id": pid, "label": 1}).status_code == 201
            metrics = http.get("/metrics").text
    finally:
        gate.set()
    assert f'explainops_prediction_records_refused_total{{model="{MODEL}"}} 51.0' in metrics
    assert f'explainops_feedback_committed_total{{model="{MODEL}"}} 100.0' in metrics


def test_every_loss_counter_is_public_and_feedback_figures_need_the_token(run_server, small_model):
    server = run_server(small_model, auth_token="tok", explain_cache_size=16)
    good = {"authorization": "Bearer tok"}
    row = small_model.holdout[:1].tolist()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        pid = http.post(PREDICT, json={"instances": row}).json()["prediction_ids"][0]
        assert http.post(FEEDBACK, json={"prediction_id": pid, "label": 1}, headers=good).status_code == 201
        for _ in range(2):
            assert http.post(EXPLAIN, json={"instances": row}).status_code == 200  # a miss, then a hit
        public = http.get("/metrics").text
        wrong = http.get("/metrics", headers={"authorization": "Bearer nope"}).text
        full = http.get("/metrics", headers=good).text
    for name, _, _ in LOSS_COUNTERS:
        assert f'{name}_total{{model="{MODEL}"}}' in public, name
    assert f'explainops_explain_cache_hits_total{{model="{MODEL}"}} 1.0' in public
    assert f'explainops_explain_cache_misses_total{{model="{MODEL}"}} 1.0' in public
    assert f'explainops_feedback_committed_total{{model="{MODEL}"}} 1.0' in public
    assert "explainops_predictions_total" in public
    for text in (public, wrong):
        assert "explainops_feedback_accuracy" not in text and "explainops_feedback_mean_explanation" not in text
        assert "explainops_feedback_labelled_count" not in text
    assert f'explainops_feedback_labelled_count{{model="{MODEL}",model_version="v1"}} 1.0' in full
    assert "explainops_feedback_accuracy{" in full and full.startswith(public.split("\n", 1)[0])


def test_without_a_token_metrics_carry_everything(client, small_model):
    pid = client.post(PREDICT, json={"instances": small_model.holdout[:1].tolist()}).json()["prediction_ids"][0]
    assert client.post(FEEDBACK, json={"prediction_id": pid, "correct": True}).status_code == 201
    text = client.get("/metrics").text
    assert f'explainops_feedback_accuracy{{model="{MODEL}",model_version="v1"}} 1.0' in text
