"""Helpers of the retraining cluster tests: a real explainops-server in a thread on 127.0.0.1, the real
operator as a child process (so a test can SIGKILL it), and the trainer run with a Job's arguments."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from retraining_scenario import MODEL_NAME, World, drift

from explainops_devtools.child_process import ChildProcess

VENV_BIN = Path(sys.executable).parent
WAIT_SECONDS = 30.0


def wait_for(
    check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS, interval: float = 0.2
) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last value: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- the real server


class ThreadedServer:
    """The real explainops-server app under uvicorn in a thread of the test process, on 127.0.0.1."""

    def __init__(self, model_root: Path, version: str = "v1") -> None:
        import uvicorn

        from explainops_server.rest.app import create_app
        from explainops_server.settings import ServerSettings

        port = free_port()
        settings = ServerSettings(
            model_name=MODEL_NAME,
            model_uri=str(model_root / version),
            http_port=port,
            data_dir=model_root.parent,
            feedback_store=f"sqlite:///{model_root / 'feedback.db'}",
            explainer="tree_shap",
            record_flush_ms=20,
        )
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="explainops-server", daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "the server to start")
        assert self.thread.is_alive(), "the server thread died"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def label_drifted(self, world: World, count: int, *, offset: int = 0) -> None:
        """Predict `count` drifted rows through the API, then send the experts' true labels."""
        features, target = world.train_rows()
        rows = np.arange(offset, offset + count) % len(target)
        instances = drift(features[rows], world.feature_names).tolist()
        with httpx.Client(base_url=self.url, timeout=30) as http:
            predicted = http.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": instances})
            predicted.raise_for_status()
            ids = predicted.json()["prediction_ids"]
            records = [
                {"prediction_id": pid, "label": int(target[r])} for pid, r in zip(ids, rows, strict=True)
            ]
            wait_for(lambda: self._feedback(http, records), "the predictions to be recorded", timeout=10)

    @staticmethod
    def _feedback(http: httpx.Client, records: list[dict[str, Any]]) -> bool:
        response = http.post(f"/v1/models/{MODEL_NAME}/feedback:batch", json={"records": records})
        return response.status_code == 200

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/models/{MODEL_NAME}/feedback/stats", params={"window": 100}).json()


# --------------------------------------------------------------------------- the operator


class OperatorProcess(ChildProcess):
    """`python -m explainops_operator -n NS` as a child process: started, SIGKILLed, restarted."""

    def __init__(self, namespace: str, kubeconfig: Path, log_path: Path) -> None:
        super().__init__(
            log_path, {"KUBECONFIG": str(kubeconfig), "EXPLAINOPS_OPERATOR_RETRAINING_INTERVAL_SECONDS": "1"}
        )
        self.namespace = namespace

    def start(self) -> OperatorProcess:
        self.spawn([sys.executable, "-m", "explainops_operator", "-n", self.namespace, "--verbose"])
        return self


# --------------------------------------------------------------------------- the trainer


def run_trainer(job: dict[str, Any], log_dir: Path) -> tuple[int, str]:
    """Run `explainops-server train` with the Job's own arguments (the termination log redirected to
    a local file) and return (exit code, termination message)."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = list(container["args"])
    termination_log = log_dir / f"{job['metadata']['name']}.termination-log"
    args[args.index("--termination-log") + 1] = str(termination_log)
    completed = subprocess.run(
        [str(VENV_BIN / container["command"][0]), *args], capture_output=True, text=True, timeout=240
    )
    message = termination_log.read_text() if termination_log.exists() else ""
    assert message, f"the trainer wrote no termination message: {completed.stderr[-2000:]}"
    return completed.returncode, message
