"""A real local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

Used by the pytest fixtures (``pytest_plugin``), ``make cluster-up``/``cluster-down`` and the demo.
Every process binds 127.0.0.1 on a free port, runs out of one working directory and is stopped by
PID. There is no scheduler and no kubelet: Pods are created (e.g. by the Job controller) but never
run; ``explainops_devtools.kubelet`` plays the kubelet in tests.

CLI: ``python -m explainops_devtools.controlplane up|down|status``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Controllers that need nodes, a cloud or volumes; there are none here.
DISABLED_CONTROLLERS = (
    "node-ipam-controller",
    "node-lifecycle-controller",
    "cloud-node-lifecycle-controller",
    "service-lb-controller",
    "node-route-controller",
    "taint-eviction-controller",
    "device-taint-eviction-controller",
    "persistentvolume-attach-detach-controller",
    "persistentvolume-binder-controller",
    "persistentvolume-expander-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "ephemeral-volume-controller",
    "certificatesigningrequest-signing-controller",
    "horizontal-pod-autoscaler-controller",
)
IDENTITY_CONFIGMAP = "explainops-control-plane"
IDENTITY_NAMESPACE = "kube-system"
ADMIN_USER = "explainops-admin"


# --------------------------------------------------------------------------- errors


class ControlPlaneError(Exception):
    """Base of every failure of the local control plane and its test helpers."""


class BinariesNotFoundError(ControlPlaneError):
    """etcd / kube-apiserver / kube-controller-manager are not where they should be."""


class StartupError(ControlPlaneError):
    """A process exited or did not become ready in time."""


class ForeignClusterError(ControlPlaneError):
    """An API client points at something other than the control plane started here."""


# --------------------------------------------------------------------------- settings


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explainops"


def _default_crd_dirs() -> list[Path]:
    """third_party/kserve then crds/ of the source tree this module lives in (editable install)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "third_party" / "kserve").is_dir():
            return [parent / "third_party" / "kserve", parent / "crds"]
    return []


class ControlPlaneSettings(BaseSettings):
    """Where the binaries are and how the control plane runs (env prefix ``EXPLAINOPS_CONTROLPLANE_``)."""

    model_config = SettingsConfigDict(
        env_prefix="EXPLAINOPS_CONTROLPLANE_", populate_by_name=True, extra="ignore"
    )

    kubebuilder_assets: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("KUBEBUILDER_ASSETS", "EXPLAINOPS_CONTROLPLANE_KUBEBUILDER_ASSETS"),
        description="Directory holding etcd, kube-apiserver and kube-controller-manager (envtest convention).",
    )
    k8s_version: str = Field(
        default="v1.34.4",
        validation_alias=AliasChoices("K8S_VERSION", "EXPLAINOPS_CONTROLPLANE_K8S_VERSION"),
        description="Version whose cached build is used when KUBEBUILDER_ASSETS is unset.",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Root of the cache (binaries under k8s/<version>/)."
    )
    crd_dirs: list[Path] = Field(
        default_factory=_default_crd_dirs,
        description="Directories (or files) of CRD manifests installed at start-up, before the controllers.",
    )
    start_timeout_seconds: float = Field(default=90.0, description="Budget for each process to become ready.")
    etcd_compaction_interval: str = Field(
        default="5m", description="kube-apiserver --etcd-compaction-interval (Go duration; 0 disables)."
    )
    extra_apiserver_args: list[str] = Field(default_factory=list, description="Appended to kube-apiserver.")

    @property
    def parsed_crd_dir(self) -> Path:
        """JSON copies of parsed CRD files, keyed by content hash."""
        return self.cache_dir / "parsed-crds"

    @property
    def state_dir(self) -> Path:
        """Where ``up`` keeps its working directory and state file."""
        return self.cache_dir / "cluster"


