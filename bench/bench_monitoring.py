#!/usr/bin/env python3
"""Predict latency with drift monitoring and retention on, against the same server with both off.

Not a test: it prints the ratio of the two p50s, measured side by side in the same run. Both
servers serve the example model (TreeShap) on 127.0.0.1 with a store pre-filled with predictions,
so every monitor cycle does real work. To make sure cycles overlap the measurement, the monitored
server recomputes every second (the default is every 30 s) and explains 32 rows per cycle for
explanation drift; its retention pass runs every 5 s. Rounds alternate on/off to spread machine noise.

Usage: `.venv/bin/python bench/bench_monitoring.py [--rounds 3] [--seconds 5] [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import MODEL, VENV_BIN, WRK, free_port, pct, wait_ready, wrk_sequential

PREFILL_ROWS = 2000


def start(version_dir: Path, work: Path, name: str, monitoring: bool) -> tuple[str, subprocess.Popen]:
    port = free_port()
    args = [
        str(VENV_BIN / "explainops-server"), "serve", "--model-name", MODEL, "--model-uri", str(version_dir),
        "--explainer", "tree_shap", "--host", "127.0.0.1", "--http-port", str(port), "--data-dir", str(work),
        "--feedback-store", f"sqlite:///{work / f'{name}.db'}", "--log-level", "warning",
    ]  # fmt: skip
    if monitoring:
        args += ["--monitor-interval", "1", "--monitor-window", "500", "--monitor-explain-rows", "32",
                 "--retention-interval", "5"]  # fmt: skip
    else:
        args += ["--monitor-interval", "0", "--retention-seconds", "0"]
    log = (work / f"{name}.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, "/v2/health/ready")
    return url, proc


def httpx_sequential(url: str, body: dict, seconds: float) -> dict[str, float]:
    import httpx

    latencies = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline and len(latencies) < 200_000:
            started = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return {"p50_us": pct(latencies, 50) * 1e6, "p99_us": pct(latencies, 99) * 1e6, "requests": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import httpx

    from explainops_server.models.artifact import read_feature_csv, read_metadata
    from explainops_server.models.example import train_example

    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        work = Path(tmp)
        out = train_example(work / "models" / MODEL, work / "data")
        names = read_metadata(out.version_dir).feature_names
        holdout, _ = read_feature_csv(out.holdout_csv, names)
        servers = {}
        try:
            for name, monitoring in (("on", True), ("off", False)):
                servers[name] = start(out.version_dir, work, name, monitoring)
            rows = holdout[np.random.default_rng(0).integers(0, len(holdout), PREFILL_ROWS)]
            for url, _ in servers.values():
                for begin in range(0, PREFILL_ROWS, 500):
                    batch = rows[begin : begin + 500].tolist()
                    httpx.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": batch}, timeout=60).raise_for_status()
            time.sleep(3)  # the first cycles (reference explanations included) are done
            body = {"instances": holdout[:1].tolist()}
            p50s: dict[str, list[float]] = {"on": [], "off": []}
            for round_ in range(args.rounds):
                order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
                for name in order:
                    url = f"{servers[name][0]}/v1/models/{MODEL}:predict"
                    figures = wrk_sequential(url, body, work, args.seconds) if WRK else httpx_sequential(url, body, args.seconds)
                    p50s[name].append(figures["p50_us"] / 1000)
            on_url = servers["on"][0]
            cycles = httpx.get(f"{on_url}/v1/models/{MODEL}/monitoring", timeout=10).json()
        finally:
            for _, proc in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
    on, off = float(np.median(p50s["on"])), float(np.median(p50s["off"]))
    result = {
        "client": "wrk, 1 connection" if WRK else "httpx, sequential",
        "predict_p50_ms_monitoring_on": round(on, 4),
        "predict_p50_ms_monitoring_off": round(off, 4),
        "ratio_on_over_off": round(on / off, 3),
        "rounds_on_ms": [round(v, 4) for v in p50s["on"]],
        "rounds_off_ms": [round(v, 4) for v in p50s["off"]],
        "monitor_status_at_end": cycles["status"],
        "explanation_drift_explainer": (cycles.get("explanation_drift") or {}).get("explainer"),
    }
    print("predict p50 with monitoring on vs off (1-row V1 predict, example model, TreeShap)")
    print(f"  client              {result['client']}, {args.rounds} alternating rounds of {args.seconds:.0f} s")
    print(f"  monitoring on       {on:.3f} ms  (rounds {result['rounds_on_ms']})")
    print(f"  monitoring off      {off:.3f} ms  (rounds {result['rounds_off_ms']})")
    print(f"  ratio on / off      {result['ratio_on_over_off']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
