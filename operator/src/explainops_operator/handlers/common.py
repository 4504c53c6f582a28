"""What every handler shares: the object as one event saw it (spec parsed once), and the one place
where the operator's errors become kopf's."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import kopf

from explainops_operator.builders import Owner
from explainops_operator.errors import (
    InvalidSpecError,
    KubeApiError,
    NotFoundError,
    OperatorError,
    RejectedError,
)
from explainops_operator.settings import get_settings
from explainops_operator.spec import ExplainableModelSpec, parse_spec, validate_name

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelEvent:
    """An ExplainableModel as delivered by one event, its spec parsed once."""

    owner: Owner
    generation: int
    spec: ExplainableModelSpec
    status: Mapping[str, Any]

    def spec_of(self, current: Mapping[str, Any]) -> ExplainableModelSpec:
        """The typed spec of a freshly read copy: this event's when the generation is the same
        (the spec cannot differ), else that copy's own."""
        if current["metadata"].get("generation") == self.generation:
            return self.spec
        return parse_spec(current.get("spec") or {})


def parse_event(body: Mapping[str, Any]) -> ModelEvent:
    """Name and spec checked and typed; InvalidSpecError names the first bad field."""
    meta = body["metadata"]
    validate_name(meta["name"])
    return ModelEvent(
        owner=Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]),
        generation=int(meta.get("generation") or 0),
        spec=parse_spec(body.get("spec") or {}),
        status=body.get("status") or {},
    )


def to_kopf(exc: OperatorError) -> kopf.PermanentError | kopf.TemporaryError:
    """Permanent: the spec or the object it renders is refused, or the object is gone; retrying the
    same input gives the same answer. Temporary: anything else from the API (429, 5xx, conflicts)."""
    if isinstance(exc, InvalidSpecError):
        return kopf.PermanentError(f"invalid spec: {exc}")
    if isinstance(exc, RejectedError):
        return kopf.PermanentError(f"rejected by the API server: {exc}")
    if isinstance(exc, NotFoundError):
        return kopf.PermanentError(f"gone: {exc}")
    if isinstance(exc, KubeApiError):
        return kopf.TemporaryError(str(exc), delay=get_settings().retry_delay_seconds)
    return kopf.PermanentError(str(exc))


def kopf_errors(handler: F) -> F:
    """Decorate a kopf handler: OperatorError -> kopf's Temporary/PermanentError (see `to_kopf`)."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except OperatorError as exc:
            raise to_kopf(exc) from exc

    return wrapper  # type: ignore[return-value]
