"""Pure parts of the local workload runner: which images it accepts, and how container paths and
ports become local ones."""

from __future__ import annotations

import pytest

from explainops_devtools.runner import (
    UnsupportedWorkload,
    check_image,
    container_port,
    image_repository,
    rewrite_args,
    rewrite_value,
)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("ghcr.io/explainops/explainops-server:0.1.0", "ghcr.io/explainops/explainops-server"),
        ("ghcr.io/explainops/explainops-server", "ghcr.io/explainops/explainops-server"),
        ("ghcr.io/explainops/explainops-server@sha256:abc", "ghcr.io/explainops/explainops-server"),
        ("localhost:5000/explainops-server:dev", "localhost:5000/explainops-server"),
        ("nginx", "nginx"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_any_tag_of_the_project_images_is_accepted_and_others_are_refused_by_name() -> None:
    assert (
        check_image("ghcr.io/explainops/explainops-server:9.9.9", "c")
        == "ghcr.io/explainops/explainops-server"
    )
    with pytest.raises(UnsupportedWorkload, match=r"ghcr\.io/evil/explainops-server:0\.1\.0"):
        check_image("ghcr.io/evil/explainops-server:0.1.0", "container 'x'")
    with pytest.raises(UnsupportedWorkload, match="no image"):
        check_image(None, "container 'x'")


def test_paths_are_remapped_only_as_whole_path_prefixes() -> None:
    paths = {"/mnt/models": "/home/u/models", "/dev/termination-log": "/w/term", "/var/lib/x": "/w/x"}
    assert rewrite_value("/mnt/models/v2", {}, paths) == "/home/u/models/v2"
    assert rewrite_value("file:///mnt/models/v2", {}, paths) == "file:///home/u/models/v2"
    assert rewrite_value("sqlite:////var/lib/x/feedback.db", {}, paths) == "sqlite:////w/x/feedback.db"
    assert rewrite_value("--termination-log=/dev/termination-log", {}, paths) == "--termination-log=/w/term"
    assert rewrite_value("/mnt/models-old", {}, paths) == "/mnt/models-old"
    assert rewrite_value("/srv/mnt/models", {}, paths) == "/srv/mnt/models"
    # One pass: a replacement that itself starts with a mapped path is not rewritten again.
    assert rewrite_value("/a/b", {}, {"/a": "/b/c", "/b": "/zzz"}) == "/b/c/b"


def test_ports_and_host_are_remapped_for_a_local_process() -> None:
    args = ["serve", "--http-port", "8085", "--host", "0.0.0.0", "--upstream", "http://localhost:8085/v1"]
    assert rewrite_args(args, {8085: 41234}, {}) == [
        "serve", "--http-port", "41234", "--host", "127.0.0.1", "--upstream", "http://127.0.0.1:41234/v1",
    ]  # fmt: skip
    assert rewrite_args(["--http-port=8080", "--host=::"], {8080: 5}, {}) == [
        "--http-port=5",
        "--host=127.0.0.1",
    ]


def test_container_port_follows_the_server_flag_then_the_declared_port() -> None:
    assert container_port({"args": ["serve", "--http-port", "8085"], "ports": [{"containerPort": 9}]}) == 8085
    assert container_port({"args": ["serve"], "ports": [{"containerPort": 9000}]}) == 9000
    assert container_port({"args": ["serve"]}) == 8080
