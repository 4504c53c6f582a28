"""A child process with its output in a log file: started, SIGKILLed or stopped, log read back.

Tests use it for the server and the operator when they need to kill and restart them. It is the
cluster's one process supervisor (``cluster.processes``) under the small API those tests use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from explainops_devtools.cluster.processes import ManagedProcess, spawn


class ChildProcess:
    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.managed: ManagedProcess | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.managed.popen if self.managed is not None else None

    def spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self.managed = spawn(Path(argv[0]).name, argv, log_path=self.log_path, marker=argv[0], env=self.env)
        assert self.managed.popen is not None
        return self.managed.popen

    def kill(self) -> None:
        if self.managed is not None:
            self.managed.kill()

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop(grace_seconds=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
