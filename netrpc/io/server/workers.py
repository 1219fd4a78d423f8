"""The worker pool that runs blocking (plain ``def``) handlers, like libvirt's virThreadPool.

Normal jobs share ``max_workers`` threads.  Priority jobs (procedures declared
``priority=True``) use a normal worker when one is free and otherwise one of the
``prio_workers`` reserved for them, so a call such as destroying a hung domain still runs when
every normal worker is stuck.  The figures libvirt's admin API reports (``nWorkers``,
``freeWorkers``, ``jobQueueDepth`` ...) are read live from the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

__all__ = ("WorkerPool",)

T = TypeVar("T")


class WorkerPool:
    """Bounded thread capacity for blocking handlers.

    :param min_workers: threads libvirt would keep alive even when idle (reported as the
        floor of ``nWorkers``; the threads themselves come from anyio's thread cache).
    :param max_workers: normal jobs running at once; 0 runs blocking handlers inline.
    :param prio_workers: extra capacity reserved for priority jobs.
    """

    def __init__(self, min_workers: int = 5, max_workers: int = 20, prio_workers: int = 5) -> None:
        self._check(min_workers, max_workers, prio_workers)
        self.min_workers = min_workers
        self.max_workers = max_workers
        self.prio_workers = prio_workers
        self._limiter = anyio.CapacityLimiter(max(max_workers, 1))
        self._prio_limiter = anyio.CapacityLimiter(max(prio_workers, 1))
        self._busy = 0
        self._busy_prio = 0
        self._queued = 0
        self._high_water = 0
        # anyio's default thread limiter caps all threads at 40; the limiters above already
        # bound the jobs, so the threads themselves need no second cap.
        self._threads = anyio.CapacityLimiter(10_000)

    @staticmethod
    def _check(min_workers: int, max_workers: int, prio_workers: int) -> None:
        if min_workers < 0 or max_workers < 0 or prio_workers < 0:
            raise ValueError("worker counts must not be negative")
        if max_workers and min_workers > max_workers:
            raise ValueError(
                f"minWorkers ({min_workers}) must not be greater than maxWorkers ({max_workers})"
            )

    def resize(
        self,
        *,
        min_workers: int | None = None,
        max_workers: int | None = None,
        prio_workers: int | None = None,
    ) -> None:
        """Change the limits of the running pool (admin ``SET_THREADPOOL_PARAMETERS``).

        :raises ValueError: when the new limits are inconsistent (nothing is changed).
        """
        new_min = self.min_workers if min_workers is None else min_workers
        new_max = self.max_workers if max_workers is None else max_workers
        new_prio = self.prio_workers if prio_workers is None else prio_workers
        self._check(new_min, new_max, new_prio)
        self.min_workers, self.max_workers, self.prio_workers = new_min, new_max, new_prio
        self._limiter.total_tokens = max(new_max, 1)
        self._prio_limiter.total_tokens = max(new_prio, 1)

    @property
    def busy(self) -> int:
        """Jobs running now."""
        return self._busy + self._busy_prio

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker (libvirt's ``jobQueueDepth``)."""
        return self._queued

    @property
    def current_workers(self) -> int:
        """Normal worker threads libvirt would have now (``nWorkers``)."""
        return min(max(self.min_workers, self._high_water), max(self.max_workers, self.min_workers))

    @property
    def free_workers(self) -> int:
        """Normal workers not running a job (``freeWorkers``)."""
        return max(self.current_workers - self._busy, 0)

    async def run(self, func: Callable[..., T], *args: Any, priority: bool = False) -> T:
        """Run ``func(*args)`` on a worker thread and return its result."""
        use_prio = (
            priority
            and self.prio_workers > 0
            and self._limiter.borrowed_tokens >= self._limiter.total_tokens
        )
        limiter = self._prio_limiter if use_prio else self._limiter
        self._queued += 1
        try:
            await limiter.acquire()
        finally:
            self._queued -= 1
        try:
            if use_prio:
                self._busy_prio += 1
            else:
                self._busy += 1
                self._high_water = max(self._high_water, self._busy)
            return await anyio.to_thread.run_sync(func, *args, limiter=self._threads)
        finally:
            if use_prio:
                self._busy_prio -= 1
            else:
                self._busy -= 1
            limiter.release()
