"""The feedback console in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

A real explainops-server serves the example model; predictions and explanations are made through
REST; the console must list them, draw the explanation, and record a wrong-label verdict and an
explanation rating that the stats API then reports. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from explainops_server.models.artifact import read_feature_csv
from explainops_server.models.example import train_example

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
README_SCREENSHOT = REPO / "docs" / "console.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
MODEL = "breast-cancer"
TOKEN = "console-test-token"


@dataclass
class Server:
    url: str
    token: str | None
    explainer: str
    holdout: list[list[float]]

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 120) -> None:
    """Poll the server's readiness; fail with its log if it exits or is not ready in time."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"explainops-server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"explainops-server not ready after {timeout:.0f} s: {log_path.read_text()[-3000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def example_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[float]]]:
    base = tmp_path_factory.mktemp("console-model")
    outputs = train_example(base / "models" / MODEL, base / "data", name=MODEL)
    feature_names = json.loads((outputs.version_dir / "metadata.json").read_text())["feature_names"]
    features, _ = read_feature_csv(outputs.holdout_csv, feature_names)
    return outputs.version_dir, features[:12].tolist()


# Auth off with SHAP attributions; auth on with Anchors rules: both pictures, two servers.
@pytest.fixture(
    scope="module",
    params=[(None, "tree_shap"), (TOKEN, "anchor_tabular")],
    ids=["auth-off-shap", "auth-on-anchors"],
)
def server(
    request: pytest.FixtureRequest, example_model: tuple[Path, list[list[float]]], tmp_path_factory
) -> Iterator[Server]:
    version_dir, holdout = example_model
    token, explainer = request.param
    workdir = tmp_path_factory.mktemp("console-server")
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "explainops-server"), "serve",
        "--model-name", MODEL, "--model-uri", str(version_dir), "--explainer", explainer,
        "--host", "127.0.0.1", "--http-port", str(port),
        "--feedback-store", f"sqlite:///{workdir / 'feedback.db'}", "--data-dir", str(workdir),
    ]  # fmt: skip
    env = {**os.environ}
    if token:
        (workdir / "token").write_text(token)
        argv += ["--auth-token-file", str(workdir / "token")]
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, url, workdir / "server.log")
        yield Server(url, token, explainer, holdout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path))
    return path


def test_console_lists_predictions_and_records_feedback_the_stats_api_reports(
    server: Server, browser
) -> None:
    with server.client() as api:
        predicted = api.post(f"/v1/models/{MODEL}:predict", json={"instances": server.holdout[:6]})
        assert predicted.status_code == 200, predicted.text
        explained = api.post(
            f"/v1/models/{MODEL}:explain", json={"instances": server.holdout[6:8]}, timeout=180
        )
        assert explained.status_code == 200, explained.text
    explained_ids = explained.json()["prediction_ids"]
    explained_classes = [e["predicted_class"] for e in explained.json()["explanations"]]
    suffix = f"{'auth-on' if server.token else 'auth-off'}-{server.explainer}"

    page = browser.new_page(viewport={"width": 1280, "height": 760})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/console/")
        if server.token:
            anonymous = httpx.get(f"{server.url}/v1/models/{MODEL}/predictions", timeout=30)
            assert anonymous.status_code == 401  # the page is public, the data is not
            # Without a token the feedback routes answer 401: the console says what to do.
            page.wait_for_selector("#banner:not([hidden])", timeout=20_000)
            assert "token" in page.inner_text("#banner").lower()
            assert page.locator("#prediction-rows tr").count() == 0
            page.fill("#token", server.token)
            page.click("#connect")

        rows = page.locator("#prediction-rows tr")
        rows.first.wait_for(timeout=20_000)
        assert rows.count() == 8
        assert page.input_value("#model-name") == MODEL  # found through GET /v1/models

        page.click(f'tr[data-prediction-id="{explained_ids[0]}"]')
        if server.explainer == "tree_shap":
            # SHAP: feature attributions drawn as bars.
            chart = page.locator('#explanation svg[data-kind="shap"]')
            chart.wait_for(timeout=10_000)
            assert chart.locator("rect").count() >= 3
        else:
            # Anchors: the rule, then precision and coverage as meters.
            anchor = explained.json()["explanations"][0]
            rule = page.locator('#explanation [data-kind="anchor"]')
            rule.wait_for(timeout=10_000)
            assert rule.locator(".cond").all_inner_texts() == anchor["anchor"]
            meters = [text.split() for text in page.locator("#explanation .meter").all_inner_texts()]
            assert [m[0] for m in meters] == ["Precision", "Coverage"]
            assert float(meters[0][1]) == pytest.approx(100 * anchor["precision"], abs=0.051)
            assert float(meters[1][1]) == pytest.approx(100 * anchor["coverage"], abs=0.051)

        # Verdict "wrong" with the true label, and a poor explanation rating with a comment.
        page.click("#mark-wrong")
        true_label = 1 - explained_classes[0]
        page.select_option("#true-label", str(true_label))
        page.check('input[name="rating"][value="2"]')
        page.fill("#comment", "Relies on size alone; texture matters here.")
        page.click("#submit-feedback")
        page.wait_for_function("document.getElementById('feedback-result').textContent.includes('recorded')")

        # A second one: correct, convincing explanation.
        page.click(f'tr[data-prediction-id="{explained_ids[1]}"]')
        page.click("#mark-correct")
        page.check('input[name="rating"][value="5"]')
        page.click("#submit-feedback")
        page.wait_for_function("document.getElementById('feedback-result').textContent.includes('recorded')")

        page.wait_for_selector("#accuracy-chart svg", timeout=10_000)
        page.click(f'tr[data-prediction-id="{explained_ids[0]}"]')
        shot = screenshot(page, suffix)
        assert errors == [], errors
    finally:
        page.close()

    with server.client() as api:
        stats = api.get(f"/v1/models/{MODEL}/feedback/stats", params={"window": 100}).json()
        listing = api.get(f"/v1/models/{MODEL}/predictions", params={"limit": 50}).json()
    assert stats["labelled_count"] == 2
    assert stats["accuracy"] == 0.5
    assert stats["explanation_ratings"] == 2
    assert stats["mean_explanation_rating"] == 3.5
    feedback = {p["prediction_id"]: p["feedback"] for p in listing["predictions"]}
    (wrong,) = feedback[explained_ids[0]]
    assert wrong["label"] == true_label and wrong["correct"] is False
    assert wrong["explanation_rating"] == 2 and wrong["source"] == "console"
    assert wrong["comment"] == "Relies on size alone; texture matters here."
    (right,) = feedback[explained_ids[1]]
    assert (
        right["correct"] is True
        and right["label"] == explained_classes[1]
        and right["explanation_rating"] == 5
    )

    if not server.token:
        # The README's picture: the one without auth, if small enough. Refreshed only on request
        # (EXPLAINOPS_UPDATE_README_SCREENSHOT=1), so a test run leaves the work tree clean.
        assert shot.stat().st_size < 150_000, f"{shot} is {shot.stat().st_size} bytes"
        if os.environ.get("EXPLAINOPS_UPDATE_README_SCREENSHOT") == "1":
            shutil.copyfile(shot, README_SCREENSHOT)
