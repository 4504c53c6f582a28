"""ExplainableModel <-> InferenceService: thin kopf handlers around the pure builders and the kube layer.

- create / resume / update of the spec / change of the served version -> render and apply the
  InferenceService only if it differs from the live one, then write the status only if it changed;
- InferenceService events -> readiness mirrored into the conditions; an out-of-band delete -> recreated;
- delete -> nothing to do: the InferenceService is garbage-collected through its ownerReference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from explainops_operator import conditions
from explainops_operator.builders import (
    IS_GROUP,
    IS_PLURAL,
    IS_VERSION,
    LABEL_MODEL,
    Owner,
    inference_service_is_current,
    render_inference_service,
    serving_requirement,
)
from explainops_operator.conditions import Reason
from explainops_operator.errors import InvalidSpecError, OperatorError, RejectedError
from explainops_operator.handlers.common import ModelEvent, kopf_errors, parse_event
from explainops_operator.kube import explainablemodels, inferenceservices
from explainops_operator.kube.client import configure
from explainops_operator.settings import get_settings
from explainops_operator.spec import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    ExplainableModelSpec,
    parse_spec,
    served_version,
)

ANNOTATION_PREFIX = "explainops.dev"


@kopf.on.startup()
def configure_operator(settings: kopf.OperatorSettings, **_: Any) -> None:
    """All kopf tuning in one place. Progress and diff-base live in annotations: status stays schema-clean."""
    own = get_settings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
    settings.execution.max_workers = own.max_workers
    # kopf's own per-handler chatter would be an Event write per reconcile; the operator posts its own.
    settings.posting.level = logging.WARNING
    # The watched resources are known; scanning would retry refused cluster-wide lists under
    # namespaced RBAC for about a minute at start-up.
    settings.scanning.disabled = True
    settings.networking.request_timeout = own.api_timeout_seconds * 4
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's watches use the same credentials as the operator's own API calls (settings.kubeconfig,
    else in-cluster, else $KUBECONFIG read at start-up)."""
    own = get_settings()
    config = configure(own.kubeconfig, pool_size=own.max_workers + 4).configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        trust_env=settings.networking.trust_env,
    )


# --------------------------------------------------------------------------- reconcile


def _post(body: Mapping[str, Any], reason: str, message: str) -> None:
    if get_settings().post_info_events:
        kopf.event(dict(body), type="Normal", reason=reason, message=message)  # not level-filtered


def _reject(namespace: str, name: str, reason: str, message: str) -> None:
    def compute(current: dict[str, Any]) -> dict[str, Any] | None:
        desired = conditions.invalid_spec_status(
            current.get("status"), generation=current["metadata"]["generation"], message=message, reason=reason
        )
        return conditions.status_patch(current.get("status"), desired)

    explainablemodels.update_status(namespace, name, compute)


