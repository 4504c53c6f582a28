"""The server images as built from this tree (`make images`, `make image-alibi`): what is in them, and
that each one trains a model and serves an explanation when run as its own user on its own root
filesystem (extracted from the docker-archive, entered with chroot: no container engine here).

Each test runs only when the archive of the current tree exists (`hack/build-images.sh
--print-archive` names it) and, for the runs, as root (chroot).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from explainops_devtools.image_rootfs import ImageRun, listing, repo_tags, unpack

REPO = Path(__file__).resolve().parents[2]
MODEL = "image-check"
FLAVOURS = {"default": [], "alibi": ["--flavour", "alibi"]}


def archive_of(flavour: str) -> Path:
    out = subprocess.run(
        [str(REPO / "hack" / "build-images.sh"), *FLAVOURS[flavour], "--print-archive"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    path = Path(out.stdout.strip().splitlines()[-1])
    if not path.is_file():
        target = "make images" if flavour == "default" else "make image-alibi"
        pytest.skip(f"no {flavour} server image built from this tree ({path.name}); run `{target}`")
    return path


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def image(request, tmp_path_factory) -> Iterator[tuple[str, ImageRun]]:
    flavour = request.param
    archive = archive_of(flavour)
    if os.geteuid() != 0:
        pytest.skip("running an image's root filesystem needs root (chroot)")
    rootfs = tmp_path_factory.mktemp(f"image-{flavour}") / "rootfs"
    config = unpack(archive, rootfs)
    yield flavour, ImageRun(rootfs, config)
    shutil.rmtree(rootfs, ignore_errors=True)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_image_holds_neither_kserve_nor_test_suites(flavour):
    archive = archive_of(flavour)
    (tag,) = repo_tags(archive)  # the flavour is the server image under a tag of its own
    assert tag.rsplit("/", 1)[-1].startswith("explainops-server:"), tag
    assert tag.endswith("-alibi") == (flavour == "alibi"), tag
    names = listing(archive)
    packages = {Path(n).parts[5] for n in names if n.startswith("opt/venv/lib/") and len(Path(n).parts) > 5}
    assert "numpy" in packages and "explainops_server" in packages
    unwanted = packages & {"kserve", "kubernetes", "grpc", "pip"}
    assert not unwanted, unwanted
    stripped = ("numpy", "pandas", "scipy", "sklearn")  # the test suites the Dockerfile removes
    assert not [n for n in names if "/tests/" in n and Path(n).parts[5:6] in [(p,) for p in stripped]][:5]
    assert "alibi" in packages if flavour == "alibi" else "alibi" not in packages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_image_trains_and_serves_an_explanation(image):
    flavour, run = image
    trained = run.run("train", "--help")
    assert trained.returncode == 0 and "train" in (trained.stdout + trained.stderr)
    made = subprocess.run(  # the example model, made by the image's own Python and libraries
        run.command("/opt/venv/bin/python", "-c",
                    "from explainops_server.models.example import train_example as t; t('/tmp/m', '/tmp/d', n_estimators=10, max_depth=3)"),
        env=run.env, capture_output=True, text=True, timeout=300, check=False, cwd="/",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    port = free_port()
    backend = ["--explainer-backend", "alibi"] if flavour == "alibi" else []
    serve = subprocess.Popen(
        run.argv("serve", "--model-name", MODEL, "--model-uri", "/tmp/m/v1", "--explainer", "anchor_tabular",
                 *backend, "--host", "127.0.0.1", "--http-port", str(port), "--data-dir", "/tmp/data"),
        env=run.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and serve.poll() is None:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert serve.poll() is None, serve.stdout.read().decode()[-3000:]
        first_row = (run.rootfs / "tmp/d/holdout.csv").read_text().splitlines()[1]
        instance = [float(v) for v in first_row.split(",")[:-1]]  # the last column is the target
        response = httpx.post(f"{url}/v1/models/{MODEL}:explain", json={"instances": [instance]}, timeout=300)
        assert response.status_code == 200, response.text
        (explanation,) = response.json()["explanations"]
        assert explanation["type"] == "anchor" and explanation["anchor"]
        assert explanation["precision"] >= 0.9
    finally:
        serve.terminate()
        serve.wait(30)