def find_binaries(settings: ControlPlaneSettings) -> Path:
    """The directory holding all three binaries: KUBEBUILDER_ASSETS if set, else the build cache."""
    if settings.kubebuilder_assets is not None:
        candidate, origin = settings.kubebuilder_assets, "KUBEBUILDER_ASSETS"
    else:
        candidate, origin = settings.cache_dir / "k8s" / settings.k8s_version, "the build cache"
    missing = [b for b in BINARIES if not os.access(candidate / b, os.X_OK)]
    if missing:
        raise BinariesNotFoundError(
            f"{', '.join(missing)} not found in {candidate} ({origin}). "
            "Run `make k8s-bins` (builds Kubernetes once, ~10 min cold on 2 cores, then cached) "
            "or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and kube-controller-manager."
        )
    return candidate


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    """Files the processes need: a CA, the apiserver serving pair and the service-account key pair."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path


def write_pki(directory: Path) -> Pki:
    """Generate a throwaway CA, a serving certificate for 127.0.0.1 and an ECDSA service-account key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "explainops-local-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = next(ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE).hosts())
    alt_names: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    alt_names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(service_ip)]
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())
    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_key.write_bytes(key_pem(serving_key))
    pki.sa_key.write_bytes(key_pem(sa_key))
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for private in (pki.serving_key, pki.sa_key):
        private.chmod(0o600)
    return pki


def write_kubeconfig(
    path: Path, server: str, ca_cert: Path, token: str, context: str = "explainops-local"
) -> None:
    """A self-contained kubeconfig (CA embedded) authenticating with a static token."""
    import yaml

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": ADMIN_USER}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent() -> None:
    """Runs in the child before exec: kill it if the process that started it dies (even by SIGKILL).

    SIGKILL, not SIGTERM: all three would get it at once, and an apiserver whose etcd is already gone
    spends a long time shutting down gracefully. The data is throwaway.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a live process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class ManagedProcess:
    """One control-plane process, identified by PID and by a marker in its command line."""

    name: str
    pid: int
    log_path: Path
    marker: str  # the working directory: appears in the command line, so a recycled PID is never killed
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def exit_code(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        return None if _is_alive(self.pid) else -1

    def is_ours(self) -> bool:
        return _is_alive(self.pid) and self.marker in _cmdline(self.pid)

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after the grace period; only if the PID is still this process."""
        if self.popen is not None and self.popen.poll() is not None:
            return
        if not self.is_ours():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self._wait_gone(grace_seconds):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait_gone(5.0)

    def _wait_gone(self, seconds: float) -> bool:
        if self.popen is not None:
            try:
                self.popen.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not _is_alive(self.pid):
                return True
            time.sleep(0.05)
        return False


# Every control plane started in this interpreter, stopped at exit and on SIGTERM/SIGHUP.
_RUNNING: set[ControlPlane] = set()
_RUNNING_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def _stop_all() -> None:
    with _RUNNING_LOCK:
        planes = list(_RUNNING)
    for plane in planes:
        plane.stop()


def _on_signal(signum: int, _frame: Any) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_exit_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            # Leave handlers someone else installed alone; SIGINT already unwinds through finally/fixtures.
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_signal)


# --------------------------------------------------------------------------- CRDs


def _parse_yaml_cached(file: Path, cache_dir: Path | None) -> list[dict[str, Any]]:
    """All documents of a YAML file; parsed once per content (the KServe CRDs take ~1 s to parse)."""
    import yaml

    content = file.read_bytes()
    cached = cache_dir / f"{hashlib.sha256(content).hexdigest()}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text())
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(content, Loader=loader) if d]
    except yaml.YAMLError as exc:
        raise ControlPlaneError(f"cannot install CRDs from {file}: invalid YAML: {exc}") from exc
    if cached is not None:
        with contextlib.suppress(OSError, TypeError, ValueError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(docs))
            tmp.replace(cached)
    return docs


