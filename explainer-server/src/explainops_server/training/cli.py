"""`explainops-server train`: flags (or EXPLAINOPS_* variables) -> retrain -> result JSON.

The result goes to stdout and to the termination-log file, where Kubernetes picks it up as the
container's termination message; the operator reads it from the Pod status without exec.
Exit codes: 0 trained, 1 training failed (result JSON carries `error`/`detail`), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from explainops_server.errors import ExplainOpsError
from explainops_server.settings import default_data_dir
from explainops_server.training.trainer import (
    TrainingRequest,
    failure_result,
    result_message,
    retrain,
)

# The trainer reads labels given within the retention period minus this margin, so no row it reads can
# be one the server's retention task is about to delete, even with clocks some minutes apart.
TRAINING_MARGIN_SECONDS = 600

# Kubernetes mounts this file into every container; it is used when present and no path is given.
KUBERNETES_TERMINATION_LOG = Path("/dev/termination-log")

log = logging.getLogger("explainops.training")


class TrainingSettings(BaseSettings):
    """Configuration of one `explainops-server train` run."""

    model_config = SettingsConfigDict(env_prefix="EXPLAINOPS_", extra="ignore", protected_namespaces=())

    model_name: str = Field(description="Model name: feedback is read for this name.")
    model_root: str = Field(
        description="Root holding one sub-directory per version: a directory or s3://bucket/prefix."
    )
    base_version: str = Field(description="Champion version: its estimator and parameters are reused.")
    new_version: str = Field(description="Version directory to create under the root.")
    training_data: str | None = Field(
        default=None, description="Base training CSV (path, file:// or s3://); default: champion metadata."
    )
    holdout_data: str | None = Field(
        default=None,
        description="CSV of base rows no version trains on, the gate's base holdout (path or file://); "
        "default: champion metadata.",
    )
    feedback_store: str | None = Field(
        default=None, description="Feedback store DSN; default: the sqlite file `serve` uses by default."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the default SQLite store lives."
    )
    retention_seconds: int = Field(
        default=0,
        ge=0,
        description="The serving store's retention; labels older than it minus a margin are not read (0: all).",
    )
    holdout_fraction: float = Field(
        default=0.25, gt=0, lt=1, description="Share of the feedback on the champion's predictions held out."
    )
    seed: int = Field(default=0, description="Seed of the holdout split and the background sample.")
    termination_log: Path | None = Field(
        default=None,
        description="Where the result JSON is written (default /dev/termination-log if present).",
    )

    def feedback_dsn(self) -> str:
        if self.feedback_store:
            return self.feedback_store
        return f"sqlite:///{(self.data_dir / f'{self.model_name}-feedback.db').resolve()}"

    def labelled_since(self, now: float) -> float | None:
        if self.retention_seconds <= 0:
            return None
        return now - max(self.retention_seconds - TRAINING_MARGIN_SECONDS, 0)

    def result_path(self) -> Path | None:
        if self.termination_log is not None:
            return self.termination_log
        return KUBERNETES_TERMINATION_LOG if KUBERNETES_TERMINATION_LOG.exists() else None


FLAGS = (
    ("--model-name", "model_name"),
    ("--model-root", "model_root"),
    ("--base-version", "base_version"),
    ("--new-version", "new_version"),
    ("--training-data", "training_data"),
    ("--holdout-data", "holdout_data"),
    ("--feedback-store", "feedback_store"),
    ("--data-dir", "data_dir"),
    ("--retention-seconds", "retention_seconds"),
    ("--holdout-fraction", "holdout_fraction"),
    ("--seed", "seed"),
    ("--termination-log", "termination_log"),
)


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `train` flags; unset flags fall back to EXPLAINOPS_* variables, then defaults."""
    for flag, name in FLAGS:
        parser.add_argument(
            flag, dest=name, default=None, help=TrainingSettings.model_fields[name].description
        )
    return parser


def settings_from_args(args: argparse.Namespace) -> TrainingSettings:
    given = {name: getattr(args, name) for _, name in FLAGS if getattr(args, name, None) is not None}
    return TrainingSettings(**given)


def load_feedback(dsn: str, model_name: str, labelled_since: float | None = None) -> list[Any]:
    from explainops_server.feedback import open_store

    store = open_store(dsn)
    try:
        return list(store.labelled_examples(model_name, labelled_since))
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def run(settings: TrainingSettings) -> int:
    request = TrainingRequest(
        model_name=settings.model_name,
        model_root=settings.model_root,
        base_version=settings.base_version,
        new_version=settings.new_version,
        training_data=settings.training_data,
        holdout_data=settings.holdout_data,
        holdout_fraction=settings.holdout_fraction,
        seed=settings.seed,
    )
    try:
        feedback = load_feedback(
            settings.feedback_dsn(), settings.model_name, settings.labelled_since(time.time())
        )
        result = retrain(request, feedback)
        code = 0
    except ExplainOpsError as exc:
        log.error("retraining failed: %s", exc.detail)
        result, code = failure_result(exc), 1
    except Exception as exc:  # the operator must still learn why the Pod failed
        log.exception("retraining failed")
        result, code = failure_result(exc), 1
    publish(result, settings.result_path())
    return code


def publish(result: dict[str, Any], path: Path | None) -> None:
    message = result_message(result)
    print(message, flush=True)
    if path is not None:
        try:
            path.write_text(message)
        except OSError as exc:
            log.error("cannot write the termination log %s: %s", path, exc)


def main(argv: list[str] | None = None) -> int:
    """Entry of `explainops-server train ARGS` (argv excludes the `train` word)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    parser = configure_parser(argparse.ArgumentParser(prog="explainops-server train", description=__doc__))
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        given_log = Path(args.termination_log) if args.termination_log else None
        fallback_log = KUBERNETES_TERMINATION_LOG if KUBERNETES_TERMINATION_LOG.exists() else None
        publish(
            {"status": "failed", "error": "invalid_arguments", "detail": problems}, given_log or fallback_log
        )
        parser.print_usage(sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
