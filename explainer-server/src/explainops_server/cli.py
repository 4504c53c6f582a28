"""`explainops-server serve|package|validate|train|audit export ...`.

Every `serve` flag is generated from `ServerSettings`, so flags and `EXPLAINOPS_*` variables never
drift apart. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from explainops_server.errors import ConfigurationError, ExplainOpsError
from explainops_server.explainers.compat import DISPLAY_NAMES
from explainops_server.settings import ServerSettings

EXIT_CONFIG = 2
EXIT_STARTUP = 3
# Kubernetes mounts this file into every container and reports its content as the termination message
# (KServe copies it into the InferenceService's status.modelStatus.lastFailureInfo).
KUBERNETES_TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_MESSAGE_BYTES = 4096


def _flag_kwargs(annotation: Any) -> dict[str, Any]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(annotation))}
    if args and typing.get_origin(args[0]) is typing.Literal:
        return {"choices": list(typing.get_args(args[0]))}
    if annotation is int:
        return {"type": int}
    if annotation is float:
        return {"type": float}
    return {"type": str}


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    for name, field in ServerSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs = _flag_kwargs(field.annotation)
        env = f"EXPLAINOPS_{name.upper()}"
        parser.add_argument(flag, dest=name, default=None, help=f"{field.description} [env {env}]", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainops-server", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="Serve one model: predict, explain, feedback.")
    add_settings_flags(serve)
    sub.add_parser("train", help="Retrain a model from base data plus feedback labels.", add_help=False)
    audit = sub.add_parser("audit", help="Audit trail of a feedback store.")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser(
        "export", help="Write predictions, explanations and feedback as JSON Lines to stdout."
    )
    export.add_argument("--feedback-store", required=True, help="sqlite:///abs/path.db or postgresql://...")
    export.add_argument("--model-name", default=None, help="Only this model (default: every model).")
    export.add_argument("--since", default=None, help="Unix seconds or ISO 8601 time; inclusive.")
    export.add_argument("--until", default=None, help="Unix seconds or ISO 8601 time; exclusive.")
    package = sub.add_parser("package", help="Package a fitted estimator as a validated artifact version.")
    package.add_argument("--model", required=True, help="Fitted estimator: FILE.skops, or FILE.joblib with --trust-pickle")
    package.add_argument("--train", required=True, help="Training CSV (path, file:// or s3://): features + target")
    package.add_argument("--target", required=True, help="Target column of the training CSV")
    package.add_argument("--out", required=True, help="Model root (directory or s3://bucket/prefix)")
    package.add_argument("--version", default="v1", help="Version directory to write under the root")
    package.add_argument("--task", choices=["classification", "regression"], help="Default: from the estimator")
    package.add_argument("--background-size", type=int, default=100, help="Explainer background rows")
    package.add_argument("--holdout", help="CSV of rows the model was not fitted on: the retraining gate's holdout")
    package.add_argument("--name", help="Model name (default: the root's last path segment)")
    package.add_argument("--trust-pickle", action="store_true", help="Allow a joblib/pickle --model (runs code)")
    package.add_argument(
        "--trust-type", action="append", default=[], metavar="TYPE",
        help="A skops type to trust beyond the built-in list, after reviewing it (repeatable)",
    )  # fmt: skip
    package.add_argument("--explainer", help="Explainer to validate with (default TreeShap for tree ensembles, else KernelShap)")
    validate = sub.add_parser("validate", help="Check an artifact version: load, metadata, predict, one explanation.")
    validate.add_argument("uri", help="Version directory: path, file:// or s3://bucket/prefix/version")
    validate.add_argument("--explainer", default="kernel_shap", help="Explainer to check (TreeShap or tree_shap, ...)")
    validate.add_argument("--explainer-params", default="{}", help="JSON object of explainer parameters")
    validate.add_argument("--model-format", choices=["skops", "joblib"])
    validate.add_argument("--trust-pickle", action="store_true")
    validate.add_argument(
        "--termination-log", help="Also write the problems here (default /dev/termination-log if writable)"
    )
    document = sub.add_parser("openapi", help="Print the OpenAPI document of `serve` (no model is loaded).")
    document.add_argument("--auth-scope", choices=["feedback", "all"], default="feedback")
    return parser


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    given = {
        name: getattr(args, name)
        for name in ServerSettings.model_fields
        if getattr(args, name, None) is not None
    }
    return ServerSettings(**given)


def _fail(message: str, code: int) -> int:
    print(f"explainops-server: {message}", file=sys.stderr)
    return code


def termination_log_path(given: Path | str | None) -> Path | None:
    """The given file, else Kubernetes' /dev/termination-log when it exists and is writable, else none."""
    if given:
        return Path(given)
    default = KUBERNETES_TERMINATION_LOG
    return default if default.exists() and os.access(default, os.W_OK) else None