def reconcile(body: Mapping[str, Any], logger: logging.Logger) -> None:
    """Make the InferenceService match the ExplainableModel, then the status match both. Idempotent:
    when the live InferenceService already is the rendered one, and the status already says so,
    nothing is written. Errors propagate as the operator's own; `kopf_errors` maps them."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        event = parse_event(body)
        version = served_version(event.spec, event.status)
        desired = _render(event.owner, event.spec, version)
    except InvalidSpecError as exc:
        _reject(namespace, name, Reason.INVALID_SPEC, str(exc))
        raise

    try:
        live = inferenceservices.get_inference_service(namespace, name)
        if not inference_service_is_current(desired, live):
            action = "Created" if live is None else "Updated"
            live = inferenceservices.apply_inference_service(desired)
            logger.info(f"{action} InferenceService {namespace}/{name} serving version {version}")
            _post(body, action, f"InferenceService {name} serves model version {version}")
    except RejectedError as exc:
        _reject(namespace, name, Reason.INFERENCE_SERVICE_REJECTED, f"InferenceService rejected: {exc}")
        raise

    _sync_status(namespace, name, live_is=live, event=event)


def _sync_status(
    namespace: str, name: str, *, live_is: Mapping[str, Any] | None, event: ModelEvent | None = None
) -> None:
    """Write the serving status computed from the freshly read ExplainableModel and the live
    InferenceService. Everything is recomputed from the fresh object, so a concurrent promotion
    (status.modelVersion) or spec change is never overwritten with an older view; its spec is the
    event's parsed one when the generation is unchanged. While KServe does not report Ready, the
    predictor Pods are read for a serving container that stopped at start."""
    failure = None
    if live_is is not None and not conditions.kserve_ready(live_is):
        failure = conditions.serving_container_failure(inferenceservices.predictor_pods(namespace, name))

    def compute(current: dict[str, Any]) -> dict[str, Any] | None:
        if current["metadata"].get("deletionTimestamp"):
            return None
        try:
            spec = event.spec_of(current) if event is not None else parse_spec(current.get("spec") or {})
            version = served_version(spec, current.get("status"))
            desired_is = _render(_owner(current), spec, version)
        except InvalidSpecError:
            return None  # reported by the ExplainableModel's handler
        desired = conditions.serving_status(
            current.get("status"),
            generation=current["metadata"]["generation"],
            model_version=version,
            inference_service=live_is,
            rendered_current=inference_service_is_current(desired_is, live_is),
            requirement=serving_requirement(spec, live_is),
            start_failure=failure,
        )
        return conditions.status_patch(current.get("status"), desired)

    explainablemodels.update_status(namespace, name, compute)


def _owner(body: Mapping[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def _render(owner: Owner, spec: ExplainableModelSpec, version: str) -> dict[str, Any]:
    settings = get_settings()
    return render_inference_service(
        owner, spec, version, default_image=settings.server_image, pull_policy=settings.image_pull_policy
    )


# --------------------------------------------------------------------------- ExplainableModel handlers


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf_errors
def serve(body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    reconcile(body, logger)


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf_errors
def serve_spec_change(body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    """Any spec change: patch the InferenceService in place (every handler reconciles from the whole
    current object, never from a diff, so a handler kopf skips within one cycle loses nothing)."""
    reconcile(body, logger)


# Also on the first write (None -> a version): a promotion may land before the operator's own first write.
@kopf.on.update(GROUP, VERSION, PLURAL, field="status.modelVersion")
@kopf_errors
def serve_promoted_version(body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    """A promotion (or rollback) moved status.modelVersion: render the version now served."""
    reconcile(body, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def release(name: str, namespace: str, logger: logging.Logger, **_: Any) -> None:
    """No finalizer: the InferenceService goes with its owner through garbage collection."""
    logger.info(f"{KIND} {namespace}/{name} deleted; its InferenceService is garbage-collected")


# --------------------------------------------------------------------------- InferenceService events


def _owning_model(body: Mapping[str, Any]) -> str | None:
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(f"{GROUP}/") and ref.get("controller"):
            return str(ref["name"])
    return None


@kopf.on.event(IS_GROUP, IS_VERSION, IS_PLURAL, labels={LABEL_MODEL: kopf.PRESENT})
def mirror_inference_service(event: kopf.RawEvent, body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    """Readiness of the InferenceService -> conditions of its ExplainableModel; recreate it if deleted
    while its owner still exists. Event handlers are not retried by kopf: errors are logged, and the
    next event or the next change of the ExplainableModel converges again."""
    model_name = _owning_model(body)
    namespace = body.get("metadata", {}).get("namespace")
    if model_name is None or namespace is None:
        return
    try:
        if event.get("type") != "DELETED":
            _sync_status(namespace, model_name, live_is=dict(body))  # one read of the owner, a write if changed
            return
        owner = explainablemodels.get_explainable_model(namespace, model_name)
        if owner is None or owner["metadata"].get("deletionTimestamp"):
            return  # deleted with its owner (garbage collection)
        logger.warning(f"InferenceService {namespace}/{model_name} was deleted out of band; recreating it")
        reconcile(owner, logger)
    except OperatorError as exc:
        logger.warning(f"could not mirror InferenceService {namespace}/{model_name}: {exc}")


@kopf.timer(GROUP, VERSION, PLURAL, interval=get_settings().serving_check_interval_seconds, sharp=False)
def check_serving(name: str, namespace: str, status: kopf.Status, logger: logging.Logger, **_: Any) -> None:
    """A serving container that stops at start changes no InferenceService (KServe reports only that
    replicas are missing), so no event says why: while the model is not Ready, look again."""
    ready = conditions.get_condition(status.get("conditions"), conditions.READY)
    if ready is not None and ready.get("status") == conditions.TRUE:
        return
    try:
        live = inferenceservices.get_inference_service(namespace, name)
        if live is not None:
            _sync_status(namespace, name, live_is=live)
    except OperatorError as exc:
        logger.warning(f"could not check the InferenceService {namespace}/{name}: {exc}")
