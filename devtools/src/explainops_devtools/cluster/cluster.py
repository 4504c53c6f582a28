"""Start and stop the local single-node cluster, in order, and put the host back afterwards."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import manifests, node
from .errors import ClusterError, ForeignClusterError, PrerequisiteError, StartupError
from .host import (
    HostState,
    cgroups_named,
    create_bridge,
    isolate_pods,
    kill_cgroup_processes,
    mounts_under,
    write_sysctl,
)
from .pki import CertificateAuthority, service_account_keys
from .processes import ManagedProcess, cmdline, rss_bytes, spawn
from .settings import ClusterSettings, source_tree

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

K8S_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
HOST_COMMANDS = {"containerd": "containerd", "runc": "runc", "iptables": "iptables", "ip": "iproute2", "ctr": "containerd"}
# Controllers that need a cloud or allocate node CIDRs; neither exists here.
DISABLED_CONTROLLERS = ("node-ipam-controller", "cloud-node-lifecycle-controller", "service-lb-controller", "node-route-controller")
ADMIN_USER = "explainops-admin"
APISERVER_KUBELET_USER = "explainops-apiserver"
IDENTITY = ("kube-system", "explainops-cluster")
KSERVE_NAMESPACE = "kserve"
KSERVE_WEBHOOK_SERVICE = "kserve-webhook-server-service"
KNATIVE_NAMESPACE = "knative-serving"
HOSTPATH_PV_DIR = Path("/tmp/hostpath_pv")  # kube-controller-manager's host-path provisioner writes here


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def write_kubeconfig(path: Path, server: str, ca: Path, *, token: str | None = None,
                     cert: Path | None = None, key: Path | None = None) -> Path:
    user: dict[str, Any] = {"token": token} if token else {"client-certificate": str(cert), "client-key": str(key)}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "explainops", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "explainops", "user": user}],
        "contexts": [{"name": "explainops", "context": {"cluster": "explainops", "user": "explainops"}}],
        "current-context": "explainops",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def check_prerequisites(settings: ClusterSettings) -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError("the local node needs root on Linux (containerd, kubelet, iptables); "
                                "or point KUBECONFIG at a cluster with KServe installed")
    missing_pkgs = sorted({pkg for cmd, pkg in HOST_COMMANDS.items() if shutil.which(cmd) is None})
    if not (node.CNI_BIN_DIR / "bridge").exists():
        missing_pkgs.append("containernetworking-plugins")
    if missing_pkgs:
        raise PrerequisiteError(f"missing Debian packages: {' '.join(missing_pkgs)} (hack/ensure-packages.sh installs them)")
    missing = [b for b in K8S_BINARIES if not os.access(settings.k8s_bin_dir / b, os.X_OK)]
    addons = {"kserve": "manager", "knative": "webhook", "coredns": "coredns"}
    missing += [f"{n}/{b}" for n, b in addons.items() if not os.access(settings.addon_dir(n) / b, os.X_OK)]
    if missing:
        raise PrerequisiteError(f"not built: {', '.join(missing)}; run `make cluster-bins`")
    if not list(settings.images_dir.glob("pause-*.tar")):
        raise PrerequisiteError(f"no pause image archive in {settings.images_dir}; run `make images`")


class Cluster:
    """The local single-node cluster. ``start()`` then ``stop()``, or use it as a context manager.

    With ``detached=True`` the processes outlive this Python process (``make cluster-up``).
    """

    def __init__(self, settings: ClusterSettings | None = None, *, workdir: Path | None = None,
                 detached: bool = False) -> None:
        self.settings = settings or ClusterSettings()
        self.detached = detached
        self.id = uuid.uuid4().hex
        self.workdir = workdir
        self.processes: dict[str, ManagedProcess] = {}
        self.host: HostState | None = None
        self.server = ""
        self.token = ""
        self.ca: CertificateAuthority | None = None
        self.kubeconfig_path: Path | None = None
        self.timings: dict[str, float] = {}
        self._lock_fd: int | None = None
        self._stage_start = 0.0

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paths -------------------------------------------------------------------------------------

    @property
    def containerd_socket(self) -> Path:
        return self.settings.run_dir / "containerd" / "containerd.sock"

    @property
    def containerd_state(self) -> Path:
        return self.settings.run_dir / "containerd" / "state"

    @property
    def kubelet_root(self) -> Path:
        """Short on purpose: kubelet puts unix sockets below it (108-byte limit), whatever the workdir."""
        return self.settings.run_dir / "kubelet"

    def _roots(self) -> tuple[Path, ...]:
        assert self.workdir is not None
        return (self.workdir, self.settings.containerd_root, self.settings.run_dir / "containerd", self.kubelet_root)

    def _markers(self) -> tuple[str, ...]:
        assert self.workdir is not None
        return (str(self.workdir), str(self.containerd_socket))

    # -- start -------------------------------------------------------------------------------------

    def start(self) -> Cluster:
        check_prerequisites(self.settings)
        self._take_lock()
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop(keep_workdir=True)
            raise
        self.timings["total"] = time.monotonic() - started
        assert self.workdir is not None
        # So `python -m explainops_devtools.cluster down --workdir DIR` can clean up after a crash.
        (self.workdir / "state.json").write_text(json.dumps(self.describe(), indent=2))
        return self

    def _take_lock(self) -> None:
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.settings.run_dir / "cluster.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StartupError(
                "another local cluster is running on this machine (`make cluster-down` stops one started "
                "by `make cluster-up`)"
            ) from None
        self._lock_fd = fd

    def _mark(self, stage: str) -> None:
        now = time.monotonic()
        self.timings[stage] = now - self._stage_start
        self._stage_start = now

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        assert self.workdir is not None
        proc = spawn(name, argv, log_path=self.workdir / "logs" / f"{name}.log", marker=str(self.workdir),
                     env=env, cwd=self.workdir, detached=self.detached)
        self.processes[name] = proc
        return proc

    def _start(self) -> None:
        s = self.settings
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="explainops-cluster-"))
        work = self.workdir
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self._stage_start = time.monotonic()
        timeout = s.start_timeout_seconds
        k8s = s.k8s_bin_dir

        self.host = HostState.capture()
        # Written before anything changes, so a crash half-way can still be undone.
        (work / "state.json").write_text(json.dumps(self.describe(), indent=2))
        self.hostpath_dir_existed = HOSTPATH_PV_DIR.exists()
        prefix = ipaddress.ip_network(s.pod_cidr).prefixlen
        create_bridge(s.bridge, s.node_ip, prefix, s.service_cidr)
        self._mark("host network")

        ca = self.ca = CertificateAuthority(work / "pki")
        node_ip = s.node_ip
        apiserver_tls = ca.issue(
            "apiserver", "kube-apiserver", server=True,
            dns_names=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local", "localhost"),
            ips=(node_ip, s.kubernetes_service_ip, "127.0.0.1"),
        )
        apiserver_kubelet = ca.issue("apiserver-kubelet-client", APISERVER_KUBELET_USER, client=True)
        node_client = ca.issue("node-client", f"system:node:{s.node_name}", organizations=("system:nodes",), client=True)
        kubelet_tls = ca.issue("kubelet", s.node_name, server=True, dns_names=(s.node_name,), ips=(node_ip,))
        kserve_tls = ca.issue("kserve-webhook", f"{KSERVE_WEBHOOK_SERVICE}.{KSERVE_NAMESPACE}.svc", server=True,
                              dns_names=(f"{KSERVE_WEBHOOK_SERVICE}.{KSERVE_NAMESPACE}.svc",
                                         f"{KSERVE_WEBHOOK_SERVICE}.{KSERVE_NAMESPACE}.svc.cluster.local"))
        sa = service_account_keys(work / "pki")
        self.token = secrets.token_hex(32)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        self._mark("certificates")

        etcd_port, peer_port, api_port, kcm_port, sched_port = free_ports(5)
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn("etcd", [
            str(k8s / "etcd"), "--name=default", f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level=warn",
        ])
        etcd.wait_ready(lambda: b'"health":"true"' in _http_get(f"{etcd_url}/health"), timeout)
        self._mark("etcd")

        self.server = f"https://{node_ip}:{api_port}"
        apiserver = self._spawn("kube-apiserver", [
            str(k8s / "kube-apiserver"), f"--etcd-servers={etcd_url}",
            f"--bind-address={node_ip}", f"--advertise-address={node_ip}", f"--secure-port={api_port}",
            f"--tls-cert-file={apiserver_tls.cert}", f"--tls-private-key-file={apiserver_tls.key}",
            f"--client-ca-file={ca.cert}", f"--token-auth-file={tokens}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            f"--service-cluster-ip-range={s.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            f"--kubelet-client-certificate={apiserver_kubelet.cert}",
            f"--kubelet-client-key={apiserver_kubelet.key}",
            f"--kubelet-certificate-authority={ca.cert}",
            # The node name resolves to 127.0.0.1 here; kubelet listens on the node address.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--allow-privileged=true", "--etcd-compaction-interval=5m", "--profiling=false",
        ])
        apiserver.wait_ready(lambda: self._get("/readyz") == b"ok", timeout)
        self.kubeconfig_path = write_kubeconfig(work / "kubeconfig", self.server, ca.cert, token=self.token)
        self._mark("kube-apiserver")

        # CRDs before the controller-manager, so its garbage collector knows their kinds at once.
        crd_files = [s.addon_dir("kserve") / "crd", s.addon_dir("knative") / "crd"]
        tree = source_tree()
        if tree is not None and s.project_crds:
            crd_files.append(tree / "crds")
        docs = manifests.load_dir(crd_files, s.cache_dir / "parsed-yaml")
        with self.api_client() as client:
            manifests.install_crds(client, [d for d in docs if d.get("kind") == "CustomResourceDefinition"], timeout)
            manifests.apply(client, [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITY[1], "namespace": IDENTITY[0]},
                 "data": {"id": self.id, "workdir": str(work)}},
                manifests.kubelet_api_access(APISERVER_KUBELET_USER),
                manifests.storage_class(),
            ])
        self._mark("CRDs")

        kcm = self._spawn("kube-controller-manager", [
            str(k8s / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig_path}",
            f"--authentication-kubeconfig={self.kubeconfig_path}", f"--authorization-kubeconfig={self.kubeconfig_path}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={kcm_port}",
            f"--cert-dir={work / 'kcm-certs'}",
            "--controllers=*," + ",".join(f"-{c}" for c in DISABLED_CONTROLLERS),
            f"--service-account-private-key-file={sa.key}", f"--root-ca-file={ca.cert}",
            "--use-service-account-credentials=false", "--enable-hostpath-provisioner",
            "--node-monitor-grace-period=40s",
        ])
        scheduler = self._spawn("kube-scheduler", [
            str(k8s / "kube-scheduler"), f"--kubeconfig={self.kubeconfig_path}",
            f"--authentication-kubeconfig={self.kubeconfig_path}", f"--authorization-kubeconfig={self.kubeconfig_path}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
            f"--cert-dir={work / 'scheduler-certs'}",
        ])
        kcm.wait_ready(lambda: _http_get(f"https://127.0.0.1:{kcm_port}/healthz", insecure=True) == b"ok", timeout)
        scheduler.wait_ready(lambda: _http_get(f"https://127.0.0.1:{sched_port}/healthz", insecure=True) == b"ok", timeout)
        self._mark("controller-manager, scheduler")

        self._start_node(node_client, kubelet_tls)
        self._start_addons(kserve_tls.cert, kserve_tls.key)

    def _start_node(self, node_client: Any, kubelet_tls: Any) -> None:
        s, work, timeout = self.settings, self.workdir, self.settings.start_timeout_seconds
        assert work is not None and self.ca is not None and self.kubeconfig_path is not None
        write_sysctl("net.ipv4.ip_forward", "1")  # pod -> ClusterIP -> pod is routed through the node
        write_sysctl("net.bridge.bridge-nf-call-iptables", "1")  # so kube-proxy's rules see bridged traffic
        isolate_pods(s.bridge, s.pod_cidr)
        cni_dir = work / "cni"
        cni_dir.mkdir(exist_ok=True)
        (cni_dir / "10-explainops.conflist").write_text(node.to_json(node.cni_conflist(s, work / "cni-ipam")))
        (work / "containerd.toml").write_text(node.containerd_config(s, self.containerd_state, cni_dir))
        self.containerd_socket.parent.mkdir(parents=True, exist_ok=True)
        s.containerd_root.mkdir(parents=True, exist_ok=True)
        containerd = self._spawn("containerd", ["containerd", "--config", str(work / "containerd.toml")])
        containerd.wait_ready(lambda: self._ctr("version").returncode == 0, timeout, "answering")
        self._import_images()
        self._mark("containerd + images")

        kubelet_port, kubelet_healthz, proxy_healthz, proxy_metrics = free_ports(4)
        resolv = work / "resolv.conf"
        resolv.write_text("")  # pods with dnsPolicy Default get no upstream resolver
        (work / "kubelet.json").write_text(node.to_json(node.kubelet_config(
            s, ca=self.ca.cert, serving_cert=kubelet_tls.cert, serving_key=kubelet_tls.key, port=kubelet_port,
            healthz_port=kubelet_healthz, resolv_conf=resolv)))
        node_kubeconfig = write_kubeconfig(work / "kubelet.kubeconfig", self.server, self.ca.cert,
                                           cert=node_client.cert, key=node_client.key)
        self._spawn("kubelet", [
            str(s.k8s_bin_dir / "kubelet"), f"--config={work / 'kubelet.json'}", f"--kubeconfig={node_kubeconfig}",
            f"--hostname-override={s.node_name}", f"--node-ip={s.node_ip}", f"--root-dir={self.kubelet_root}",
            f"--cert-dir={work / 'kubelet-certs'}", "--v=1",
        ]).wait_ready(self._node_ready, timeout, "Ready")
        self._mark("kubelet (node Ready)")

        (work / "kube-proxy.json").write_text(node.to_json(node.kube_proxy_config(
            s, self.kubeconfig_path, proxy_healthz, proxy_metrics)))
        self._spawn("kube-proxy", [str(s.k8s_bin_dir / "kube-proxy"), f"--config={work / 'kube-proxy.json'}"]) \
            .wait_ready(lambda: _http_get(f"http://127.0.0.1:{proxy_healthz}/healthz") != b"", timeout)
        self._mark("kube-proxy")

        (work / "Corefile").write_text(node.coredns_corefile(s, self.kubeconfig_path))
        self._spawn("coredns", [str(s.addon_dir("coredns") / "coredns"), "-conf", str(work / "Corefile")]) \
            .wait_ready(lambda: dns_query(s.node_ip, "kubernetes.default.svc.cluster.local") == s.kubernetes_service_ip,
                        timeout, "resolving cluster names")
        self._mark("CoreDNS")

    def _start_addons(self, kserve_cert: Path, kserve_key: Path) -> None:
        s, work, timeout = self.settings, self.workdir, self.settings.start_timeout_seconds
        assert work is not None and self.ca is not None and self.kubeconfig_path is not None
        kserve_dir, knative_dir = s.addon_dir("kserve"), s.addon_dir("knative")
        kserve_webhook_port, metrics_port, probe_port, knative_port = free_ports(4)
        cache = s.cache_dir / "parsed-yaml"
        with self.api_client() as client:
            manifests.apply(client, [
                manifests.namespace(KSERVE_NAMESPACE), manifests.namespace(KNATIVE_NAMESPACE),
                manifests.kserve_config(manifests.load_yaml(kserve_dir / "configmap" / "inferenceservice.yaml", cache)[0]),
                *manifests.node_service(KSERVE_WEBHOOK_SERVICE, KSERVE_NAMESPACE, s.node_ip, 443, kserve_webhook_port),
                *manifests.node_service("webhook", KNATIVE_NAMESPACE, s.node_ip, 443, knative_port),
                *manifests.load_dir([knative_dir / "configmaps"], cache),
                *[d for d in manifests.load_dir([knative_dir / "webhooks"], cache)],
            ])
        certs = work / "kserve-tmp" / "k8s-webhook-server" / "serving-certs"
        certs.mkdir(parents=True)
        shutil.copy(kserve_cert, certs / "tls.crt")
        shutil.copy(kserve_key, certs / "tls.key")
        env = {"KUBECONFIG": str(self.kubeconfig_path), "POD_NAMESPACE": KSERVE_NAMESPACE, "TMPDIR": str(work / "kserve-tmp")}
        kserve = self._spawn("kserve-controller", [
            str(kserve_dir / "manager"), f"--kubeconfig={self.kubeconfig_path}",
            f"--metrics-addr=127.0.0.1:{metrics_port}",
            f"--health-probe-addr=127.0.0.1:{probe_port}", f"--webhook-port={kserve_webhook_port}",
        ], env)
        with self.api_client() as client:
            webhooks = manifests.load_yaml(kserve_dir / "webhook" / "manifests.yaml", cache)
            manifests.apply(client, manifests.kserve_webhooks(webhooks, KSERVE_NAMESPACE, KSERVE_WEBHOOK_SERVICE, self.ca.cert_pem))
        kserve.wait_ready(lambda: _http_get(f"http://127.0.0.1:{probe_port}/readyz") == b"ok", timeout)
        kserve.wait_ready(lambda: _tls_handshake(s.node_ip, kserve_webhook_port), timeout, "serving its webhooks")
        # Through the API server and the Service's ClusterIP, as every admission request goes.
        kserve.wait_ready(self._kserve_admits, timeout, "admitting through the API server")
        self._mark("KServe")

        knative = self._spawn("knative-webhook", [str(knative_dir / "webhook"), f"--kubeconfig={self.kubeconfig_path}"], {
            "SYSTEM_NAMESPACE": KNATIVE_NAMESPACE, "WEBHOOK_NAME": "webhook", "WEBHOOK_PORT": str(knative_port),
            "METRICS_DOMAIN": "knative.dev/serving", "POD_NAME": "webhook", "CONTAINER_NAME": "webhook",
            "KUBERNETES_MIN_VERSION": "v1.28.0", "HOME": str(work),
        })
        knative.wait_ready(self._knative_webhook_ready, timeout, "serving its webhooks")
        self._mark("Knative webhook")

    def _kserve_admits(self) -> bool:
        """A dry-run create of a minimal InferenceService passes KServe's webhooks."""
        from kubernetes.client import CustomObjectsApi

        body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": "admission-probe"},
                "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": node.PAUSE_IMAGE}]}}}
        with self.api_client() as client:
            CustomObjectsApi(client).create_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", "default", "inferenceservices", body, dry_run="All")
        return True

    def _knative_webhook_ready(self) -> bool:
        from kubernetes.client import AdmissionregistrationV1Api

        with self.api_client() as client:
            hook = AdmissionregistrationV1Api(client).read_validating_webhook_configuration(
                "validation.webhook.serving.knative.dev")
        return all(h.client_config.ca_bundle for h in hook.webhooks or [])

    def _node_ready(self) -> bool:
        from kubernetes.client import CoreV1Api

        with self.api_client() as client:
            nodes = CoreV1Api(client).list_node().items
        return any(c.type == "Ready" and c.status == "True" for n in nodes for c in n.status.conditions or [])

    def _ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def _import_images(self) -> None:
        """Import every image archive containerd does not hold yet (its file name carries its content hash)."""
        record = self.settings.containerd_root.parent / "imported.json"
        imported = set(json.loads(record.read_text())) if record.exists() else set()
        present = set(self._ctr("images", "ls", "-q").stdout.split())
        for archive in sorted(self.settings.images_dir.glob("*.tar")):
            image = _archive_image(archive)
            if archive.name in imported and image in present:
                continue
            result = self._ctr("images", "import", "--no-unpack=false", str(archive))
            if result.returncode:
                raise StartupError(f"importing {archive} into containerd failed: {result.stderr.strip()}")
            imported.add(archive.name)
        record.write_text(json.dumps(sorted(imported)))

    # -- stop --------------------------------------------------------------------------------------

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Stop every process by PID, remove pods' shims and mounts, and restore the host."""
        order = ["knative-webhook", "kserve-controller", "coredns", "kube-proxy", "kubelet"]
        for name in order:
            if name in self.processes:
                self.processes.pop(name).stop()
        if "containerd" in self.processes:
            self._remove_containers()
            self.processes.pop("containerd").stop()
        self._kill_strays()
        if self.host is not None:
            for cgroup in cgroups_named("kubepods"):
                if str(cgroup) not in self.host.cgroups:
                    kill_cgroup_processes(cgroup)
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop()
        if self.host is not None and self.workdir is not None:
            self.host.restore(bridge=self.settings.bridge, service_cidr=self.settings.service_cidr, roots=self._roots())
            if not getattr(self, "hostpath_dir_existed", True):
                shutil.rmtree(HOSTPATH_PV_DIR, ignore_errors=True)
        # Never delete through a mount that is still there (a pod's hostPath volume is the host's data).
        if self.host is not None and not mounts_under(self.kubelet_root):
            shutil.rmtree(self.kubelet_root, ignore_errors=True)
        if self.workdir is not None and not keep_workdir and not mounts_under(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_containers(self) -> None:
        tasks = self._ctr("tasks", "ls", "-q", timeout=30).stdout.split()
        for task in tasks:
            self._ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
        deadline = time.monotonic() + 15
        for task in tasks:
            while self._ctr("tasks", "delete", task, timeout=30).returncode and time.monotonic() < deadline:
                time.sleep(0.2)
        for container in self._ctr("containers", "ls", "-q", timeout=30).stdout.split():
            self._ctr("containers", "delete", container, timeout=30)

    def _kill_strays(self) -> None:
        """containerd shims (and anything else carrying our markers) that outlived their parents."""
        markers = self._markers() if self.workdir is not None else (str(self.containerd_socket),)
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                line = cmdline(int(proc.name))
                if any(m in line for m in markers):
                    ManagedProcess("stray", int(proc.name), Path("/dev/null"), marker=line).kill()

    def leftovers(self) -> list[str]:
        """What the cluster left on the host: empty after a clean stop."""
        assert self.host is not None and self.workdir is not None
        return self.host.leftovers(bridge=self.settings.bridge, roots=self._roots(), markers=self._markers())

    # -- for users ---------------------------------------------------------------------------------

    def _get(self, path: str) -> bytes:
        assert self.ca is not None
        return _http_get(f"{self.server}{path}", ca=self.ca.cert, token=self.token)

    def api_client(self) -> ApiClient:
        from kubernetes.client import ApiClient, Configuration

        if self.ca is None and self.detached and self.kubeconfig_path is not None and self.kubeconfig_path.exists():
            from kubernetes.config import new_client_from_config  # a node another process started

            return new_client_from_config(config_file=str(self.kubeconfig_path))
        if not self.server or self.ca is None:
            raise ClusterError("cluster not started")
        config = Configuration(host=self.server)
        config.api_key = {"authorization": self.token}
        config.api_key_prefix = {"authorization": "Bearer"}
        config.ssl_ca_cert = str(self.ca.cert)
        return ApiClient(config)

    def verify(self, api_client: ApiClient) -> None:
        """Raise ForeignClusterError unless ``api_client`` talks to this very cluster."""
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException

        host = api_client.configuration.host.rstrip("/")
        if host != self.server:
            raise ForeignClusterError(f"API client points at {host}, not at the local cluster {self.server}")
        try:
            cm = CoreV1Api(api_client).read_namespaced_config_map(IDENTITY[1], IDENTITY[0])
        except ApiException as exc:
            raise ForeignClusterError(f"{host} is not the local cluster: {exc.status}") from exc
        if (cm.data or {}).get("id") != self.id:
            raise ForeignClusterError(f"{host} is a different cluster")

    def rss(self) -> dict[str, int | None]:
        return {name: rss_bytes(p.pid) for name, p in self.processes.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "server": self.server, "kubeconfig": str(self.kubeconfig_path), "workdir": str(self.workdir),
            "pids": {n: p.pid for n, p in self.processes.items()},
            "logs": {n: str(p.log_path) for n, p in self.processes.items()},
            "host": self.host.to_json() if self.host else None, "timings": self.timings,
            "hostpath_dir_existed": getattr(self, "hostpath_dir_existed", True),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], settings: ClusterSettings | None = None) -> Cluster:
        """A handle on a cluster started by another process (``make cluster-up``), to stop it."""
        cluster = cls(settings, workdir=Path(state["workdir"]), detached=True)
        cluster.id, cluster.server = state["id"], state["server"]
        cluster.kubeconfig_path = Path(state["kubeconfig"])
        cluster.processes = {
            n: ManagedProcess(n, int(pid), Path(state["logs"][n]), marker=state["workdir"])
            for n, pid in state["pids"].items()
        }
        cluster.host = HostState.from_json(state["host"]) if state.get("host") else None
        cluster.hostpath_dir_existed = state.get("hostpath_dir_existed", True)
        return cluster


