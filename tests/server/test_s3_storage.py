"""Model roots and training data on S3, against a real S3-compatible server (SeaweedFS on 127.0.0.1).

package -> s3://bucket/root/v1; serve downloads it at start; feedback; the trainer reads the champion
and the training data from the bucket and writes v2 back; a server then serves v2 from the bucket.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import Ridge

import explainops_server
from explainops_server.errors import ArtifactError
from explainops_server.models import storage
from explainops_server.settings import ServerSettings
from explainops_server.training.cli import main as train_main

from .conftest import ServerProcess, free_port
from .own_models import categorical_pipeline, regression_target, table


def test_storage_settings_follow_kserve_conventions():
    settings = storage.S3Settings.from_env(
        {"S3_ENDPOINT": "minio.example:9000", "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0", "AWS_REGION": "eu-west-1"}
    )
    assert settings == storage.S3Settings("http://minio.example:9000", "eu-west-1", False)
    settings = storage.S3Settings.from_env({"AWS_ENDPOINT_URL": "https://s3.example", "AWS_CA_BUNDLE": "/ca.pem"})
    assert settings == storage.S3Settings("https://s3.example", None, "/ca.pem")
    assert storage.S3Settings.from_env({"S3_ENDPOINT": "s3.example"}).endpoint_url == "https://s3.example"


def test_wrong_credentials_are_refused_by_the_server(s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage._client.cache_clear()
    with pytest.raises(ArtifactError, match=r"cannot (check|list)"):
        storage.list_keys(f"s3://{s3_bucket}/anything")
    storage._client.cache_clear()


def test_object_keys_cannot_escape_the_download_directory(tmp_path):
    # SeaweedFS itself refuses such keys; other servers may not, so the client checks too.
    assert storage.local_target(tmp_path, "v1/model.skops", "s3://b/r") == (tmp_path / "v1/model.skops").resolve()
    for key in ("../evil", "v1/../../evil", "/etc/passwd"):
        with pytest.raises(ArtifactError, match="outside the prefix"):
            storage.local_target(tmp_path / "dest", key, "s3://b/r")


def test_package_serve_feedback_retrain_on_s3(s3_server, s3_bucket, s3_env, tmp_path):
    frame = table(seed=0)
    estimator = categorical_pipeline(Ridge())
    estimator.fit(frame, regression_target(frame))
    root = f"s3://{s3_bucket}/models/yield"
    packaged = explainops_server.package(estimator, frame, regression_target(frame), out=root)
    assert packaged.uri == f"{root}/v1"
    keys = storage.list_keys(root)
    assert {"v1/metadata.json", "v1/model.skops", "v1/background.csv", "v1/train.csv"} <= set(keys)
    assert packaged.metadata.training_data == f"{root}/v1/train.csv"

    dsn = f"sqlite:///{tmp_path / 'feedback.db'}"
    args = ["--model-name", "yield", "--model-uri", packaged.uri, "--explainer", "kernel_shap",
            "--explainer-params", '{"nsamples": 64, "background_size": 10}', "--data-dir", str(tmp_path),
            "--feedback-store", dsn]  # fmt: skip
    holdout = table(seed=1, rows=30)
    truth = regression_target(holdout)
    server = ServerProcess(args, tmp_path / "serve.log", env=s3_env)
    try:
        url = server.start(free_port())
        with httpx.Client(base_url=url, timeout=60) as client:
            body = client.post("/v1/models/yield:predict", json={"instances": holdout.to_dict(orient="records")})
            assert body.status_code == 200, body.text
            ids = body.json()["prediction_ids"]
            records = [{"prediction_id": i, "value": float(v) + 5.0} for i, v in zip(ids, truth, strict=True)]
            assert client.post("/v1/models/yield/feedback:batch", json={"records": records}).status_code == 200
            stats = client.get("/v1/models/yield/feedback/stats").json()
            assert stats["mae"] > 4.0  # the labels drifted by +5
    finally:
        server.stop()
    assert "explainops-server: serving yield v1" in server.log()

    log = tmp_path / "result.json"
    code = train_main(["--model-name", "yield", "--model-root", root, "--base-version", "v1",
                       "--new-version", "v2", "--feedback-store", dsn, "--termination-log", str(log)])  # fmt: skip
    result = json.loads(log.read_text())
    assert code == 0, result
    assert result["counts"]["feedback_rows"] == 30
    assert storage.exists(f"{root}/v2/metadata.json") and storage.exists(f"{root}/v2/metrics.json")
    # the retried Pod of the same trigger reports the same result and writes nothing new
    assert train_main(["--model-name", "yield", "--model-root", root, "--base-version", "v1",
                       "--new-version", "v2", "--feedback-store", dsn, "--termination-log", str(log)]) == 0  # fmt: skip
    assert json.loads(log.read_text()) == result

    settings = ServerSettings(model_name="yield", model_uri=f"{root}/v2", data_dir=tmp_path, explainer="kernel_shap")
    from explainops_server.models.tabular import TabularModel

    model = TabularModel("yield", settings.model_uri, download_dir=settings.model_download_dir())
    model.load()
    assert model.version == "v2" and model.loaded.metadata.parent_version == "v1"
    assert Path(model.loaded.directory).is_relative_to(tmp_path)
    shifted = model.predict_outputs(model.validate(holdout.to_dict(orient="records")))[:, 0]
    assert float(np.mean(shifted - truth)) > 0.5  # v2 learnt from the drifted feedback


def test_a_missing_version_on_s3_is_a_startup_problem(s3_bucket, s3_env, tmp_path):
    from explainops_server.cli import main

    log = tmp_path / "termination-log"
    code = main(["serve", "--model-name", "m", "--model-uri", f"s3://{s3_bucket}/nothing/v1",
                 "--data-dir", str(tmp_path), "--termination-log", str(log)])  # fmt: skip
    assert code == 3
    assert log.read_text() == f"no metadata.json under s3://{s3_bucket}/nothing/v1"
