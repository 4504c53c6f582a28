"""Retention off the request path: every `retention_interval` seconds, delete the served model's
predictions older than `retention_seconds` (with their feedback) in bounded batches.

A prediction stays while any of its feedback is younger than the retention, so a late label keeps
its prediction. What a retraining needs is never deleted: the trainer reads only labels given within
the retention period minus `TRAINING_MARGIN_SECONDS` (see training/cli.py), in one transaction,
and this task deletes only predictions whose every label is older than the full retention period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from explainops_server.feedback.base import FeedbackStore

log = logging.getLogger(__name__)

# Most batches per pass, so one pass is bounded in time; the next pass continues.
MAX_BATCHES_PER_PASS = 1000
# Pause between batches: other writers get the store in between.
BATCH_PAUSE_SECONDS = 0.01


class RetentionTask:
    def __init__(
        self,
        store: FeedbackStore,
        model_name: str,
        retention_seconds: int,
        interval: float,
        batch: int,
        on_deleted: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._model_name = model_name
        self.retention_seconds = retention_seconds
        self._interval = interval
        self._batch = batch
        self._on_deleted = on_deleted
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self.last_pass: dict[str, float | int] | None = None

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception:
                log.exception("retention pass failed; retrying next interval")

    def run_once(self) -> dict[str, float | int]:
        """One pass: batches until nothing is expired (or the pass bound). Returns what it deleted."""
        cutoff = self._clock() - self.retention_seconds
        predictions = feedback = batches = 0
        while batches < MAX_BATCHES_PER_PASS and not self._stop.is_set():
            result = self._store.delete_expired(self._model_name, cutoff, self._batch)
            batches += 1
            if result.skipped or result.predictions == 0:
                break
            predictions += result.predictions
            feedback += result.feedback
            if self._on_deleted is not None:
                self._on_deleted(result.predictions, result.feedback)
            time.sleep(BATCH_PAUSE_SECONDS)
        self.last_pass = {"cutoff": cutoff, "predictions": predictions, "feedback": feedback, "batches": batches}
        if predictions:
            log.info("retention deleted %d predictions and %d feedback records", predictions, feedback)
        return self.last_pass
