"""Local workload runner: plays KServe and the kubelet for the project's own images. Development only.

The local control plane (etcd + kube-apiserver + kube-controller-manager) has no kubelet and no KServe
controller, so nothing would ever run the InferenceServices and retraining Jobs the operator creates.
This runner fills that gap for the demo and for tests, and for nothing else:

- InferenceService (serving.kserve.io/v1beta1): every container of ``spec.predictor.containers`` runs as a
  local process from the project's venv; each container port is remapped to a free 127.0.0.1 port. Once
  every process answers ``/v2/health/ready`` the runner writes ``status.url``, ``status.address.url`` and
  a ``Ready`` condition through the status subresource, as KServe would. A spec change restarts the
  processes with the new args (on the same ports, so the URL stays stable).
- Pod (the real Job controller creates them for Jobs): the runner runs the Pod's containers and patches
  the Pod's status (Running, then Succeeded/Failed with the exit code and the termination message read
  from the remapped ``terminationMessagePath``), so the Job controller completes or fails the Job.
- Any image whose repository is not one of the project's own is refused with a clear message: a Warning
  Event, a ``Ready=False`` condition (InferenceService) or a Failed Pod.

Production uses real kubelets and KServe; neither the operator nor the server may import this module
(``.importlinter`` forbids it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("explainops.runner")

KNOWN_IMAGE_REPOSITORIES = frozenset(
    {"ghcr.io/explainops/explainops-server", "ghcr.io/explainops/explainops-operator"}
)
# What each known image runs when a container sets no `command` (its Dockerfile ENTRYPOINT).
IMAGE_ENTRYPOINTS = {
    "ghcr.io/explainops/explainops-server": ["explainops-server"],
    "ghcr.io/explainops/explainops-operator": ["explainops-operator"],
}
KSERVE_GROUP, KSERVE_VERSION, KSERVE_PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
EVENT_SOURCE = "explainops-local-runner"
DEFAULT_CONTAINER_PORT = 8080
# KServe sends the pod's traffic to the container listening on 8080 (the transformer in collocation).
TRAFFIC_PORT = 8080
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT = 4096  # bytes, as the kubelet
READY_PATH = "/v2/health/ready"
HEALTH_RECHECK_SECONDS = 5.0
MAX_RESTART_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 8.0
API_TIMEOUT = 10.0  # seconds per Kubernetes API call: a stopped apiserver must not hang the loop


class RunnerError(Exception):
    """A workload the runner cannot run; the message says why and is shown to the user."""


class UnsupportedWorkload(RunnerError):
    """Unknown image, unsupported field: refused, not retried until the spec changes."""


class MissingReference(RunnerError):
    """A Secret or ConfigMap the container needs does not exist (yet): retried."""


# ----------------------------------------------------------------------------- pure helpers


def image_repository(image: str) -> str:
    """`ghcr.io/explainops/explainops-server:0.1.0` -> `ghcr.io/explainops/explainops-server`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def check_image(image: str | None, where: str) -> str:
    if not image:
        raise UnsupportedWorkload(f"{where} has no image")
    repository = image_repository(image)
    if repository not in KNOWN_IMAGE_REPOSITORIES:
        known = ", ".join(sorted(KNOWN_IMAGE_REPOSITORIES))
        raise UnsupportedWorkload(
            f"the local workload runner (development only) runs only the project's own images ({known}); "
            f"{where} asks for {image!r}. Use a real cluster with kubelets and KServe for other images."
        )
    return repository


def rewrite_value(value: str, ports: Mapping[int, int], paths: Mapping[str, str]) -> str:
    """Maps container paths to local paths and localhost ports to the remapped ones, inside one string.

    A path matches at the start of the string, after "=" or after a URI scheme's slashes
    (sqlite:////var/lib/x, file:///mnt/models), never as the tail of a longer path; one pass, so a
    replacement is never rewritten again.
    """
    if paths:
        targets = {p.rstrip("/") or "/": local.rstrip("/") for p, local in paths.items()}
        alternatives = "|".join(re.escape(p) for p in sorted(targets, key=len, reverse=True))
        pattern = re.compile(r"(?:(?<=^)|(?<==)|(?<=://)|(?<=:///))(" + alternatives + r")(?=$|/|[^\w.-])")
        value = pattern.sub(lambda m: targets[m.group(1)], value)
    for port, local in ports.items():
        value = re.sub(rf"\b(localhost|127\.0\.0\.1|0\.0\.0\.0):{port}\b", rf"127.0.0.1:{local}", value)
    return value


