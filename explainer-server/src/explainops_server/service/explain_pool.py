"""Explanations run in a bounded, fair, cancellable worker pool, never on the event loop.

- Bounded: `workers` requests are computed at once and `queue` more may wait; beyond that a request
  is refused at once (503 with Retry-After) instead of piling up.
- Fair: a request is a list of tasks (one per row). A free worker takes the next task of the admitted
  request that has had the fewest tasks started (the oldest among equals), so a 1-row request that
  arrives behind a 10-row one waits only for the rows already running.
- Cancellable: a request past its deadline gets 503 (explanation_timeout, with Retry-After), its
  remaining tasks are dropped, and the running one stops at its next `checkpoint()` (the model the
  explainers call checks it before every batch it evaluates). The request holds its slot until its worker has really stopped, so the bound stays
  honest, but that is one model batch, not the rest of a long explanation.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from explainops_server.errors import ExplainerBusy, ExplanationTimeout

_current = threading.local()


class Cancelled(BaseException):
    """Raised inside a worker when its request is past its deadline or was abandoned. A BaseException,
    so that an explainer library's `except Exception` cannot swallow it."""


def checkpoint() -> None:
    """Stop the calling worker's task if its request has timed out; a no-op outside the pool."""
    job: _Job | None = getattr(_current, "job", None)
    if job is not None and job.expired():
        raise Cancelled


@dataclass(eq=False)
class _Job:
    tasks: list[Callable[[], Any]]
    deadline: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    seq: int
    results: list[Any] = field(default_factory=list)
    next_task: int = 0  # tasks handed to workers
    running: int = 0
    succeeded: int = 0
    cancelled: bool = False  # the request stopped waiting (timeout, client gone)
    failed: bool = False
    released: bool = False

    def __post_init__(self) -> None:
        self.results = [None] * len(self.tasks)

    def expired(self) -> bool:
        return self.cancelled or time.monotonic() > self.deadline

    def _settle(self, outcome: BaseException | None) -> None:
        if self.future.done() or self.cancelled:  # nobody waits for it any more
            return
        if outcome is None:
            self.future.set_result(self.results)
        else:
            self.future.set_exception(outcome)

    def settle(self, outcome: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(self._settle, outcome)


class ExplainPool:
    def __init__(self, workers: int, queue: int, timeout: float) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.timeout = timeout
        self._cond = threading.Condition()
        self._ready: list[_Job] = []  # admitted jobs with tasks not yet started
        self._arrivals = itertools.count()
        self._admitted = 0  # jobs holding a slot: not yet answered, or a worker still on them
        self._closed = False
        self.timeouts = 0
        self.rejected = 0
        self.cancelled_tasks = 0  # tasks stopped by their deadline (started or not)
        self._threads = [
            threading.Thread(target=self._work, name=f"explain-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def in_use(self) -> int:
        with self._cond:
            return self._admitted

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One task; its result."""
        (result,) = await self.run_all([lambda: fn(*args)])
        return result

    async def run_all(self, tasks: list[Callable[[], Any]]) -> list[Any]:
        """The results of `tasks`, in order, or ExplainerBusy / ExplanationTimeout."""
        loop = asyncio.get_running_loop()
        with self._cond:
            job = _Job(tasks, time.monotonic() + self.timeout, loop, loop.create_future(), next(self._arrivals))
            if self._closed or self._admitted >= self.capacity:
                self.rejected += 1
                raise ExplainerBusy(
                    f"all {self.workers} explanation workers and {self.capacity - self.workers} queue "
                    "slots are busy",
                    retry_after=max(1.0, self.timeout / 4),
                )
            self._admitted += 1
            self._ready.append(job)
            self._cond.notify()
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout)
        except TimeoutError:
            self.timeouts += 1
            self._abandon(job)
            raise self._timeout_error() from None
        except ExplanationTimeout:  # a worker reached the deadline first
            self.timeouts += 1
            raise
        except asyncio.CancelledError:  # the client went away
            self._abandon(job)
            raise

    def _timeout_error(self) -> ExplanationTimeout:
        # Retry after about one deadline: by then the capacity this request held is free again.
        return ExplanationTimeout(
            f"explanation timed out: it did not finish within the configured limit of {self.timeout:g} s "
            "(explain timeout: --explain-timeout, spec.explainer.timeoutSeconds); try again later",
            retry_after=max(1.0, self.timeout),
        )

    def _abandon(self, job: _Job) -> None:
        with self._cond:
            job.cancelled = True
            self._drop_unstarted(job)
            self._maybe_release(job)

    def _drop_unstarted(self, job: _Job) -> None:
        """Lock held: forget the tasks no worker has begun."""
        if job in self._ready:
            self._ready.remove(job)
        self.cancelled_tasks += len(job.tasks) - job.next_task
        job.next_task = len(job.tasks)

    def _maybe_release(self, job: _Job) -> None:
        """Lock held: free the slot once no task of the job runs or waits, exactly once."""
        if not job.released and job.running == 0 and job.next_task >= len(job.tasks):
            job.released = True
            self._admitted -= 1

    def _take(self) -> tuple[_Job, int] | None:
        with self._cond:
            while not self._ready and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job = min(self._ready, key=lambda j: (j.next_task, j.seq))  # least served first
            index = job.next_task
            job.next_task += 1
            job.running += 1
            if job.next_task >= len(job.tasks):
                self._ready.remove(job)
            return job, index

    def _work(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            job, index = taken
            outcome: BaseException | None = None
            if job.expired():
                outcome = Cancelled()
            else:
                _current.job = job
                try:
                    job.results[index] = job.tasks[index]()
                except BaseException as exc:  # handed to the waiting request
                    outcome = exc
                finally:
                    _current.job = None
            with self._cond:
                job.running -= 1
                if outcome is None:
                    job.succeeded += 1
                    if job.succeeded == len(job.tasks):
                        job.settle(None)
                else:
                    if isinstance(outcome, Cancelled):
                        self.cancelled_tasks += 1
                        outcome = self._timeout_error()
                    if not job.failed:
                        job.failed = True
                        job.settle(outcome)
                        self._drop_unstarted(job)
                self._maybe_release(job)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for job in list(self._ready):
                job.cancelled = True
            self._ready.clear()
            self._cond.notify_all()


class ExplanationCache:
    """LRU of explanations keyed by (model version, explainer config, instance bytes)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> dict[str, Any] | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def peek(self, key: Hashable) -> dict[str, Any] | None:
        """Like get, uncounted: a worker re-checking a miss that another request may have filled."""
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: dict[str, Any]) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
