"""`explainops-server serve ...`, `explainops-server train ...` and `explainops-server audit export ...`.

Every `serve` flag is generated from `ServerSettings`, so flags and `EXPLAINOPS_*` variables never
drift apart. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from explainops_server.errors import ConfigurationError, ExplainOpsError
from explainops_server.settings import ServerSettings

EXIT_CONFIG = 2
EXIT_STARTUP = 3


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
        return _fail(f"invalid settings: {exc.detail}", EXIT_CONFIG)
    except ExplainOpsError as exc:
        dataplane.close()
        return _fail(f"cannot start: {exc.detail}", EXIT_STARTUP)
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return train(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "audit":
        return audit_export(args)
    if args.command == "openapi":
        return openapi(args.auth_scope)
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
