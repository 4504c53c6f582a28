"""Explanations run in a bounded worker pool, never on the event loop.

`workers` run at once and `queue` more may wait; beyond that a request is refused at once (503 with
Retry-After) instead of piling up. A request that outlives its timeout gets 504; its worker finishes
in the background and keeps its slot until then, so the bound stays honest.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from explainops_server.errors import ExplainerBusy, ExplanationTimeout

T = TypeVar("T")


class ExplainPool:
    def __init__(self, workers: int, queue: int, timeout: float) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="explain")
        self._lock = threading.Lock()
        self._in_use = 0
        self.timeouts = 0
        self.rejected = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def _release(self, _: object) -> None:
        with self._lock:
            self._in_use -= 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            if self._in_use >= self.capacity:
                self.rejected += 1
                raise ExplainerBusy(
                    f"all {self.workers} explanation workers and {self.capacity - self.workers} queue slots are busy",
                    retry_after=max(1.0, self.timeout / 4),
                )
            self._in_use += 1
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            future.cancel()  # frees the slot at once if it never started
            self.timeouts += 1
            raise ExplanationTimeout(f"explanation did not finish within {self.timeout:g} s") from None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


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
