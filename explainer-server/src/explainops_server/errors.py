"""The one error hierarchy of the server. The transport maps it to `{"error", "detail"}` once."""

from __future__ import annotations


class ExplainOpsError(Exception):
    """Base class: `kind` is the machine-readable error, `status` the HTTP status it maps to.

    `retry_after` (seconds) becomes the `Retry-After` header; every 503 carries one, so that a client
    can tell "try again later" from a fault (the only 5xx the server answers on purpose is 503).
    """

    kind = "internal_error"
    status = 500
    default_retry_after: float | None = None

    def __init__(
        self, detail: str, *, retry_after: float | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after
        self.headers = headers or {}


class InvalidInput(ExplainOpsError):
    kind = "invalid_input"
    status = 422


class UnsupportedMediaType(ExplainOpsError):
    kind = "unsupported_media_type"
    status = 415


class MethodNotAllowed(ExplainOpsError):
    kind = "method_not_allowed"
    status = 405


class MalformedRequest(ExplainOpsError):
    kind = "malformed_request"
    status = 400


class PayloadTooLarge(ExplainOpsError):
    kind = "payload_too_large"
    status = 413


class ModelNotFound(ExplainOpsError):
    kind = "model_not_found"
    status = 404


class PredictionNotFound(ExplainOpsError):
    kind = "prediction_not_found"
    status = 404


class NotSupported(ExplainOpsError):
    """The route exists but this server's role or explainer does not offer it."""

    kind = "not_supported"
    status = 404


class Unauthorized(ExplainOpsError):
    kind = "unauthorized"
    status = 401


class ExplainerBusy(ExplainOpsError):
    kind = "explainer_busy"
    status = 503
    default_retry_after = 1.0


class ExplainerUnavailable(ExplainOpsError):
    """The explainer sidecar this server hands explanations to does not answer."""

    kind = "explainer_unavailable"
    status = 503
    default_retry_after = 5.0


class RecorderBusy(ExplainOpsError):
    """Predictions wait to be recorded faster than the store takes them: push back, drop nothing."""

    kind = "recorder_busy"
    status = 503
    default_retry_after = 1.0


class ExplanationTimeout(ExplainOpsError):
    """An explanation past its deadline. 503, not 504: the server is not a gateway waiting on an
    upstream, it refused to spend more of its bounded explanation capacity on this request; like a
    busy pool, that is "try again later" (Retry-After), and the worker is already freed."""

    kind = "explanation_timeout"
    status = 503
    default_retry_after = 1.0


class FeedbackConflict(ExplainOpsError):
    """The same feedback id was sent before with different content."""

    kind = "feedback_conflict"
    status = 409


class ArtifactError(ExplainOpsError):
    """The model artifact is missing, corrupt or untrusted (a startup error)."""

    kind = "artifact_error"
    status = 500


class StoreError(ExplainOpsError):
    kind = "store_error"
    status = 503
    default_retry_after = 5.0


class ConfigurationError(ExplainOpsError):
    kind = "configuration_error"
    status = 500


class UnsupportedOperation(ExplainOpsError):
    """A valid request this configuration cannot answer (e.g. a local explanation from ALE)."""

    kind = "unsupported_operation"
    status = 400


class FeedbackTooLate(ExplainOpsError):
    """Feedback on a prediction older than the configured maximum feedback age."""

    kind = "feedback_too_late"
    status = 422


def error_class(kind: str) -> type[ExplainOpsError]:
    """The class of the hierarchy whose `kind` this is (ExplainOpsError when none is): errors that cross
    a process boundary, from the explainer sidecar, are raised again as what they were."""
    pending: list[type[ExplainOpsError]] = [ExplainOpsError]
    while pending:
        cls = pending.pop()
        if cls.kind == kind:
            return cls
        pending.extend(cls.__subclasses__())
    return ExplainOpsError
