"""Prediction recording off the request path.

Predict appends to an in-memory buffer and returns; a writer thread commits the buffer in batches at
least every `flush_ms`. A crash can lose predictions of the last `flush_ms` (they were never promised
durable); feedback acknowledgements are always durable. Feedback that names a prediction still in the
buffer forces a flush first (`ensure_recorded`), so the join never misses.

When the buffer is full (the store is down or slower than the traffic) the recorder pushes back:
`submit` raises `RecorderBusy` (503 with Retry-After) and the prediction is not answered. Dropping
records instead would hand out prediction ids that can never take feedback, a silent loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from explainops_server.errors import RecorderBusy
from explainops_server.feedback.base import FeedbackStore, PredictionRecord

log = logging.getLogger(__name__)

MAX_BATCH = 2000


class PredictionRecorder:
    def __init__(self, store: FeedbackStore, flush_ms: int, max_pending: int = 100_000) -> None:
        self._store = store
        self._interval = flush_ms / 1000.0
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._queue: list[PredictionRecord] = []
        self._unflushed: set[str] = set()  # queued or being written
        self._flush_requested = False
        self._stopping = False
        self.refused = 0  # records refused because the buffer was full (their request got 503)
        self.flushed = 0
        self.write_failures = 0  # failed store writes (retried; nothing is dropped)
        self._thread = threading.Thread(target=self._run, name="prediction-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _refuse_unless_room(self, count: int) -> None:
        waiting = len(self._unflushed)  # queued or being written
        if waiting + count > self._max_pending:
            self.refused += count
            raise RecorderBusy(
                f"{waiting} predictions wait to be recorded (limit {self._max_pending}); "
                "the feedback store is slower than the traffic",
                retry_after=1.0,
            )

    def check_room(self, count: int) -> None:
        """Raise RecorderBusy now if `count` records would not fit (before costly work)."""
        with self._cond:
            self._refuse_unless_room(count)

    def submit(self, records: list[PredictionRecord]) -> None:
        """Buffer `records`, or raise RecorderBusy (nothing buffered) when they do not fit."""
        with self._cond:
            self._refuse_unless_room(len(records))
            self._queue.extend(records)
            self._unflushed.update(r.prediction_id for r in records)
            if len(self._queue) >= MAX_BATCH:
                self._cond.notify_all()

    def is_pending(self, prediction_ids: set[str]) -> bool:
        with self._cond:
            return not self._unflushed.isdisjoint(prediction_ids)

    def pending(self) -> int:
        with self._cond:
            return len(self._unflushed)

    def ensure_recorded(self, prediction_ids: Iterable[str], timeout: float = 30.0) -> None:
        """Return once none of these ids waits in the buffer (they are committed or never existed)."""
        deadline = time.monotonic() + timeout
        ids = set(prediction_ids)
        with self._cond:
            while ids & self._unflushed and not self._stopping:
                self._flush_requested = True
                self._cond.notify_all()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)

    def flush(self, timeout: float = 30.0) -> None:
        """Return once everything submitted so far is committed."""
        with self._cond:
            ids = set(self._unflushed)
        self.ensure_recorded(ids, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if (not self._queue and not self._stopping) or (
                    not self._flush_requested and not self._stopping and len(self._queue) < MAX_BATCH
                ):
                    self._cond.wait(self._interval)
                if self._stopping and not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._flush_requested = False
            if not batch:
                continue
            try:
                self._store.record_predictions(batch)
            except Exception:
                log.exception("recording %d predictions failed; retrying", len(batch))
                with self._cond:
                    self.write_failures += 1
                    self._queue[:0] = batch
                    if self._stopping:
                        return
                time.sleep(min(1.0, self._interval * 4))
                continue
            with self._cond:
                self.flushed += len(batch)
                self._unflushed.difference_update(r.prediction_id for r in batch)
                self._cond.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
