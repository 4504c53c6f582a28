"""SIGKILL during a feedback load: after a restart every acknowledged record is there (3 rounds)."""

from __future__ import annotations

import threading

import httpx
import pytest

from explainops_server.feedback import open_store

from .conftest import MODEL, ServerProcess, free_port

ROUNDS = 3
WRITERS = 4
KILL_AFTER_ACKS = 150
MAX_REQUESTS_PER_WRITER = 2000


def send_feedback(
    url: str,
    prefix: str,
    prediction_ids: list[str],
    acks: list[str],
    lock: threading.Lock,
    enough: threading.Event,
) -> None:
    """Send feedback until the server dies; record each acknowledged feedback id."""
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(MAX_REQUESTS_PER_WRITER):
            feedback_id = f"{prefix}-{i}"
            body = {
                "prediction_id": prediction_ids[i % len(prediction_ids)],
                "feedback_id": feedback_id,
                "label": i % 2,
            }
            try:
                response = http.post(f"/v1/models/{MODEL}/feedback", json=body)
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code != 201:
                return
            with lock:
                acks.append(feedback_id)
                if len(acks) >= KILL_AFTER_ACKS:
                    enough.set()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_acknowledged_feedback_survives_sigkill(small_model, tmp_path):
    dsn = f"sqlite:///{tmp_path / 'durable.db'}"
    server = ServerProcess(
        [
            "--model-name",
            MODEL,
            "--model-uri",
            str(small_model.version_dir),
            "--feedback-store",
            dsn,
            "--explainer",
            "tree_shap",
            "--log-level",
            "warning",
        ],
        tmp_path / "server.log",
    )
    acknowledged: set[str] = set()
    try:
        url = server.start(free_port())
        for round_no in range(ROUNDS):
            with httpx.Client(base_url=url, timeout=30) as http:
                body = http.post(
                    f"/v1/models/{MODEL}:predict", json={"instances": small_model.holdout[:50].tolist()}
                )
                prediction_ids = body.json()["prediction_ids"]
            acks_this_round: list[str] = []
            lock = threading.Lock()
            enough = threading.Event()

            threads = [
                threading.Thread(
                    target=send_feedback,
                    args=(url, f"r{round_no}-w{w}", prediction_ids, acks_this_round, lock, enough),
                )
                for w in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            assert enough.wait(120), "the feedback load did not get going"
            server.kill()  # SIGKILL while the writers are still sending
            for thread in threads:
                thread.join(60)
            assert all(not t.is_alive() for t in threads)
            acknowledged.update(acks_this_round)

            url = server.start(free_port())  # restart on the same store; it serves the next round
            with open_store(dsn) as store:
                stored = {
                    f["feedback_id"] for p in store.recent_predictions(MODEL, 10_000) for f in p["feedback"]
                }
            missing = acknowledged - stored
            assert not missing, f"round {round_no}: {len(missing)} acknowledged records lost"
            with httpx.Client(base_url=url, timeout=30) as http:
                assert http.get(f"/v1/models/{MODEL}/feedback/stats").json()["labelled_count"] >= 1
        server.stop()
    finally:
        server.kill()
    assert len(acknowledged) >= ROUNDS * KILL_AFTER_ACKS
