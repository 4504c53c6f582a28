"""Sample ExplainableModel specs shared by the operator tests (plain data, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

from explainops_operator.api import GROUP, KIND, VERSION

BASE_SPEC: dict[str, Any] = {
    "model": {"storageUri": "file:///var/lib/explainops/models/breast-cancer", "version": "v1"},
    "explainer": {"type": "TreeShap"},
}


def spec(**sections: Any) -> dict[str, Any]:
    """BASE_SPEC with whole sections replaced or added, e.g. spec(serving={"replicas": 2})."""
    out = copy.deepcopy(BASE_SPEC)
    out.update(copy.deepcopy(sections))
    return out


def with_field(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `base` (default BASE_SPEC) with the dotted `path` set to `value` (None deletes it)."""
    out = copy.deepcopy(base if base is not None else BASE_SPEC)
    keys = path.split(".")
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return out


def manifest(name: str, spec_body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": spec_body}
