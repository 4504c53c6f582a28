"""The trainer on real data: breast_cancer with an introduced drift and feedback labels on drifted rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from retraining_scenario import World, drift, record_drifted_feedback, record_labelled
from sklearn.base import clone

from explainops_operator.gate import GATE_FAILED, GATE_PASSED, GateSpec
from explainops_operator.gate import evaluate as gate_evaluate
from explainops_server.models.artifact import load_artifact, read_metadata
from explainops_server.training.cli import main as train_main
from explainops_server.training.trainer import (
    Dataset,
    TrainingRequest,
    evaluate,
    feedback_dataset,
    split,
)


@pytest.fixture(scope="module")
def drifted_store(world, tmp_path_factory) -> str:
    dsn = f"sqlite:///{tmp_path_factory.mktemp('store') / 'feedback.db'}"
    record_drifted_feedback(world, dsn, 160)
    return dsn


def train_args(world: World, dsn: str, new_version: str, log: Path, **extra: str) -> list[str]:
    args = [
        "--model-name", "breast-cancer",
        "--model-root", str(world.root),
        "--base-version", "v1",
        "--new-version", new_version,
        "--training-data", world.train_csv.as_uri(),
        "--feedback-store", dsn,
        "--termination-log", str(log),
    ]  # fmt: skip
    for flag, value in extra.items():
        args += [f"--{flag.replace('_', '-')}", value]
    return args


@pytest.fixture(scope="module")
def retrained(world, drifted_store, tmp_path_factory) -> dict:
    log = tmp_path_factory.mktemp("term") / "termination-log"
    assert train_main(train_args(world, drifted_store, "v2", log)) == 0
    return json.loads(log.read_text())


def test_retrained_model_beats_the_champion_on_drifted_holdout(world, retrained):
    # The drifted holdout comes from holdout.csv: neither model saw these rows in any form.
    features, target = world.holdout()
    drifted = drift(features, world.feature_names)
    champion_drifted = world.accuracy("v1", drifted, target)
    candidate_drifted = world.accuracy("v2", drifted, target)
    assert champion_drifted < 0.7, "the drift must hurt the champion for the test to mean anything"
    assert candidate_drifted > champion_drifted + 0.2
    # ... without forgetting the undrifted population.
    assert world.accuracy("v2", features, target) >= world.accuracy("v1", features, target) - 0.03


def test_trainer_metrics_show_the_improvement_and_the_gate_passes(retrained):
    assert retrained["status"] == "succeeded"
    assert (retrained["version"], retrained["parent_version"]) == ("v2", "v1")
    cand, champ = retrained["candidate"], retrained["champion"]
    assert cand["feedbackAccuracy"] > champ["feedbackAccuracy"] + 0.2
    assert cand["holdoutAccuracy"] > champ["holdoutAccuracy"]
    counts = retrained["counts"]
    assert counts["feedback_rows"] == 160 and counts["feedback_dropped"] == 0
    assert counts["feedback_holdout_rows"] == 40
    assert counts["holdout_rows"] == counts["base_holdout_rows"] + counts["feedback_holdout_rows"]
    # Evaluated on every trainable row but the feedback holdout; refitted on all of them.
    assert counts["train_rows"] + counts["feedback_holdout_rows"] == counts["base_rows"] + counts["feedback_rows"]
    assert counts["refit_rows"] == counts["base_rows"] + counts["feedback_rows"]
    for metric in ("holdoutAccuracy", "feedbackAccuracy"):
        assert gate_evaluate(GateSpec(metric=metric, min_improvement=0.05), cand, champ).reason == GATE_PASSED


def test_new_version_is_written_next_to_the_old_one(world, retrained):
    v2 = world.version_dir("v2")
    assert sorted(p.name for p in v2.iterdir()) == [
        "background.csv",
        "metadata.json",
        "metrics.json",
        "model.skops",
    ]
    meta, champion_meta = read_metadata(v2), read_metadata(world.version_dir("v1"))
    assert (meta.version, meta.parent_version, meta.format) == ("v2", "v1", "skops")
    assert (meta.estimator, meta.params) == (champion_meta.estimator, champion_meta.params)
    assert meta.feature_names == champion_meta.feature_names
    candidate, champion = (
        load_artifact(str(v2)).estimator,
        load_artifact(str(world.version_dir("v1"))).estimator,
    )
    assert type(candidate) is type(champion) and candidate.get_params() == champion.get_params()
    assert json.loads((v2 / "metrics.json").read_text()) == retrained
    assert not [p for p in world.root.iterdir() if p.name.startswith(".")], "no staging directory left behind"


def test_result_fits_the_termination_message_and_matches_stdout(world, drifted_store, tmp_path, capsys):
    log = tmp_path / "termination-log"
    # Same trigger again (a retried Pod): the completed artifact is reported, not rebuilt.
    before = (world.version_dir("v2") / "model.skops").stat().st_mtime_ns
    assert train_main(train_args(world, drifted_store, "v2", log)) == 0
    message = log.read_text()
    assert len(message.encode()) < 4096
    assert capsys.readouterr().out.strip() == message
    assert (world.version_dir("v2") / "model.skops").stat().st_mtime_ns == before
    assert json.loads(message)["version"] == "v2"


def test_champion_is_scored_only_on_rows_it_never_saw(world, retrained):
    """The gate's base holdout is the holdout recorded with the artifact, not a re-split of v1's
    training data: v1's score there is its score on unseen rows, below its score on its own rows."""
    assert read_metadata(world.version_dir("v1")).holdout_data == world.holdout_csv.as_uri()
    assert read_metadata(world.version_dir("v2")).holdout_data == world.holdout_csv.as_uri()  # inherited
    features, target = world.holdout()
    train_features, _ = world.train_rows()
    assert not {tuple(r) for r in features.tolist()} & {tuple(r) for r in train_features.tolist()}
    counts = retrained["counts"]
    assert counts["base_holdout_rows"] == len(target)
    assert counts["base_rows"] == len(train_features) and counts["base_rows_dropped_as_holdout"] == 0
    unseen = world.accuracy("v1", features, target)
    assert retrained["champion"]["baseHoldoutAccuracy"] == pytest.approx(unseen, abs=1e-6)
    assert unseen < world.accuracy("v1", *world.train_rows())  # what the old re-split partly measured