def rewrite_args(args: list[str], ports: Mapping[int, int], paths: Mapping[str, str]) -> list[str]:
    """Rewrites `--http-port N`, `--host H`, container paths and localhost URLs for a local process."""
    out: list[str] = []
    expect: str | None = None
    for token in args:
        if expect == "--http-port":
            out.append(str(ports.get(int(token), int(token))) if token.isdigit() else token)
        elif expect == "--host":
            out.append("127.0.0.1")
        elif token.startswith("--http-port="):
            port = token.split("=", 1)[1]
            out.append(f"--http-port={ports.get(int(port), port) if port.isdigit() else port}")
        elif token.startswith("--host="):
            out.append("--host=127.0.0.1")
        else:
            out.append(rewrite_value(token, ports, paths))
        expect = token if token in ("--http-port", "--host") else None
    return out


def container_port(container: Mapping[str, Any]) -> int:
    """The port a server container listens on: `--http-port`, then its env, then `ports`, then 8080."""
    args = [str(a) for a in (container.get("args") or []) + (container.get("command") or [])]
    for i, token in enumerate(args):
        if token == "--http-port" and i + 1 < len(args) and args[i + 1].isdigit():
            return int(args[i + 1])
        if token.startswith("--http-port=") and token.split("=", 1)[1].isdigit():
            return int(token.split("=", 1)[1])
    for env in container.get("env") or []:
        if env.get("name") == "EXPLAINOPS_HTTP_PORT" and str(env.get("value", "")).isdigit():
            return int(env["value"])
    for port in container.get("ports") or []:
        if port.get("containerPort"):
            return int(port["containerPort"])
    return DEFAULT_CONTAINER_PORT


def spec_fingerprint(spec: Any) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- processes


