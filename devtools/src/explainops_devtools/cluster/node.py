"""Configuration of the node's parts: containerd + runc, the CNI bridge network, kubelet, kube-proxy.

Pure functions that return file contents and command lines; ``cluster`` writes and starts them.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from .settings import ClusterSettings

CNI_BIN_DIR = Path("/usr/lib/cni")
PAUSE_IMAGE = "explainops.local/pause:3.10"


def containerd_config(settings: ClusterSettings, state: Path, cni_conf_dir: Path) -> str:
    """containerd 1.6 (config version 2): CRI with runc on cgroupfs and our CNI network.

    ``restrict_oom_score_adj``: this host's root lacks CAP_SYS_RESOURCE, so kubelet's -998 for pod
    sandboxes would make runc fail; containerd clamps it instead.
    """
    socket = settings.run_dir / "containerd" / "containerd.sock"
    return f"""version = 2
root = "{settings.containerd_root}"
state = "{state}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1
"""


def cni_conflist(settings: ClusterSettings, ipam_dir: Path) -> dict[str, Any]:
    """One bridge network: no masquerade, since nothing may leave the node."""
    network = ipaddress.ip_network(settings.pod_cidr)
    return {
        "cniVersion": "0.4.0",
        "name": "explainops",
        "plugins": [
            {
                "type": "bridge",
                "bridge": settings.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": str(network), "rangeStart": str(network[10]), "gateway": settings.node_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def kubelet_config(
    settings: ClusterSettings, *, ca: Path, serving_cert: Path, serving_key: Path, port: int, healthz_port: int,
    resolv_conf: Path,
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": settings.node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}, "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{settings.run_dir / 'containerd' / 'containerd.sock'}",
        # This host mounts cgroup v1 controllers (hybrid): cgroupfs driver, v1 allowed.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDomain": "cluster.local",
        "clusterDNS": [settings.node_ip],
        "resolvConf": str(resolv_conf),
        "staticPodPath": "",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "serializeImagePulls": False,
        # Every image is imported locally; none may be garbage-collected away.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "maxPods": 60,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "volumePluginDir": "",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
    }


def kube_proxy_config(settings: ClusterSettings, kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": settings.node_name,
        "bindAddress": settings.node_ip,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": settings.pod_cidr,
        # Leave the host's conntrack table size and localhost routing alone.
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False, "syncPeriod": "5s", "minSyncPeriod": "0s"},
        "nodePortAddresses": [f"{settings.node_ip}/32"],
    }


def coredns_corefile(settings: ClusterSettings, kubeconfig: Path, port: int = 53) -> str:
    """Cluster names only: no upstream, so no pod resolves anything outside the cluster."""
    return f""".:{port} {{
    bind {settings.node_ip}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
    }}
    cache 5
}}
"""


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2)
