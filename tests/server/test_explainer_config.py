"""Explainer configuration is checked when the server starts: one line on stderr and exit 2, never a
server whose every :explain fails, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import typing

import pytest

from explainops_server.explainers.params import EXPLAINER_PARAMS
from explainops_server.explainers.registry import BACKENDS
from explainops_server.settings import ExplainerBackend, ExplainerName

from .conftest import MODEL, VENV_BIN


def serve(model, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(VENV_BIN / "explainops-server"),
            "serve",
            "--model-name",
            MODEL,
            "--model-uri",
            str(model.version_dir),
            "--data-dir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("EXPLAINOPS_")},
    )


def test_settings_names_match_the_registry_and_the_parameter_models():
    assert set(typing.get_args(ExplainerName)) == set(EXPLAINER_PARAMS)
    assert set(typing.get_args(ExplainerBackend)) == set(BACKENDS)


@pytest.mark.parametrize(
    ("explainer", "params", "words"),
    [
        ("kernel_shap", {"nsamples": "lots"}, ["nsamples", "valid integer", "'lots'"]),
        ("kernel_shap", {"link": "banana"}, ["link", "identity", "logit", "'banana'"]),
        ("kernel_shap", {"nsamples": 3}, ["nsamples", "greater than or equal to 10"]),
        ("anchor_tabular", {"threshold": "high"}, ["threshold", "valid number"]),
        ("anchor_tabular", {"disc_perc": [50, 200]}, ["disc_perc", "less than or equal to 99"]),
        ("tree_shap", {"feature_perturbation": "causal"}, ["feature_perturbation", "interventional"]),
        ("ale", {"nsamples": 100}, ["does not take parameter", "nsamples", "min_bin_points"]),
    ],
)
def test_bad_explainer_parameters_stop_the_server_with_one_line(small_model, tmp_path, explainer, params, words):
    result = serve(small_model, tmp_path, "--explainer", explainer, "--explainer-params", json.dumps(params))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("explainops-server: invalid settings:"), result.stderr
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_the_alibi_backend_without_alibi_installed_is_a_configuration_error(small_model, tmp_path):
    try:
        import alibi  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("alibi is installed in this venv")
    result = serve(small_model, tmp_path, "--explainer", "tree_shap", "--explainer-backend", "alibi")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "requirements-alibi.lock" in lines[0], result.stderr


def test_an_unknown_backend_is_refused_by_the_flag_parser(small_model, tmp_path):
    result = serve(small_model, tmp_path, "--explainer-backend", "lime")
    assert result.returncode == 2 and "explainops" in result.stderr and "alibi" in result.stderr