def test_holdout_rows_in_the_training_data_are_never_trained_on(world, drifted_store, tmp_path):
    both = tmp_path / "train-and-holdout.csv"
    both.write_text(world.train_csv.read_text() + "".join(world.holdout_csv.read_text().splitlines(True)[1:]))
    log = tmp_path / "log"
    assert train_main(train_args(world, drifted_store, "v6", log, training_data=both.as_uri())) == 0
    counts = json.loads(log.read_text())["counts"]
    assert counts["base_rows_dropped_as_holdout"] == len(world.holdout()[1])
    assert counts["base_rows"] == len(world.train_rows()[1])


def test_feedback_holdout_is_only_feedback_the_champion_never_saw(world, drifted_store, tmp_path):
    """Round two: v2 trained on the labels of v1's predictions, so only labels on v2's own predictions
    may score it."""
    log = tmp_path / "log"
    dsn_path = tmp_path / "store.db"
    dsn_path.write_bytes(Path(drifted_store.removeprefix("sqlite:///")).read_bytes())
    dsn = f"sqlite:///{dsn_path}"
    assert train_main(train_args(world, dsn, "v7", log)) == 0  # v1 -> v7 on the 160 labels of v1
    features, target = world.holdout()
    v7 = load_artifact(str(world.version_dir("v7"))).estimator
    rows = np.arange(20)
    record_labelled(dsn, "v7", features[rows], target[rows], v7.predict(features[rows]))
    args = train_args(world, dsn, "v8", log)
    args[args.index("--base-version") + 1] = "v7"
    assert train_main(args) == 0
    counts = json.loads(log.read_text())["counts"]
    assert counts["feedback_rows_on_champion"] == 20
    assert counts["feedback_holdout_rows"] == 5  # a quarter of v7's own 20, none of v1's 160
    assert counts["feedback_rows"] == 180


def test_promoted_artifact_is_refitted_on_every_trainable_row(world, retrained, drifted_store):
    from explainops_server.training.cli import load_feedback

    champion = load_artifact(str(world.version_dir("v1"))).estimator
    base = Dataset(*world.train_rows())
    feedback, _ = feedback_dataset(load_feedback(drifted_store, "breast-cancer"), 30, 2, version="v1")
    everything = Dataset.concat(base, Dataset.empty(30), feedback)
    assert len(everything) == retrained["counts"]["refit_rows"]
    refit = clone(champion).fit(everything.features, everything.target)
    promoted = load_artifact(str(world.version_dir("v2"))).estimator
    probe = np.vstack([world.holdout()[0], feedback.features])
    assert np.array_equal(promoted.predict_proba(probe), refit.predict_proba(probe))
    assert "refitted" in retrained["refit"]


