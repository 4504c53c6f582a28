#!/usr/bin/env python3
"""Benchmark of explainops-server against stock KServe 0.20 and stock alibi, measured in the same run.

Not a test: it prints ratios against the baseline. Everything runs on 127.0.0.1 and every loop is
bounded. Usage: `.venv/bin/python bench/bench_server.py [--quick]`.

Baselines:
- stock `kserve.ModelServer` (subclassed only to bind 127.0.0.1, gRPC off) serving the same
  estimator with `predict_proba` and a synchronous alibi AnchorTabular `explain` (what kserve runs);
- stock alibi in-process (AnchorTabular with the estimator's `predict`, alibi's default settings);
- a stock-style separate explainer: alibi KernelShap in this process calling the stock predictor
  over HTTP for every perturbation batch (KServe's separate explainer component).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODEL = "breast-cancer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# ---- the stock server (runs in its own process) --------------------------------------------------
def run_stock_server(version_dir: str, port: int) -> None:
    sys.argv = sys.argv[:1]  # kserve parses argv on import
    import kserve
    import kserve.model_server as model_server
    import skops.io
    from kserve.protocol.rest.server import RESTServer

    from explainops_server.models.artifact import load_artifact

    class LoopbackRESTServer(RESTServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.config.host = "127.0.0.1"  # stock RESTServer hard-codes 0.0.0.0

    class LoopbackModelServer(kserve.ModelServer):
        def start(self, models):
            model_server.RESTServer = LoopbackRESTServer
            super().start(models)

    class StockModel(kserve.Model):
        def load(self):
            artifact = load_artifact(version_dir)
            self.estimator = artifact.estimator
            self.feature_names = artifact.metadata.feature_names
            self.background = artifact.background
            self._anchor = None
            self.ready = True
            return True

        def predict(self, payload, headers=None):
            if isinstance(payload, kserve.InferRequest):  # V2
                proba = self.estimator.predict_proba(payload.inputs[0].as_numpy())
                output = kserve.InferOutput("probabilities", list(proba.shape), "FP64")
                output.set_data_from_numpy(proba, binary_data=False)
                return kserve.InferResponse(payload.id or uuid.uuid4().hex, self.name, [output])
            return {"predictions": self.estimator.predict_proba(np.asarray(payload["instances"])).tolist()}

        def explain(self, payload, headers=None):  # synchronous, like kserve's alibi explainer
            from alibi.explainers import AnchorTabular

            if self._anchor is None:
                self._anchor = AnchorTabular(self.estimator.predict, self.feature_names, seed=0)
                self._anchor.fit(self.background)
            result = self._anchor.explain(np.asarray(payload["instances"]), threshold=0.95)
            return {
                "anchor": result.data["anchor"],
                "precision": float(np.asarray(result.data["precision"]).item()),
            }

    del skops
    model = StockModel(MODEL)
    model.load()
    LoopbackModelServer(http_port=port, enable_grpc=False, workers=1).start([model])


# ---- helpers ---------------------------------------------------------------------------------------
def wait_ready(url: str, proc: subprocess.Popen, path: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def start_ours(
    version_dir: Path, work: Path, explainer: str, params: dict | None = None
) -> tuple[str, subprocess.Popen]:
    port = free_port()
    args = [
        str(VENV_BIN / "explainops-server"),
        "serve",
        "--model-name",
        MODEL,
        "--model-uri",
        str(version_dir),
        "--http-port",
        str(port),
        "--explainer",
        explainer,
        "--feedback-store",
        f"sqlite:///{work / f'{explainer}.db'}",
        "--explain-workers",
        "2",
        "--explain-timeout",
        "300",
        "--log-level",
        "warning",
    ]
    if params:
        args += ["--explainer-params", json.dumps(params)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(work / f"{explainer}.log", "wb"))  # noqa: SIM115 (lives as long as the server)
    return f"http://127.0.0.1:{port}", proc


def timed_posts(client, url: str, bodies: list[dict]) -> tuple[list[float], list[dict]]:
    times, results = [], []
    for body in bodies:
        started = time.perf_counter()
        response = client.post(url, json=body)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        results.append(response.json())
    return times, results


def inprocess_p50(fn, x: np.ndarray, repeats: int = 200) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - started)
    return pct(times, 50)


async def health_during_explains(url: str, path: str, bodies: list[dict], live_path: str) -> list[float]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        explains = [asyncio.create_task(http.post(path, json=b)) for b in bodies]
        await asyncio.sleep(0.3)  # let the explanations start
        latencies: list[float] = []
        while not all(t.done() for t in explains) and len(latencies) < 20_000:
            started = time.perf_counter()
            await http.get(live_path)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
        for task in explains:
            (await task).raise_for_status()
        return latencies


async def feedback_single(url: str, prediction_ids: list[str], total: int, concurrency: int) -> float:
    import httpx

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(http):
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "prediction_id": prediction_ids[i % len(prediction_ids)],
                "feedback_id": uuid.uuid4().hex,
                "label": 1,
            }
            (await http.post(f"/v1/models/{MODEL}/feedback", json=body)).raise_for_status()

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def _feedback_client(url: str, ids: list[str], total: int, concurrency: int) -> tuple[int, float, float]:
    started = time.time()
    asyncio.run(feedback_single(url, ids, total, concurrency))
    return total, started, time.time()


def feedback_single_processes(
    url: str, ids: list[str], total: int, processes: int = 4, concurrency: int = 8
) -> float:
    """Several client processes: one Python client process saturates before the server does."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        share = total // processes
        results = list(
            pool.map(
                _feedback_client,
                [url] * processes,
                [ids] * processes,
                [share] * processes,
                [concurrency] * processes,
            )
        )
    sent = sum(r[0] for r in results)
    return sent / (max(r[2] for r in results) - min(r[1] for r in results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock-server", nargs=2, metavar=("VERSION_DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.stock_server:
        run_stock_server(args.stock_server[0], int(args.stock_server[1]))
        return 0

    warnings.filterwarnings("ignore")
    import httpx

    from explainops_server.models.artifact import load_artifact, read_feature_csv
    from explainops_server.models.example import train_example
    from explainops_server.models.fast_forest import FlatForest

    n_predict = 100 if args.quick else 300
    n_anchor = 3 if args.quick else 5
    n_anchor_stock = 2 if args.quick else 3
    n_kernel = 5 if args.quick else 10

    work = Path(tempfile.mkdtemp(prefix="explainops-bench-"))
    outputs = train_example(work / "models" / MODEL, work / "data" / MODEL, seed=0)
    artifact = load_artifact(str(outputs.version_dir))
    holdout, _ = read_feature_csv(outputs.holdout_csv, artifact.metadata.feature_names)
    estimator = artifact.estimator
    flat = FlatForest.from_estimator(estimator)
    procs: list[subprocess.Popen] = []
    figures: dict[str, float] = {}
    try:
        stock_port = free_port()
        stock_url = f"http://127.0.0.1:{stock_port}"
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--stock-server", str(outputs.version_dir), str(stock_port)],
                stdout=subprocess.DEVNULL,
                stderr=open(work / "stock.log", "wb"),  # noqa: SIM115 (lives as long as the server)
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        )
        anchor_url, anchor_proc = start_ours(outputs.version_dir, work, "anchor_tabular")
        kernel_params = {"nsamples": 200, "background_size": 50, "l1_reg": False}
        kernel_url, kernel_proc = start_ours(outputs.version_dir, work, "kernel_shap", kernel_params)
        procs += [anchor_proc, kernel_proc]
        wait_ready(stock_url, procs[0], "/v2/health/ready")
        wait_ready(anchor_url, anchor_proc, "/v2/health/ready")
        wait_ready(kernel_url, kernel_proc, "/v2/health/ready")
        print(f"servers ready (work dir {work})", flush=True)

        # 1. predict overhead ------------------------------------------------------------------------
        rows = [{"instances": holdout[i % len(holdout)].reshape(1, -1).tolist()} for i in range(n_predict)]
        one = holdout[:1]
        with httpx.Client(timeout=60) as http:
            for url in (stock_url, anchor_url):  # warm up
                timed_posts(http, f"{url}/v1/models/{MODEL}:predict", rows[:20])
            stock_lat, _ = timed_posts(http, f"{stock_url}/v1/models/{MODEL}:predict", rows)
            ours_lat, _ = timed_posts(http, f"{anchor_url}/v1/models/{MODEL}:predict", rows)
            v2 = {
                "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": one.ravel().tolist()}]
            }
            stock_v2, _ = timed_posts(http, f"{stock_url}/v2/models/{MODEL}/infer", [v2] * (n_predict // 2))
            ours_v2, _ = timed_posts(http, f"{anchor_url}/v2/models/{MODEL}/infer", [v2] * (n_predict // 2))
        stock_inproc = inprocess_p50(estimator.predict_proba, one)
        ours_inproc = inprocess_p50(flat.predict_proba, one)
        stock_overhead = pct(stock_lat, 50) - stock_inproc
        ours_overhead = pct(ours_lat, 50) - ours_inproc
        figures.update(
            stock_predict_p50_ms=pct(stock_lat, 50) * 1e3,
            ours_predict_p50_ms=pct(ours_lat, 50) * 1e3,
            stock_v2_p50_ms=pct(stock_v2, 50) * 1e3,
            ours_v2_p50_ms=pct(ours_v2, 50) * 1e3,
            stock_inprocess_predict_ms=stock_inproc * 1e3,
            ours_inprocess_predict_ms=ours_inproc * 1e3,
            stock_predict_overhead_ms=stock_overhead * 1e3,
            ours_predict_overhead_ms=ours_overhead * 1e3,
            predict_overhead_ratio=ours_overhead / stock_overhead,
        )
        print(f"predict: {json.dumps({k: round(v, 3) for k, v in figures.items()})}", flush=True)

        # 2. Anchors per instance vs stock alibi in-process ----------------------------------------------
        from alibi.explainers import AnchorTabular

        stock_anchor = AnchorTabular(estimator.predict, artifact.metadata.feature_names, seed=0)
        stock_anchor.fit(artifact.background)
        stock_anchor_times, stock_precisions = [], []
        for i in range(n_anchor_stock):
            started = time.perf_counter()
            result = stock_anchor.explain(holdout[i : i + 1], threshold=0.95)
            stock_anchor_times.append(time.perf_counter() - started)
            stock_precisions.append(float(np.asarray(result.data["precision"]).item()))
        with httpx.Client(timeout=600) as http:
            bodies = [{"instances": holdout[i : i + 1].tolist()} for i in range(n_anchor)]
            ours_anchor_times, results = timed_posts(http, f"{anchor_url}/v1/models/{MODEL}:explain", bodies)
            ours_precisions = [r["explanations"][0]["precision"] for r in results]
            # 4. cached repeat
            cached_times, cached = timed_posts(
                http, f"{anchor_url}/v1/models/{MODEL}:explain", [bodies[0]] * 50
            )
            assert all(r["cached"] == [True] for r in cached)
        figures.update(
            stock_anchor_p50_s=pct(stock_anchor_times, 50),
            ours_anchor_p50_s=pct(ours_anchor_times, 50),
            anchor_speedup=pct(stock_anchor_times, 50) / pct(ours_anchor_times, 50),
            ours_anchor_min_precision=min(ours_precisions),
            stock_anchor_min_precision=min(stock_precisions),
            cached_explain_p50_ms=pct(cached_times, 50) * 1e3,
        )
        print(
            f"anchors: stock p50 {figures['stock_anchor_p50_s']:.2f} s, ours {figures['ours_anchor_p50_s']:.2f} s, "
            f"min precision {figures['ours_anchor_min_precision']:.3f}; cached {figures['cached_explain_p50_ms']:.2f} ms",
            flush=True,
        )

        # 3. KernelShap vs a separate explainer calling the predictor over HTTP ----------------------------
        from alibi.explainers import KernelShap

        with httpx.Client(base_url=stock_url, timeout=60) as predictor:

            def remote_proba(x: np.ndarray) -> np.ndarray:
                response = predictor.post(f"/v1/models/{MODEL}:predict", json={"instances": x.tolist()})
                return np.asarray(response.json()["predictions"])

            separate = KernelShap(
                remote_proba, link="identity", feature_names=artifact.metadata.feature_names, seed=0
            )
            separate.fit(artifact.background, summarise_background=True, n_background_samples=50)
            stock_kernel = []
            for i in range(n_kernel):
                started = time.perf_counter()
                separate.explain(holdout[i : i + 1], nsamples=200, l1_reg=False, silent=True)
                stock_kernel.append(time.perf_counter() - started)
        with httpx.Client(timeout=600) as http:
            bodies = [{"instances": holdout[i : i + 1].tolist()} for i in range(n_kernel)]
            ours_kernel, _ = timed_posts(http, f"{kernel_url}/v1/models/{MODEL}:explain", bodies)
        figures.update(
            stock_kernel_shap_p50_ms=pct(stock_kernel, 50) * 1e3,
            ours_kernel_shap_p50_ms=pct(ours_kernel, 50) * 1e3,
            kernel_shap_speedup=pct(stock_kernel, 50) / pct(ours_kernel, 50),
        )
        print(
            f"kernel shap: separate explainer p50 {figures['stock_kernel_shap_p50_ms']:.1f} ms, "
            f"ours {figures['ours_kernel_shap_p50_ms']:.1f} ms",
            flush=True,
        )

        # 5. health during 2 concurrent Anchors explanations -----------------------------------------------
        bodies = [{"instances": holdout[10 + i : 11 + i].tolist()} for i in range(2)]  # not cached
        ours_health = asyncio.run(
            health_during_explains(anchor_url, f"/v1/models/{MODEL}:explain", bodies, "/v2/health/live")
        )
        stock_health = asyncio.run(
            health_during_explains(stock_url, f"/v1/models/{MODEL}:explain", bodies[:1], "/v2/health/live")
        )
        figures.update(
            ours_health_p99_ms=pct(ours_health, 99) * 1e3,
            ours_health_samples=float(len(ours_health)),
            stock_health_max_ms=max(stock_health) * 1e3,
        )
        print(
            f"health during anchors: ours p99 {figures['ours_health_p99_ms']:.1f} ms over {len(ours_health)} probes; "
            f"stock worst {figures['stock_health_max_ms']:.0f} ms (one explanation)",
            flush=True,
        )

        # 6. feedback ingest (durable: acknowledged = committed) --------------------------------------------
        with httpx.Client(base_url=anchor_url, timeout=60) as http:
            batch_rows = [holdout[i % len(holdout)].tolist() for i in range(1000)]
            ids = http.post(f"/v1/models/{MODEL}:predict", json={"instances": batch_rows}).json()[
                "prediction_ids"
            ]
            single_rate = feedback_single_processes(anchor_url, ids, 1500 if args.quick else 4000)
            batches = 10 if args.quick else 30
            started = time.perf_counter()
            for _ in range(batches):
                records = [{"prediction_id": pid, "feedback_id": uuid.uuid4().hex, "label": 0} for pid in ids]
                http.post(f"/v1/models/{MODEL}/feedback:batch", json={"records": records}).raise_for_status()
            batch_rate = batches * len(ids) / (time.perf_counter() - started)
        figures.update(feedback_single_per_s=single_rate, feedback_batched_per_s=batch_rate)
        print(f"feedback: {single_rate:.0f} records/s single, {batch_rate:.0f} records/s batched", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    print("\n== ratios (goal in brackets) ==")
    print(f"predict overhead ours/stock        {figures['predict_overhead_ratio']:.2f}  (<= 0.50)")
    print(
        f"Anchors speed-up vs stock alibi    {figures['anchor_speedup']:.1f}x (>= 5x, precision {figures['ours_anchor_min_precision']:.3f} >= 0.95)"
    )
    print(f"KernelShap speed-up vs separate    {figures['kernel_shap_speedup']:.1f}x (>= 3x)")
    print(f"cached repeat explanation p50      {figures['cached_explain_p50_ms']:.2f} ms (<= 2 ms)")
    print(f"health p99 during 2 Anchors        {figures['ours_health_p99_ms']:.1f} ms (<= 50 ms)")
    print(
        f"feedback single / batched          {figures['feedback_single_per_s']:.0f} / {figures['feedback_batched_per_s']:.0f} records/s (>= 2000 / 20000)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    raise SystemExit(main())
