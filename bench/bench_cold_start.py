#!/usr/bin/env python3
"""Cold start of `explainops-server serve` against a bare FastAPI + uvicorn server, in the same run.

Not a test: it prints ratios against a baseline measured in the same run, alternating the two so a
busy machine slows both alike. Everything listens on 127.0.0.1; every wait is bounded.

    .venv/bin/python bench/bench_cold_start.py [--starts 5] [--explainer tree_shap ...] [--ref main]
        [--without-bytecode] [--json out.json]

Figures:
- serve -> first 200 on /v2/health/ready, per explainer (median of --starts): spawning the CLI, imports,
  loading the artifact, building the explainer, opening the feedback store, binding the port;
- the baseline: a FastAPI app with one health route under uvicorn, spawned the same way, to the same
  first 200: the floor any Python server of this stack pays on this machine right now;
- with `--ref REF`, the server of that git revision too (its `explainer-server/src` on PYTHONPATH, the
  same venv), so a change is measured against what it replaces in the same run;
- with `--without-bytecode`, each server again with an empty bytecode cache (PYTHONPYCACHEPREFIX):
  what a venv installed without compiled bytecode pays when PYTHONDONTWRITEBYTECODE is set;
- `python -c "import X"` for the heavy modules on the serving path, against `python -c pass`, to show
  where the time goes (the same numbers `python -X importtime` gives, summed per top-level module).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BASELINE_APP = """
import sys
import fastapi, uvicorn
app = fastapi.FastAPI()
@app.get("/v2/health/ready")
def ready():
    return {"ready": True}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
IMPORTS = ["numpy", "scipy.stats", "sklearn.ensemble", "skops.io", "pandas", "shap", "fastapi", "uvicorn",
           "kserve", "explainops_server.cli"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HOST_ENV = {k: v for k, v in os.environ.items() if not k.startswith("EXPLAINOPS_")}


def time_to_ready(command: list[str], port: int, env: dict[str, str], timeout: float = 120) -> float:
    """Seconds from spawning `command` to the first 200 on its /v2/health/ready."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v2/health/ready", timeout=1
                ) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{command[0]} not ready in {timeout} s")
    finally:
        proc.terminate()
        proc.wait(30)


def serve_command(
    program: list[str], version_dir: Path, data_dir: Path, explainer: str, port: int
) -> list[str]:
    return [*program, "serve", "--model-name", "bench", "--model-uri", str(version_dir),
            "--data-dir", str(data_dir), "--host", "127.0.0.1", "--http-port", str(port),
            "--explainer", explainer, "--log-level", "warning"]  # fmt: skip


def import_seconds(python: list[str], env: dict[str, str], module: str) -> float | None:
    started = time.perf_counter()
    done = subprocess.run(
        [*python, "-c", f"import {module}"], env=env, cwd="/", capture_output=True, timeout=120
    )
    return time.perf_counter() - started if done.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="cold starts per figure (median)")
    parser.add_argument("--explainer", action="append", help="explainers to start (default: all four)")
    parser.add_argument(
        "--model-dir", type=Path, help="a model version directory (default: train the example)"
    )
    parser.add_argument("--ref", help="also start the server of this git revision (e.g. main)")
    parser.add_argument(
        "--without-bytecode", action="store_true", help="also start each with no bytecode cache"
    )
    parser.add_argument(
        "--image-archive", type=Path, help="run the server and the baseline inside this image (root: chroot)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.image_archive and (args.ref or args.without_bytecode or args.model_dir):
        parser.error(
            "--image-archive runs the image's own server on a model it trains: no --ref, --without-bytecode, --model-dir"
        )
    explainers = args.explainer or ["tree_shap", "kernel_shap", "anchor_tabular", "ale"]
    figures: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="explainops-cold-") as tmp:
        root = Path(tmp)
        variants: dict[str, dict[str, str]] = {"this tree": {}}
        if args.ref:
            source = root / "ref"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref, "explainer-server/src"],
                                     capture_output=True, check=True, timeout=60).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True, timeout=60)
            variants[args.ref] = {"PYTHONPATH": str(source / "explainer-server" / "src")}
        if args.without_bytecode:
            (root / "no-bytecode").mkdir()
            empty = {"PYTHONPYCACHEPREFIX": str(root / "no-bytecode"), "PYTHONDONTWRITEBYTECODE": "1"}
            variants |= {f"{label}, no bytecode": env | empty for label, env in list(variants.items())}
        # Where the processes run: this venv, or the image's root filesystem as the image's user.
        python, program, env, inside = [sys.executable], [str(BIN / "explainops-server")], HOST_ENV, root
        if args.image_archive:
            from explainops_devtools.image_rootfs import ImageRun, unpack

            image = ImageRun(root / "rootfs", unpack(args.image_archive, root / "rootfs"))
            python, program = image.command("/opt/venv/bin/python"), image.argv()
            env, inside = image.env, Path("/tmp")
        version_dir = args.model_dir
        if version_dir is None:
            train = "from explainops_server.models.example import train_example as t; import sys; t(sys.argv[1], sys.argv[2])"
            subprocess.run([*python, "-c", train, str(inside / "models" / "bench"), str(inside / "data")],
                           env=env, cwd="/", check=True, capture_output=True, timeout=600)  # fmt: skip
            version_dir = inside / "models" / "bench" / "v1"
        baseline: list[float] = []
        ours: dict[tuple[str, str], list[float]] = {(v, e): [] for v in variants for e in explainers}
        for i in range(args.starts):
            port = free_port()
            baseline.append(time_to_ready([*python, "-c", BASELINE_APP, str(port)], port, env))
            for (variant, explainer), times in ours.items():
                port = free_port()
                data_dir = inside / f"store-{len(times)}-{i}-{explainer}-{variant.replace(' ', '_')}"
                command = serve_command(program, version_dir, data_dir, explainer, port)
                times.append(time_to_ready(command, port, env | variants[variant]))
        figures["baseline_fastapi_uvicorn_s"] = statistics.median(baseline)
        for (variant, explainer), times in ours.items():
            key = f"serve_{explainer}_{variant}".replace(" ", "_").replace(",", "")
            figures[f"{key}_s"] = statistics.median(times)
            figures[f"{key}_ratio"] = statistics.median(times) / figures["baseline_fastapi_uvicorn_s"]
        interpreter = statistics.median(import_seconds(python, env, "sys") or 0.0 for _ in range(3))
        figures["python_startup_s"] = interpreter
        for module in IMPORTS:
            seconds = import_seconds(python, env, module)
            figures[f"import_{module}_s"] = None if seconds is None else max(0.0, seconds - interpreter)

    f = figures
    where = f"in {args.image_archive.name}" if args.image_archive else "this venv"
    print(
        f"\nCold start, spawn -> first 200 on /v2/health/ready (median of {args.starts}, {where}, this run)"
    )
    print(f"  baseline: FastAPI + uvicorn, one route    {f['baseline_fastapi_uvicorn_s']:.2f} s")
    for variant in variants:
        for explainer in explainers:
            key = f"serve_{explainer}_{variant}".replace(" ", "_").replace(",", "")
            print(
                f"  serve {explainer} ({variant})".ljust(44)
                + f"{f[f'{key}_s']:.2f} s = {f[f'{key}_ratio']:.2f}x the baseline"
            )
    print(f"Imports beyond `python -c pass` ({f['python_startup_s']:.2f} s), each in a fresh interpreter")
    for module in IMPORTS:
        seconds = f[f"import_{module}_s"]
        print(f"  {module}".ljust(44) + ("not installed" if seconds is None else f"{seconds:.2f} s"))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
