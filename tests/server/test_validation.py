"""Artifact validation, the packaging CLI, the skops allow-list, and what bad models and inputs get."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import skops.io
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import explainops_server
from explainops_server.models.artifact import METADATA_FILE, TRUSTED_SKOPS_TYPES
from explainops_server.service.packaging import PackagingError
from explainops_server.service.validation import validate_artifact
from explainops_server.settings import ServerSettings

from .conftest import VENV_BIN, ThreadedServer, free_port
from .own_models import (
    NUMERIC,
    binary_target,
    categorical_pipeline,
    multiclass_target,
    regression_target,
    table,
)

CLI = str(VENV_BIN / "explainops-server")


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def frame():
    return table(seed=0)


@pytest.fixture(scope="module")
def linear_pipeline(frame, tmp_path_factory) -> str:
    """Pipeline(StandardScaler, LogisticRegression): a model TreeShap cannot read."""
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame[NUMERIC], binary_target(frame))
    out = tmp_path_factory.mktemp("linear") / "root"
    return explainops_server.package(estimator, frame[NUMERIC], binary_target(frame), out=out).uri


def test_validate_names_the_explainer_that_cannot_explain_the_model(linear_pipeline, tmp_path):
    log = tmp_path / "termination-log"
    done = run_cli("validate", linear_pipeline, "--explainer", "TreeShap", "--termination-log", str(log))
    assert done.returncode == 3, done.stderr
    expected = "explainer: TreeShap needs a tree ensemble; this model is Pipeline(StandardScaler, LogisticRegression)"
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert log.read_text().startswith(expected)
    ok = run_cli("validate", linear_pipeline, "--explainer", "KernelShap")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ") and '"explainer": "KernelShap"' in ok.stdout


def test_serve_reports_each_problem_on_its_own_line_and_exits_3(linear_pipeline, tmp_path):
    log = tmp_path / "termination-log"
    done = run_cli(
        "serve", "--model-name", "m", "--model-uri", linear_pipeline, "--explainer", "tree_shap",
        "--http-port", str(free_port()), "--data-dir", str(tmp_path), "--termination-log", str(log),
    )  # fmt: skip
    assert done.returncode == 3
    lines = [line for line in done.stderr.splitlines() if line.startswith("explainops-server: ")]
    assert "Traceback" not in done.stderr
    assert log.read_text().startswith("explainer: TreeShap needs a tree ensemble")
    assert lines == [f"explainops-server: cannot start: {log.read_text()}"]  # one problem: one line


def test_multiclass_gradient_boosting_with_treeshap_is_refused_by_name(frame, tmp_path):
    estimator = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(frame[NUMERIC], multiclass_target(frame))
    packaged = explainops_server.package(estimator, frame[NUMERIC], multiclass_target(frame), out=tmp_path / "gb")
    assert packaged.report.summary["explainer"] == "KernelShap"  # packaging validates with one that fits
    report = validate_artifact(packaged.uri, explainer="tree_shap")
    assert report.problems == [
        "explainer: TreeShap supports GradientBoostingClassifier for two classes only; this model has 3; "
        "use HistGradientBoostingClassifier or KernelShap"
    ]


def _edit_metadata(version_dir: str, **changes) -> None:
    path = Path(version_dir) / METADATA_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_class_names_and_feature_names_are_checked_against_the_estimator(frame, tmp_path):
    estimator = RandomForestClassifier(5, random_state=0).fit(frame[NUMERIC], multiclass_target(frame))
    packaged = explainops_server.package(estimator, frame[NUMERIC], multiclass_target(frame), out=tmp_path / "rf")
    _edit_metadata(packaged.uri, class_names=["low", "high"], feature_names=["size", "temperature", "weight"])
    report = validate_artifact(packaged.uri, explainer="tree_shap")
    assert "class_names: ['low', 'high'] do not match the estimator's classes ['0', '1', '2']" in report.problems
    assert any(p.startswith("feature_names: must equal the estimator's feature_names_in_") for p in report.problems)
    done = run_cli("validate", packaged.uri, "--explainer", "TreeShap")
    assert done.returncode == 3
    assert len([line for line in done.stderr.splitlines() if line.startswith("explainops-server: ")]) == 2


def test_task_must_match_the_estimator(frame, tmp_path):
    estimator = RandomForestClassifier(5, random_state=0).fit(frame[NUMERIC], binary_target(frame))
    with pytest.raises(PackagingError, match="task: regression given, but RandomForestClassifier is a classification"):
        explainops_server.package(estimator, frame[NUMERIC], binary_target(frame), out=tmp_path, task="regression")
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_package_cli_from_a_skops_file_and_a_csv(frame, tmp_path):
    estimator = categorical_pipeline(RandomForestClassifier(10, random_state=0)).fit(frame, binary_target(frame))
    model_file = tmp_path / "model.skops"
    skops.io.dump(estimator, model_file)
    csv = tmp_path / "train.csv"
    frame.assign(verdict=binary_target(frame), row_id=np.arange(len(frame))).to_csv(csv, index=False)
    done = run_cli(
        "package", "--model", str(model_file), "--train", str(csv), "--target", "verdict",
        "--out", str(tmp_path / "quality"), "--version", "v3", "--background-size", "20",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    version = tmp_path / "quality" / "v3"
    meta = json.loads((version / METADATA_FILE).read_text())
    assert meta["name"] == "quality" and meta["target_name"] == "verdict"
    assert meta["feature_names"] == [*NUMERIC, "colour"] and meta["class_names"] == ["accept", "reject"]
    assert meta["training_data"] == csv.resolve().as_uri()
    assert len((version / "background.csv").read_text().splitlines()) == 21
    again = run_cli("package", "--model", str(model_file), "--train", str(csv), "--target", "verdict",
                    "--out", str(tmp_path / "quality"), "--version", "v3")  # fmt: skip
    assert again.returncode == 3 and "already exists" in again.stderr


def test_the_allow_list_refuses_unknown_types_until_the_artifact_lists_them(frame, tmp_path):
    # A FunctionTransformer wrapping numpy.round: skops refuses to load a plain function it does not know.
    estimator = make_pipeline(FunctionTransformer(np.round), LogisticRegression())
    x = frame[NUMERIC]
    estimator.fit(x, binary_target(frame))
    with pytest.raises(PackagingError, match=r"needs types outside the trusted set: numpy\.round\. .*trusted_types"):
        explainops_server.package(estimator, x, binary_target(frame), out=tmp_path / "a")
    untrusted = sorted(set(skops.io.get_untrusted_types(data=skops.io.dumps(estimator))) - TRUSTED_SKOPS_TYPES)
    packaged = explainops_server.package(
        estimator, x, binary_target(frame), out=tmp_path / "b", trusted_types=untrusted
    )
    assert json.loads((Path(packaged.uri) / METADATA_FILE).read_text())["trusted_types"] == untrusted
    assert packaged.report.summary["trusted_types"] == untrusted


def test_gradient_boosting_loads_through_skops_without_trusting_pickles(frame, tmp_path):
    estimator = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(frame[NUMERIC], binary_target(frame))
    packaged = explainops_server.package(estimator, frame[NUMERIC], binary_target(frame), out=tmp_path)
    meta = json.loads((Path(packaged.uri) / METADATA_FILE).read_text())
    assert meta["format"] == "skops" and meta["trusted_types"] == []
    assert validate_artifact(packaged.uri, explainer="tree_shap").ok


@pytest.fixture(scope="module")
def served(frame, tmp_path_factory):
    """A categorical regression pipeline served with AnchorTabular (which must refuse it) on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("served")
    from sklearn.linear_model import Ridge

    estimator = categorical_pipeline(Ridge()).fit(frame, regression_target(frame))
    packaged = explainops_server.package(estimator, frame, regression_target(frame), out=tmp / "root")
    settings = ServerSettings(
        model_name="yield", model_uri=packaged.uri, http_port=free_port(), data_dir=tmp,
        feedback_store=f"sqlite:///{tmp / 'feedback.db'}", explainer="anchor_tabular", record_flush_ms=20,
    )  # fmt: skip
    with ThreadedServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, estimator


