"""Bring your own cluster: a kubeconfig that names a cluster with KServe installed (kind, minikube, a dev cluster)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ClusterError, ForeignClusterError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

KSERVE_CRD = "inferenceservices.serving.kserve.io"


class ExistingCluster:
    """The cluster KUBECONFIG names, used as it is: nothing is started or stopped."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig_path = kubeconfig
        self.server = ""

    @classmethod
    def from_environment(cls) -> ExistingCluster | None:
        """The KUBECONFIG cluster, if KUBECONFIG names a file; raises if that cluster lacks KServe."""
        value = os.environ.get("KUBECONFIG")
        if not value or not Path(value).is_file():
            return None
        cluster = cls(Path(value))
        cluster.start()
        return cluster

    def start(self) -> ExistingCluster:
        from kubernetes.client import ApiextensionsV1Api
        from kubernetes.client.exceptions import ApiException

        with self.api_client() as client:
            self.server = client.configuration.host.rstrip("/")
            try:
                ApiextensionsV1Api(client).read_custom_resource_definition(KSERVE_CRD)
            except ApiException as exc:
                raise ClusterError(
                    f"KUBECONFIG={self.kubeconfig_path} names {self.server}, which has no KServe "
                    f"({KSERVE_CRD}: HTTP {exc.status}); install KServe there, or unset KUBECONFIG to use the local node"
                ) from exc
        return self

    def stop(self) -> None:
        """Nothing to stop: the cluster is not ours."""

    def api_client(self) -> ApiClient:
        from kubernetes.config import new_client_from_config

        return new_client_from_config(config_file=str(self.kubeconfig_path))

    def verify(self, api_client: ApiClient) -> None:
        host = api_client.configuration.host.rstrip("/")
        if host != self.server:
            raise ForeignClusterError(f"API client points at {host}, not at {self.server}")
