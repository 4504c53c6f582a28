"""The console's drift charts in real headless Chromium: a server sees a drifted stream (sizes 1.8x),
its monitor flags those features, and the console draws one bar per feature with exactly the
drifted ones marked, plus the explanation drift chart. Screenshot in test-artifacts/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from test_console import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MODEL, free_port, wait_until_ready

from explainops_server.models.artifact import read_feature_csv
from explainops_server.models.example import train_example

pytestmark = pytest.mark.browser

SIZE_FEATURES = ["mean radius", "mean perimeter", "mean area", "worst radius", "worst perimeter", "worst area"]


@pytest.fixture(scope="module")
def drifted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    base = tmp_path_factory.mktemp("console-drift")
    outputs = train_example(base / "models" / MODEL, base / "data", name=MODEL, n_estimators=20, max_depth=4)
    names = json.loads((outputs.version_dir / "metadata.json").read_text())["feature_names"]
    holdout, _ = read_feature_csv(outputs.holdout_csv, names)
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "explainops-server"), "serve",
        "--model-name", MODEL, "--model-uri", str(outputs.version_dir), "--explainer", "tree_shap",
        "--host", "127.0.0.1", "--http-port", str(port), "--data-dir", str(base),
        "--feedback-store", f"sqlite:///{base / 'feedback.db'}", "--record-flush-ms", "20",
        "--monitor-interval", "0.5", "--monitor-window", "200", "--monitor-min-rows", "50",
        "--monitor-explain-rows", "16",
    ]  # fmt: skip
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url, base / "server.log")
        rows = holdout[np.random.default_rng(0).integers(0, len(holdout), 200)]
        for name in SIZE_FEATURES:
            rows[:, names.index(name)] *= 1.8
        sent = time.time()
        for start in range(0, 200, 100):
            response = httpx.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": rows[start : start + 100].tolist()})
            assert response.status_code == 200, response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            doc = httpx.get(f"{url}/v1/models/{MODEL}/monitoring", timeout=10).json()
            if doc["status"] == "ok" and doc["computed_at"] > sent + 0.2 and doc["input_drift"]["window_rows"] == 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"monitor never computed the drifted window: {doc}")
        time.sleep(1.2)  # store counts are reused for about a second: let them see all 200 rows
        yield url, doc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def test_console_draws_per_feature_input_drift_and_explanation_drift(drifted_server) -> None:
    from playwright.sync_api import sync_playwright

    url, doc = drifted_server
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    drift = doc["input_drift"]
    assert set(SIZE_FEATURES) <= set(drift["drifted_features"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{url}/console/?model={MODEL}")
            chart = page.locator('#drift-chart svg[data-kind="input-drift"]')
            chart.wait_for(timeout=20_000)
            bars = chart.locator("rect[data-feature]")
            assert bars.count() == len(drift["features"]) == 30
            marked = set(chart.locator('rect[data-drifted="true"]').evaluate_all("els => els.map(e => e.dataset.feature)"))
            # The page may have refreshed after a newer cycle: compare with what the server says now.
            now = httpx.get(f"{url}/v1/models/{MODEL}/monitoring", timeout=10).json()["input_drift"]
            assert marked == set(now["drifted_features"]) and set(SIZE_FEATURES) <= marked
            # Drifted features come first, each bar labelled with its statistic.
            first = bars.first.get_attribute("data-feature")
            assert first in marked and bars.first.get_attribute("data-statistic") == "ks"
            assert page.inner_text("#fig-input-drift") == f"{len(marked)} / 30 features"
            assert page.inner_text("#fig-labelled-share") == "0.0 %"  # nothing labelled: drift needs no labels
            store = page.inner_text("#fig-store")  # the retention figures reach the console too
            assert store.startswith("200 predictions, 0 feedback") and "kept 30.0 d" in store
            summary = page.inner_text("#drift-summary")
            assert "of 30 features drifted" in summary and "200 predictions" in summary

            moved = page.locator('#explanation-drift-chart svg[data-kind="explanation-drift"]')
            moved.wait_for(timeout=10_000)
            assert moved.locator('rect[data-sample="reference"]').count() == 8
            assert moved.locator('rect[data-sample="recent"]').count() == 8
            assert "of attribution moved" in page.inner_text("#explanation-drift-summary")
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(".model-panel").screenshot(path=str(ARTIFACTS / "console-drift.png"))
            assert errors == [], errors
        finally:
            browser.close()
