"""Fixtures for the retraining cluster tests (helpers in retraining_harness.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from retraining_harness import OperatorProcess, ThreadedServer
from retraining_scenario import MODEL_NAME, World, make_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Champion v1 (RandomForest on breast_cancer), its training CSV and the holdout."""
    return make_world(tmp_path_factory.mktemp("retraining-world"))


@pytest.fixture
def model_root(world: World, tmp_path: Path) -> Path:
    """A model root of this test only: a copy of the champion v1 (the feedback store will live here too)."""
    root = tmp_path / "models" / MODEL_NAME
    shutil.copytree(world.version_dir("v1"), root / "v1")
    return root


@pytest.fixture
def stats_server(model_root: Path) -> Iterator[ThreadedServer]:
    server = ThreadedServer(model_root).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def operator_process(namespace: str, kubeconfig_path: Path, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The real operator on the test namespace (not yet started: call `.start()`)."""
    process = OperatorProcess(namespace, kubeconfig_path, tmp_path / "operator.log")
    try:
        yield process
    finally:
        process.stop()