def load_crd_manifests(paths: Iterable[Path], cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """CustomResourceDefinition documents from YAML files or directories of *.yaml/*.yml (sorted).

    ``cache_dir`` keeps a JSON copy of each parsed file keyed by its content hash.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
    docs = []
    for file in files:
        file_docs = _parse_yaml_cached(file, cache_dir)
        for doc in file_docs:
            if doc.get("kind") != "CustomResourceDefinition":
                raise ControlPlaneError(
                    f"{file}: expected only CustomResourceDefinitions, found {doc.get('kind')}"
                )
            docs.append(doc)
    return docs


def install_crds(
    api_client: ApiClient, crds: Iterable[dict[str, Any]], timeout_seconds: float = 60.0
) -> list[str]:
    """Create (or replace, when present) each CRD, then wait until every one is Established.

    create/replace rather than client-side apply: the InferenceService CRD is ~1.9 MB, too large
    for a last-applied annotation.
    """
    from kubernetes.client import ApiextensionsV1Api
    from kubernetes.client.exceptions import ApiException

    ext = ApiextensionsV1Api(api_client)
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(body=crd, _preload_content=False)
        except ApiException as exc:
            if exc.status != 409:
                raise ControlPlaneError(
                    f"creating CRD {name} failed: HTTP {exc.status}: {str(exc.body)[:2000]}"
                ) from exc
            current = json.loads(ext.read_custom_resource_definition(name, _preload_content=False).data)
            body = {
                **crd,
                "metadata": {**crd["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
            }
            try:
                ext.replace_custom_resource_definition(name, body=body, _preload_content=False)
            except ApiException as exc2:
                raise ControlPlaneError(
                    f"replacing CRD {name} failed: HTTP {exc2.status}: {str(exc2.body)[:2000]}"
                ) from exc2
        names.append(name)
    wait_crds_established(api_client, names, timeout_seconds)
    return names


def wait_crds_established(api_client: ApiClient, names: Iterable[str], timeout_seconds: float = 60.0) -> None:
    """Block until every named CRD is Established; fail fast when one's names are rejected.

    Watches rather than polls: each read of the InferenceService CRD is ~0.7 MB of JSON, and polling
    it would take CPU from the apiserver that is busy establishing it.
    """
    from kubernetes.client import ApiextensionsV1Api
    from kubernetes.watch.watch import iter_resp_lines

    ext = ApiextensionsV1Api(api_client)
    pending = set(names)
    last_seen: dict[str, Any] = {}

    def observe(crd: dict[str, Any]) -> None:
        name = crd["metadata"]["name"]
        if name not in pending:
            return
        conditions = {c["type"]: c for c in crd.get("status", {}).get("conditions") or []}
        last_seen[name] = {t: c.get("status") for t, c in conditions.items()}
        if conditions.get("Established", {}).get("status") == "True":
            pending.discard(name)
        elif conditions.get("NamesAccepted", {}).get("status") == "False":
            raise ControlPlaneError(
                f"CRD {name}: names not accepted: {conditions['NamesAccepted'].get('message')}"
            )

    deadline = time.monotonic() + timeout_seconds
    while pending:
        listed = json.loads(ext.list_custom_resource_definition(_preload_content=False).data)
        for crd in listed["items"]:
            observe(crd)
        resource_version = listed["metadata"]["resourceVersion"]
        while pending and (remaining := deadline - time.monotonic()) > 0:
            response = ext.list_custom_resource_definition(
                watch=True,
                resource_version=resource_version,
                timeout_seconds=max(1, int(remaining)),
                _preload_content=False,
            )
            relist = False
            try:
                for line in iter_resp_lines(response):
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # e.g. 410 Gone: list again
                        relist = True
                        break
                    resource_version = event["object"]["metadata"]["resourceVersion"]
                    observe(event["object"])
                    if not pending:
                        break
            finally:
                response.release_conn()
            if relist:
                break
        if pending and time.monotonic() >= deadline:
            raise ControlPlaneError(
                f"CRDs not Established after {timeout_seconds:.0f} s: "
                + ", ".join(f"{n} {last_seen.get(n, 'no status')}" for n in sorted(pending))
            )


# --------------------------------------------------------------------------- the control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on free 127.0.0.1 ports in one working directory.

    Use as a context manager, or ``start()``/``stop()``. With ``detached=True`` the processes outlive
    this Python process (``up``); otherwise they are stopped at interpreter exit, on SIGTERM/SIGHUP,
    and by the kernel if this process is killed outright.
    """

    def __init__(
        self,
        settings: ControlPlaneSettings | None = None,
        *,
        workdir: Path | None = None,
        detached: bool = False,
    ) -> None:
        self.settings = settings or ControlPlaneSettings()
        self.detached = detached
        self.id = uuid.uuid4().hex
        self._requested_workdir = workdir
        self._owns_workdir = workdir is None
        self.workdir: Path | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.server = ""
        self.etcd_url = ""
        self.token = ""
        self.pki: Pki | None = None
        self.kubeconfig_path: Path | None = None
        self.crds: list[str] = []
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}  # seconds per start-up stage, for the README figures
        self.binaries: Path | None = None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start all three processes, install the CRDs, and return once the cluster answers."""
        self.binaries = find_binaries(self.settings)
        started = time.monotonic()
        for attempt in range(3):
            try:
                self._start_once()
                break
            except StartupError as exc:
                # A free port taken by someone else between probing and binding: try fresh ports.
                if attempt < 2 and "address already in use" in str(exc):
                    self.stop()
                    if self.workdir is not None and not self._owns_workdir:
                        shutil.rmtree(self.workdir, ignore_errors=True)
                    continue
                self.stop(keep_workdir=True)  # keep the logs the error message points at
                raise
            except BaseException:
                self.stop(keep_workdir=True)
                raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _start_once(self) -> None:
        assert self.binaries is not None
        if self._requested_workdir is not None:
            self.workdir = self._requested_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="explainops-cp-"))
        work = self.workdir
        self._stage_started = time.monotonic()
        self.timings = {}
        if not self.detached:
            with _RUNNING_LOCK:
                _RUNNING.add(self)
            _install_exit_hooks()

        etcd_port, peer_port, api_port, kcm_port = free_ports(4)
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        self.server = f"https://127.0.0.1:{api_port}"
        self.pki = pki = write_pki(work / "pki")
        self.token = secrets.token_hex(32)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        self.kubeconfig_path = work / "kubeconfig"
        write_kubeconfig(self.kubeconfig_path, self.server, pki.ca_cert, self.token)
        timeout = self.settings.start_timeout_seconds

        etcd = self._spawn(
            "etcd",
            [
                "--name=default",
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",  # throwaway data; fsync costs seconds on a shared disk
                "--log-level=warn",
            ],
        )
        self._wait_ready(
            etcd, lambda: b'"health":"true"' in self._http_get(f"{self.etcd_url}/health"), timeout
        )
        self._mark("etcd")

        apiserver = self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                # No controller creates tokens for Pods that never run; the plugin would only race
                # the ServiceAccount controller in fresh namespaces.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                f"--etcd-compaction-interval={self.settings.etcd_compaction_interval}",
                *self.settings.extra_apiserver_args,
            ],
        )
        self._wait_ready(apiserver, lambda: self._http_get(f"{self.server}/readyz") == b"ok", timeout)
        self._mark("kube-apiserver")

        # CRDs go in before the controller-manager starts, so the garbage collector discovers
        # their kinds at once instead of at its next 30 s discovery resync.
        crd_docs = load_crd_manifests(self.settings.crd_dirs, self.settings.parsed_crd_dir)
        self._mark("parse CRDs")
        with self.api_client() as client:
            self.crds = install_crds(client, crd_docs, timeout)
            self._write_identity(client)
        self._mark("install CRDs")

        kcm = self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                f"--authentication-kubeconfig={self.kubeconfig_path}",
                f"--authorization-kubeconfig={self.kubeconfig_path}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={work / 'kcm-certs'}",
                "--controllers=*," + ",".join(f"-{c}" for c in DISABLED_CONTROLLERS),
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false",
            ],
        )
        self._wait_ready(
            kcm,
            lambda: self._http_get(f"https://127.0.0.1:{kcm_port}/healthz", verify=False) == b"ok",
            timeout,
        )
        self._mark("kube-controller-manager")

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Stop every process by PID (controller-manager, apiserver, etcd) and remove the working directory."""
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        self.processes.clear()
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        if self.workdir is not None and self._owns_workdir and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------

    def _mark(self, stage: str) -> None:
        now = time.monotonic()
        self.timings[stage] = now - self._stage_started
        self._stage_started = now

    def _spawn(self, name: str, args: list[str]) -> ManagedProcess:
        assert self.binaries is not None and self.workdir is not None
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [str(self.binaries / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not them; we stop them
                preexec_fn=None
                if self.detached or threading.current_thread() is not threading.main_thread()
                else _die_with_parent,
            )
        proc = ManagedProcess(
            name=name, pid=popen.pid, log_path=log_path, marker=str(self.workdir), popen=popen
        )
        self.processes[name] = proc
        return proc

    def _wait_ready(self, proc: ManagedProcess, check: Callable[[], bool], timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        last_error: object = "no answer yet"
        while True:
            code = proc.exit_code()
            if code is not None:
                raise StartupError(
                    f"{proc.name} exited with code {code} during start-up. Last lines of {proc.log_path}:\n"
                    f"{log_tail(proc.log_path)}"
                )
            try:
                if check():
                    return
                last_error = "not ready"
            except (OSError, urllib.error.URLError, ssl.SSLError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{proc.name} (pid {proc.pid}) not ready after {timeout_seconds:.0f} s ({last_error}). "
                    f"Last lines of {proc.log_path}:\n{log_tail(proc.log_path)}"
                )
            time.sleep(0.1)

    def _http_get(self, url: str, *, verify: bool = True) -> bytes:
        if url.startswith("https://"):
            if verify:
                assert self.pki is not None
                context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
            else:
                context = ssl._create_unverified_context()
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
            with urllib.request.urlopen(request, context=context, timeout=2) as response:
                return response.read().strip()
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().strip()

    def _write_identity(self, client: ApiClient) -> None:
        """A ConfigMap carrying this control plane's id, so a client can prove where it points."""
        from kubernetes.client import CoreV1Api

        CoreV1Api(client).create_namespaced_config_map(
            IDENTITY_NAMESPACE,
            {"metadata": {"name": IDENTITY_CONFIGMAP}, "data": {"id": self.id, "workdir": str(self.workdir)}},
        )

    # -- for users ------------------------------------------------------------

    def api_client(self) -> ApiClient:
        """A new kubernetes.client.ApiClient for this control plane (no global configuration touched)."""
        from kubernetes.client import ApiClient, Configuration

        if not self.server or self.pki is None:
            raise ControlPlaneError("control plane not started")
        config = Configuration(host=self.server)
        config.api_key = {"authorization": self.token}
        config.api_key_prefix = {"authorization": "Bearer"}
        config.ssl_ca_cert = str(self.pki.ca_cert)
        config.verify_ssl = True
        return ApiClient(config)

    def verify(self, api_client: ApiClient) -> None:
        """Raise ForeignClusterError unless ``api_client`` talks to this very control plane."""
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException

        host = api_client.configuration.host.rstrip("/")
        if host != self.server:
            raise ForeignClusterError(
                f"API client points at {host}, not at the local control plane {self.server}"
            )
        try:
            cm = CoreV1Api(api_client).read_namespaced_config_map(IDENTITY_CONFIGMAP, IDENTITY_NAMESPACE)
        except ApiException as exc:
            raise ForeignClusterError(
                f"{host} has no {IDENTITY_NAMESPACE}/{IDENTITY_CONFIGMAP}: {exc.status}"
            ) from exc
        if (cm.data or {}).get("id") != self.id:
            raise ForeignClusterError(f"{host} is a different control plane (id {(cm.data or {}).get('id')})")

    def rss(self) -> dict[str, int | None]:
        """RSS in bytes of each process."""
        return {name: rss_bytes(p.pid) for name, p in self.processes.items()}

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}

    def logs(self) -> dict[str, Path]:
        return {name: p.log_path for name, p in self.processes.items()}

    def describe(self) -> dict[str, Any]:
        """State written by ``up`` and read by ``down``/``status``."""
        return {
            "id": self.id,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig_path),
            "workdir": str(self.workdir),
            "etcd_url": self.etcd_url,
            "binaries": str(self.binaries),
            "pids": self.pids(),
            "logs": {k: str(v) for k, v in self.logs().items()},
            "crds": self.crds,
            "startup_seconds": self.startup_seconds,
        }


