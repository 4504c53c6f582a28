"""Kubernetes API client: in-cluster service account, else a kubeconfig. Built on first use."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kubernetes import client, config

_lock = threading.Lock()
_api_client: client.ApiClient | None = None


def configure(kubeconfig: Path | None = None, *, pool_size: int = 32) -> client.ApiClient:
    """(Re)build the shared API client. In a pod: the service account; else `kubeconfig` or $KUBECONFIG."""
    global _api_client
    configuration = client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        # $KUBECONFIG is read now, not when the kubernetes package was imported.
        config_file = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
        config.load_kube_config(config_file=config_file, client_configuration=configuration)
    # One pooled connection per handler thread, so concurrent handlers do not open and drop connections.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, pool_size)
    with _lock:
        if _api_client is not None:
            _api_client.close()
        _api_client = client.ApiClient(configuration)
        return _api_client


def api_client() -> client.ApiClient:
    """The shared API client (configured from the environment if `configure` was not called)."""
    with _lock:
        existing = _api_client
    return existing if existing is not None else configure()


def custom_objects() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def reset() -> None:
    """Forget the shared client (tests that switch clusters)."""
    global _api_client
    with _lock:
        if _api_client is not None:
            _api_client.close()
        _api_client = None
