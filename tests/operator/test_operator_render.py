"""`explainops-operator render`: what the operator would create, printed as YAML without a cluster."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from xm_samples import BASE_SPEC, manifest

from explainops_operator.__main__ import main
from explainops_operator.builders import Owner, render_inference_service
from explainops_operator.jobs import build_retraining_job, training_run
from explainops_operator.render import PLACEHOLDER_UID
from explainops_operator.settings import DEFAULT_SERVER_IMAGE
from explainops_operator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, [d for d in yaml.safe_load_all(out) if d] if code == 0 else [], err


@pytest.fixture(autouse=True)
def _default_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from explainops_operator import settings

    monkeypatch.delenv("EXPLAINOPS_OPERATOR_SERVER_IMAGE", raising=False)
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


def test_renders_exactly_what_the_builders_render(capsys: pytest.CaptureFixture[str]) -> None:
    code, docs, _ = run(["-f", str(EXAMPLE)], capsys)
    assert code == 0
    example = yaml.safe_load(EXAMPLE.read_text())
    expected = render_inference_service(
        Owner(example["metadata"]["name"], "default", PLACEHOLDER_UID), parse_spec(example["spec"]), "v1",
        default_image=DEFAULT_SERVER_IMAGE,
    )
    assert docs == [expected]


def test_job_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, docs, _ = run(["-f", str(EXAMPLE), "--version", "v4", "--job", "--sequence", "3", "-n", "ml"], capsys)
    assert code == 0
    inference_service, job = docs
    assert inference_service["metadata"]["namespace"] == "ml"
    assert inference_service["metadata"]["labels"]["explainops.dev/model-version"] == "v4"
    example = yaml.safe_load(EXAMPLE.read_text())
    spec = parse_spec(example["spec"])
    expected_job = build_retraining_job(training_run(
        Owner("breast-cancer", "ml", PLACEHOLDER_UID), spec, sequence=3, base_version="v4",
        default_image=DEFAULT_SERVER_IMAGE, trigger_reason="Rendered",
    ))
    assert job == expected_job
    assert job["metadata"]["name"] == "breast-cancer-retrain-3"
    assert job["metadata"]["annotations"]["explainops.dev/candidate-version"] == "v4"  # v1 + 3


def test_namespace_uid_and_status_from_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = manifest("xm", BASE_SPEC)
    doc["metadata"].update(namespace="team", uid="1234")
    doc["status"] = {"modelVersion": "v2"}  # as `kubectl get -o yaml` would give it
    other = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    path = tmp_path / "xm.yaml"
    path.write_text(yaml.safe_dump_all([other, doc]))
    code, docs, _ = run(["-f", str(path)], capsys)
    assert code == 0
    (body,) = docs
    assert (body["metadata"]["namespace"], body["metadata"]["ownerReferences"][0]["uid"]) == ("team", "1234")
    assert body["metadata"]["labels"]["explainops.dev/model-version"] == "v2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (yaml.safe_dump(manifest("xm", {**copy.deepcopy(BASE_SPEC), "explainer": {"type": "Lime"}})),
         "xm: spec.explainer.type"),
        (yaml.safe_dump(manifest("Bad_Name", BASE_SPEC)), "Bad_Name: metadata.name"),
        (yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap"}), "no ExplainableModel"),
        ("a: [unclosed", "while parsing"),
    ],
    ids=["invalid-spec", "invalid-name", "no-model", "not-yaml"],
)
def test_bad_input_exits_2_naming_the_problem(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(content)
    code, _, err = run(["-f", str(path)], capsys)
    assert code == 2
    assert message in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["-f", str(tmp_path / "absent.yaml")], capsys)
    assert code == 2 and "absent.yaml" in err


def test_console_script_reads_stdin() -> None:
    """The installed entry point, as CI would call it; nothing contacts a cluster."""
    result = subprocess.run(
        [sys.executable, "-m", "explainops_operator", "render", "-f", "-", "--job"],
        input=EXAMPLE.read_text(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert kinds == ["InferenceService", "Job"]
