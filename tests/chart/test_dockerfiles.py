"""Static checks of the two Dockerfiles (no Docker engine here): hadolint, plus the properties the
images promise: multi-stage, pinned base, lock file used, non-root, no build tools in the final stage."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from chart_helpers import REPO

DOCKERFILES = {
    "explainer-server": REPO / "explainer-server" / "Dockerfile",
    "operator": REPO / "operator" / "Dockerfile",
}
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|make|build-essential|pip install|uv pip)\b")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            result.append([])
        if result:  # global ARGs before the first FROM belong to no stage
            result[-1].append(instruction)
    return result


def base_image_default(path: Path) -> str:
    """The default of the global `ARG DEBIAN_IMAGE=...` the first stage starts from."""
    (arg,) = [a for op, a in instructions(path) if op == "ARG" and a.startswith("DEBIAN_IMAGE=")]
    return arg.split("=", 1)[1]


def _find_hadolint() -> str | None:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explainops" / "hadolint"
    candidates = [
        os.environ.get("HADOLINT"),
        shutil.which("hadolint"),
        *map(str, sorted(cache.glob("*/hadolint"))),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.mark.parametrize("component", sorted(DOCKERFILES))
def test_hadolint_is_clean(component: str) -> None:
    hadolint = _find_hadolint()
    if hadolint is None:
        pytest.skip("no hadolint: run hack/install-hadolint.sh or set HADOLINT")
    proc = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILES[component])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("component", sorted(DOCKERFILES))
def test_dockerfile_is_multi_stage_pinned_non_root_and_lock_based(component: str) -> None:
    path = DOCKERFILES[component]
    python, builder, final = stages(path)
    # Pinned base: an explicit version tag, never `latest`. The builder and the final image share the
    # interpreter stage, so the copied venv's interpreter links resolve.
    image = base_image_default(path)
    assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*(@sha256:[0-9a-f]{64})?", image), image
    assert python[0][1] == "${DEBIAN_IMAGE} AS python"
    assert builder[0][1] == "python AS builder"
    assert final[0][1] == "python"
    # The interpreter stage holds the image's user, so libraries can look its name up.
    python_runs = " ".join(args for op, args in python if op == "RUN")
    assert "useradd --uid 10001" in python_runs

    # The builder installs the component with requirements.lock as constraints.
    copies = [args for op, args in builder if op == "COPY"]
    assert any(args.split()[0] == "requirements.lock" for args in copies)
    runs = " ".join(args for op, args in builder if op == "RUN")
    assert "-c requirements.lock" in runs and "--only-binary=:all:" in runs
    assert f"./{component}" in runs

    # The final stage only copies the venv: no package manager, compiler or pip install.
    final_ops = [op for op, _ in final]
    assert "RUN" not in final_ops
    for op, args in final:
        assert not BUILD_TOOLS.search(args), f"build tool in the final stage: {op} {args}"
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    users = [args for op, args in final if op == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "the final USER must be a numeric non-root UID"
    assert final_ops.index("USER") > final_ops.index("COPY")


@pytest.mark.parametrize("component", sorted(DOCKERFILES))
def test_entrypoint_is_the_packages_console_script(component: str) -> None:
    final = stages(DOCKERFILES[component])[-1]
    (entrypoint,) = [args for op, args in final if op == "ENTRYPOINT"]
    scripts = tomllib.loads((REPO / component / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint.startswith('["'), "exec form, so signals reach the process"
    assert entrypoint.strip('[]"').split('"')[0] in scripts


def test_server_image_serves_the_retraining_entry_point_too() -> None:
    # `train` is a sub-command of the same console script: the Job runs `<image> train ...`.
    final = stages(DOCKERFILES["explainer-server"])[-1]
    assert ("ENTRYPOINT", '["explainops-server"]') in final


def test_dockerignore_allows_only_what_the_images_copy() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: everything is excluded first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for dockerfile in DOCKERFILES.values():
        for op, args in instructions(dockerfile):
            if op == "COPY" and not args.startswith("--from"):
                source = args.split()[0].rstrip("/")
                assert source in allowed, f"{dockerfile.name} copies {source}, which .dockerignore excludes"


def test_images_chart_and_operator_agree_on_the_uid() -> None:
    """The UID the images declare is the one the chart's pod and the operator's pods run as."""
    import yaml

    from explainops_operator.builders import RUN_AS_USER

    chart_values = yaml.safe_load((REPO / "charts" / "explainops" / "values.yaml").read_text())
    uids = {int(chart_values["operator"]["podSecurityContext"]["runAsUser"]), RUN_AS_USER}
    for dockerfile in DOCKERFILES.values():
        (user,) = [args for op, args in stages(dockerfile)[-1] if op == "USER"]
        uids.add(int(user.split(":")[0]))
    assert len(uids) == 1, uids
