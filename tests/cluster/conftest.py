"""Fixtures of the real-node tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_helpers import MODEL_NAME


@pytest.fixture(scope="session")
def example_model_dir() -> Iterator[Path]:
    """The example model trained on the host, in a directory the node mounts into pods (hostPath)."""
    from explainops_server.models.example import train_example

    root = Path(tempfile.mkdtemp(prefix="explainops-node-models-"))
    train_example(root / "model", root / "data", name=MODEL_NAME, n_estimators=20, max_depth=4)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


