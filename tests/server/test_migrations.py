"""Numbered schema migrations: stores made before versioning upgrade in place, on SQLite and PostgreSQL,
and every record and stat survives; pending migrations apply once, all or nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from explainops_server.errors import StoreError
from explainops_server.feedback import open_store
from explainops_server.feedback.schema import MIGRATIONS, Migration, latest_version
from explainops_server.service.contract import VersionStatsOut

TESTDATA = Path(__file__).parent / "testdata"
MODEL = "legacy-model"


def legacy_rows() -> tuple[list[tuple], list[tuple]]:
    """Predictions over two versions and feedback with corrections, ratings and comments."""
    predictions, feedback = [], []
    for i in range(12):
        version = "v1" if i < 8 else "v2"
        probabilities = [0.3, 0.7] if i % 3 else [0.8, 0.2]
        predicted = 1 if i % 3 else 0
        explanation = json.dumps({"type": "tree_shap", "top_features": [{"feature": "f0", "value": 0.1 * i}]})
        predictions.append(
            (f"p{i}", MODEL, version, json.dumps([float(i), 2.5]), json.dumps(probabilities), predicted,
             f"req-{i}", "tree_shap", explanation, 1_700_000_000.0 + i)
        )
    script = [  # (prediction, label, correct, rating, comment, source)
        (0, 0, None, 5, None, "expert"),  # right
        (1, 0, None, None, "looks off", None),  # wrong
        (2, None, True, 4, None, "console"),  # right
        (3, None, False, None, None, None),  # wrong
        (4, None, None, 2, "unclear", None),  # rating only
        (1, 1, None, None, "corrected", "expert"),  # p1 corrected: now right
        (8, 1, None, 3, None, None),  # v2 right
        (9, 1, None, None, None, None),  # v2 wrong
    ]
    for seq, (p, label, correct, rating, comment, source) in enumerate(script, start=1):
        version = predictions[p][2]
        feedback.append(
            (seq, f"f{seq}", f"p{p}", MODEL, version, label, None if correct is None else int(correct),
             rating, comment, source, 1_700_000_100.0 + seq)
        )
    return predictions, feedback


INSERT_PREDICTION = "INSERT INTO predictions VALUES ({})".format(", ".join(["{p}"] * 10))
INSERT_FEEDBACK = (
    "INSERT INTO feedback (seq, feedback_id, prediction_id, model_name, model_version, label, correct,"
    " explanation_rating, comment, source, created_at) VALUES ({})".format(", ".join(["{p}"] * 11))
)
DUMP = {
    "predictions": "SELECT * FROM predictions ORDER BY prediction_id",
    "feedback": "SELECT seq, feedback_id, prediction_id, model_name, model_version, label, correct,"
    " explanation_rating, comment, source, created_at FROM feedback ORDER BY seq",
}


class LegacySqlite:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "legacy.db"
        self.dsn = f"sqlite:///{self.path}"

    def create_and_fill(self) -> None:
        predictions, feedback = legacy_rows()
        with sqlite3.connect(self.path) as conn:
            conn.executescript((TESTDATA / "schema_before_migrations_sqlite.sql").read_text())
            conn.executemany(INSERT_PREDICTION.format(p="?"), predictions)
            conn.executemany(INSERT_FEEDBACK.format(p="?"), feedback)
        conn.close()

    def dump(self) -> dict[str, list[tuple]]:
        conn = sqlite3.connect(self.path)
        try:
            return {table: conn.execute(sql).fetchall() for table, sql in DUMP.items()}
        finally:
            conn.close()

    def tables(self) -> set[str]:
        conn = sqlite3.connect(self.path)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()


class LegacyPostgres:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self):
        from explainops_server.feedback.postgres_dsn import connect

        return connect(self.dsn)

    def create_and_fill(self) -> None:
        predictions, feedback = legacy_rows()
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute((TESTDATA / "schema_before_migrations_postgres.sql").read_text())
            cur.executemany(INSERT_PREDICTION.format(p="%s"), predictions)
            cur.executemany(INSERT_FEEDBACK.format(p="%s"), feedback)
            cur.execute("SELECT setval('feedback_seq_seq', (SELECT MAX(seq) FROM feedback))")
            conn.commit()

    def dump(self) -> dict[str, list[tuple]]:
        with self._connect() as conn:
            cur = conn.cursor()
            result = {}
            for table, sql in DUMP.items():
                cur.execute(sql)
                result[table] = [tuple(row) for row in cur.fetchall()]
            return result

    def tables(self) -> set[str]:
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            return {row[0] for row in cur.fetchall()}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def legacy(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        return LegacySqlite(tmp_path)
    return LegacyPostgres(request.getfixturevalue("postgres_dsn"))


def test_a_store_from_before_migrations_upgrades_in_place(legacy):
    legacy.create_and_fill()
    before = legacy.dump()
    assert "schema_migrations" not in legacy.tables()

    with open_store(legacy.dsn) as store:
        assert store.schema_version() == latest_version()
        assert legacy.dump() == before  # every row, every column, unchanged

        stats = {s.model_version: VersionStatsOut.of(s).model_dump() for s in store.version_stats(MODEL, 100)}
        # v1, newest label first per prediction: p1 right (corrected), p3 wrong, p2 right, p0 right.
        assert stats["v1"]["predictions"] == 8
        assert (stats["v1"]["labelled_count"], stats["v1"]["window_count"]) == (4, 4)
        assert stats["v1"]["accuracy"] == pytest.approx(0.75)
        assert stats["v1"]["explanation_ratings"] == 3
        assert stats["v1"]["mean_explanation_rating"] == pytest.approx(11 / 3)
        assert (stats["v2"]["predictions"], stats["v2"]["labelled_count"]) == (4, 2)
        assert stats["v2"]["accuracy"] == pytest.approx(0.5)
        assert stats["v2"]["mean_explanation_rating"] == pytest.approx(3.0)

        examples = {e.prediction_id: e.label for e in store.labelled_examples(MODEL)}
        assert examples == {"p0": 0, "p1": 1, "p2": 1, "p8": 1, "p9": 1}

        listing = {p["prediction_id"]: p for p in store.recent_predictions(MODEL, 100)}
        assert len(listing) == 12
        assert listing["p1"]["explanation"]["top_features"][0]["feature"] == "f0"
        assert [f["comment"] for f in listing["p1"]["feedback"]] == ["looks off", "corrected"]

        # New writes continue the feedback sequence after the old rows.
        from explainops_server.feedback.base import FeedbackRecord

        (outcome,) = store.add_feedback(
            [FeedbackRecord(feedback_id="f-new", prediction_id="p10", model_name=MODEL, created_at=1_800_000_000.0, label=1)], atomic=True
        )
        assert (outcome.status, outcome.model_version) == ("created", "v2")

    with open_store(legacy.dsn) as again:  # reopening applies nothing and loses nothing
        assert again.migrate() == []
        assert again.schema_version() == latest_version()
    after = legacy.dump()
    assert after["predictions"] == before["predictions"]
    assert after["feedback"][: len(before["feedback"])] == before["feedback"]
    assert after["feedback"][-1][1] == "f-new" and after["feedback"][-1][0] > before["feedback"][-1][0]


def test_a_new_migration_applies_once_to_a_filled_store(legacy):
    legacy.create_and_fill()
    before = legacy.dump()
    tag = Migration(
        latest_version() + 1,
        "feedback tag",
        ("ALTER TABLE feedback ADD COLUMN tag TEXT", "UPDATE feedback SET tag = 'old'"),
    )
    with open_store(legacy.dsn) as store:
        assert store.migrate((*MIGRATIONS, tag)) == [tag.version]
        assert store.migrate((*MIGRATIONS, tag)) == []
        assert store.schema_version() == tag.version
    assert legacy.dump() == before
    with pytest.raises(StoreError, match="newer than this server"):  # a server without that migration
        open_store(legacy.dsn)


def test_a_failing_migration_changes_nothing(legacy):
    legacy.create_and_fill()
    before = legacy.dump()
    with open_store(legacy.dsn) as store:
        broken = Migration(
            latest_version() + 1,
            "half done",
            ("ALTER TABLE feedback ADD COLUMN tag TEXT", "UPDATE no_such_table SET x = 1"),
        )
        with pytest.raises(Exception):  # noqa: B017 - the driver's own error for the bad statement
            store.migrate((*MIGRATIONS, broken))
        assert store.schema_version() == latest_version()
        assert store.migrate((*MIGRATIONS, Migration(broken.version, "tag", broken.statements[:1]))) == [
            broken.version
        ]  # the column was rolled back with the failed migration, so adding it again works
    assert legacy.dump() == before


def test_a_fresh_store_gets_every_migration(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'fresh.db'}") as store:
        assert store.schema_version() == latest_version()


def test_migration_versions_are_the_numbers_one_to_n():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)
