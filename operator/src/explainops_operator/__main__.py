"""`explainops-operator` / `python -m explainops_operator`: run the kopf operator with its handlers."""

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
        epilog="Every option also reads EXPLAINOPS_OPERATOR_* environment variables (see operator/README.md).",
    )
    parser.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", metavar="NAMESPACE",
        help="namespace to watch (repeatable); default: EXPLAINOPS_OPERATOR_NAMESPACES, else every namespace",
    )
    parser.add_argument("--liveness", metavar="URL", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
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
