"""Helpers for the operator's cluster tests: polling and thin CustomObjectsApi wrappers.

A uniquely named module (not conftest) so that test modules can import it whatever else is on sys.path."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from explainops_operator.api import GROUP, PLURAL, VERSION
from explainops_operator.builders import IS_GROUP, IS_PLURAL, IS_VERSION

WAIT_SECONDS = 30.0
# Pods start for real: the image, the model load, KServe noticing the Deployment is available.
READY_SECONDS = 180.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last value: {last!r})")


class Cluster:
    """Thin helpers over CustomObjectsApi for one namespace."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes.client import CustomObjectsApi

        self.api = CustomObjectsApi(api_client)
        self.namespace = namespace

    def _get(self, group: str, version: str, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(group, version, self.namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_xm(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def get_xm(self, name: str) -> dict[str, Any] | None:
        return self._get(GROUP, VERSION, PLURAL, name)

    def patch_xm(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.api.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, patch, _content_type="application/merge-patch+json"
        )

    def patch_xm_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, name, {"status": status},
            _content_type="application/merge-patch+json",
        )

    def delete_xm(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def get_is(self, name: str) -> dict[str, Any] | None:
        return self._get(IS_GROUP, IS_VERSION, IS_PLURAL, name)

    def list_is(self) -> list[dict[str, Any]]:
        return self.api.list_namespaced_custom_object(IS_GROUP, IS_VERSION, self.namespace, IS_PLURAL)["items"]

    def delete_is(self, name: str) -> None:
        self.api.delete_namespaced_custom_object(IS_GROUP, IS_VERSION, self.namespace, IS_PLURAL, name)

    def provide_model(self) -> str:
        """The example model on a volume in this namespace, so KServe's pods really serve it."""
        from explainops_devtools.example_volume import create_model_volume

        return create_model_volume(self.api.api_client, self.namespace, n_estimators=10)