def report_problems(
    problems: list[str], given_log: Path | str | None, headline: str | None = None, code: int = EXIT_STARTUP
) -> int:
    """Each problem on its own line, on stderr and in the termination log; returns `code`."""
    if headline and len(problems) == 1:
        print(f"explainops-server: {headline}: {problems[0]}", file=sys.stderr)
    else:
        if headline:
            print(f"explainops-server: {headline} ({len(problems)} problems):", file=sys.stderr)
        for problem in problems:
            print(f"explainops-server: {problem}", file=sys.stderr)
    path = termination_log_path(given_log)
    if path is not None:
        message = "\n".join(problems).encode()[:TERMINATION_MESSAGE_BYTES].decode(errors="ignore")
        try:
            path.write_text(message)
        except OSError as exc:
            print(f"explainops-server: cannot write the termination log {path}: {exc}", file=sys.stderr)
    return code


def _lines(exc: ExplainOpsError) -> list[str]:
    return [line for line in exc.detail.splitlines() if line]


def explainer_config_name(value: str) -> str:
    """`TreeShap` (spec.explainer.type) or `tree_shap` (server setting) -> `tree_shap`."""
    by_display = {display.lower(): name for name, display in DISPLAY_NAMES.items()}
    return by_display.get(value.lower(), value)


def serve(settings: ServerSettings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from explainops_server.models.artifact import import_loader

    import_loader(settings.model_uri, settings.model_format)  # first: see import_loader
    import uvicorn

    from explainops_server.rest.app import create_app
    from explainops_server.service.dataplane import DataPlane

    dataplane = DataPlane(settings)
    try:
        dataplane.load()
    except ConfigurationError as exc:  # e.g. the alibi backend asked of an image without alibi
        dataplane.close()
        return report_problems(_lines(exc), settings.termination_log, "invalid settings", EXIT_CONFIG)
    except ExplainOpsError as exc:
        dataplane.close()
        return report_problems(_lines(exc), settings.termination_log, "cannot start")
    app = create_app(settings, dataplane)
    print(
        f"explainops-server: serving {settings.model_name} {dataplane.model.version} as {settings.role} "
        f"on http://{settings.host}:{settings.http_port}",
        flush=True,
    )
    config = uvicorn.Config(
        app, host=settings.host, port=settings.http_port, log_level=settings.log_level, access_log=False
    )
    uvicorn.Server(config).run()
    return 0


def openapi(auth_scope: str) -> int:
    from explainops_server.rest.app import create_app
    from explainops_server.service.dataplane import DataPlane

    settings = ServerSettings(model_name="model", model_uri="unused", auth_scope=auth_scope)
    app = create_app(settings, DataPlane(settings))  # the document needs the routes, not a loaded model
    print(json.dumps(app.openapi(), indent=1, sort_keys=True))
    return 0


def train(argv: Sequence[str]) -> int:
    try:
        training = importlib.import_module("explainops_server.training.cli")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("explainops_server.training"):
            return _fail("the 'train' command is not available in this installation", EXIT_CONFIG)
        raise
    return int(training.main(list(argv)) or 0)


def audit_export(args: argparse.Namespace) -> int:
    from explainops_server.feedback import open_store
    from explainops_server.service.audit import audit_lines, parse_time

    try:
        since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
        store = open_store(args.feedback_store)
    except ExplainOpsError as exc:
        return _fail(exc.detail, EXIT_CONFIG)
    out = sys.stdout.buffer
    try:
        for line in audit_lines(store, args.model_name, since, until):
            out.write(line)
        out.flush()
    except ExplainOpsError as exc:
        return _fail(exc.detail, EXIT_CONFIG)
    finally:
        store.close()
    return 0


def validate(args: argparse.Namespace) -> int:
    from explainops_server.service.validation import validate_artifact

    try:
        params = json.loads(args.explainer_params or "{}")
    except json.JSONDecodeError as exc:
        return _fail(f"--explainer-params is not JSON: {exc}", EXIT_CONFIG)
    explainer = explainer_config_name(args.explainer)
    if explainer not in DISPLAY_NAMES:
        known = ", ".join(DISPLAY_NAMES.values())
        return _fail(f"--explainer: unknown {args.explainer!r}; known: {known}", EXIT_CONFIG)
    report = validate_artifact(
        args.uri, explainer=explainer, explainer_params=params, model_format=args.model_format,
        trust_pickle=args.trust_pickle,
    )  # fmt: skip
    if not report.ok:
        return report_problems(report.problems, args.termination_log)
    print(f"ok: {args.uri}: {json.dumps(report.summary, sort_keys=True)}")
    return 0


def package(args: argparse.Namespace) -> int:
    from explainops_server.service.packaging import package_file

    try:
        packaged = package_file(
            args.model, args.train, args.target, args.out, trust_pickle=args.trust_pickle,
            holdout_csv=args.holdout, version=args.version, name=args.name, task=args.task,
            background_size=args.background_size, trusted_types=args.trust_type,
            explainer=explainer_config_name(args.explainer) if args.explainer else None,
        )  # fmt: skip
    except ExplainOpsError as exc:
        return report_problems(_lines(exc), None)
    print(f"wrote {packaged.uri}: {json.dumps(packaged.report.summary, sort_keys=True)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return train(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "audit":
        return audit_export(args)
    if args.command == "openapi":
        return openapi(args.auth_scope)
    if args.command == "validate":
        return validate(args)
    if args.command == "package":
        return package(args)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        return _fail(f"invalid settings: {problems}", EXIT_CONFIG)
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"invalid settings: {exc}", EXIT_CONFIG)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