def test_anchors_on_a_regressor_is_a_clear_400_while_predict_serves(served):
    client, _ = served
    row = {"size": 0.1, "weight": -0.2, "temperature": 1.0, "colour": "red"}
    assert client.post("/v1/models/yield:predict", json={"instances": [row]}).status_code == 200
    refused = client.post("/v1/models/yield:explain", json={"instances": [row]})
    assert refused.status_code == 400
    assert refused.json()["error"] == "unsupported_operation"
    assert "AnchorTabular is defined for classifiers only" in refused.json()["detail"]


def test_categorical_rows_as_lists_objects_and_v2_bytes_tensors_agree(served, frame):
    client, estimator = served
    rows = frame.iloc[:3]
    expected = estimator.predict(rows)
    as_lists = [[r.size, r.weight, r.temperature, r.colour] for r in rows.itertuples()]
    as_objects = rows.to_dict(orient="records")
    for instances in (as_lists, as_objects):
        body = client.post("/v1/models/yield:predict", json={"instances": instances}).json()
        np.testing.assert_allclose(body["predictions"], expected, rtol=1e-9)
    tensors = [
        {"name": name, "shape": [3], "datatype": "FP64", "data": rows[name].tolist()} for name in NUMERIC
    ] + [{"name": "colour", "shape": [3], "datatype": "BYTES", "data": rows["colour"].tolist()}]
    v2 = client.post("/v2/models/yield/infer", json={"inputs": tensors})
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert output["datatype"] == "FP64"
    np.testing.assert_allclose(output["data"], expected, rtol=1e-9)
    meta = client.get("/v2/models/yield").json()
    assert {"name": "colour", "datatype": "BYTES", "shape": [-1]} in meta["inputs"]
    assert meta["parameters"]["task"] == "regression"