@contextlib.contextmanager
def running_control_plane(settings: ControlPlaneSettings | None = None) -> Iterator[ControlPlane]:
    """``with running_control_plane() as cp:`` — started, and stopped whatever happens."""
    plane = ControlPlane(settings)
    try:
        yield plane.start()
    finally:
        plane.stop()


# --------------------------------------------------------------------------- CLI


def _state_file(settings: ControlPlaneSettings) -> Path:
    return settings.state_dir / "state.json"


def _processes_from_state(state: dict[str, Any]) -> list[ManagedProcess]:
    return [
        ManagedProcess(
            name=name, pid=int(pid), log_path=Path(state["logs"].get(name, "")), marker=state["workdir"]
        )
        for name, pid in state["pids"].items()
    ]


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def _print_usage(state: dict[str, Any], rss: dict[str, int | None]) -> None:
    total = sum(v for v in rss.values() if v)
    print(f"server:     {state['server']}")
    print(f"kubeconfig: {state['kubeconfig']}")
    print(f"logs:       {state['workdir']}/*.log")
    print("processes:  " + ", ".join(f"{n} pid {p} rss {_mib(rss.get(n))}" for n, p in state["pids"].items()))
    print(f"total rss:  {_mib(total)}")
    print()
    print("Point kubectl at it:")
    print(f"  export KUBECONFIG={state['kubeconfig']}")
    print("  kubectl get crds")
    print("  kubectl get inferenceservices -A")


