"""Shared fixtures for the explainer-server tests: example models, stores, real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from explainops_devtools.child_process import ChildProcess
from explainops_server.models.artifact import read_feature_csv
from explainops_server.models.example import train_example

MODEL = "breast-cancer"
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class ExampleModel:
    version_dir: Path
    holdout: np.ndarray
    holdout_labels: np.ndarray
    feature_names: list[str]


def _train(root: Path, **kwargs: Any) -> ExampleModel:
    out = train_example(root / "models" / MODEL, root / "data" / MODEL, seed=0, **kwargs)
    from explainops_server.models.artifact import read_metadata

    names = read_metadata(out.version_dir).feature_names
    rows, labels = read_feature_csv(out.holdout_csv, names)
    assert labels is not None
    return ExampleModel(out.version_dir, rows, labels, names)


@pytest.fixture(scope="session")
def example_model(tmp_path_factory: pytest.TempPathFactory) -> ExampleModel:
    """The real example model: RandomForest(100 trees, depth 6) on breast_cancer."""
    return _train(tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> ExampleModel:
    """Same data, 10 shallow trees: for tests where explainer speed does not matter."""
    return _train(tmp_path_factory.mktemp("small"), n_estimators=10, max_depth=3)


# ---- PostgreSQL ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    from explainops_devtools.postgres import PostgresUnavailable, ThrowawayPostgres

    try:
        server = ThrowawayPostgres.start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: Any) -> str:
    """A fresh schema per test."""
    return postgres_server.fresh_schema_dsn()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    return request.getfixturevalue("postgres_dsn")


# ---- servers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """The real app under uvicorn in a thread of the test process, bound to 127.0.0.1."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from explainops_server.rest.app import create_app

        self.app = create_app(settings)
        self.dataplane = self.app.state.dataplane
        self.url = f"http://127.0.0.1:{settings.http_port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=settings.http_port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def make_settings(model: ExampleModel, tmp_path: Path, **overrides: Any) -> Any:
    from explainops_server.settings import ServerSettings

    values: dict[str, Any] = {
        "model_name": MODEL,
        "model_uri": str(model.version_dir),
        "http_port": free_port(),
        "data_dir": tmp_path,
        "feedback_store": f"sqlite:///{tmp_path / 'feedback.db'}",
        "explainer": "tree_shap",
        "record_flush_ms": 20,
    }
    values.update(overrides)
    return ServerSettings(**values)


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[Callable[..., ThreadedServer]]:
    """Start servers with `run_server(model, **settings)`; all are stopped after the test."""
    started: list[ThreadedServer] = []

    def start(model: ExampleModel, **overrides: Any) -> ThreadedServer:
        server = ThreadedServer(make_settings(model, tmp_path, **overrides)).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__(None, None, None)


@pytest.fixture
def server(run_server: Callable[..., ThreadedServer], small_model: ExampleModel) -> ThreadedServer:
    """A server for the small model with TreeShap and a SQLite store."""
    return run_server(small_model)


@pytest.fixture
def client(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


class ServerProcess(ChildProcess):
    """`explainops-server serve` as a child process (for restarts and SIGKILL)."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(log_path, env)
        self.args = args

    def start(self, port: int, timeout: float = 240) -> str:
        proc = self.spawn(
            [
                str(VENV_BIN / "explainops-server"),
                "serve",
                *self.args,
                "--http-port",
                str(port),
                "--host",
                "127.0.0.1",
            ]
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")