@pytest.mark.parametrize(
    ("instance", "words"),
    [
        ({"size": 0.1, "weight": 0.2, "temperature": 0.3, "colour": "purple"}, ["unknown category 'purple'", "'red'"]),
        ({"size": "big", "weight": 0.2, "temperature": 0.3, "colour": "red"}, ["instances[0].size", "numeric"]),
        ({"size": 0.1, "weight": 0.2, "colour": "red"}, ["missing column(s) 'temperature'"]),
        ({"size": 0.1, "weight": 0.2, "temperature": 0.3, "colour": "red", "x": 1}, ["unknown column(s) 'x'"]),
        ([0.1, 0.2, 0.3, 7], ["instances[0][3]", "unknown category '7'"]),
    ],
)
def test_bad_categorical_input_is_a_named_422(served, instance, words):
    client, _ = served
    response = client.post("/v1/models/yield:predict", json={"instances": [instance]})
    assert response.status_code == 422, response.text
    for word in words:
        assert word in response.json()["detail"]


def test_regression_feedback_takes_a_value_and_refuses_a_label(served):
    client, _ = served
    row = {"size": 0.1, "weight": -0.2, "temperature": 1.0, "colour": "blue"}
    pid = client.post("/v1/models/yield:predict", json={"instances": [row]}).json()["prediction_ids"][0]
    refused = client.post("/v1/models/yield/feedback", json={"prediction_id": pid, "label": 1})
    assert refused.status_code == 422 and "send the true value as `value`" in refused.json()["detail"]
    assert client.post("/v1/models/yield/feedback", json={"prediction_id": pid, "value": "3"}).status_code == 422
    assert client.post("/v1/models/yield/feedback", json={"prediction_id": pid, "value": 3}).status_code == 201
