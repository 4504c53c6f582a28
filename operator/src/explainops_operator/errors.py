"""The operator's one error hierarchy. Handlers map these to kopf's Temporary/PermanentError."""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error raised by the operator's own code."""


class InvalidSpecError(OperatorError):
    """A spec value the schema let through but the operator cannot serve; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class KubeApiError(OperatorError):
    """A Kubernetes API call failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientApiError(KubeApiError):
    """Worth retrying: 429, 5xx, timeouts, connection errors."""


class ConflictError(TransientApiError):
    """409: the object changed since it was read (or already exists); re-read and retry."""


class NotFoundError(KubeApiError):
    """404: the object (or its namespace) is gone."""


class RejectedError(KubeApiError):
    """4xx other than 404/409/429: the API server refused the object (e.g. schema validation)."""
