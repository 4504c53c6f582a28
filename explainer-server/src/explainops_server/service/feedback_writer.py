"""Group commit for feedback: requests that arrive together share one transaction, and each is
acknowledged only after that transaction committed. One fsync then covers many acknowledgements.

Stores that commit in well under a millisecond (SQLite) commit on the event loop itself: handing
each commit to a thread costs far more, because the thread must win the GIL back from a busy loop
after every sqlite call. Network stores (PostgreSQL) commit in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from explainops_server.feedback.base import FeedbackOutcome, FeedbackRecord, FeedbackStore
from explainops_server.service.recorder import PredictionRecorder

log = logging.getLogger(__name__)

GROUP_LIMIT = 5000


@dataclass
class _Job:
    records: list[FeedbackRecord]
    atomic: bool
    future: asyncio.Future


class FeedbackWriter:
    def __init__(
        self, store: FeedbackStore, recorder: PredictionRecorder | None, max_age_seconds: float | None = None
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._max_age = max_age_seconds
        self._inline = store.fast_local_commit
        self._pending: list[_Job] = []
        self._draining = False
        self._drain_task: asyncio.Task | None = None
        self.committed = 0
        self.failures = 0
        self.groups = 0

    async def submit(self, records: list[FeedbackRecord], *, atomic: bool) -> list[FeedbackOutcome]:
        loop = asyncio.get_running_loop()
        job = _Job(records, atomic, loop.create_future())
        self._pending.append(job)
        if not self._draining:
            self._draining = True
            self._drain_task = loop.create_task(self._drain())  # keep a reference: tasks are weakly held
        return await job.future

    def _next_group(self) -> list[_Job]:
        first = self._pending.pop(0)
        group, size = [first], len(first.records)
        if first.atomic:
            return group
        while self._pending and not self._pending[0].atomic and size < GROUP_LIMIT:
            job = self._pending.pop(0)
            group.append(job)
            size += len(job.records)
        return group

    async def _drain(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let requests already parsed join this group
                await self._commit(self._next_group())
        finally:
            self._draining = False

    async def _commit(self, group: list[_Job]) -> None:
        records = [r for job in group for r in job.records]
        atomic = group[0].atomic
        try:
            if self._recorder is not None:
                ids = {r.prediction_id for r in records}
                if self._recorder.is_pending(ids):  # flush-before-lookup
                    await asyncio.to_thread(self._recorder.ensure_recorded, ids)
            after = None if self._max_age is None else time.time() - self._max_age
            if self._inline:
                outcomes = self._store.add_feedback(records, atomic=atomic, predicted_after=after)
            else:
                outcomes = await asyncio.to_thread(
                    self._store.add_feedback, records, atomic=atomic, predicted_after=after
                )
        except Exception as exc:
            log.warning("feedback commit of %d records failed: %s", len(records), exc)
            self.failures += 1
            for job in group:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.groups += 1
        self.committed += sum(o.status == "created" for o in outcomes)
        start = 0
        for job in group:
            if not job.future.done():
                job.future.set_result(outcomes[start : start + len(job.records)])
            start += len(job.records)

    def close(self) -> None:
        """Nothing to stop: every submitted job is committed before its caller is answered."""
