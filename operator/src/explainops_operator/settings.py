"""Operator settings: every field is an `EXPLAINOPS_OPERATOR_*` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SERVER_IMAGE = "ghcr.io/explainops/explainops-server:0.1.0"


class OperatorSettings(BaseSettings):
    """Configuration of one operator process."""

    model_config = SettingsConfigDict(env_prefix="EXPLAINOPS_OPERATOR_", extra="ignore")

    server_image: str = Field(
        default=DEFAULT_SERVER_IMAGE,
        description="explainops-server image used for serving (and training) unless spec.serving.image overrides it.",
    )
    image_pull_policy: str = Field(default="IfNotPresent", description="imagePullPolicy of the serving containers.")
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces to watch, comma-separated; empty = every namespace (cluster-wide).",
    )
    liveness_endpoint: str | None = Field(
        default=None, description="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz (off when unset)."
    )
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file; default: in-cluster service account, else $KUBECONFIG."
    )
    api_timeout_seconds: float = Field(default=15.0, gt=0, description="Timeout of each Kubernetes API call.")
    max_workers: int = Field(default=16, ge=1, le=256, description="Threads running synchronous handlers.")
    retry_delay_seconds: float = Field(
        default=2.0, gt=0, description="Delay before a handler retries after a transient API error or conflict."
    )
    post_info_events: bool = Field(
        default=True, description="Post Kubernetes Events when the InferenceService is created or changed."
    )
    retraining_loop: bool = Field(
        default=True,
        description="Load the retraining handlers (timer per ExplainableModel); false = serving only.",
    )
    retraining_interval_seconds: float = Field(
        default=3.0, gt=0, description="How often feedback stats are read and running Jobs are checked."
    )
    serving_check_interval_seconds: float = Field(
        default=10.0, gt=0, description="How often a model that is not Ready is checked for a failed serving container."
    )
    stats_timeout_seconds: float = Field(default=2.0, gt=0, description="Timeout of one stats request.")
    verbose: bool = Field(default=False, description="Debug logging.")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> OperatorSettings:
    """The process-wide settings, read from the environment on first use."""
    return OperatorSettings()
