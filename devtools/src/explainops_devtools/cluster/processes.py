"""The one process supervisor: start a binary with its log in a file, wait until it is ready, stop it by PID.

A process is known by PID and by a marker in its command line (the cluster's working directory), so
a recycled PID is never signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StartupError

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ManagedProcess:
    name: str
    pid: int
    log_path: Path
    marker: str
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def exit_code(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        return None if is_alive(self.pid) else -1

    def is_ours(self) -> bool:
        return is_alive(self.pid) and self.marker in cmdline(self.pid)

    def signal(self, signum: int) -> None:
        if self.is_ours():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after the grace period; only while the PID is still this process."""
        if self.popen is not None and self.popen.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        if not self.wait_gone(grace_seconds):
            self.signal(signal.SIGKILL)
            self.wait_gone(5.0)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait_gone(5.0)

    def wait_gone(self, seconds: float) -> bool:
        if self.popen is not None:
            try:
                self.popen.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not is_alive(self.pid):
                return True
            time.sleep(0.05)
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, check: Callable[[], bool], timeout_seconds: float, what: str = "ready") -> None:
        """Poll ``check`` until it is true; fail at once if the process exits, or after the timeout."""
        deadline = time.monotonic() + timeout_seconds
        last_error: object = "no answer yet"
        while True:
            code = self.exit_code()
            if code is not None:
                raise StartupError(
                    f"{self.name} exited with code {code} before it was {what}. "
                    f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if check():
                    return
                last_error = f"not {what}"
            except Exception as exc:  # any failed probe means "not yet"
                last_error = exc
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} (pid {self.pid}) not {what} after {timeout_seconds:.0f} s ({last_error}). "
                    f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.2)


def spawn(
    name: str,
    argv: list[str],
    *,
    log_path: Path,
    marker: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    detached: bool = False,
) -> ManagedProcess:
    """Start ``argv`` in its own session with output to ``log_path``.

    ``marker`` must appear in the command line (usually a path argument). Unless ``detached``, the
    process gets SIGTERM from the kernel if this Python process dies.
    """
    if marker not in " ".join(argv):
        raise ValueError(f"{name}: marker {marker!r} is not in the command line")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=None
            if detached or threading.current_thread() is not threading.main_thread()
            else _die_with_parent,
        )
    return ManagedProcess(name=name, pid=popen.pid, log_path=log_path, marker=marker, popen=popen)
