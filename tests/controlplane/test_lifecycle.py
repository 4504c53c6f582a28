"""Start-up failures are explained, and every process is stopped by PID whatever happens."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explainops_devtools.controlplane import (
    BinariesNotFoundError,
    ControlPlane,
    ControlPlaneSettings,
    StartupError,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _processes_mentioning(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _wait_dead(pids: list[int], seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture
def bare_settings(control_plane) -> ControlPlaneSettings:
    """Same binaries as the session's control plane, no CRDs: a quick start."""
    return ControlPlaneSettings(kubebuilder_assets=control_plane.binaries, crd_dirs=[])


def test_failed_start_names_the_process_shows_its_log_and_leaves_nothing_running(bare_settings):
    settings = bare_settings.model_copy(update={"extra_apiserver_args": ["--no-such-flag"]})
    plane = ControlPlane(settings)
    with pytest.raises(StartupError) as failed:
        plane.start()
    message = str(failed.value)
    assert "kube-apiserver exited with code" in message
    assert "unknown flag: --no-such-flag" in message  # the log tail
    assert _processes_mentioning(str(plane.workdir)) == []
    shutil.rmtree(plane.workdir)


def test_missing_binaries_say_how_to_get_them(tmp_path):
    with pytest.raises(BinariesNotFoundError) as missing:
        ControlPlane(ControlPlaneSettings(kubebuilder_assets=tmp_path)).start()
    assert "make k8s-bins" in str(missing.value) and "KUBEBUILDER_ASSETS" in str(missing.value)


STARTER = """
import json, sys, time
from explainops_devtools.controlplane import ControlPlane, ControlPlaneSettings
plane = ControlPlane(ControlPlaneSettings(kubebuilder_assets=sys.argv[1], crd_dirs=[])).start()
print(json.dumps({"pids": list(plane.pids().values()), "workdir": str(plane.workdir)}), flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_processes_die_with_the_python_process_that_started_them(control_plane, signum):
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(control_plane.binaries)], stdout=subprocess.PIPE, text=True
    )
    try:
        started = json.loads(starter.stdout.readline())
        assert all(_alive(p) for p in started["pids"])
        starter.send_signal(signum)
        starter.wait(timeout=30)
        assert _wait_dead(started["pids"]) == []
        if signum == signal.SIGTERM:  # a clean stop also removes the working directory
            assert not Path(started["workdir"]).exists()
    finally:
        starter.kill()
        starter.wait()
        shutil.rmtree(started["workdir"], ignore_errors=True)


def test_cli_up_status_down(control_plane, tmp_path):
    env = {
        **os.environ,
        "KUBEBUILDER_ASSETS": str(control_plane.binaries),
        "EXPLAINOPS_CONTROLPLANE_CACHE_DIR": str(tmp_path),
        "EXPLAINOPS_CONTROLPLANE_CRD_DIRS": "[]",
    }

    def cli(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "explainops_devtools.controlplane", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    up = cli("up")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "cluster" / "state.json").read_text())
    try:
        assert f"export KUBECONFIG={state['kubeconfig']}" in up.stdout
        assert "kubectl get" in up.stdout
        assert all(_alive(p) for p in state["pids"].values())  # outlived the `up` process
        assert cli("status").returncode == 0
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert _wait_dead(list(state["pids"].values()), 1) == []
    assert not (tmp_path / "cluster" / "state.json").exists()