def test_gate_rejects_a_deliberately_worse_candidate(world, drifted_store):
    # A deliberately worse candidate (same class, fitted on shuffled labels) against the champion,
    # evaluated by the trainer on the trainer's holdout.
    from explainops_server.training.cli import load_feedback

    champion = load_artifact(str(world.version_dir("v1"))).estimator
    base = Dataset(*world.train_rows())
    feedback, _ = feedback_dataset(load_feedback(drifted_store, "breast-cancer"), 30, 2)
    base_hold = Dataset(*world.holdout())
    _, fb_hold = split(feedback, 0.25, 0)
    shuffled = np.random.default_rng(0).permutation(base.target)
    worse = clone(champion).fit(base.features, shuffled)
    holdout = Dataset.concat(base_hold, fb_hold)
    result = gate_evaluate(
        GateSpec(metric="holdoutAccuracy", min_improvement=0.0),
        evaluate(worse, holdout, base_hold, fb_hold),
        evaluate(champion, holdout, base_hold, fb_hold),
    )
    assert result.reason == GATE_FAILED and not result.passed
    assert result.candidate < result.champion


def test_no_drift_no_promotion(world, tmp_path):
    # Feedback that agrees with the champion's world: the candidate cannot clear a 2-point gate.
    dsn = f"sqlite:///{tmp_path / 'feedback.db'}"
    features, target = world.train_rows()
    rows = np.arange(120)
    champion = load_artifact(str(world.version_dir("v1"))).estimator
    record_labelled(dsn, "v1", features[rows], target[rows], champion.predict(features[rows]))
    log = tmp_path / "log"
    assert train_main(train_args(world, dsn, "v3", log)) == 0
    result = json.loads(log.read_text())
    assert gate_evaluate(
        GateSpec(metric="holdoutAccuracy", min_improvement=0.02), result["candidate"], result["champion"]
    ).reason == (GATE_FAILED)


def test_existing_foreign_version_is_refused(world, drifted_store, tmp_path):
    (world.root / "v9").mkdir()
    log = tmp_path / "log"
    assert train_main(train_args(world, drifted_store, "v9", log)) == 1
    assert json.loads(log.read_text())["error"] == "version_exists"


def test_missing_champion_is_a_training_failure(world, drifted_store, tmp_path):
    log = tmp_path / "log"
    args = train_args(world, drifted_store, "v5", log)
    args[args.index("--base-version") + 1] = "v0"
    assert train_main(args) == 1
    failure = json.loads(log.read_text())
    assert failure["status"] == "failed" and failure["error"] == "artifact_error"


def test_invalid_arguments_exit_2_with_a_message(tmp_path):
    log = tmp_path / "log"
    assert train_main(["--model-name", "m", "--termination-log", str(log)]) == 2
    assert json.loads(log.read_text())["error"] == "invalid_arguments"


def test_feedback_rows_that_do_not_fit_are_dropped():
    rows = [
        ("a", "v1", [1.0, 2.0], 1, 0.0),
        ("b", "v1", [1.0], 1, 0.0),  # wrong width
        ("c", "v1", [1.0, 2.0], 5, 0.0),  # unknown class
        ("d", "v1", [float("nan"), 2.0], 0, 0.0),
        ("a", "v2", [3.0, 4.0], 0, 1.0),  # the later label of the same prediction wins
    ]
    data, dropped = feedback_dataset(rows, 2, n_classes=2)
    assert dropped == 3
    assert data.features.tolist() == [[3.0, 4.0]] and data.target.tolist() == [0]


def test_feedback_order_depends_on_the_data_not_on_ids_or_store_order():
    rng = np.random.default_rng(0)
    values = [(rng.normal(size=3).tolist(), int(rng.integers(0, 2))) for _ in range(12)]
    first = [(f"id-{i}", "v1", x, y, float(i)) for i, (x, y) in enumerate(values)]
    second = [(f"other-{i}", "v1", x, y, 0.0) for i, (x, y) in reversed(list(enumerate(values)))]
    a, b = feedback_dataset(first, 3, 2)[0], feedback_dataset(second, 3, 2)[0]
    assert a.features.tolist() == b.features.tolist() and a.target.tolist() == b.target.tolist()
    assert split(a, 0.25, 0)[1].features.tolist() == split(b, 0.25, 0)[1].features.tolist()


def test_split_is_deterministic():
    data = Dataset(np.arange(40, dtype=float).reshape(20, 2), np.array([0, 1] * 10))
    first, second = split(data, 0.25, 3), split(data, 0.25, 3)
    assert first[1].features.tolist() == second[1].features.tolist()
    assert len(first[1]) == 5 and set(first[1].target.tolist()) == {0, 1}


def test_training_request_defaults_match_the_cli_contract():
    request = TrainingRequest("m", Path("/r"), "v1", "v2")
    assert (request.holdout_fraction, request.seed) == (0.25, 0)