def cmd_up(settings: ControlPlaneSettings) -> int:
    state_file = _state_file(settings)
    if state_file.exists():
        state = json.loads(state_file.read_text())
        procs = _processes_from_state(state)
        if all(p.is_ours() for p in procs):
            print("control plane already running")
            _print_usage(state, {p.name: rss_bytes(p.pid) for p in procs})
            return 0
        for p in procs:  # a half-dead previous run: clean it up
            p.stop()
        shutil.rmtree(state["workdir"], ignore_errors=True)
        state_file.unlink()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=settings.state_dir))
    plane = ControlPlane(settings, workdir=workdir, detached=True)
    try:
        plane.start()
    except ControlPlaneError as exc:
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = plane.describe()
    state_file.write_text(json.dumps(state, indent=2))
    print(f"control plane ready in {plane.startup_seconds:.1f} s ({len(plane.crds)} CRDs installed)")
    _print_usage(state, plane.rss())
    print("Stop it with `make cluster-down`.")
    return 0


def cmd_down(settings: ControlPlaneSettings) -> int:
    state_file = _state_file(settings)
    if not state_file.exists():
        print("no control plane running (no state file)")
        return 0
    state = json.loads(state_file.read_text())
    for proc in reversed(_processes_from_state(state)):
        print(f"stopping {proc.name} (pid {proc.pid})")
        proc.stop()
    shutil.rmtree(state["workdir"], ignore_errors=True)
    state_file.unlink()
    print("control plane stopped")
    return 0


def cmd_status(settings: ControlPlaneSettings) -> int:
    state_file = _state_file(settings)
    if not state_file.exists():
        print("no control plane running")
        return 1
    state = json.loads(state_file.read_text())
    procs = _processes_from_state(state)
    alive = {p.name: p.is_ours() for p in procs}
    print("running" if all(alive.values()) else f"DEGRADED: {alive}")
    _print_usage(state, {p.name: rss_bytes(p.pid) for p in procs})
    return 0 if all(alive.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explainops_devtools.controlplane", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    settings = ControlPlaneSettings()
    try:
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](settings)
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
