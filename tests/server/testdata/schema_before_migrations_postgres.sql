-- The postgres feedback schema as released before numbered migrations (commit 7f093b9).
-- Frozen: stores on users' volumes look like this; the upgrade test starts from it.
CREATE TABLE IF NOT EXISTS predictions (
  prediction_id   TEXT PRIMARY KEY,
  model_name      TEXT NOT NULL,
  model_version   TEXT NOT NULL,
  inputs          TEXT NOT NULL,
  probabilities   TEXT NOT NULL,
  predicted_label INTEGER NOT NULL,
  request_id      TEXT,
  explainer       TEXT,
  explanation     TEXT,
  created_at      DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model_name, created_at);
CREATE TABLE IF NOT EXISTS feedback (
  seq                BIGSERIAL PRIMARY KEY,
  feedback_id        TEXT NOT NULL UNIQUE,
  prediction_id      TEXT NOT NULL REFERENCES predictions (prediction_id),
  model_name         TEXT NOT NULL,
  model_version      TEXT NOT NULL,
  label              INTEGER,
  correct            INTEGER,
  explanation_rating INTEGER,
  comment            TEXT,
  source             TEXT,
  created_at         DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_model ON feedback (model_name, model_version);
CREATE INDEX IF NOT EXISTS feedback_by_prediction ON feedback (prediction_id);
