"""Pure: the objects the operator would create for ExplainableModel manifests, without a cluster
(`explainops-operator render`). Same builders as the handlers, so the output is what they apply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from explainops_operator.api import GROUP, KIND
from explainops_operator.builders import Owner, render_inference_service
from explainops_operator.errors import InvalidSpecError
from explainops_operator.jobs import build_retraining_job, training_run
from explainops_operator.spec import parse_spec, served_version, validate_name

# The API server assigns the uid; a rendered ownerReference carries this placeholder instead.
PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"
RENDER_TRIGGER_REASON = "Rendered"


def is_explainable_model(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and document.get("kind") == KIND
        and str(document.get("apiVersion", "")).startswith(f"{GROUP}/")
    )


def render_model(
    document: Mapping[str, Any],
    *,
    default_image: str,
    pull_policy: str = "IfNotPresent",
    version: str | None = None,
    job: bool = False,
    sequence: int = 1,
    default_namespace: str = "default",
) -> list[dict[str, Any]]:
    """The InferenceService (and with `job` the retraining Job of trigger `sequence`) for one manifest.

    `version` overrides the served version (else pinnedVersion, else status.modelVersion, else
    spec.model.version, as the operator decides)."""
    meta = document.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str):
        raise InvalidSpecError("metadata.name", "is required")
    validate_name(name)
    spec = parse_spec(document.get("spec") or {})
    namespace = str(meta.get("namespace") or default_namespace)
    owner = Owner(name=name, namespace=namespace, uid=str(meta.get("uid") or PLACEHOLDER_UID))
    served = version or served_version(spec, document.get("status"))
    out = [render_inference_service(owner, spec, served, default_image=default_image, pull_policy=pull_policy)]
    if job:
        run = training_run(
            owner,
            spec,
            sequence=sequence,
            base_version=served,
            default_image=default_image,
            trigger_reason=RENDER_TRIGGER_REASON,
            pull_policy=pull_policy,
        )
        out.append(build_retraining_job(run))
    return out


def render_documents(documents: Iterable[Any], **options: Any) -> list[dict[str, Any]]:
    """Every ExplainableModel among `documents` rendered in order; other kinds are skipped. An error
    names the object: `InvalidSpecError("<name>: spec.x", ...)`."""
    rendered: list[dict[str, Any]] = []
    models = [d for d in documents if is_explainable_model(d)]
    if not models:
        raise InvalidSpecError("kind", f"no {KIND} ({GROUP}) in the input")
    for document in models:
        name = (document.get("metadata") or {}).get("name") or "?"
        try:
            rendered.extend(render_model(document, **options))
        except InvalidSpecError as exc:
            raise InvalidSpecError(f"{name}: {exc.field}", exc.message) from None
    return rendered