# --------------------------------------------------------------------------- small network helpers


def _http_get(url: str, *, ca: Path | None = None, token: str | None = None, insecure: bool = False) -> bytes:
    context = None
    if url.startswith("https://"):
        context = ssl._create_unverified_context() if insecure else ssl.create_default_context(cafile=str(ca))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context, timeout=3) as resp:
        return resp.read().strip()


def _tls_handshake(host: str, port: int) -> bool:
    context = ssl._create_unverified_context()
    with socket.create_connection((host, port), timeout=3) as raw, context.wrap_socket(raw):
        return True


def dns_query(server: str, name: str, port: int = 53, timeout: float = 2.0) -> str | None:
    """The first A record for ``name`` from ``server`` (one UDP query), or None."""
    query_id = secrets.randbits(16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = query_id.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question + b"\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        reply = sock.recv(4096)
    if int.from_bytes(reply[:2], "big") != query_id or int.from_bytes(reply[6:8], "big") == 0:
        return None
    offset = 12 + len(question) + 4
    for _ in range(int.from_bytes(reply[6:8], "big")):
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else len(reply[offset:].split(b"\0", 1)[0]) + 1
        rtype, length = int.from_bytes(reply[offset:offset + 2], "big"), int.from_bytes(reply[offset + 8:offset + 10], "big")
        offset += 10
        if rtype == 1 and length == 4:
            return ".".join(str(b) for b in reply[offset:offset + 4])
        offset += length
    return None


def _archive_image(archive: Path) -> str:
    """The image name recorded in a docker-archive's manifest.json."""
    import tarfile

    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise StartupError(f"{archive} is not a docker-archive")
        tags = json.load(member)[0].get("RepoTags") or [""]
    name = tags[0]
    return name if "/" in name.split(":")[0] or not name else f"docker.io/library/{name}"

