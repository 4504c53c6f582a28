"""Artifact loading (skops trusted types, joblib only with trust) and the CLI's startup errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import joblib
import pytest
import skops.io

from explainops_server.cli import build_parser, settings_from_args
from explainops_server.errors import ArtifactError
from explainops_server.models.artifact import load_artifact

from .conftest import MODEL, VENV_BIN


def copy_version(model, tmp_path: Path) -> Path:
    target = tmp_path / "v1"
    shutil.copytree(model.version_dir, target)
    return target


def set_metadata(version_dir: Path, **changes) -> None:
    path = version_dir / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


class Untrusted:
    """A type skops does not know: loading it must be refused before it is built."""

    def predict_proba(self, x):
        return x


def test_skops_artifact_loads_with_metadata(small_model):
    artifact = load_artifact(f"file://{small_model.version_dir}")
    assert artifact.metadata.version == "v1" and artifact.background.shape == (100, 30)


def test_untrusted_skops_type_is_refused(small_model, tmp_path):
    version_dir = copy_version(small_model, tmp_path)
    skops.io.dump(Untrusted(), version_dir / "model.skops")
    with pytest.raises(ArtifactError, match=r"trusted set.*Untrusted"):
        load_artifact(str(version_dir))


def test_corrupt_and_incomplete_artifacts_are_refused(small_model, tmp_path):
    version_dir = copy_version(small_model, tmp_path)
    (version_dir / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_artifact(str(version_dir))
    (version_dir / "metadata.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(str(version_dir))
    with pytest.raises(ArtifactError, match="not a directory"):
        load_artifact(str(tmp_path / "missing"))
    with pytest.raises(ArtifactError, match="unsupported URI scheme 'gs'"):
        load_artifact("gs://bucket/model")


def test_joblib_needs_explicit_trust(small_model, tmp_path):
    version_dir = copy_version(small_model, tmp_path)
    estimator = load_artifact(str(small_model.version_dir)).estimator
    joblib.dump(estimator, version_dir / "model.joblib")
    set_metadata(version_dir, format="joblib", model_file="model.joblib")
    with pytest.raises(ArtifactError, match="--trust-pickle"):
        load_artifact(str(version_dir))
    assert load_artifact(str(version_dir), trust_pickle=True).estimator.n_estimators == 10


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "explainops-server"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_cli_startup_errors_are_one_clear_line(small_model, tmp_path):
    version_dir = copy_version(small_model, tmp_path)
    (version_dir / "model.skops").write_bytes(b"\x00garbage")
    corrupt = run_cli(
        "serve", "--model-name", MODEL, "--model-uri", str(version_dir), "--data-dir", str(tmp_path)
    )
    assert corrupt.returncode == 3
    assert "cannot start" in corrupt.stderr and "model.skops" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr + corrupt.stdout

    invalid = run_cli("serve", "--model-name", MODEL, "--model-uri", str(version_dir), "--http-port", "99999")
    assert invalid.returncode == 2 and "http_port" in invalid.stderr and "Traceback" not in invalid.stderr


def test_cli_train_dispatches_lazily():
    result = run_cli("train", "--help")
    try:
        import explainops_server.training.cli  # noqa: F401
    except ModuleNotFoundError:
        assert result.returncode == 2 and "not available" in result.stderr
    else:
        assert "Traceback" not in result.stderr


def test_flags_override_environment(monkeypatch):
    monkeypatch.setenv("EXPLAINOPS_MODEL_NAME", "from-env")
    monkeypatch.setenv("EXPLAINOPS_EXPLAIN_WORKERS", "7")
    monkeypatch.setenv("EXPLAINOPS_EXPLAINER_PARAMS", '{"nsamples": 10}')
    args = build_parser().parse_args(
        [
            "serve",
            "--model-name",
            "from-flag",
            "--model-uri",
            "/m",
            "--trust-pickle",
            "--explainer",
            "kernel_shap",
        ]
    )
    settings = settings_from_args(args)
    assert settings.model_name == "from-flag" and settings.explain_workers == 7
    assert settings.trust_pickle is True and settings.explainer_params == {"nsamples": 10}
    assert settings.host == "127.0.0.1" and settings.http_port == 8080
    assert settings.feedback_dsn().startswith("sqlite:////") and settings.feedback_dsn().endswith(
        "from-flag-feedback.db"
    )


def test_example_records_where_the_pods_will_see_its_data(tmp_path):
    """`examples/train_example_model.py --data-uri`: the metadata names the CSVs as the pods see them
    after the upload (retraining reads them there), while the files are written on this machine."""
    import sys

    from explainops_server.models.artifact import read_metadata

    script = Path(__file__).resolve().parents[2] / "examples" / "train_example_model.py"
    out, data = tmp_path / "models" / "bc", tmp_path / "data" / "bc"
    subprocess.run([sys.executable, str(script), "--out", str(out), "--data-out", str(data),
                    "--data-uri", "file:///mnt/models/data/bc/"], check=True, capture_output=True, timeout=240)
    meta = read_metadata(out / "v1")
    assert meta.training_data == "file:///mnt/models/data/bc/train.csv"
    assert meta.holdout_data == "file:///mnt/models/data/bc/holdout.csv"
    assert (data / "train.csv").is_file() and (data / "holdout.csv").is_file()
    # Without it, the local files themselves.
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "local"), "--data-out", str(data)],
                   check=True, capture_output=True, timeout=240)
    assert read_metadata(tmp_path / "local" / "v1").training_data == (data / "train.csv").as_uri()
