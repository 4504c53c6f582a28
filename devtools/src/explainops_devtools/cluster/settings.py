"""What the local cluster runs and where its files go (env prefix ``EXPLAINOPS_CLUSTER_``)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explainops"


def source_tree() -> Path | None:
    """The repository this module runs from (editable install), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "crds").is_dir() and (parent / "third_party").is_dir():
            return parent
    return None


class ClusterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXPLAINOPS_CLUSTER_", populate_by_name=True, extra="ignore")

    cache_dir: Path = Field(default_factory=default_cache_dir, description="Root of every cached build.")
    k8s_version: str = Field(
        default="v1.34.4",
        validation_alias=AliasChoices("K8S_VERSION", "EXPLAINOPS_CLUSTER_K8S_VERSION"),
        description="Kubernetes version of the cached binaries (hack/build-k8s-bins.sh).",
    )
    kserve_version: str = Field(default="v0.20.0", description="KServe controller (hack/build-cluster-addons.sh).")
    knative_version: str = Field(default="v0.48.1", description="Knative Serving webhook.")
    coredns_version: str = Field(default="v1.13.1", description="CoreDNS.")
    node_name: str = Field(default="explainops-node", description="The one node's name.")
    bridge: str = Field(default="xops0", description="Linux bridge the pods attach to; created and removed here.")
    pod_cidr: str = Field(default="10.88.0.0/16", description="Pod addresses, on the bridge only.")
    service_cidr: str = Field(default="10.96.0.0/24", description="ClusterIP range, routed to the bridge.")
    run_dir: Path = Field(default=Path("/run/explainops"), description="Sockets and runtime state.")
    start_timeout_seconds: float = Field(default=120.0, description="Budget for each component to become ready.")
    project_crds: bool = Field(
        default=True, description="Install crds/ at start (tests); off when the Helm chart installs the CRD."
    )
    image_archives: Path | None = Field(
        default=None, description="Directory of image archives to import (default: <cache>/images)."
    )

    @property
    def node_ip(self) -> str:
        """The bridge's own address: the node address, the API server's and the DNS server's."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def kubernetes_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def k8s_bin_dir(self) -> Path:
        return self.cache_dir / "k8s" / self.k8s_version

    def addon_dir(self, name: str) -> Path:
        version = {"kserve": self.kserve_version, "knative": self.knative_version, "coredns": self.coredns_version}
        return self.cache_dir / "addons" / f"{name}-{version[name]}"

    @property
    def containerd_root(self) -> Path:
        """containerd's content store and snapshots: kept between runs so imported images stay."""
        return self.cache_dir / "containerd" / "root"

    @property
    def images_dir(self) -> Path:
        return self.image_archives or self.cache_dir / "images"

    @property
    def state_dir(self) -> Path:
        """Where ``up`` keeps its working directory and state file."""
        return self.cache_dir / "cluster"