@dataclass
class ContainerProcess:
    """One container of a workload, run as a local process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    port: int | None = None  # local port it serves HTTP on (servers only)
    termination_log: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            log_file.write(f"--- {now_iso()} start: {' '.join(self.argv)}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        self.started_at = now_iso()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def termination_message(self) -> str:
        if self.termination_log is None or not self.termination_log.exists():
            return ""
        data = self.termination_log.read_bytes()
        if len(data) > TERMINATION_MESSAGE_LIMIT:
            log.warning(
                "%s: termination message of %d bytes cut to %d, as the kubelet does",
                self.name,
                len(data),
                TERMINATION_MESSAGE_LIMIT,
            )
        return data[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")


@dataclass
class Workload:
    """The processes of one InferenceService or one Pod."""

    kind: str
    namespace: str
    name: str
    uid: str
    fingerprint: str
    containers: list[ContainerProcess] = field(default_factory=list)
    scratch: Path | None = None
    refused: str | None = None  # message, when the runner refused this spec
    ready_checked_at: float = 0.0
    finished: bool = False

    def stop(self) -> None:
        for container in self.containers:
            container.stop()


# ----------------------------------------------------------------------------- the runner


class WorkloadRunner:
    """Watches one namespace (by listing every `interval` seconds) and runs what it finds there."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        *,
        venv_bin: Path | None = None,
        state_dir: Path | None = None,
        interval: float = 0.5,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.venv_bin = venv_bin or Path(sys.executable).parent
        self._own_state_dir = state_dir is None
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="explainops-runner-"))
        self.interval = interval
        self.services: dict[str, Workload] = {}  # IS uid -> workload
        self.pods: dict[str, Workload] = {}  # Pod uid -> workload
        self.ports: dict[tuple[str, str], int] = {}  # (IS uid, container) -> local port, stable
        self._reported: dict[str, str] = {}  # IS uid -> last status written, to skip identical patches
        self._events_sent: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=1.0)
        self.last_error: str | None = None

    # -- lifecycle

    def start(self) -> WorkloadRunner:
        self._thread = threading.Thread(target=self._loop, name="workload-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for workload in [*self.services.values(), *self.pods.values()]:
            workload.stop()
        self.services.clear()
        self.pods.clear()
        self._http.close()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> WorkloadRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile_once()
                self.last_error = None
            except Exception as exc:  # keep running: the API may be briefly unavailable
                if str(exc) != self.last_error:
                    log.warning("runner reconcile failed: %s", exc)
                self.last_error = str(exc)
            self._stop.wait(self.interval)

    def reconcile_once(self) -> None:
        self._reconcile_inference_services()
        self._reconcile_pods()

    def log_paths(self) -> list[Path]:
        return sorted((self.state_dir / "logs").glob("*.log"))

    # -- InferenceServices

    def _reconcile_inference_services(self) -> None:
        listing = self.custom.list_namespaced_custom_object(
            KSERVE_GROUP, KSERVE_VERSION, self.namespace, KSERVE_PLURAL, _request_timeout=API_TIMEOUT
        )
        seen: set[str] = set()
        for isvc in listing.get("items", []):
            meta = isvc["metadata"]
            uid = meta["uid"]
            seen.add(uid)
            if meta.get("deletionTimestamp"):
                continue
            fingerprint = spec_fingerprint(isvc.get("spec"))
            workload = self.services.get(uid)
            if workload is None or workload.fingerprint != fingerprint:
                if workload is not None:
                    log.info("%s/%s: spec changed, restarting its processes", self.namespace, meta["name"])
                    workload.stop()
                workload = self._start_inference_service(isvc, fingerprint)
                if workload is None:
                    continue
                self.services[uid] = workload
            self._watch_inference_service(isvc, workload)
        for uid in set(self.services) - seen:
            log.info("InferenceService %s gone: stopping its processes", self.services[uid].name)
            self.services.pop(uid).stop()
            self._reported.pop(uid, None)
            for key in [k for k in self.ports if k[0] == uid]:
                del self.ports[key]

    def _start_inference_service(self, isvc: dict[str, Any], fingerprint: str) -> Workload | None:
        meta = isvc["metadata"]
        workload = Workload("InferenceService", self.namespace, meta["name"], meta["uid"], fingerprint)
        try:
            predictor = (isvc.get("spec") or {}).get("predictor") or {}
            for component in ("transformer", "explainer"):
                if (isvc.get("spec") or {}).get(component):
                    raise UnsupportedWorkload(
                        f"spec.{component} is not supported by the local workload runner; "
                        "use predictor containers (collocation)"
                    )
            containers = predictor.get("containers") or []
            if not containers:
                raise UnsupportedWorkload(
                    "the local workload runner runs only spec.predictor.containers (custom containers); "
                    "model formats need a real KServe ServingRuntime"
                )
            for container in containers:
                check_image(container.get("image"), f"container {container.get('name')!r}")
            scratch = self._scratch(f"isvc-{meta['name']}-{fingerprint}")
            workload.scratch = scratch
            ports = {}
            for container in containers:
                key = (meta["uid"], container["name"])
                if key not in self.ports:
                    self.ports[key] = free_port()
                ports[container_port(container)] = self.ports[key]
            paths = self._volume_paths(predictor.get("volumes") or [], scratch)
            for container in containers:
                workload.containers.append(
                    self._container_process(
                        container, ports, paths, scratch, meta["name"], port=ports[container_port(container)]
                    )
                )
        except UnsupportedWorkload as exc:
            workload.refused = str(exc)
            self._refuse(isvc, "InferenceService", KSERVE_VERSION, str(exc))
            return workload
        except MissingReference as exc:
            self._set_isvc_status(
                isvc, workload, ready=False, reason="CreateContainerConfigError", message=str(exc)
            )
            return None  # retried on the next pass
        for container in workload.containers:
            container.start()
        log.info(
            "%s/%s: started %s",
            self.namespace,
            meta["name"],
            ", ".join(f"{c.name} on 127.0.0.1:{c.port}" for c in workload.containers),
        )
        self._set_isvc_status(
            isvc,
            workload,
            ready=False,
            reason="Starting",
            message=f"starting {len(workload.containers)} local process(es)",
        )
        return workload

    def _traffic_container(self, workload: Workload, isvc: dict[str, Any]) -> ContainerProcess:
        containers = isvc["spec"]["predictor"]["containers"]
        for spec, proc in zip(containers, workload.containers, strict=True):
            if container_port(spec) == TRAFFIC_PORT:
                return proc
        return workload.containers[0]

    def _watch_inference_service(self, isvc: dict[str, Any], workload: Workload) -> None:
        if workload.refused:
            return
        for container in workload.containers:
            code = container.exit_code()
            if code is None or container.process is None:
                continue
            # restartPolicy Always: back off and restart, reporting the failure truthfully.
            if container.next_start == 0.0:
                delay = min(MAX_RESTART_BACKOFF_SECONDS, 2.0 ** min(container.restarts, 5))
                container.next_start = time.monotonic() + delay
                message = (
                    f"container {container.name} exited with code {code}; restarting in {delay:.0f} s. "
                    f"Last log lines:\n{_tail(container.log_path)}"
                )
                log.warning("%s/%s: %s", self.namespace, workload.name, message)
                self._set_isvc_status(isvc, workload, ready=False, reason="ContainerExited", message=message)
            elif time.monotonic() >= container.next_start:
                container.restarts += 1
                container.next_start = 0.0
                container.start()
        if any(c.exit_code() is not None for c in workload.containers):
            return
        if (
            self._reported.get(workload.uid) == "Ready"
            and time.monotonic() - workload.ready_checked_at < HEALTH_RECHECK_SECONDS
        ):
            return
        workload.ready_checked_at = time.monotonic()
        not_ready = [c.name for c in workload.containers if not self._answers_ready(c)]
        if not_ready:
            if self._reported.get(workload.uid) == "Ready":
                self._set_isvc_status(
                    isvc,
                    workload,
                    ready=False,
                    reason="ContainerNotReady",
                    message=f"{', '.join(not_ready)} stopped answering {READY_PATH}",
                )
            return
        if self._reported.get(workload.uid) != "Ready":
            self._set_isvc_status(isvc, workload, ready=True, reason="Ready", message="")

    def _answers_ready(self, container: ContainerProcess) -> bool:
        if container.port is None:
            return True
        try:
            return self._http.get(f"http://127.0.0.1:{container.port}{READY_PATH}").status_code == 200
        except httpx.HTTPError:
            return False

    def url_of(self, workload: Workload, isvc: dict[str, Any]) -> str:
        return f"http://127.0.0.1:{self._traffic_container(workload, isvc).port}"

    def _set_isvc_status(
        self, isvc: dict[str, Any], workload: Workload, *, ready: bool, reason: str, message: str
    ) -> None:
        status_word = "True" if ready else "False"
        key = f"{status_word}:{reason}:{message}" if not ready else "Ready"
        if self._reported.get(workload.uid) == key:
            return
        now = now_iso()
        condition = {"type": "Ready", "status": status_word, "lastTransitionTime": now}
        if not ready:
            condition.update(reason=reason, message=message[:1000])
        conditions = [condition]
        for kserve_type in ("PredictorReady", "IngressReady"):
            conditions.append({**condition, "type": kserve_type})
        status: dict[str, Any] = {
            "observedGeneration": isvc["metadata"].get("generation"),
            "conditions": conditions,
        }
        if ready:
            url = self.url_of(workload, isvc)
            revision = f"{isvc['metadata']['name']}-predictor-{workload.fingerprint[:8]}"
            status.update(
                url=url,
                address={"url": url},
                components={
                    "predictor": {
                        "url": url,
                        "restUrl": url,
                        "address": {"url": url},
                        "latestCreatedRevision": revision,
                        "latestReadyRevision": revision,
                    }
                },
                modelStatus={
                    "transitionStatus": "UpToDate",
                    "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                },
            )
        try:
            self.custom.patch_namespaced_custom_object_status(
                KSERVE_GROUP,
                KSERVE_VERSION,
                self.namespace,
                KSERVE_PLURAL,
                isvc["metadata"]["name"],
                {"status": status},
                _request_timeout=API_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        self._reported[workload.uid] = key
        log.info(
            "%s/%s: Ready=%s %s",
            self.namespace,
            workload.name,
            status_word,
            (reason if not ready else status.get("url")),
        )

    # -- Pods (retraining Jobs)

    def _reconcile_pods(self) -> None:
        seen: set[str] = set()
        for pod in self.core.list_namespaced_pod(self.namespace, _request_timeout=API_TIMEOUT).items:
            uid = pod.metadata.uid
            seen.add(uid)
            workload = self.pods.get(uid)
            if pod.metadata.deletion_timestamp is not None:
                if workload is not None:
                    workload.stop()
                continue
            if workload is None:
                if (pod.status.phase or "Pending") != "Pending":
                    continue  # finished before this runner started, or run by someone else
                workload = self._start_pod(pod)
                if workload is not None:
                    self.pods[uid] = workload
                continue
            if not workload.finished and all(c.exit_code() is not None for c in workload.containers):
                self._finish_pod(pod, workload)
        for uid in set(self.pods) - seen:
            self.pods.pop(uid).stop()

    def _start_pod(self, pod: k8s.V1Pod) -> Workload | None:
        meta = pod.metadata
        raw = self.api_client.sanitize_for_serialization(pod)
        spec = raw.get("spec") or {}
        workload = Workload("Pod", self.namespace, meta.name, meta.uid, spec_fingerprint(spec))
        try:
            if spec.get("initContainers"):
                raise UnsupportedWorkload("init containers are not supported by the local workload runner")
            for container in spec.get("containers") or []:
                check_image(container.get("image"), f"container {container.get('name')!r}")
            scratch = self._scratch(f"pod-{meta.name}")
            workload.scratch = scratch
            paths = self._volume_paths(spec.get("volumes") or [], scratch)
            for container in spec.get("containers") or []:
                workload.containers.append(self._container_process(container, {}, paths, scratch, meta.name))
        except UnsupportedWorkload as exc:
            self._refuse(raw, "Pod", "v1", str(exc))
            self._patch_pod_status(
                meta.name,
                {
                    "phase": "Failed",
                    "reason": "UnsupportedImage",
                    "message": str(exc),
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "image": c.get("image", ""),
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": {"waiting": {"reason": "UnsupportedImage", "message": str(exc)}},
                        }
                        for c in spec.get("containers") or []
                    ],
                },
            )
            workload.refused = str(exc)
            workload.finished = True
            return workload
        except MissingReference as exc:
            self._event(raw, "Pod", "v1", "CreateContainerConfigError", str(exc))
            return None  # retried on the next pass
        for container in workload.containers:
            container.start()
        log.info(
            "%s/pod %s: running %s", self.namespace, meta.name, ", ".join(c.name for c in workload.containers)
        )
        started = workload.containers[0].started_at if workload.containers else now_iso()
        self._patch_pod_status(
            meta.name,
            {
                "phase": "Running",
                "startTime": started,
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
                "containerStatuses": [
                    {
                        "name": c.name,
                        "image": self._image_of(spec, c.name),
                        "imageID": "",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": c.started_at}},
                    }
                    for c in workload.containers
                ],
            },
        )
        return workload

    def _finish_pod(self, pod: k8s.V1Pod, workload: Workload) -> None:
        raw = self.api_client.sanitize_for_serialization(pod)
        spec = raw.get("spec") or {}
        finished = now_iso()
        statuses = []
        for c in workload.containers:
            code = c.exit_code()
            message = c.termination_message()
            if not message and spec_policy(spec, c.name) == "FallbackToLogsOnError" and code:
                message = _tail(c.log_path, 80)[-TERMINATION_MESSAGE_LIMIT:]
            statuses.append(
                {
                    "name": c.name,
                    "image": self._image_of(spec, c.name),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "message": message,
                            "startedAt": c.started_at,
                            "finishedAt": finished,
                        }
                    },
                }
            )
        succeeded = all(c.exit_code() == 0 for c in workload.containers)
        self._patch_pod_status(
            workload.name,
            {
                "phase": "Succeeded" if succeeded else "Failed",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "lastTransitionTime": finished,
                        "reason": "PodCompleted",
                    }
                ],
                "containerStatuses": statuses,
            },
        )
        workload.finished = True
        log.info(
            "%s/pod %s: %s (exit codes %s)",
            self.namespace,
            workload.name,
            "Succeeded" if succeeded else "Failed",
            [c.exit_code() for c in workload.containers],
        )

    @staticmethod
    def _image_of(spec: Mapping[str, Any], name: str) -> str:
        for container in spec.get("containers") or []:
            if container.get("name") == name:
                return str(container.get("image", ""))
        return ""

    def _patch_pod_status(self, name: str, status: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_pod_status(
                name, self.namespace, {"status": status}, _request_timeout=API_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- turning a container spec into a local process

    def _scratch(self, name: str) -> Path:
        path = self.state_dir / "workloads" / re.sub(r"[^\w.-]", "_", name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _volume_paths(self, volumes: Iterable[Mapping[str, Any]], scratch: Path) -> dict[str, Path]:
        """Volume name -> local directory that backs it."""
        backing: dict[str, Path] = {}
        for volume in volumes:
            name = volume["name"]
            if "emptyDir" in volume:
                backing[name] = scratch / "volumes" / name
            elif "hostPath" in volume:
                backing[name] = Path(volume["hostPath"]["path"])
            elif "persistentVolumeClaim" in volume:
                # Claims outlive pods: one directory per claim, shared by the pods that mount it.
                claim = volume["persistentVolumeClaim"]["claimName"]
                backing[name] = self.state_dir / "claims" / self.namespace / claim
            elif "secret" in volume:
                backing[name] = scratch / "volumes" / name
                data = self._secret(volume["secret"]["secretName"], optional=volume["secret"].get("optional"))
                self._materialise(backing[name], data, volume["secret"].get("items"))
            elif "configMap" in volume:
                backing[name] = scratch / "volumes" / name
                data = self._config_map(
                    volume["configMap"]["name"], optional=volume["configMap"].get("optional")
                )
                self._materialise(backing[name], data, volume["configMap"].get("items"))
            else:
                kind = next((k for k in volume if k != "name"), "?")
                raise UnsupportedWorkload(
                    f"volume {name!r} of type {kind} is not supported by the local runner"
                )
            backing[name].mkdir(parents=True, exist_ok=True)
        return backing

    @staticmethod
    def _materialise(directory: Path, data: Mapping[str, str], items: list[dict[str, str]] | None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        selected = {i["key"]: i.get("path", i["key"]) for i in items} if items else {k: k for k in data}
        for key, relative in selected.items():
            if key in data:
                target = directory / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[key])
                target.chmod(0o600)

    def _container_process(
        self,
        container: Mapping[str, Any],
        ports: Mapping[int, int],
        volume_paths: Mapping[str, Path],
        scratch: Path,
        pod_name: str,
        *,
        port: int | None = None,
    ) -> ContainerProcess:
        name = container["name"]
        paths: dict[str, str] = {}
        tmpdir: str | None = None
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volume_paths:
                raise UnsupportedWorkload(f"container {name!r} mounts unknown volume {mount['name']!r}")
            local = volume_paths[mount["name"]]
            if mount.get("subPath"):
                local = local / mount["subPath"]
                local.mkdir(parents=True, exist_ok=True)
            if mount["mountPath"] == "/tmp":
                tmpdir = str(local)
            # Paths that exist here (/tmp) keep their meaning: file:// URIs in args name this machine's
            # files. Only paths absent here (/mnt/models, /var/run/secrets/...) are remapped.
            if not Path(mount["mountPath"]).exists():
                paths[mount["mountPath"]] = str(local)
        termination_log = scratch / f"{name}.termination-log"
        termination_log.unlink(missing_ok=True)
        paths[container.get("terminationMessagePath") or DEFAULT_TERMINATION_LOG] = str(termination_log)

        env = {
            "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(scratch)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if tmpdir is not None:
            env["TMPDIR"] = tmpdir
        container_env = self._container_env(container, pod_name)
        for key, value in container_env.items():
            env[key] = rewrite_value(value, ports, paths)

        repository = image_repository(container["image"])
        command = [
            _expand(str(c), container_env) for c in container.get("command") or IMAGE_ENTRYPOINTS[repository]
        ]
        executable = self._executable(command[0], name)
        args = [_expand(str(a), container_env) for a in container.get("args") or []]
        argv = [executable, *rewrite_args([*command[1:], *args], ports, paths)]
        log_path = self.state_dir / "logs" / f"{self.namespace}_{pod_name}_{name}.log"
        return ContainerProcess(
            name=name,
            argv=argv,
            env=env,
            cwd=scratch,
            log_path=log_path,
            port=port,
            termination_log=termination_log,
        )

    def _executable(self, command: str, container: str) -> str:
        base = Path(command).name
        if base in ("python", "python3", "python3.11", "python3.12"):
            return str(self.venv_bin / "python")
        candidate = self.venv_bin / base
        if candidate.exists():
            return str(candidate)
        raise UnsupportedWorkload(
            f"container {container!r} runs {command!r}, which is not a program of the project's venv ({self.venv_bin})"
        )

    def _container_env(self, container: Mapping[str, Any], pod_name: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                ref = source["secretRef"]
                data = self._secret(ref["name"], optional=ref.get("optional"))
            elif "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._config_map(ref["name"], optional=ref.get("optional"))
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = _expand(str(item.get("value", "")), env)
                continue
            source = item["valueFrom"]
            value = self._value_from(source, pod_name)
            if value is not None:
                env[name] = value
        return env

    def _value_from(self, source: Mapping[str, Any], pod_name: str) -> str | None:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = self._secret(ref["name"], optional=ref.get("optional"))
            return self._key(data, ref, "Secret")
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = self._config_map(ref["name"], optional=ref.get("optional"))
            return self._key(data, ref, "ConfigMap")
        if "fieldRef" in source:
            field_path = source["fieldRef"]["fieldPath"]
            return {
                "metadata.name": pod_name,
                "metadata.namespace": self.namespace,
                "status.podIP": "127.0.0.1",
                "status.hostIP": "127.0.0.1",
                "spec.nodeName": "localhost",
            }.get(field_path, "")
        return None  # resourceFieldRef: no limits are enforced locally

    @staticmethod
    def _key(data: Mapping[str, str], ref: Mapping[str, Any], kind: str) -> str | None:
        if ref["key"] in data:
            return data[ref["key"]]
        if ref.get("optional"):
            return None
        raise MissingReference(f"{kind} {ref['name']!r} has no key {ref['key']!r}")

    def _secret(self, name: str, *, optional: bool | None) -> dict[str, str]:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                if optional:
                    return {}
                raise MissingReference(f"Secret {name!r} not found in namespace {self.namespace!r}") from exc
            raise
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        data.update(secret.string_data or {})
        return data

    def _config_map(self, name: str, *, optional: bool | None) -> dict[str, str]:
        try:
            return dict(self.core.read_namespaced_config_map(name, self.namespace).data or {})
        except ApiException as exc:
            if exc.status == 404:
                if optional:
                    return {}
                raise MissingReference(
                    f"ConfigMap {name!r} not found in namespace {self.namespace!r}"
                ) from exc
            raise

    # -- telling the user

    def _refuse(self, obj: Mapping[str, Any], kind: str, api_version: str, message: str) -> None:
        log.warning("%s/%s %s refused: %s", self.namespace, obj["metadata"]["name"], kind, message)
        self._event(
            obj,
            kind,
            api_version,
            "UnsupportedImage" if "image" in message else "UnsupportedWorkload",
            message,
        )
        if kind == "InferenceService":
            workload = Workload(kind, self.namespace, obj["metadata"]["name"], obj["metadata"]["uid"], "")
            self._set_isvc_status(
                dict(obj), workload, ready=False, reason="UnsupportedWorkload", message=message
            )

    def _event(self, obj: Mapping[str, Any], kind: str, api_version: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        dedupe = (meta["uid"], message)
        if dedupe in self._events_sent:
            return
        self._events_sent.add(dedupe)
        group = {"InferenceService": f"{KSERVE_GROUP}/{KSERVE_VERSION}"}.get(kind, api_version)
        stamp = dt.datetime.now(dt.UTC)
        event = k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=self.namespace),
            involved_object=k8s.V1ObjectReference(
                api_version=group, kind=kind, name=meta["name"], namespace=self.namespace, uid=meta["uid"]
            ),
            reason=reason,
            message=message[:1000],
            type="Warning",
            source=k8s.V1EventSource(component=EVENT_SOURCE),
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
        )
        try:
            self.core.create_namespaced_event(self.namespace, event)
        except ApiException as exc:
            log.warning("could not record Event for %s/%s: %s", kind, meta["name"], exc.reason)


def spec_policy(spec: Mapping[str, Any], name: str) -> str:
    for container in spec.get("containers") or []:
        if container.get("name") == name:
            return str(container.get("terminationMessagePolicy") or "File")
    return "File"


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of env values and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None, *, on_ready: Callable[[WorkloadRunner], None] | None = None) -> int:
    from kubernetes import config as k8s_config

    parser = argparse.ArgumentParser(
        prog="python -m explainops_devtools.runner",
        description="Local workload runner (development only): runs the InferenceServices and Job pods of "
        "the project's own images as local processes against a local control plane.",
    )
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), required=not os.environ.get("KUBECONFIG")
    )
    parser.add_argument("--namespace", "-n", default="default")
    parser.add_argument("--state-dir", type=Path, help="logs and scratch directories (default: a temp dir)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s runner %(levelname)s %(message)s")
    api_client = k8s_config.new_client_from_config(config_file=options.kubeconfig)
    runner = WorkloadRunner(api_client, options.namespace, state_dir=options.state_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with runner:
        if on_ready is not None:
            on_ready(runner)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
