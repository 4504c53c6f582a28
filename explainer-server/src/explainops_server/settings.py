"""Server settings: every field is an `EXPLAINOPS_*` environment variable and a `serve` flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from explainops_server.errors import ConfigurationError
from explainops_server.explainers.params import EXPLAINER_PARAMS, parse_params

ExplainerName = Literal["anchor_tabular", "kernel_shap", "tree_shap", "ale"]
# explainops: this project's own, permissive backend; alibi: alibi 0.9.6 (BSL 1.1), its own image flavour.
ExplainerBackend = Literal["explainops", "alibi"]


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "explainops"


class ServerSettings(BaseSettings):
    """Configuration of one `explainops-server serve` process."""

    model_config = SettingsConfigDict(env_prefix="EXPLAINOPS_", extra="ignore", protected_namespaces=())

    model_name: str = Field(description="Name the model is served under (route segment).")
    model_uri: str = Field(description="Version directory of the artifact: a plain path or file:// URI.")
    model_format: Literal["skops", "joblib"] | None = Field(
        default=None, description="Artifact format; default: the `format` field of metadata.json."
    )
    trust_pickle: bool = Field(
        default=False, description="Allow joblib/pickle artifacts (runs code on load)."
    )
    role: Literal["standalone", "predictor", "explainer"] = Field(
        default="standalone",
        description="standalone: predict, explain, feedback and console in one process; predictor: the same, "
        "with explanations computed by the explainer at explainer_url; explainer: explanations only, "
        "nothing recorded (the predictor pod's sidecar).",
    )
    explainer_url: str | None = Field(
        default=None,
        pattern=r"^http://[^/\s]+$",
        description="Base URL of the explainer sidecar (role predictor only), e.g. http://127.0.0.1:8081.",
    )
    explainer: ExplainerName = Field(default="anchor_tabular", description="Explainer used by :explain.")
    explainer_backend: ExplainerBackend = Field(
        default="explainops", description="Who computes explanations: explainops (own) or alibi (BSL 1.1)."
    )
    explainer_params: dict[str, Any] = Field(
        default_factory=dict, description="JSON object of explainer parameters (see README)."
    )
    explain_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before an explanation gives 503 (explanation_timeout, Retry-After)."
    )
    explain_workers: int = Field(default=2, ge=1, le=64, description="Explanations computed concurrently.")
    explain_queue: int = Field(
        default=4, ge=0, le=1024, description="Explanations allowed to wait for a worker before 503."
    )
    explain_cache_size: int = Field(default=1024, ge=0, description="Cached explanations (0 disables).")
    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port (0 picks a free one).")
    feedback_store: str | None = Field(
        default=None,
        description="sqlite:///abs/path.db or postgresql://... ; default sqlite under the data dir.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the default SQLite store lives."
    )
    auth_token: str | None = Field(
        default=None, description="Bearer token for feedback, listing and admin routes."
    )
    auth_token_file: Path | None = Field(default=None, description="File holding the bearer token.")
    auth_scope: Literal["feedback", "all"] = Field(
        default="feedback",
        description="What the token guards: feedback (feedback, stats, listing, guarded metrics) or all "
        "(also predict, explain, V2 infer, ALE and model metadata); health stays open.",
    )
    record_flush_ms: int = Field(
        default=50, ge=1, le=10_000, description="Prediction records reach the store within this many ms."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    max_batch: int = Field(default=1000, ge=1, description="Most rows per predict request or feedback batch.")
    max_explain_rows: int = Field(
        default=10, ge=1, le=1000, description="Most rows per explain request (each row is a full explanation)."
    )
    record_buffer: int = Field(
        default=100_000,
        ge=100,
        description="Predictions that may wait to be recorded; beyond that predict answers 503 (push back).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level.")
    monitor_interval: float = Field(
        default=30.0, ge=0, le=86_400, description="Seconds between drift computations (0 turns monitoring off)."
    )
    monitor_window: int = Field(
        default=500, ge=10, le=100_000, description="Newest predictions of the served version compared for drift."
    )
    monitor_min_rows: int = Field(
        default=50, ge=10, le=100_000, description="Fewest predictions in the window before drift is reported."
    )
    drift_significance: float = Field(
        default=0.01, gt=0, lt=1, description="Family-wise level of the per-feature drift tests (Bonferroni)."
    )
    monitor_explain_rows: int = Field(
        default=32, ge=0, le=1000, description="Window rows explained per cycle for explanation drift (0: off)."
    )
    explanation_drift_threshold: float = Field(
        default=0.2, gt=0, le=1, description="Explanation drift (total variation of attribution shares) flagged above this."
    )
    retention_seconds: int = Field(
        default=30 * 86_400,
        ge=0,
        description="Predictions and their feedback older than this are deleted (0 keeps everything).",
    )
    retention_interval: float = Field(
        default=300.0, gt=0, le=86_400, description="Seconds between retention passes."
    )
    retention_batch: int = Field(
        default=1000, ge=1, le=100_000, description="Most predictions deleted per transaction."
    )
    feedback_max_age_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Feedback on a prediction older than this gets 422 feedback_too_late (unset: any age).",
    )

    @field_validator("explainer_params", mode="before")
    @classmethod
    def _parse_params(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _check_explainer_params(self) -> ServerSettings:
        try:
            parse_params(self.explainer, EXPLAINER_PARAMS[self.explainer], self.explainer_params)
        except ConfigurationError as exc:
            raise ValueError(exc.detail) from None
        return self

    @model_validator(mode="after")
    def _explainer_url_for_predictor(self) -> ServerSettings:
        if (self.role == "predictor") != (self.explainer_url is not None):
            raise ValueError("explainer_url: required with role predictor, and only with it")
        return self

    @model_validator(mode="after")
    def _read_token_file(self) -> ServerSettings:
        if self.auth_token is None and self.auth_token_file is not None:
            self.auth_token = self.auth_token_file.read_text().strip() or None
        return self

    def feedback_dsn(self) -> str:
        if self.feedback_store:
            return self.feedback_store
        return f"sqlite:///{(self.data_dir / f'{self.model_name}-feedback.db').resolve()}"
