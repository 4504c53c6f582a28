"""README.md's "Install on a cluster", command by command, on the real node.

The shell blocks of that section are taken from the README itself. Each one is preceded by a marker,
`<!-- install-test: run -->`, `<!-- install-test: run: cleanup -->` or `<!-- install-test: skip: why -->`;
the run blocks are joined, in order, into one bash script (one shell, as a reader types them) and run
exactly as written. Then the model must be Ready and answer predict and explain; then the cleanup block
runs and must leave nothing of the release.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from chart_helpers import REPO
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from node_release import (
    condition,
    example_rows,
    explain,
    get_xm,
    pod_phases,
    predict,
    release_finalizers,
    service_url,
    wait_for,
)

SECTION = "### Install on a cluster"
MARKER = re.compile(r"<!-- install-test: (run|run: cleanup|skip: [^>]+) -->")
# The README's fixed names: the test refuses to run where they are already in use.
MODELS_NS, OPERATOR_NS, RELEASE, MODEL = "ml-models", "explainops-system", "explainops", "breast-cancer"
SCRIPT_SECONDS = 1200  # the README's own waits: rollout 3 min, upload pod 3 min, the model 10 min
CHECK_SECONDS = 300
CLEANUP_SECONDS = 300
PAUSED = "README-INSTALL-CHECKPOINT"


@dataclass(frozen=True)
class Block:
    marker: str
    code: str


def install_section(readme: str) -> str:
    start = readme.index(SECTION)
    end = readme.find("\n### ", start + len(SECTION))
    return readme[start:end if end != -1 else len(readme)]


def shell_blocks(section: str) -> list[Block]:
    """Every ```bash block of the section with its marker (the line before it); unmarked is an error."""
    blocks = []
    for match in re.finditer(r"(?P<before>[^\n]*)\n```bash\n(?P<code>.*?)\n```", section, flags=re.S):
        marker = MARKER.fullmatch(match["before"].strip())
        assert marker, f"a shell block of {SECTION!r} has no install-test marker:\n{match['code'][:200]}"
        blocks.append(Block(marker[1], match["code"]))
    return blocks


def script(blocks: list[Block]) -> str:
    return "\n".join(["set -euo pipefail", *(f"# ---\n{b.code}" for b in blocks)]) + "\n"


@contextlib.contextmanager
def shell(text: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """bash with `text` on stdin, in the repository, in a session of its own: whatever it leaves in the
    background (the port-forward) is ended with it."""
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-s"], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=out,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        assert process.stdin is not None
        process.stdin.write(text)
        process.stdin.close()
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_the_section_marks_every_block_and_runs_the_local_path() -> None:
    blocks = shell_blocks(install_section((REPO / "README.md").read_text()))
    kinds = [b.marker.split(":")[0] for b in blocks]
    assert kinds.count("run") >= 5 and kinds.count("skip") >= 1
    assert blocks[-1].marker == "run: cleanup"
    # What the README must show a reader, checked where it is run.
    ran = script([b for b in blocks if b.marker.startswith("run")])
    for needed in ("helm install", "fsGroup: 10001", "--data-uri", "deploymentMode: Standard",
                   "kubectl -n ml-models cp build/data/breast-cancer", ":predict", ":explain"):
        assert needed in ran, needed
    syntax = subprocess.run(["bash", "-n"], input=ran, capture_output=True, text=True, timeout=30, check=False)
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_install_on_a_cluster_runs_as_written(helm: str, kube_api, kubeconfig_path: Path, tmp_path: Path) -> None:
    core = client.CoreV1Api(kube_api)
    if _exists(lambda: core.read_namespace(MODELS_NS)):
        pytest.skip(f"namespace {MODELS_NS} already exists on this cluster: the README's names are in use")
    if _exists(lambda: core.read_namespace(OPERATOR_NS)) and (
        core.list_namespaced_pod(OPERATOR_NS).items
        or core.list_namespaced_secret(OPERATOR_NS, label_selector="owner=helm").items
    ):
        pytest.skip(f"namespace {OPERATOR_NS} holds a release or pods: the README's names are in use")
    blocks = shell_blocks(install_section((REPO / "README.md").read_text()))
    install = [b for b in blocks if b.marker == "run"]
    cleanup = [b for b in blocks if b.marker == "run: cleanup"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_path), "PATH": os.pathsep.join(tool_path(helm))}
    log, gate = tmp_path / "readme.log", tmp_path / "checked"
    written = [REPO / "input.json"]  # the README writes its request body into the working directory
    assert not any(p.exists() for p in written), "input.json exists: the README would overwrite it"
    # One shell, as a reader types the commands; between the install and the cleanup it waits (bounded)
    # until this test has checked the model.
    pause = f"echo {PAUSED}\nfor i in $(seq {CHECK_SECONDS}); do [ -e '{gate}' ] && break; sleep 1; done\n"
    try:
        with shell(script(install) + pause + "\n".join(b.code for b in cleanup) + "\n", env, log) as bash:
            wait_for(lambda: PAUSED in log.read_text() or bash.poll() is not None, "the README's install",
                     SCRIPT_SECONDS, interval=2)
            transcript = log.read_text()
            print(transcript)  # shown when the test fails
            assert PAUSED in transcript, (
                f"the README's commands failed (exit {bash.returncode}); Ready: "
                f"{condition(get_xm(kube_api, MODELS_NS, MODEL), 'Ready')}\n{pod_phases(kube_api, MODELS_NS)}")
            try:
                check_the_model(kube_api, transcript)
            finally:
                gate.touch()
                bash.wait(timeout=CLEANUP_SECONDS)
            assert bash.returncode == 0, log.read_text()[-3000:]
        _assert_release_gone(kube_api)
    finally:
        _remove_leftovers(helm, kube_api, kubeconfig_path, env)
        for path in written:
            path.unlink(missing_ok=True)


def check_the_model(kube_api, transcript: str) -> None:
    """The README's calls answered, and the model is Ready and answers when asked without them."""
    assert '"prediction_ids"' in transcript and '"explanations"' in transcript
    assert '"labelled_count":1' in transcript.replace(" ", "")
    xm = get_xm(kube_api, MODELS_NS, MODEL)
    assert xm is not None and condition(xm, "Ready")["status"] == "True"
    with httpx.Client(timeout=120) as http:
        base = service_url(kube_api, xm)
        assert predict(http, base, MODEL, example_rows(2))["model_version"] == "v1"
        assert len(explain(http, base, MODEL, example_rows(1))["explanations"]) == 1
    # Retraining would read the data where the README put it.
    assert xm["spec"]["retraining"]["trainingDataUri"] == "pvc://models/data/breast-cancer/train.csv"


def tool_path(helm: str) -> list[str]:
    """PATH for the README's commands: this helm, then the node's own kubectl build when it is cached
    (the version of the API server), then the caller's PATH."""
    from explainops_devtools.cluster.settings import ClusterSettings

    kubectl_dir = ClusterSettings().k8s_bin_dir
    first = [str(Path(helm).parent), *([str(kubectl_dir)] if (kubectl_dir / "kubectl").is_file() else [])]
    return [*first, *os.environ.get("PATH", "").split(os.pathsep)]


def _exists(read) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _assert_release_gone(kube_api) -> None:
    apps = client.AppsV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)

    def gone() -> bool:
        return (not _exists(lambda: apps.read_namespaced_deployment("explainops-operator", OPERATOR_NS))
                and not _exists(lambda: custom.get_namespaced_custom_object(
                    "explainops.dev", "v1alpha1", MODELS_NS, "explainablemodels", MODEL)))

    wait_for(gone, "the README's model and operator gone", 120)


def _remove_leftovers(helm: str, kube_api, kubeconfig_path: Path, env: dict[str, str]) -> None:
    """Whatever a failed run left: the model's finalizer, the release, the two namespaces."""
    core = client.CoreV1Api(kube_api)
    if _exists(lambda: core.read_namespace(MODELS_NS)):
        release_finalizers(kube_api, MODELS_NS)
    subprocess.run([helm, "uninstall", RELEASE, "-n", OPERATOR_NS, "--kubeconfig", str(kubeconfig_path)],
                   env=env, capture_output=True, timeout=120, check=False)
    for ns in (MODELS_NS, OPERATOR_NS):
        try:
            core.delete_namespace(ns, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
