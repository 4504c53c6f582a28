"""Fixtures for the operator's cluster tests: API helpers and the operator itself, run for real with
kopf's KopfRunner against the local control plane (fixtures from the explainops_cluster plugin)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from xm_cluster import Cluster


@pytest.fixture
def cluster(kube_api: Any, namespace: str) -> Cluster:
    return Cluster(kube_api, namespace)


@pytest.fixture
def run_operator(namespace: str, kubeconfig_path: Any) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """`with run_operator() as runner:` runs the real operator on the test namespace; on exit it is
    stopped and must have exited cleanly. `runner.output` holds its log afterwards."""
    from kopf.testing import KopfRunner

    from explainops_operator.kube import client as kube_client

    @contextlib.contextmanager
    def run() -> Iterator[Any]:
        kube_client.reset()
        args = ["run", "--standalone", "--verbose", "-n", namespace, "-m", "explainops_operator.handlers"]
        runner = KopfRunner(args, timeout=60)
        try:
            with runner:
                yield runner
        finally:
            print(runner.output)  # shown by pytest when the test fails
        assert runner.exception is None, runner.output
        assert runner.exit_code == 0, runner.output

    return run
