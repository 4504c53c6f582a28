"""The operator and the server agree on monitoring and retention: the args the operator renders are
accepted by the server and the trainer with the retention they mean, and the input drift the server
reports drives the operator's policy to an InputDriftAboveThreshold trigger."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from explainops_operator.builders import Owner, render_inference_service
from explainops_operator.jobs import TrainingRun, build_retraining_job
from explainops_operator.policy import (
    INPUT_DRIFT_ABOVE_THRESHOLD,
    RetrainingPolicy,
    RetrainingState,
    decide,
)
from explainops_operator.spec import parse_spec
from explainops_operator.stats_client import fetch_stats, figures_for
from explainops_server.cli import build_parser, settings_from_args
from explainops_server.models.artifact import read_feature_csv, read_metadata
from explainops_server.models.example import train_example
from explainops_server.training.cli import configure_parser
from explainops_server.training.cli import settings_from_args as training_settings

OWNER = Owner(name="breast-cancer", namespace="ml", uid="0f4c6f1e-0000-4000-8000-000000000003")
SPEC = {
    "model": {"storageUri": "file:///srv/models/breast-cancer", "version": "v1"},
    "explainer": {"type": "TreeShap"},
    "feedback": {"retention": "7d", "thresholds": {"maxInputDrift": 0.1}},
    "retraining": {"enabled": True, "trainingDataUri": "file:///srv/data/train.csv"},
}


def test_rendered_args_carry_the_retention_to_server_and_trainer() -> None:
    spec = parse_spec(SPEC)
    isvc = render_inference_service(OWNER, spec, "v1", default_image="img")
    serving = next(c for c in isvc["spec"]["predictor"]["containers"] if c["name"] == "kserve-container")
    served = settings_from_args(build_parser().parse_args(serving["args"]))
    assert served.retention_seconds == 7 * 86_400
    run = TrainingRun(OWNER, spec, 1, "v1", "v2", "img", INPUT_DRIFT_ABOVE_THRESHOLD)
    args = build_retraining_job(run)["spec"]["template"]["spec"]["containers"][0]["args"]
    trainer = training_settings(configure_parser(argparse.ArgumentParser()).parse_args(args[1:]))
    assert trainer.retention_seconds == 7 * 86_400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def drifting_server(tmp_path: Path):
    import uvicorn

    from explainops_server.rest.app import create_app
    from explainops_server.settings import ServerSettings

    out = train_example(tmp_path / "models" / "breast-cancer", tmp_path / "data", n_estimators=10, max_depth=3)
    names = read_metadata(out.version_dir).feature_names
    holdout, _ = read_feature_csv(out.holdout_csv, names)
    settings = ServerSettings(
        model_name="breast-cancer", model_uri=str(out.version_dir), http_port=free_port(), data_dir=tmp_path,
        feedback_store=f"sqlite:///{tmp_path / 'fb.db'}", explainer="tree_shap", record_flush_ms=20,
        monitor_interval=0.2, monitor_window=200, monitor_min_rows=50, monitor_explain_rows=4,
    )  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.http_port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{settings.http_port}", holdout, names
    server.should_exit = True
    thread.join(30)


def test_server_input_drift_triggers_the_operator_policy_without_labels(drifting_server) -> None:
    import httpx

    url, holdout, names = drifting_server
    rows = holdout[np.random.default_rng(0).integers(0, len(holdout), 200)]
    for size in ("mean radius", "mean perimeter", "mean area", "worst radius", "worst perimeter", "worst area"):
        rows[:, names.index(size)] *= 1.8  # 6 of 30 features drift: share 0.2 > maxInputDrift 0.1
    httpx.post(f"{url}/v1/models/breast-cancer:predict", json={"instances": rows.tolist()}, timeout=30)
    spec = parse_spec(SPEC)
    # No run has started, so the spec's cooldown does not hold it; no label is needed.
    policy = RetrainingPolicy.from_spec(spec)
    deadline = time.monotonic() + 30
    figures = None
    while time.monotonic() < deadline:
        figures = figures_for(fetch_stats(url, "breast-cancer", 100), "v1")
        if figures is not None and figures.input_drift is not None:
            break
        time.sleep(0.2)
    assert figures is not None and figures.labelled_count == 0 and figures.input_drift is not None
    decision = decide(policy, RetrainingState(), figures, "v1", datetime.now(UTC))
    assert decision.retrain and decision.reason == INPUT_DRIFT_ABOVE_THRESHOLD, decision
