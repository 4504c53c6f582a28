"""`explainops-operator` / `python -m explainops_operator`: run the kopf operator with its handlers
(`run`, the default command), or print what it would create for a manifest (`render`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from explainops_operator.settings import get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainops-operator",
        description="Serve ExplainableModels through KServe and retrain them from feedback.",
        epilog="Every option also reads EXPLAINOPS_OPERATOR_* environment variables (see operator/README.md). "
        "`explainops-operator render -f FILE [--version V] [--job]` prints what it would create, offline.",
    )
    parser.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", metavar="NAMESPACE",
        help="namespace to watch (repeatable); default: EXPLAINOPS_OPERATOR_NAMESPACES, else every namespace",
    )
    parser.add_argument("--liveness", metavar="URL", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def build_render_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainops-operator render",
        description="Print, as YAML and without a cluster, the InferenceService (and with --job the retraining "
        "Job) the operator would create for each ExplainableModel in FILE.",
    )
    parser.add_argument("-f", "--filename", required=True, metavar="FILE", help="manifest file, '-' for stdin")
    parser.add_argument("--version", metavar="V", help="model version to serve (default: as the operator decides)")
    parser.add_argument("--job", action="store_true", help="also print the retraining Job of the next trigger")
    parser.add_argument("--sequence", type=int, default=1, metavar="N", help="trigger number of that Job (1)")
    parser.add_argument("-n", "--namespace", default="default", help="namespace of manifests that name none")
    return parser


def render(argv: list[str]) -> int:
    """Exit 0 with the YAML on stdout; 2 with the reason on stderr (unreadable file, invalid spec)."""
    import yaml

    from explainops_operator.errors import InvalidSpecError
    from explainops_operator.render import render_documents

    args = build_render_parser().parse_args(argv)
    if args.sequence < 1:
        print("explainops-operator render: --sequence must be at least 1", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.filename == "-" else open(args.filename, encoding="utf-8").read()  # noqa: SIM115
        documents = list(yaml.safe_load_all(text))
    except (OSError, yaml.YAMLError) as exc:
        print(f"explainops-operator render: {args.filename}: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        objects = render_documents(
            documents,
            default_image=settings.server_image,
            pull_policy=settings.image_pull_policy,
            version=args.version,
            job=args.job,
            sequence=args.sequence,
            default_namespace=args.namespace,
        )
    except InvalidSpecError as exc:
        print(f"explainops-operator render: {args.filename}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["render"]:
        return render(argv[1:])
    if argv[:1] == ["run"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)

    import kopf  # imported after parsing: --help costs no kopf start-up

    import explainops_operator.handlers  # noqa: F401 - registers the handlers
    settings = get_settings()
    namespaces = args.namespaces or settings.namespaces
    liveness = args.liveness or settings.liveness_endpoint
    verbose = args.verbose or settings.verbose
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    try:
        asyncio.run(
            kopf.operator(
                standalone=True,
                namespaces=namespaces,  # empty with clusterwide: every namespace (None breaks kopf)
                clusterwide=not namespaces,
                liveness_endpoint=liveness,
            )
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
